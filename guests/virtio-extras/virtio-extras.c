/* virtio-extras: drives the board's virtio-rng and virtio-console (bare metal, polling, either
   virtio-mmio version). Prints 32 bytes from the entropy device in hex on the UART, then writes a
   line to the console port (hvc0), and passes. */
#include "rt.h"

#define SLOTS 8u
#define MMIO_BASE 0x10001000u
#define QSIZE 8

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct avail { uint16_t flags, idx, ring[QSIZE], used_event; };
struct used_elem { uint32_t id, len; };
struct used { uint16_t flags, idx; struct used_elem ring[QSIZE]; uint16_t avail_event; };
struct queue {
    struct desc desc[QSIZE];
    struct avail avail;
    uint8_t pad[4096 - QSIZE * sizeof(struct desc) - sizeof(struct avail)];
    struct used used;
} __attribute__((aligned(4096)));

static struct queue rngq, contx, conrx;
static uint8_t random_bytes[32];
static const char line[] = "hello from hvc0\n";

#define REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define FENCE() __asm__ volatile("fence rw, rw" : : : "memory")

static uint32_t find(uint32_t id) {
    for (uint32_t n = 0; n < SLOTS; n++) {
        uint32_t base = MMIO_BASE + n * 0x1000u;
        if (REG(base, 0) == 0x74726976u && REG(base, 8) == id) return base;
    }
    printf("virtio-extras: no device %u\n", id);
    exit(10 + (int)id);
}

static void start(uint32_t base) {
    int modern = REG(base, 4) == 2;
    REG(base, 0x70) = 0;
    REG(base, 0x70) = 1 | 2;
    REG(base, 0x24) = 0;
    REG(base, 0x20) = 0;
    REG(base, 0x24) = 1;
    REG(base, 0x20) = modern ? 1u : 0u; /* VERSION_1 only */
    if (modern) {
        REG(base, 0x70) = 1 | 2 | 8;
        if (!(REG(base, 0x70) & 8)) exit(20);
    } else {
        REG(base, 0x28) = 4096;
    }
}

static void queue_setup(uint32_t base, uint32_t index, struct queue *q) {
    REG(base, 0x30) = index;
    REG(base, 0x38) = QSIZE;
    if (REG(base, 4) == 2) {
        REG(base, 0x80) = (uint32_t)q->desc;
        REG(base, 0x84) = 0;
        REG(base, 0x90) = (uint32_t)&q->avail;
        REG(base, 0x94) = 0;
        REG(base, 0xa0) = (uint32_t)&q->used;
        REG(base, 0xa4) = 0;
        REG(base, 0x44) = 1;
    } else {
        REG(base, 0x3c) = 4096;
        REG(base, 0x40) = (uint32_t)q >> 12;
    }
}

/* One buffer through queue `index`, waiting for the device; returns the used length. */
static uint32_t transfer(uint32_t base, uint32_t index, struct queue *q, const void *buf, uint32_t len, int writable) {
    q->desc[0].addr = (uint32_t)buf;
    q->desc[0].len = len;
    q->desc[0].flags = writable ? 2 : 0;
    q->desc[0].next = 0;
    q->avail.ring[q->avail.idx % QSIZE] = 0;
    FENCE();
    uint16_t seen = q->used.idx;
    q->avail.idx = (uint16_t)(q->avail.idx + 1);
    FENCE();
    REG(base, 0x50) = index;
    while (*(volatile uint16_t *)&q->used.idx == seen) FENCE();
    return q->used.ring[seen % QSIZE].len;
}

int main(void) {
    uint32_t rng = find(4);
    start(rng);
    queue_setup(rng, 0, &rngq);
    REG(rng, 0x70) = REG(rng, 0x70) | 4;
    uint32_t got = transfer(rng, 0, &rngq, random_bytes, sizeof random_bytes, 1);
    printf("virtio-rng: %u bytes:", got);
    for (uint32_t i = 0; i < got; i++) printf(" %02x", random_bytes[i]);
    printf("\n");

    uint32_t con = find(3);
    start(con);
    queue_setup(con, 0, &conrx);
    queue_setup(con, 1, &contx);
    REG(con, 0x70) = REG(con, 0x70) | 4;
    transfer(con, 1, &contx, line, sizeof line - 1, 0);
    printf("virtio-console: line sent\n");
    return 0;
}
