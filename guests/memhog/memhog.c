/* memhog: a guest that uses memory, and gives it back through a virtio-balloon driver of its own.

   It fills `fill_pages` pages (4 KiB) from RAM + 1 MiB with a pattern that depends only on the page
   number (so identical guests hold identical pages, which a hypervisor can share), then runs
   `rounds` rounds over its first `active_pages` pages (each round rewrites every word of them),
   and then idles for `idle_rounds` rounds (spinning in registers, touching no page: idle in the
   sense a memory manager cares about, and cheap at any depth, where a timer read would be an exit). Between rounds it
   polls its balloon (virtio-mmio, legacy or modern, no interrupts): when the host's target
   (`num_pages`) changes, it inflates by giving pages it no longer needs, from the top of what it
   filled downwards (never its active pages), or deflates by taking them back, and reports how many
   it holds (`actual`). At the end it checks every active page and passes if all are intact: what it
   wrote survived whatever the hypervisor did (sharing, ballooning, swapping).

   The parameters are in `params`, an ELF symbol, so a test can change them after loading. Its
   transcript is the same with a balloon or without (on QEMU too) unless `verbose` is set, so a run
   under a memory manager can be compared with a run alone. */
#include "rt.h"
#include "virtio-mmio.h"

#define PAGE 4096u
#define RAM_BASE 0x80000000u
#define DATA_BASE (RAM_BASE + 0x100000u)

struct params {
    uint32_t fill_pages;    /* pages written at start */
    uint32_t active_pages;  /* of those, pages rewritten every round */
    uint32_t rounds;        /* rounds over the active pages */
    uint32_t idle_rounds;   /* rounds that touch nothing */
    uint32_t idle_spins;    /* loop iterations an idle round lasts */
    uint32_t verbose;       /* print what the balloon does (it changes the transcript) */
};

volatile struct params params = { 1024, 256, 4, 40, 100000, 0 };

/* ---------------------------------------------------------------- virtio-balloon, polled */

#define QSIZE 8
#define BATCH 256   /* page numbers per request, as Linux's driver sends */

struct vq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vq_avail { uint16_t flags, idx, ring[QSIZE], used_event; };
struct vq_used_elem { uint32_t id, len; };
struct vq_used { uint16_t flags, idx; struct vq_used_elem ring[QSIZE]; uint16_t avail_event; };

/* Each queue in two pages, the legacy layout (which a modern device accepts too). */
struct vq { uint8_t page[2 * PAGE]; } __attribute__((aligned(PAGE)));
static struct vq queues[2];
static uint16_t last_used[2];
static uint32_t pfns[BATCH];

static uint32_t balloon;          /* the device's base, 0 if none */
static uint32_t target;           /* pages the host wants */
static uint32_t held;             /* pages in the balloon: the top `held` pages given */
static uint32_t next_page;        /* the next page to give (counting down) */

#define VIO(off) (*(volatile uint32_t *)(balloon + (off)))

static volatile struct vq_desc *desc(int q) { return (volatile struct vq_desc *)queues[q].page; }
static volatile struct vq_avail *avail(int q) { return (volatile struct vq_avail *)(queues[q].page + QSIZE * sizeof(struct vq_desc)); }
static volatile struct vq_used *used(int q) { return (volatile struct vq_used *)(queues[q].page + PAGE); }

static void balloon_init(void) {
    for (uint32_t n = 0; n < VIO_MMIO_SLOTS; n++) {
        uint32_t base = VIO_MMIO_BASE + n * VIO_MMIO_STRIDE;
        if (mmio_read32(base + VIO_MAGIC) == VIO_MAGIC_VALUE && mmio_read32(base + VIO_DEVICE_ID) == 5) balloon = base;
    }
    if (!balloon) return;
    int modern = VIO(VIO_VERSION) == 2;
    VIO(VIO_STATUS) = 0;
    VIO(VIO_STATUS) = 1;
    VIO(VIO_STATUS) = 3;
    VIO(VIO_DRV_FEAT_SEL) = 0;
    VIO(VIO_DRV_FEATURES) = 0;            /* no statistics queue, no deflate-on-OOM: not needed here */
    VIO(VIO_DRV_FEAT_SEL) = 1;
    VIO(VIO_DRV_FEATURES) = modern ? 1 : 0; /* VERSION_1 */
    if (modern) VIO(VIO_STATUS) = 3 | 8;
    else VIO(VIO_GUEST_PAGE_SIZE) = PAGE;
    for (int q = 0; q < 2; q++) {
        VIO(VIO_QUEUE_SEL) = q;
        VIO(VIO_QUEUE_NUM) = QSIZE;
        if (modern) {
            VIO(VIO_QUEUE_DESC_LO) = (uint32_t)desc(q);
            VIO(VIO_QUEUE_DESC_HI) = 0;
            VIO(VIO_QUEUE_AVAIL_LO) = (uint32_t)avail(q);
            VIO(VIO_QUEUE_AVAIL_HI) = 0;
            VIO(VIO_QUEUE_USED_LO) = (uint32_t)used(q);
            VIO(VIO_QUEUE_USED_HI) = 0;
            VIO(VIO_QUEUE_READY) = 1;
        } else {
            VIO(VIO_QUEUE_ALIGN) = PAGE;
            VIO(VIO_QUEUE_PFN) = (uint32_t)queues[q].page / PAGE;
        }
    }
    VIO(VIO_STATUS) = modern ? (3 | 8 | 4) : (3 | 4);
    next_page = DATA_BASE / PAGE + params.fill_pages - 1;
    if (params.verbose) printf("memhog: balloon in slot %u (%s)\n", (balloon - VIO_MMIO_BASE) / VIO_MMIO_STRIDE, modern ? "modern" : "legacy");
}

/* Sends `count` page numbers from `pfns` on queue q and waits for the device to take them. */
static void balloon_send(int q, uint32_t count) {
    volatile struct vq_desc *d = desc(q);
    d[0].addr = (uint32_t)pfns;
    d[0].len = 4 * count;
    d[0].flags = 0;
    d[0].next = 0;
    volatile struct vq_avail *a = avail(q);
    a->ring[a->idx % QSIZE] = 0;
    __asm__ volatile("fence rw, rw" : : : "memory");
    a->idx = (uint16_t)(a->idx + 1);
    __asm__ volatile("fence rw, rw" : : : "memory");
    VIO(VIO_QUEUE_NOTIFY) = q;
    while (used(q)->idx == last_used[q]) {}
    last_used[q] = used(q)->idx;
    VIO(VIO_INT_ACK) = VIO(VIO_INT_STATUS);
}

/* Moves the balloon towards the host's target; never gives an active page. */
static void balloon_poll(void) {
    if (!balloon) return;
    uint32_t want = VIO(VIO_CONFIG);
    uint32_t lowest = DATA_BASE / PAGE + params.active_pages;
    if (want == target) return;
    target = want;
    while (held < target) {
        uint32_t n = 0;
        while (n < BATCH && held + n < target && next_page >= lowest) pfns[n++] = next_page--;
        if (n == 0) break;   /* nothing more to give without hurting the active pages */
        balloon_send(0, n);
        held += n;
    }
    while (held > target) {
        uint32_t n = 0;
        while (n < BATCH && held - n > target) pfns[n++] = ++next_page;
        balloon_send(1, n);
        held -= n;
        /* A page taken back is ours again: its contents are gone (it reads as zero), so refill it. */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t *w = (uint32_t *)(pfns[i] * PAGE);
            uint32_t page = pfns[i] - DATA_BASE / PAGE;
            for (uint32_t k = 0; k < PAGE / 4; k++) w[k] = page * 0x9e3779b1u + k;
        }
    }
    VIO(VIO_CONFIG + 4) = held;   /* actual */
    if (params.verbose) printf("memhog: balloon target %u pages, holding %u\n", target, held);
}

/* ---------------------------------------------------------------- the workload */

int main(void) {
    uint32_t fill = params.fill_pages, active = params.active_pages;
    if (active > fill) active = fill;
    balloon_init();
    for (uint32_t p = 0; p < fill; p++) {
        uint32_t *w = (uint32_t *)(DATA_BASE + p * PAGE);
        for (uint32_t k = 0; k < PAGE / 4; k++) w[k] = p * 0x9e3779b1u + k;
    }
    printf("memhog: filled %u pages, %u active\n", fill, active);
    for (uint32_t r = 1; r <= params.rounds; r++) {
        for (uint32_t p = 0; p < active; p++) {
            uint32_t *w = (uint32_t *)(DATA_BASE + p * PAGE);
            for (uint32_t k = 0; k < PAGE / 4; k++) w[k] += r;
        }
        balloon_poll();
    }
    for (uint32_t r = 0; r < params.idle_rounds; r++) {
        for (uint32_t i = params.idle_spins; i != 0; i--) __asm__ volatile("");
        balloon_poll();
    }
    /* Every active page holds its pattern plus 1 + 2 + ... + rounds. */
    uint32_t added = params.rounds * (params.rounds + 1) / 2;
    for (uint32_t p = 0; p < active; p++) {
        uint32_t *w = (uint32_t *)(DATA_BASE + p * PAGE);
        for (uint32_t k = 0; k < PAGE / 4; k++) {
            if (w[k] != p * 0x9e3779b1u + k + added) {
                printf("memhog: page %u word %u is %x, not %x\n", p, k, w[k], p * 0x9e3779b1u + k + added);
                return 1;
            }
        }
    }
    printf("memhog: %u active pages intact after %u rounds\n", active, params.rounds);
    return 0;
}
