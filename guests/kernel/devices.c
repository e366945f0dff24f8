/* Devices driven from S-mode on hart 0: the PLIC (context 1), a virtio-blk driver for both
   virtio-mmio interfaces (version 1 "legacy" and version 2 "modern"), the read-only disk format,
   and interrupt-driven UART input. */
#include "kernel.h"
#include "virtio-mmio.h"

/* ---------------------------------------------------------------- PLIC, S-mode context of hart 0 */

#define PLIC_PRIORITY(irq) (PLIC_BASE + 4u * (irq))
#define PLIC_S_ENABLE      (PLIC_BASE + 0x2080u)    /* context 1, sources 0..31 */
#define PLIC_S_THRESHOLD   (PLIC_BASE + 0x201000u)
#define PLIC_S_CLAIM       (PLIC_BASE + 0x201004u)

static uint32_t blk_irq;   /* 0 until the block device is found */
static int plic_ready;

void plic_enable(uint32_t irq) {
    if (!plic_ready) {
        MMIO32(PLIC_S_THRESHOLD) = 0;
        CSRS(sie, 1u << IRQ_SEI);
        plic_ready = 1;
    }
    MMIO32(PLIC_PRIORITY(irq)) = 1;
    MMIO32(PLIC_S_ENABLE) |= 1u << irq;
}

static void virtio_irq(void);
static void uart_irq(void);

void plic_dispatch(void) {
    uint32_t irq;
    while ((irq = MMIO32(PLIC_S_CLAIM)) != 0) {
        if (irq == blk_irq) virtio_irq();
        else if (irq == UART_IRQ) uart_irq();
        else kfail(30, "unexpected PLIC source %u", irq);
        MMIO32(PLIC_S_CLAIM) = irq;   /* complete */
    }
}

/* ---------------------------------------------------------------- virtio-mmio (registers: virtio-mmio.h) */

#define ST_ACKNOWLEDGE 1
#define ST_DRIVER      2
#define ST_DRIVER_OK   4
#define ST_FEATURES_OK 8

#define VIRTIO_BLK_F_FLUSH 9         /* feature bit */
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_BLK_T_IN    0
#define VIRTIO_BLK_T_OUT   1
#define VIRTIO_BLK_T_FLUSH 4

#define VRING_DESC_F_NEXT  1
#define VRING_DESC_F_WRITE 2

#define QSIZE 8
#define SECTOR 512
#define MAX_SECTORS 4

struct vq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vq_avail { uint16_t flags, idx, ring[QSIZE], used_event; };
struct vq_used_elem { uint32_t id, len; };
struct vq_used { uint16_t flags, idx; struct vq_used_elem ring[QSIZE]; uint16_t avail_event; };

struct blk_req_hdr { uint32_t type, reserved; uint64_t sector; };

static uint32_t blk_base;
static volatile struct vq_desc *vq_desc;
static volatile struct vq_avail *vq_avail;
static volatile struct vq_used *vq_used;
static uint16_t vq_last_used;
static volatile uint32_t blk_completions;   /* bumped by the interrupt handler */
static volatile uint32_t blk_last_id;

static struct blk_req_hdr blk_hdr;
static volatile uint8_t blk_status;
static uint8_t blk_buf[MAX_SECTORS * SECTOR] __attribute__((aligned(16)));

#define VIO(off) MMIO32(blk_base + (off))

static void virtio_irq(void) {
    uint32_t st = VIO(VIO_INT_STATUS);
    VIO(VIO_INT_ACK) = st;
    __asm__ volatile("fence rw, rw" : : : "memory");
    while (vq_last_used != vq_used->idx) {
        blk_last_id = vq_used->ring[vq_last_used % QSIZE].id;
        vq_last_used++;
        blk_completions++;
    }
}

/* One request, completed by the device's interrupt. count is 0 for FLUSH. */
static void blk_request(uint32_t type, uint32_t sector, void *buf, uint32_t count) {
    blk_hdr.type = type;
    blk_hdr.reserved = 0;
    blk_hdr.sector = sector;
    blk_status = 0xff;
    vq_desc[0].addr = (uint32_t)&blk_hdr;
    vq_desc[0].len = sizeof blk_hdr;
    vq_desc[0].flags = VRING_DESC_F_NEXT;
    vq_desc[0].next = count ? 1 : 2;
    if (count) {
        vq_desc[1].addr = (uint32_t)buf;
        vq_desc[1].len = count * SECTOR;
        vq_desc[1].flags = VRING_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0);
        vq_desc[1].next = 2;
    }
    vq_desc[2].addr = (uint32_t)&blk_status;
    vq_desc[2].len = 1;
    vq_desc[2].flags = VRING_DESC_F_WRITE;
    vq_desc[2].next = 0;
    uint32_t done = blk_completions;
    vq_avail->ring[vq_avail->idx % QSIZE] = 0;
    __asm__ volatile("fence rw, rw" : : : "memory");
    vq_avail->idx = (uint16_t)(vq_avail->idx + 1);
    __asm__ volatile("fence rw, rw" : : : "memory");
    VIO(VIO_QUEUE_NOTIFY) = 0;
    while (blk_completions == done) wait_for_interrupt();   /* no polling of the used ring */
    if (blk_last_id != 0 || blk_status != 0)
        kfail(31, "virtio-blk request type %u sector %u: status %u", type, sector, blk_status);
}

static void blk_read(uint32_t sector, void *buf, uint32_t count) { blk_request(VIRTIO_BLK_T_IN, sector, buf, count); }
static void blk_write(uint32_t sector, void *buf, uint32_t count) { blk_request(VIRTIO_BLK_T_OUT, sector, buf, count); }
static void blk_flush(void) { blk_request(VIRTIO_BLK_T_FLUSH, 0, 0, 0); }

static uint32_t blk_init(void) {
    uint32_t slot = VIO_MMIO_SLOTS;
    for (uint32_t n = 0; n < VIO_MMIO_SLOTS; n++) {
        uint32_t base = VIO_MMIO_BASE + n * VIO_MMIO_STRIDE;
        if (MMIO32(base + VIO_MAGIC) != VIO_MAGIC_VALUE) continue;   /* "virt" */
        if (MMIO32(base + VIO_DEVICE_ID) == 2 && slot == VIO_MMIO_SLOTS) slot = n;
    }
    if (slot == VIO_MMIO_SLOTS) kfail(32, "no virtio-blk device in the 8 virtio-mmio slots");
    blk_base = VIO_MMIO_BASE + slot * VIO_MMIO_STRIDE;
    uint32_t version = VIO(VIO_VERSION);
    if (version != 1 && version != 2) kfail(33, "virtio-mmio version %u", version);
    int modern = version == 2;
    kprintf("virtio: probed %u mmio slots: block device in slot %u at %p (irq %u), version %u (%s)\n",
            VIO_MMIO_SLOTS, slot, blk_base, slot + 1, version, modern ? "modern" : "legacy");

    VIO(VIO_STATUS) = 0;
    VIO(VIO_STATUS) = ST_ACKNOWLEDGE;
    VIO(VIO_STATUS) = ST_ACKNOWLEDGE | ST_DRIVER;
    VIO(VIO_DEV_FEAT_SEL) = 0;
    uint32_t f0 = VIO(VIO_DEV_FEATURES);
    VIO(VIO_DEV_FEAT_SEL) = 1;
    uint32_t f1 = VIO(VIO_DEV_FEATURES);
    if (!(f0 & (1u << VIRTIO_BLK_F_FLUSH))) kfail(34, "virtio-blk does not offer FLUSH");
    if (modern && !(f1 & (1u << (VIRTIO_F_VERSION_1 - 32)))) kfail(35, "no VERSION_1 on a modern device");
    VIO(VIO_DRV_FEAT_SEL) = 0;
    VIO(VIO_DRV_FEATURES) = 1u << VIRTIO_BLK_F_FLUSH;
    VIO(VIO_DRV_FEAT_SEL) = 1;
    VIO(VIO_DRV_FEATURES) = modern ? 1u << (VIRTIO_F_VERSION_1 - 32) : 0;
    if (modern) {
        VIO(VIO_STATUS) = ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK;
        if (!(VIO(VIO_STATUS) & ST_FEATURES_OK)) kfail(36, "virtio-blk refused our features");
    }

    /* one virtqueue in two contiguous pages, in the legacy layout (which modern accepts too):
       descriptors and available ring in the first page, used ring at the 4096-byte boundary */
    uint8_t *q = alloc_page();
    if ((uint8_t *)alloc_page() != q + 4096) kfail(37, "virtqueue pages not contiguous");
    vq_desc = (volatile struct vq_desc *)q;
    vq_avail = (volatile struct vq_avail *)(q + QSIZE * sizeof(struct vq_desc));
    vq_used = (volatile struct vq_used *)(q + 4096);
    VIO(VIO_QUEUE_SEL) = 0;
    uint32_t max = VIO(VIO_QUEUE_NUM_MAX);
    if (max < QSIZE) kfail(38, "virtqueue 0 too small (%u)", max);
    if (modern) {
        if (VIO(VIO_QUEUE_READY) != 0) kfail(39, "virtqueue 0 already live");
        VIO(VIO_QUEUE_NUM) = QSIZE;
        VIO(VIO_QUEUE_DESC_LO) = (uint32_t)vq_desc;
        VIO(VIO_QUEUE_DESC_HI) = 0;
        VIO(VIO_QUEUE_AVAIL_LO) = (uint32_t)vq_avail;
        VIO(VIO_QUEUE_AVAIL_HI) = 0;
        VIO(VIO_QUEUE_USED_LO) = (uint32_t)vq_used;
        VIO(VIO_QUEUE_USED_HI) = 0;
        VIO(VIO_QUEUE_READY) = 1;
    } else {
        VIO(VIO_GUEST_PAGE_SIZE) = 4096;
        if (VIO(VIO_QUEUE_PFN) != 0) kfail(39, "virtqueue 0 already live");
        VIO(VIO_QUEUE_NUM) = QSIZE;
        VIO(VIO_QUEUE_ALIGN) = 4096;
        VIO(VIO_QUEUE_PFN) = (uint32_t)q >> 12;
    }
    blk_irq = slot + 1;
    plic_enable(blk_irq);
    VIO(VIO_STATUS) = VIO(VIO_STATUS) | ST_DRIVER_OK;
    uint32_t cap_lo = VIO(VIO_CONFIG), cap_hi = VIO(VIO_CONFIG + 4);
    kprintf("virtio-blk: features FLUSH%s accepted, queue of %u descriptors, capacity %u sectors\n",
            modern ? " + VERSION_1" : "", QSIZE, cap_lo);
    if (cap_hi != 0) kfail(40, "disk too large");
    return cap_lo;
}

/* ---------------------------------------------------------------- the disk format (README.md) */

struct fs_super {          /* sector 0 */
    char magic[8];         /* "MTRYFS01" */
    uint32_t total_sectors, file_count, scratch_sector;
    uint32_t reserved[11];
};
struct fs_file {           /* from byte 64 of sector 0, 32 bytes each */
    char name[16];
    uint32_t start_sector, size, fnv1a, reserved;
};

static uint32_t fnv1a(const uint8_t *p, uint32_t n) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static uint8_t sector0[SECTOR] __attribute__((aligned(16)));
static uint8_t saved[SECTOR] __attribute__((aligned(16)));

static void print_text(const uint8_t *p, uint32_t n) {
    uint32_t i = 0;
    while (i < n) {
        kprintf("  | ");
        while (i < n && p[i] != '\n') {
            uart_putc(p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?');
            i++;
        }
        uart_putc('\n');
        i++;
    }
}

void virtio_blk_test(void) {
    uint32_t capacity = blk_init();
    blk_read(0, sector0, 1);
    struct fs_super *sb = (struct fs_super *)sector0;
    if (kmemcmp(sb->magic, "MTRYFS01", 8) != 0) kfail(41, "bad disk magic");
    if (sb->total_sectors != capacity || sb->file_count > 14 || sb->scratch_sector >= capacity)
        kfail(42, "bad disk header");
    kprintf("disk: MTRYFS01, %u sectors, %u files, scratch sector %u\n", sb->total_sectors,
            sb->file_count, sb->scratch_sector);
    for (uint32_t i = 0; i < sb->file_count; i++) {
        struct fs_file *f = (struct fs_file *)(sector0 + 64 + 32 * i);
        char name[17];
        kmemcpy(name, f->name, 16);
        name[16] = 0;
        uint32_t sectors = (f->size + SECTOR - 1) / SECTOR;
        if (sectors == 0 || sectors > MAX_SECTORS || f->start_sector + sectors > capacity)
            kfail(43, "bad file entry %u", i);
        blk_read(f->start_sector, blk_buf, sectors);   /* one request for the whole file */
        if (fnv1a(blk_buf, f->size) != f->fnv1a) kfail(44, "checksum of %s", name);
        uint32_t lines = 0;
        for (uint32_t k = 0; k < f->size; k++) lines += blk_buf[k] == '\n';
        kprintf("disk: %s: %u bytes in sectors %u-%u (one %u-sector read), %u lines, fnv1a %08x ok\n",
                name, f->size, f->start_sector, f->start_sector + sectors - 1, sectors, lines, f->fnv1a);
        if (i == 0) {
            print_text(blk_buf, f->size);
        } else { /* only the last line of the longer files */
            uint32_t start = f->size - 1;
            while (start > 0 && blk_buf[start - 1] != '\n') start--;
            kprintf("disk: %s: last line:\n", name);
            print_text(blk_buf + start, f->size - start);
        }
    }

    /* OUT + FLUSH + read-back on the scratch sector, then put the original bytes back so the
       image file is unchanged after the run */
    uint32_t s = sb->scratch_sector;
    blk_read(s, saved, 1);
    for (uint32_t k = 0; k < SECTOR; k++) blk_buf[k] = (uint8_t)(k * 7 + 0x5a);
    blk_write(s, blk_buf, 1);
    blk_flush();
    kmemset(blk_buf, 0, SECTOR);
    blk_read(s, blk_buf, 1);
    for (uint32_t k = 0; k < SECTOR; k++)
        if (blk_buf[k] != (uint8_t)(k * 7 + 0x5a)) kfail(45, "scratch sector read-back differs");
    kprintf("disk: wrote a pattern to sector %u, flushed, read it back: ok\n", s);
    blk_write(s, saved, 1);
    blk_flush();
    blk_read(s, blk_buf, 1);
    if (kmemcmp(blk_buf, saved, SECTOR) != 0) kfail(46, "scratch sector not restored");
    kprintf("disk: restored sector %u, flushed, read it back: ok\n", s);
}

/* ---------------------------------------------------------------- virtio-balloon (polled) */

/* If the board has a balloon (virtio device 5), the kernel gives the host the pages it asks for
   (num_pages, config offset 0), as many as it can spare, reports them in `actual` (offset 4), and
   takes them all back before going on, as a driver does when it is removed. It uses no interrupt
   (the PLIC source stays disabled) and prints nothing when there is no balloon, so the transcript
   without one is unchanged. The paravirtual kernel's frames are machine frames, which a balloon
   must not be given: it has no balloon driver. */

#ifndef PV
#define VIRTIO_BALLOON_ID 5
#define BALLOON_BATCH 256        /* page numbers per request, as Linux sends */
#define BALLOON_MAX 1024         /* at most 4 MiB: the kernel maps only its first 4 MiB */
#define BALLOON_KEEP 32          /* frames the kernel keeps for itself whatever the host asks */

struct balloon_vq {
    volatile struct vq_desc *desc;
    volatile struct vq_avail *avail;
    volatile struct vq_used *used;
    uint16_t last_used;
};

static uint32_t balloon_base;
static struct balloon_vq balloon_vqs[2];        /* 0: inflate, 1: deflate */
static uint32_t balloon_pfns[BALLOON_BATCH];
static uint32_t balloon_pages[BALLOON_MAX];     /* what the balloon holds, as addresses */

#define BVIO(off) MMIO32(balloon_base + (off))

static void balloon_queue(int q, int modern) {
    uint8_t *page = alloc_page();
    if ((uint8_t *)alloc_page() != page + 4096) kfail(60, "balloon virtqueue pages not contiguous");
    struct balloon_vq *vq = &balloon_vqs[q];
    vq->desc = (volatile struct vq_desc *)page;
    vq->avail = (volatile struct vq_avail *)(page + QSIZE * sizeof(struct vq_desc));
    vq->used = (volatile struct vq_used *)(page + 4096);
    BVIO(VIO_QUEUE_SEL) = q;
    if (BVIO(VIO_QUEUE_NUM_MAX) < QSIZE) kfail(61, "balloon virtqueue %d too small", q);
    BVIO(VIO_QUEUE_NUM) = QSIZE;
    if (modern) {
        BVIO(VIO_QUEUE_DESC_LO) = (uint32_t)vq->desc;
        BVIO(VIO_QUEUE_DESC_HI) = 0;
        BVIO(VIO_QUEUE_AVAIL_LO) = (uint32_t)vq->avail;
        BVIO(VIO_QUEUE_AVAIL_HI) = 0;
        BVIO(VIO_QUEUE_USED_LO) = (uint32_t)vq->used;
        BVIO(VIO_QUEUE_USED_HI) = 0;
        BVIO(VIO_QUEUE_READY) = 1;
    } else {
        BVIO(VIO_QUEUE_ALIGN) = 4096;
        BVIO(VIO_QUEUE_PFN) = (uint32_t)page >> 12;
    }
}

/* Sends `count` page numbers on queue q and waits (polling) until the device has taken them. */
static void balloon_send(int q, uint32_t count) {
    struct balloon_vq *vq = &balloon_vqs[q];
    vq->desc[0].addr = (uint32_t)balloon_pfns;
    vq->desc[0].len = 4 * count;
    vq->desc[0].flags = 0;
    vq->desc[0].next = 0;
    vq->avail->ring[vq->avail->idx % QSIZE] = 0;
    __asm__ volatile("fence rw, rw" : : : "memory");
    vq->avail->idx = (uint16_t)(vq->avail->idx + 1);
    __asm__ volatile("fence rw, rw" : : : "memory");
    BVIO(VIO_QUEUE_NOTIFY) = q;
    for (uint32_t spins = 0; vq->used->idx == vq->last_used; spins++)
        if (spins > 10000000u) kfail(62, "the balloon never took request %u on queue %d", vq->last_used, q);
    vq->last_used = vq->used->idx;
    BVIO(VIO_INT_ACK) = BVIO(VIO_INT_STATUS);
}

void virtio_balloon_test(void) {
    uint32_t slot = VIO_MMIO_SLOTS;
    for (uint32_t n = 0; n < VIO_MMIO_SLOTS; n++) {
        uint32_t base = VIO_MMIO_BASE + n * VIO_MMIO_STRIDE;
        if (MMIO32(base + VIO_MAGIC) == VIO_MAGIC_VALUE && MMIO32(base + VIO_DEVICE_ID) == VIRTIO_BALLOON_ID && slot == VIO_MMIO_SLOTS) slot = n;
    }
    if (slot == VIO_MMIO_SLOTS) return;
    balloon_base = VIO_MMIO_BASE + slot * VIO_MMIO_STRIDE;
    int modern = BVIO(VIO_VERSION) == 2;
    BVIO(VIO_STATUS) = 0;
    BVIO(VIO_STATUS) = ST_ACKNOWLEDGE;
    BVIO(VIO_STATUS) = ST_ACKNOWLEDGE | ST_DRIVER;
    BVIO(VIO_DRV_FEAT_SEL) = 0;
    BVIO(VIO_DRV_FEATURES) = 0;   /* neither the statistics queue nor deflate-on-OOM */
    BVIO(VIO_DRV_FEAT_SEL) = 1;
    BVIO(VIO_DRV_FEATURES) = modern ? 1u << (VIRTIO_F_VERSION_1 - 32) : 0;
    if (modern) {
        BVIO(VIO_STATUS) = ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK;
        if (!(BVIO(VIO_STATUS) & ST_FEATURES_OK)) kfail(63, "virtio-balloon refused our features");
    } else {
        BVIO(VIO_GUEST_PAGE_SIZE) = 4096;
    }
    balloon_queue(0, modern);
    balloon_queue(1, modern);
    BVIO(VIO_STATUS) = BVIO(VIO_STATUS) | ST_DRIVER_OK;
    uint32_t target = BVIO(VIO_CONFIG);
    uint32_t spare = free_pages() > BALLOON_KEEP ? free_pages() - BALLOON_KEEP : 0;
    uint32_t give = target < spare ? target : spare;
    if (give > BALLOON_MAX) give = BALLOON_MAX;
    kprintf("virtio-balloon: slot %u, version %u; the host asks for %u pages, the kernel can spare %u\n",
            slot, modern ? 2 : 1, target, spare < BALLOON_MAX ? spare : BALLOON_MAX);
    uint32_t held = 0;
    while (held < give) {
        uint32_t n = 0;
        while (n < BALLOON_BATCH && held + n < give) {
            uint32_t page = (uint32_t)alloc_page();
            balloon_pages[held + n] = page;
            balloon_pfns[n++] = page >> 12;
        }
        balloon_send(0, n);
        held += n;
    }
    BVIO(VIO_CONFIG + 4) = held;   /* actual */
    kprintf("virtio-balloon: inflated to %u pages, actual %u\n", held, BVIO(VIO_CONFIG + 4));
    while (held > 0) {
        uint32_t n = 0;
        while (n < BALLOON_BATCH && n < held) {
            balloon_pfns[n] = balloon_pages[held - 1 - n] >> 12;
            n++;
        }
        balloon_send(1, n);
        held -= n;
        /* Pages taken back are the kernel's again (their contents are whatever the host gives:
           the spec promises nothing), so they must take a write. */
        for (uint32_t i = 0; i < n; i++) {
            volatile uint32_t *word = (volatile uint32_t *)(balloon_pfns[i] << 12);
            *word = balloon_pfns[i];
            if (*word != balloon_pfns[i]) kfail(64, "a deflated page does not keep what is written to it");
        }
    }
    BVIO(VIO_CONFIG + 4) = 0;
    kprintf("virtio-balloon: deflated back to 0 pages\n");
}
#else
void virtio_balloon_test(void) {}
#endif

/* ---------------------------------------------------------------- UART input */

#define UART_RBR 0
#define UART_IER 1
#define UART_LSR 5
#define LINE_MAX 64
#define INPUT_IDLE_TICKS 50

static volatile char line[LINE_MAX + 1];
static volatile uint32_t line_len, line_done, rx_chars, last_rx_tick;

static void uart_irq(void) {
    while (MMIO8(UART_BASE + UART_LSR) & 1) {
        char c = (char)MMIO8(UART_BASE + UART_RBR);
        if (line_done) continue;
        rx_chars++;
        last_rx_tick = ticks;
        if (c == '\n' || c == '\r') line_done = 1;
        else if (line_len < LINE_MAX) line[line_len++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
}

void uart_input_test(void) {
    kprintf("uart: reading a line (interrupt-driven; gives up after %u ticks without input)\n",
            INPUT_IDLE_TICKS);
    last_rx_tick = ticks;
    plic_enable(UART_IRQ);
    MMIO8(UART_BASE + UART_IER) = 1;            /* received-data-available interrupt */
    while (!line_done && ticks - last_rx_tick < INPUT_IDLE_TICKS) wait_for_interrupt();
    MMIO8(UART_BASE + UART_IER) = 0;
    line[line_len] = 0;
    if (line_done) kprintf("input: %s\n", (const char *)line);
    else if (rx_chars == 0) kprintf("input: (none)\n");
    else kprintf("input: %s (no end of line)\n", (const char *)line);
}
