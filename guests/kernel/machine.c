/* The M-mode part of the kernel: per-hart machine setup (PMP, trap delegation, counters) and a
   tiny SBI-like monitor that forwards the machine timer and software interrupts to S-mode. */
#include "kernel.h"

#ifndef PV /* kernel-pv has no M-mode part: the hypervisor is its SBI firmware */

#define MEDELEG_BITS ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | \
                      (1u << 6) | (1u << 7) | (1u << CAUSE_ECALL_U) | (1u << CAUSE_FETCH_PAGE) | \
                      (1u << CAUSE_LOAD_PAGE) | (1u << CAUSE_STORE_PAGE))
#define MIDELEG_BITS ((1u << IRQ_SSI) | (1u << IRQ_STI) | (1u << IRQ_SEI))

static void m_set_timecmp(uint32_t hart, uint32_t lo, uint32_t hi) {
    /* 64-bit compare on a 32-bit hart: park the high word first so no early match can happen */
    MMIO32(CLINT_MTIMECMP(hart) + 4) = 0xffffffffu;
    MMIO32(CLINT_MTIMECMP(hart)) = lo;
    MMIO32(CLINT_MTIMECMP(hart) + 4) = hi;
}

static __attribute__((noreturn)) void m_shutdown(uint32_t code) {
    MMIO32(TEST_DEVICE) = code == 0 ? 0x5555u : ((code << 16) | 0x3333u);
    for (;;) __asm__ volatile("wfi");
}

__attribute__((noreturn)) void m_main(uint32_t hart) {
    uint32_t m_stack = (uint32_t)__stacks_bottom + hart * HART_STACK + M_STACK_TOP;
    CSRW(mscratch, m_stack);
    CSRW(mtvec, (uint32_t)m_trap_entry);
    /* PMP entry 0: NAPOT over the whole 34-bit physical address space, R/W/X, so S and U can
       reach memory and devices (with no matching entry their accesses would fault). */
    CSRW(pmpaddr0, 0xffffffffu);
    CSRW(pmpcfg0, 0x1fu);
    CSRW(medeleg, MEDELEG_BITS);
    CSRW(mideleg, MIDELEG_BITS);
    CSRW(mcounteren, 7);        /* S may read cycle, time, instret */
    m_set_timecmp(hart, 0xffffffffu, 0xffffffffu);
    MMIO32(CLINT_MSIP(hart)) = 0;
    CSRW(mip, 0);
    CSRW(mie, 1u << IRQ_MSI);   /* inter-processor interrupts; MTIE only while a timer is armed */
    if (hart == 0) {
        kprintf("m: hart 0 started in M-mode, misa %08x\n", CSRR(misa));
        kprintf("m: pmp0 NAPOT all memory rwx (pmpcfg0 %08x pmpaddr0 %08x)\n", CSRR(pmpcfg0),
                CSRR(pmpaddr0));
        kprintf("m: medeleg %08x mideleg %08x mcounteren %08x\n", CSRR(medeleg), CSRR(mideleg),
                CSRR(mcounteren));
        kprintf("m: timer and software interrupts forwarded to S; mret to S-mode\n");
    }
    uint32_t status = CSRR(mstatus);
    status = (status & ~MSTATUS_MPP_MASK) | MSTATUS_MPP_S;
    CSRW(mstatus, status);
    CSRW(mepc, (uint32_t)s_entry);
    register uint32_t a0 __asm__("a0") = hart;
    __asm__ volatile("mret" : : "r"(a0) : "memory");
    __builtin_unreachable();
}

/* Called by m_trap_entry with the interrupted registers (r[n] = xn). */
void m_trap(uint32_t *r) {
    uint32_t cause = CSRR(mcause);
    uint32_t hart = CSRR(mhartid);
    if (cause & CAUSE_INTR) {
        switch (cause & ~CAUSE_INTR) {
        case IRQ_MTI:               /* the S timer is due: hand it to S, mask until re-armed */
            CSRC(mie, 1u << IRQ_MTI);
            CSRS(mip, 1u << IRQ_STI);
            return;
        case IRQ_MSI:               /* an IPI: acknowledge and raise S's software interrupt */
            MMIO32(CLINT_MSIP(hart)) = 0;
            CSRS(mip, 1u << IRQ_SSI);
            return;
        default:
            break;
        }
    } else if (cause == CAUSE_ECALL_S) {
        CSRW(mepc, CSRR(mepc) + 4);
        switch (r[17]) {
        case SBI_SET_TIMER:
            m_set_timecmp(hart, r[10], r[11]);
            CSRC(mip, 1u << IRQ_STI);
            CSRS(mie, 1u << IRQ_MTI);
            r[10] = 0;
            return;
        case SBI_SEND_IPI:
            for (uint32_t h = 0; h < SMP; h++)
                if (r[10] & (1u << h)) MMIO32(CLINT_MSIP(h)) = 1;
            r[10] = 0;
            return;
        case SBI_SHUTDOWN:
            m_shutdown(r[10]);
        default:
            r[10] = (uint32_t)-1;
            return;
        }
    }
    kprintf("m: unexpected trap on hart %u: mcause %08x mepc %08x mtval %08x\n", hart, cause,
            CSRR(mepc), CSRR(mtval));
    m_shutdown(0x7f);
}

#endif /* PV */
