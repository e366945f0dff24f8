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
   the mask: the two combine, as both must allow an interrupt for it to be taken. */
#ifndef MATRYOSHKA_PV_H
#define MATRYOSHKA_PV_H

#include "sbi.h"

#define PV_EXT 0x0A4D5452u
#define PV_REGISTER_SHARED 0
#define PV_DELIVER         1
#define PV_CONSOLE_KICK    2
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
