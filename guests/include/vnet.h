/* vnet.h: a polling virtio-net driver for bare-metal guests (net-ping, net-echo), over both
   virtio-mmio interfaces (version 1 "legacy" and version 2 "modern"). Include it from one C file.

   It negotiates MAC, STATUS and MRG_RXBUF (and VERSION_1 on a modern device), so every frame
   carries the 12-byte struct virtio_net_hdr (virtio 1.1 §5.1.6); its receive buffers hold a whole
   frame, so num_buffers is always 1. Queue 0 receives (8 buffers always posted), queue 1
   transmits (one frame in flight at a time). No interrupts: the used rings are polled. */
#ifndef MATRYOSHKA_VNET_H
#define MATRYOSHKA_VNET_H

#include "rt.h"
#include "virtio-mmio.h"

#define VNET_F_MAC 5
#define VNET_F_MRG_RXBUF 15
#define VNET_F_STATUS 16
#define VNET_F_VERSION_1 32
#define VNET_S_LINK_UP 1

#define VNET_QSIZE 8
#define VNET_HDR 12
#define VNET_BUF 2048
#define VNET_MAX_FRAME (VNET_BUF - VNET_HDR)

struct vnet_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vnet_avail { uint16_t flags, idx, ring[VNET_QSIZE], used_event; };
struct vnet_used_elem { uint32_t id, len; };
struct vnet_used { uint16_t flags, idx; struct vnet_used_elem ring[VNET_QSIZE]; uint16_t avail_event; };

/* One queue in the legacy layout (which a modern device accepts too): descriptors and available
   ring in the first page, used ring at the next 4096-byte boundary. */
struct vnet_queue {
    struct vnet_desc desc[VNET_QSIZE];
    struct vnet_avail avail;
    uint8_t pad[4096 - VNET_QSIZE * sizeof(struct vnet_desc) - sizeof(struct vnet_avail)];
    struct vnet_used used;
} __attribute__((aligned(4096)));

static struct vnet_queue vnet_rxq, vnet_txq;
static uint8_t vnet_rxbuf[VNET_QSIZE][VNET_BUF] __attribute__((aligned(16)));
static uint8_t vnet_txbuf[VNET_BUF] __attribute__((aligned(16)));
static uint32_t vnet_base;
static uint16_t vnet_rx_seen, vnet_tx_seen;
static uint8_t vnet_mac[6];
static int vnet_modern;

#define VNET(off) (*(volatile uint32_t *)(vnet_base + (off)))
#define VNET_FENCE() __asm__ volatile("fence rw, rw" : : : "memory")

__attribute__((unused)) static int vnet_memcmp(const void *a, const void *b, uint32_t n) {
    const uint8_t *x = a, *y = b;
    for (uint32_t i = 0; i < n; i++) if (x[i] != y[i]) return x[i] - y[i];
    return 0;
}

static void vnet_fail(int code, const char *what) {
    printf("vnet: %s\n", what);
    exit(code);
}

static void vnet_setup_queue(uint32_t index, struct vnet_queue *q) {
    VNET(VIO_QUEUE_SEL) = index;
    if (VNET(VIO_QUEUE_NUM_MAX) < VNET_QSIZE) vnet_fail(70, "virtqueue too small");
    VNET(VIO_QUEUE_NUM) = VNET_QSIZE;
    if (vnet_modern) {
        VNET(VIO_QUEUE_DESC_LO) = (uint32_t)q->desc;
        VNET(VIO_QUEUE_DESC_HI) = 0;
        VNET(VIO_QUEUE_AVAIL_LO) = (uint32_t)&q->avail;
        VNET(VIO_QUEUE_AVAIL_HI) = 0;
        VNET(VIO_QUEUE_USED_LO) = (uint32_t)&q->used;
        VNET(VIO_QUEUE_USED_HI) = 0;
        VNET(VIO_QUEUE_READY) = 1;
    } else {
        VNET(VIO_QUEUE_ALIGN) = 4096;
        VNET(VIO_QUEUE_PFN) = (uint32_t)q >> 12;
    }
}

/* Gives receive buffer `i` back to the device. */
static void vnet_post_rx(uint32_t i) {
    vnet_rxq.desc[i].addr = (uint32_t)vnet_rxbuf[i];
    vnet_rxq.desc[i].len = VNET_BUF;
    vnet_rxq.desc[i].flags = 2; /* VRING_DESC_F_WRITE */
    vnet_rxq.desc[i].next = 0;
    vnet_rxq.avail.ring[vnet_rxq.avail.idx % VNET_QSIZE] = (uint16_t)i;
    VNET_FENCE();
    vnet_rxq.avail.idx = (uint16_t)(vnet_rxq.avail.idx + 1);
    VNET_FENCE();
}

/* Finds the first virtio-net device, brings it up and fills vnet_mac. Returns its slot. */
static uint32_t vnet_init(void) {
    uint32_t slot = VIO_MMIO_SLOTS;
    for (uint32_t n = 0; n < VIO_MMIO_SLOTS && slot == VIO_MMIO_SLOTS; n++) {
        uint32_t base = VIO_MMIO_BASE + n * VIO_MMIO_STRIDE;
        if (mmio_read32(base + VIO_MAGIC) == VIO_MAGIC_VALUE && mmio_read32(base + VIO_DEVICE_ID) == 1) slot = n;
    }
    if (slot == VIO_MMIO_SLOTS) vnet_fail(71, "no virtio-net device in the 8 virtio-mmio slots");
    vnet_base = VIO_MMIO_BASE + slot * VIO_MMIO_STRIDE;
    uint32_t version = VNET(VIO_VERSION);
    if (version != 1 && version != 2) vnet_fail(72, "unknown virtio-mmio version");
    vnet_modern = version == 2;
    VNET(VIO_STATUS) = 0;
    VNET(VIO_STATUS) = 1;     /* ACKNOWLEDGE */
    VNET(VIO_STATUS) = 1 | 2; /* DRIVER */
    VNET(VIO_DEV_FEAT_SEL) = 0;
    uint32_t f0 = VNET(VIO_DEV_FEATURES);
    uint32_t want = (1u << VNET_F_MAC) | (1u << VNET_F_STATUS) | (1u << VNET_F_MRG_RXBUF);
    if ((f0 & want) != want) vnet_fail(73, "virtio-net lacks MAC, STATUS or MRG_RXBUF");
    VNET(VIO_DRV_FEAT_SEL) = 0;
    VNET(VIO_DRV_FEATURES) = want;
    VNET(VIO_DRV_FEAT_SEL) = 1;
    VNET(VIO_DRV_FEATURES) = vnet_modern ? 1u << (VNET_F_VERSION_1 - 32) : 0;
    if (vnet_modern) {
        VNET(VIO_STATUS) = 1 | 2 | 8; /* FEATURES_OK */
        if (!(VNET(VIO_STATUS) & 8)) vnet_fail(74, "virtio-net refused our features");
    } else {
        VNET(VIO_GUEST_PAGE_SIZE) = 4096;
    }
    vnet_setup_queue(0, &vnet_rxq);
    vnet_setup_queue(1, &vnet_txq);
    for (uint32_t i = 0; i < VNET_QSIZE; i++) vnet_post_rx(i);
    VNET(VIO_STATUS) = VNET(VIO_STATUS) | 4; /* DRIVER_OK */
    VNET(VIO_QUEUE_NOTIFY) = 0;
    for (uint32_t i = 0; i < 6; i++) vnet_mac[i] = mmio_read8(vnet_base + VIO_CONFIG + i);
    return slot;
}

__attribute__((unused)) static int vnet_link_up(void) {
    return (mmio_read8(vnet_base + VIO_CONFIG + 6) & VNET_S_LINK_UP) != 0;
}

/* Sends one frame (Ethernet header included) and waits until the device has taken it. */
static void vnet_send(const uint8_t *frame, uint32_t length) {
    if (length > VNET_MAX_FRAME) vnet_fail(75, "frame too long");
    memset(vnet_txbuf, 0, VNET_HDR);
    memcpy(vnet_txbuf + VNET_HDR, frame, length);
    vnet_txq.desc[0].addr = (uint32_t)vnet_txbuf;
    vnet_txq.desc[0].len = VNET_HDR + length;
    vnet_txq.desc[0].flags = 0;
    vnet_txq.desc[0].next = 0;
    vnet_txq.avail.ring[vnet_txq.avail.idx % VNET_QSIZE] = 0;
    VNET_FENCE();
    vnet_txq.avail.idx = (uint16_t)(vnet_txq.avail.idx + 1);
    VNET_FENCE();
    VNET(VIO_QUEUE_NOTIFY) = 1;
    while (*(volatile uint16_t *)&vnet_txq.used.idx == vnet_tx_seen) VNET_FENCE();
    vnet_tx_seen++;
}

/* Copies the next received frame into `frame` (at most `room` bytes) and returns its length, or
   -1 if none has arrived. */
static int vnet_poll(uint8_t *frame, uint32_t room) {
    VNET_FENCE();
    if (*(volatile uint16_t *)&vnet_rxq.used.idx == vnet_rx_seen) return -1;
    struct vnet_used_elem e = vnet_rxq.used.ring[vnet_rx_seen % VNET_QSIZE];
    vnet_rx_seen++;
    if (e.id >= VNET_QSIZE || e.len < VNET_HDR || e.len > VNET_BUF) vnet_fail(76, "bad used element");
    uint16_t buffers = (uint16_t)(vnet_rxbuf[e.id][10] | (vnet_rxbuf[e.id][11] << 8));
    if (buffers != 1) vnet_fail(77, "frame spread over several buffers");
    uint32_t length = e.len - VNET_HDR;
    if (length > room) length = room;
    memcpy(frame, vnet_rxbuf[e.id] + VNET_HDR, length);
    vnet_post_rx(e.id);
    VNET(VIO_QUEUE_NOTIFY) = 0;
    return (int)length;
}

#endif
