/* pv.h: matryoshka's paravirtual extension, for S-mode kernels on `--backend pv`.

   The extension lives in the SBI's firmware-specific range (EID 0x0A4D5452). It gives each hart a
   page of memory it shares with the hypervisor, in the style of Xen's shared-info page:

   - An interrupt mask. Disabling interrupts is a store to `irq_mask`, with no trap (clearing
     sstatus.SIE is a CSR write, and so a trap, under a hypervisor). While the hart is in S-mode
     with the mask set, the hypervisor delivers no interrupt. It sets `irq_pending` instead, and
     the kernel, after clearing the mask, asks for delivery with one call: pv_irq_enable() does it.
   - A console ring. Bytes written to `ring` (producer index `console_producer`) are copied to the
     console by the hypervisor at its next exit: console output costs no call at all, except
     pv_console_kick() when the ring is full.

   Register the page first, with pv_register_shared(): page-aligned, in the VM's RAM, one per hart.
   A bad address gets SBI_ERR_INVALID_ADDRESS. The kernel must keep sstatus.SIE set while it uses
   the mask: the two combine, as both must allow an interrupt for it to be taken.

   Direct paging (Xen's "no shadow tables"): the hypervisor lets the hardware walk the kernel's own
   Sv32 tables once it has validated them. The rules:
   - PTEs hold machine frame numbers: the frames of the memory beneath, which need not be
     contiguous. pv_mmu_machine_frames(first, count, list) writes the machine frame of each guest
     frame from `first` (Xen's physical-to-machine table, at most PV_MMU_FRAMES_MAX a call); those
     pages stay on their frames for good. pv_mmu_info() succeeds when direct paging is offered.
   - A page becomes a page table with pv_mmu_pin(page, level): every entry is checked then, and
     from then on the page is read-only: change it only with pv_mmu_update(), a batch of
     (PTE address, new value) pairs, each checked. A level-1 pointer must name a pinned level-0
     table; a leaf must lie wholly in the VM's RAM (SBI_ERR_INVALID_ADDRESS otherwise, and the
     mapping is not made); a pinned page may not be mapped writable (SBI_ERR_DENIED). Pin a page
     only while nothing maps it writable.
   - The kernel runs in the hardware's U-mode, so every page it uses carries PTE_U, and each
     address space has two roots: one with everything, used while the kernel runs, and one with the
     user mappings only. pv_mmu_set_roots(kernel, user) switches to them; it flushes the TLB.
   - Device registers are mapped with I/O entries: V clear, PV_PTE_IO set, R/W as wanted, the
     guest-physical frame (not a machine frame) of the device. The hardware faults on them and the
     hypervisor performs the access on the VM's device.
   - Any other write to a pinned table (a device's DMA, a store the hypervisor emulates) stops
     the VM. */
#ifndef MATRYOSHKA_PV_H
#define MATRYOSHKA_PV_H

#include "sbi.h"

#define PV_EXT 0x0A4D5452u
#define PV_REGISTER_SHARED 0
#define PV_DELIVER         1
#define PV_CONSOLE_KICK    2
#define PV_MMU_INFO        3
#define PV_MMU_PIN         4
#define PV_MMU_UNPIN       5
#define PV_MMU_UPDATE      6
#define PV_MMU_SET_ROOTS   7
#define PV_MMU_MACHINE_FRAMES 8
#define PV_MMU_UPDATE_MAX  1024u  /* entries per pv_mmu_update call */
#define PV_MMU_FRAMES_MAX  1024u  /* frames per pv_mmu_machine_frames call */
#define PV_PTE_IO (1u << 8)       /* with V clear: a device mapping (guest-physical frame) */
#define PV_CONSOLE_RING_SIZE 2048u

struct pv_shared {
    volatile uint32_t irq_mask;         /* guest: nonzero = interrupts masked (in S-mode) */
    volatile uint32_t irq_pending;      /* hypervisor: an interrupt is waiting for the mask */
    volatile uint32_t console_producer; /* guest: bytes written to the ring, ever */
    volatile uint32_t console_consumer; /* hypervisor: bytes copied out, ever */
    uint32_t reserved[12];
    char ring[PV_CONSOLE_RING_SIZE];    /* byte n of the stream at ring[n % size] */
} __attribute__((aligned(4096)));

static inline struct sbiret pv_register_shared(struct pv_shared *page) {
    return sbi_ecall(PV_EXT, PV_REGISTER_SHARED, (uint32_t)(uintptr_t)page, 0, 0, 0, 0, 0);
}

/* One request of pv_mmu_update: the guest-physical address of a PTE in a pinned table, its new value. */
struct pv_mmu_request {
    uint32_t pte;
    uint32_t value;
};

/* Succeeds when the hypervisor offers direct paging; value: the interface's version (2). */
static inline struct sbiret pv_mmu_info(void) { return sbi_ecall(PV_EXT, PV_MMU_INFO, 0, 0, 0, 0, 0, 0); }

/* list[i] = the machine frame of guest frame first + i, for i < count (count <= PV_MMU_FRAMES_MAX). */
static inline struct sbiret pv_mmu_machine_frames(uint32_t first, uint32_t count, uint32_t *list) {
    return sbi_ecall(PV_EXT, PV_MMU_MACHINE_FRAMES, first, count, (uint32_t)(uintptr_t)list, 0, 0, 0);
}

static inline struct sbiret pv_mmu_pin(void *table, uint32_t level) {
    return sbi_ecall(PV_EXT, PV_MMU_PIN, (uint32_t)(uintptr_t)table, level, 0, 0, 0, 0);
}

static inline struct sbiret pv_mmu_unpin(void *table) {
    return sbi_ecall(PV_EXT, PV_MMU_UNPIN, (uint32_t)(uintptr_t)table, 0, 0, 0, 0, 0);
}

/* Applies the requests in order, stopping at the first refused one; value = how many were applied. */
static inline struct sbiret pv_mmu_update(const struct pv_mmu_request *list, uint32_t count) {
    return sbi_ecall(PV_EXT, PV_MMU_UPDATE, (uint32_t)(uintptr_t)list, count, 0, 0, 0, 0);
}

static inline struct sbiret pv_mmu_set_roots(void *kernel_root, void *user_root) {
    return sbi_ecall(PV_EXT, PV_MMU_SET_ROOTS, (uint32_t)(uintptr_t)kernel_root, (uint32_t)(uintptr_t)user_root, 0, 0, 0, 0);
}

static inline void pv_irq_disable(struct pv_shared *page) {
    page->irq_mask = 1;
    __asm__ volatile("" : : : "memory");
}

static inline void pv_irq_enable(struct pv_shared *page) {
    page->irq_mask = 0;
    __asm__ volatile("fence rw, rw" : : : "memory");
    if (page->irq_pending) sbi_ecall(PV_EXT, PV_DELIVER, 0, 0, 0, 0, 0, 0);
}

static inline void pv_console_kick(void) { sbi_ecall(PV_EXT, PV_CONSOLE_KICK, 0, 0, 0, 0, 0, 0); }

/* Appends one byte to the console ring, kicking the hypervisor when the ring is full. */
static inline void pv_console_putc(struct pv_shared *page, char c) {
    while (page->console_producer - page->console_consumer >= PV_CONSOLE_RING_SIZE) pv_console_kick();
    page->ring[page->console_producer % PV_CONSOLE_RING_SIZE] = c;
    __asm__ volatile("fence w, w" : : : "memory");
    page->console_producer++;
}

#endif /* MATRYOSHKA_PV_H */
