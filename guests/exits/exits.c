/* exits: an exit-heavy guest for measuring what one trap into a hypervisor costs.

   M-mode sets up PMP, a trap vector and an empty delegation, then drops to S-mode with mret. S-mode
   runs ITERATIONS rounds of: a little computation (an xorshift step), a write and read-back of
   sscratch, a read of sstatus, setting and clearing sstatus.SUM, and an ecall "hypercall" to the
   M-mode handler (entry.S), which reads mcause/mepc, advances mepc, mixes the arguments and
   returns with mret. On bare hardware none of this traps except the ecall; under a trap-and-emulate
   hypervisor every CSR access, ecall and mret is an exit (12 per round).

   The output is a checksum of every value read, so it is the same on every machine that follows
   the specification: no cycle, time or instret value is ever printed. */
#include "rt.h"

#define ITERATIONS 25000
#define PHASES 4
#define MSTATUS_MPP_MASK (3u << 11)
#define MSTATUS_MPP_S (1u << 11)
#define SSTATUS_SUM (1u << 18)

extern char m_trap[], s_entry[], m_frame[];

/* Running checksums at the end of each quarter of the loop (written in S-mode, printed in M). */
static volatile uint32_t phase_sum[PHASES];

static inline uint32_t hypercall(uint32_t a0, uint32_t a1) {
    register uint32_t r0 __asm__("a0") = a0;
    register uint32_t r1 __asm__("a1") = a1;
    register uint32_t r7 __asm__("a7") = 0;
    __asm__ volatile("ecall" : "+r"(r0) : "r"(r1), "r"(r7) : "memory");
    return r0;
}

__attribute__((noreturn)) void s_main(void) {
    uint32_t x = 0x12345678u, sum = 0;
    for (uint32_t i = 0; i < ITERATIONS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint32_t back, status, with_sum;
        __asm__ volatile("csrw sscratch, %0" : : "r"(x + i));
        __asm__ volatile("csrr %0, sscratch" : "=r"(back));
        __asm__ volatile("csrs sstatus, %0" : : "r"(SSTATUS_SUM));
        __asm__ volatile("csrr %0, sstatus" : "=r"(with_sum));
        __asm__ volatile("csrc sstatus, %0" : : "r"(SSTATUS_SUM));
        status = with_sum ^ SSTATUS_SUM;
        sum = (sum * 31u) ^ back ^ status;
        sum = hypercall(sum, x);
        if ((i + 1) % (ITERATIONS / PHASES) == 0) phase_sum[(i + 1) / (ITERATIONS / PHASES) - 1] = sum;
    }
    register uint32_t r0 __asm__("a0") = sum;
    register uint32_t r1 __asm__("a1") = x;
    register uint32_t r7 __asm__("a7") = 1;
    __asm__ volatile("ecall" : : "r"(r0), "r"(r1), "r"(r7) : "memory");
    for (;;) {
    }
}

/* M-mode, on its own stack, after the S-mode loop's final ecall. */
__attribute__((noreturn)) void m_finish(uint32_t sum, uint32_t x, uint32_t calls) {
    uint32_t status;
    __asm__ volatile("csrr %0, mstatus" : "=r"(status));
    for (int p = 0; p < PHASES; p++) printf("exits: phase %d checksum %08x\n", p + 1, phase_sum[p]);
    printf("exits: %u rounds, %u hypercalls, xorshift %08x, checksum %08x, mstatus.MPP %u\n", ITERATIONS, calls, x,
           sum, (status & MSTATUS_MPP_MASK) >> 11);
    int ok = calls == ITERATIONS;
    printf("exits: %s\n", ok ? "ok" : "FAIL");
    exit(ok ? 0 : 1);
}

__attribute__((noreturn)) void m_unexpected(uint32_t cause, uint32_t epc, uint32_t tval) {
    printf("exits: unexpected trap mcause=%08x mepc=%08x mtval=%08x\n", cause, epc, tval);
    exit(2);
}

int main(void) {
    /* PMP entry 0: NAPOT over the whole address space, RWX (S-mode needs an entry to run at all). */
    __asm__ volatile("csrw pmpaddr0, %0" : : "r"(0xffffffffu));
    __asm__ volatile("csrw pmpcfg0, %0" : : "r"(0x1fu));
    __asm__ volatile("csrw satp, zero");
    __asm__ volatile("csrw medeleg, zero");
    __asm__ volatile("csrw mideleg, zero");
    __asm__ volatile("csrw mie, zero");
    __asm__ volatile("csrw mtvec, %0" : : "r"(m_trap));
    __asm__ volatile("csrw mscratch, %0" : : "r"(m_frame));
    __asm__ volatile("csrw mepc, %0" : : "r"(s_entry));
    __asm__ volatile("csrc mstatus, %0" : : "r"(MSTATUS_MPP_MASK));
    __asm__ volatile("csrs mstatus, %0" : : "r"(MSTATUS_MPP_S));
    __asm__ volatile("mret");
    return 3; /* not reached */
}
