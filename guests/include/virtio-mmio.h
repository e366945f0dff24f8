/* virtio-mmio.h: the virtio-mmio register map (virtio 1.1 §4.2.2; the legacy-only registers of
   §4.2.4 are marked), and where QEMU's `virt` board (and matryoshka's) puts its slots. Defines
   only, shared by the guests that drive virtio devices themselves (kernel/devices.c,
   memhog/memhog.c, include/vnet.h). */
#ifndef MATRYOSHKA_VIRTIO_MMIO_H
#define MATRYOSHKA_VIRTIO_MMIO_H

/* 8 slots of 0x1000 bytes from 0x10001000 (hw/riscv/virt.c's VIRT_VIRTIO, IRQ 1 + slot). */
#define VIO_MMIO_BASE 0x10001000u
#define VIO_MMIO_SLOTS 8u
#define VIO_MMIO_STRIDE 0x1000u
/* "virt", little-endian, in VIO_MAGIC. */
#define VIO_MAGIC_VALUE 0x74726976u

#define VIO_MAGIC           0x000
#define VIO_VERSION         0x004    /* 1: legacy, 2: modern */
#define VIO_DEVICE_ID       0x008
#define VIO_DEV_FEATURES    0x010
#define VIO_DEV_FEAT_SEL    0x014
#define VIO_DRV_FEATURES    0x020
#define VIO_DRV_FEAT_SEL    0x024
#define VIO_GUEST_PAGE_SIZE 0x028    /* legacy */
#define VIO_QUEUE_SEL       0x030
#define VIO_QUEUE_NUM_MAX   0x034
#define VIO_QUEUE_NUM       0x038
#define VIO_QUEUE_ALIGN     0x03c    /* legacy */
#define VIO_QUEUE_PFN       0x040    /* legacy */
#define VIO_QUEUE_READY     0x044    /* modern */
#define VIO_QUEUE_NOTIFY    0x050
#define VIO_INT_STATUS      0x060
#define VIO_INT_ACK         0x064
#define VIO_STATUS          0x070
#define VIO_QUEUE_DESC_LO   0x080    /* modern, and the five below */
#define VIO_QUEUE_DESC_HI   0x084
#define VIO_QUEUE_AVAIL_LO  0x090
#define VIO_QUEUE_AVAIL_HI  0x094
#define VIO_QUEUE_USED_LO   0x0a0
#define VIO_QUEUE_USED_HI   0x0a4
#define VIO_CONFIG          0x100    /* the device's configuration space */

#endif
