/* interrupts: CLINT timer and software interrupts, PLIC external interrupts (UART THR-empty),
   priorities, delegation to S, WFI, vectored mtvec (privileged spec 1.12 sections 3.1.9, 3.3.3).

   Nothing printed depends on timing: timer deadlines are "now + 1000 ticks", loops spin until an
   interrupt handler has logged the interrupt (bounded, printing "timeout" if it never comes), and
   only yes/no outcomes and interrupt causes are printed.

   Exit status: the number of failed checks (0 = pass). */
#include "mtest.h"

#define CLINT_MSIP 0x02000000u
#define CLINT_MTIMECMP 0x02004000u
#define CLINT_MTIME 0x0200bff8u
#define PLIC_BASE 0x0c000000u
#define PLIC_PRIORITY(src) (PLIC_BASE + 4u * (src))
#define PLIC_PENDING (PLIC_BASE + 0x1000u)
#define PLIC_ENABLE(ctx) (PLIC_BASE + 0x2000u + 0x80u * (ctx))
#define PLIC_THRESHOLD(ctx) (PLIC_BASE + 0x200000u + 0x1000u * (ctx))
#define PLIC_CLAIM(ctx) (PLIC_BASE + 0x200004u + 0x1000u * (ctx))
#define UART_IRQ 10u
#define UART_IER (UART0_BASE + 1u)
#define UART_IIR (UART0_BASE + 2u)
#define SPIN_LIMIT 20000000
#define ECALL_CLEAR_STIP 0x53544950u /* a7 for "M, please clear mip.STIP" (an SBI-like service) */

/* ---------------------------------------------------------------- CLINT */

static uint64_t mtime_read(void) {
    uint32_t hi, lo;
    do {
        hi = mmio_read32(CLINT_MTIME + 4);
        lo = mmio_read32(CLINT_MTIME);
    } while (hi != mmio_read32(CLINT_MTIME + 4));
    return ((uint64_t)hi << 32) | lo;
}

static void mtimecmp_write(uint64_t v) {
    mmio_write32(CLINT_MTIMECMP + 4, 0xffffffffu); /* no spurious match while the halves disagree */
    mmio_write32(CLINT_MTIMECMP, (uint32_t)v);
    mmio_write32(CLINT_MTIMECMP + 4, (uint32_t)(v >> 32));
}

static void timer_off(void) { mtimecmp_write(~(uint64_t)0); }
static void timer_in(uint32_t ticks) { mtimecmp_write(mtime_read() + ticks); }

/* ---------------------------------------------------------------- interrupt log and handlers */

static volatile uint32_t ilog[16];
static volatile uint32_t ilog_n;
static volatile uint32_t claimed_m, claimed_s;

static void log_reset(void) {
    ilog_n = 0;
    for (int i = 0; i < 16; i++) ilog[i] = 0;
}
static void log_add(uint32_t mode, uint32_t code) {
    if (ilog_n < 16) ilog[ilog_n] = (mode << 8) | code;
    ilog_n++;
}
static void log_print(void) {
    printf("[");
    for (uint32_t i = 0; i < ilog_n && i < 16; i++) printf("%s%c%u", i ? " " : "", (ilog[i] >> 8) == PRV_M ? 'M' : 'S', ilog[i] & 0xff);
    printf("]");
}
static int log_is(const uint32_t *want, uint32_t n) {
    if (ilog_n != n) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (ilog[i] != want[i]) return 0;
    return 1;
}
#define MLOG(code) ((PRV_M << 8) | (code))
#define SLOG(code) ((PRV_S << 8) | (code))

/* the UART's THR-empty interrupt: cleared by disabling it in IER */
static void uart_irq_off(void) {
    mmio_write8(UART_IER, 0);
    (void)mmio_read8(UART_IIR);
}

static int m_hook(struct mtest_frame *f) {
    uint32_t cause = f->cause;
    if (cause & CAUSE_INTERRUPT) {
        uint32_t code = cause & 31;
        log_add(PRV_M, code);
        switch (code) {
        case IRQ_MSI: mmio_write32(CLINT_MSIP, 0); break;
        case IRQ_MTI: timer_off(); break;
        case IRQ_SSI: CSR_CLEAR(mip, MIP_SSIP); break;
        case IRQ_STI: CSR_CLEAR(mip, MIP_STIP); break;
        case IRQ_SEI: CSR_CLEAR(mip, MIP_SEIP); break;
        case IRQ_MEI: {
            uint32_t src = mmio_read32(PLIC_CLAIM(0));
            claimed_m = src;
            uart_irq_off();
            mmio_write32(PLIC_CLAIM(0), src);
            break;
        }
        default: CSR_CLEAR(mie, 1u << code); break;
        }
        return 1;
    }
    if (cause == CAUSE_ECALL_S && f->x[17] == ECALL_CLEAR_STIP) {
        CSR_CLEAR(mip, MIP_STIP);
        f->epc += 4;
        return 1;
    }
    return 0;
}

static int s_hook(struct mtest_frame *f) {
    uint32_t cause = f->cause;
    if (!(cause & CAUSE_INTERRUPT)) return 0;
    uint32_t code = cause & 31;
    log_add(PRV_S, code);
    switch (code) {
    case IRQ_SSI: CSR_CLEAR(sip, MIP_SSIP); break;
    case IRQ_STI: {
        /* sip.STIP is read-only: ask M to clear it */
        register uint32_t a7 __asm__("a7") = ECALL_CLEAR_STIP;
        __asm__ volatile("ecall" : : "r"(a7) : "memory");
        break;
    }
    case IRQ_SEI: {
        uint32_t src = mmio_read32(PLIC_CLAIM(1));
        claimed_s = src;
        uart_irq_off();
        mmio_write32(PLIC_CLAIM(1), src);
        break;
    }
    default: CSR_CLEAR(sie, 1u << code); break;
    }
    return 1;
}

static int spin_until_logged(uint32_t n) {
    for (int i = 0; i < SPIN_LIMIT; i++)
        if (ilog_n >= n) return 1;
    return 0;
}

static void quiesce(void) {
    CSR_CLEAR(mstatus, MSTATUS_MIE | MSTATUS_SIE);
    CSR_WRITE(mie, 0);
    CSR_WRITE(mideleg, 0);
    mmio_write32(CLINT_MSIP, 0);
    timer_off();
    CSR_CLEAR(mip, MIP_SSIP | MIP_STIP | MIP_SEIP);
    uart_irq_off();
    mmio_write32(PLIC_ENABLE(0), 0);
    mmio_write32(PLIC_ENABLE(1), 0);
}

/* ---------------------------------------------------------------- payloads (S and U) */

/* S: count interrupts before enabling SIE, enable, wait for one, disable; returns the count before */
static uint32_t s_enable_and_wait(uint32_t a) {
    (void)a;
    uint32_t before = ilog_n;
    CSR_SET(sstatus, MSTATUS_SIE);
    for (int i = 0; i < SPIN_LIMIT && ilog_n == before; i++) {
    }
    CSR_CLEAR(sstatus, MSTATUS_SIE);
    return before;
}

/* S: raise SSIP through sip with SIE=1 */
static uint32_t s_set_ssip(uint32_t a) {
    (void)a;
    CSR_SET(sstatus, MSTATUS_SIE);
    CSR_SET(sip, MIP_SSIP);
    for (int i = 0; i < SPIN_LIMIT && ilog_n == 0; i++) {
    }
    CSR_CLEAR(sstatus, MSTATUS_SIE);
    return CSR_READ(sip);
}

/* S or U: wait (interrupts stay as configured) until `a` interrupts were logged */
static uint32_t wait_logged(uint32_t a) {
    for (int i = 0; i < SPIN_LIMIT && ilog_n < a; i++) {
    }
    return ilog_n;
}

/* ---------------------------------------------------------------- tests */

static void test_clint_basics(void) {
    printf("-- CLINT and mip\n");
    uint32_t mtip0 = (CSR_READ(mip) >> IRQ_MTI) & 1;
    timer_off();
    uint32_t mtip1 = (CSR_READ(mip) >> IRQ_MTI) & 1;
    printf("mip.MTIP at reset (mtimecmp=0): %u, after mtimecmp=max: %u", mtip0, mtip1);
    mtest_result(mtip0 == 1 && mtip1 == 0);
    mtimecmp_write(0x123456789abcdefull);
    uint32_t lo = mmio_read32(CLINT_MTIMECMP), hi = mmio_read32(CLINT_MTIMECMP + 4);
    timer_off();
    printf("mtimecmp reads back %08x%08x", hi, lo);
    mtest_result(hi == 0x01234567u && lo == 0x89abcdefu);
    uint64_t t0 = mtime_read(), t1 = t0;
    for (int i = 0; i < SPIN_LIMIT && t1 == t0; i++) t1 = mtime_read();
    printf("mtime advances: %s", t1 > t0 ? "yes" : "no");
    mtest_result(t1 > t0);

    /* mip.MTIP and mip.MSIP are read-only (set by the CLINT), csrs/csrc leave them alone */
    CSR_SET(mip, MIP_MTIP | MIP_MSIP);
    uint32_t set = CSR_READ(mip) & (MIP_MTIP | MIP_MSIP);
    mtimecmp_write(0);
    mmio_write32(CLINT_MSIP, 1);
    CSR_CLEAR(mip, MIP_MTIP | MIP_MSIP);
    uint32_t clr = CSR_READ(mip) & (MIP_MTIP | MIP_MSIP);
    mmio_write32(CLINT_MSIP, 0);
    timer_off();
    uint32_t off = CSR_READ(mip) & (MIP_MTIP | MIP_MSIP);
    printf("mip.MTIP/MSIP via csrs while idle: %03x, via csrc while pending: %03x, after CLINT clears: %03x", set, clr, off);
    mtest_result(set == 0 && clr == (MIP_MTIP | MIP_MSIP) && off == 0);
    mmio_write32(CLINT_MSIP, 0xffffffffu);
    uint32_t msip = mmio_read32(CLINT_MSIP);
    mmio_write32(CLINT_MSIP, 0);
    printf("msip <- ffffffff reads %08x\n", msip);
}

static void test_m_timer_and_software(void) {
    printf("-- machine timer and software interrupts\n");
    log_reset();
    mtest_clear();
    CSR_WRITE(mie, MIP_MTIP);
    CSR_SET(mstatus, MSTATUS_MIE);
    timer_in(1000);
    int fired = spin_until_logged(1);
    CSR_CLEAR(mstatus, MSTATUS_MIE);
    printf("timer fired: %s ", fired ? "yes" : "timeout");
    log_print();
    printf(" mcause=%08x mtval=%08x from=%c MPIE=%u", mtest_m.cause, mtest_m.tval,
           ((mtest_m.status >> MSTATUS_MPP_SHIFT) & 3) == PRV_M ? 'M' : '?', (mtest_m.status >> 7) & 1);
    mtest_result(fired && ilog_n == 1 && mtest_m.cause == (CAUSE_INTERRUPT | IRQ_MTI) && mtest_m.tval == 0 &&
                 ((mtest_m.status >> MSTATUS_MPP_SHIFT) & 3) == PRV_M && (mtest_m.status & MSTATUS_MPIE));

    /* software interrupt: pending but masked by mstatus.MIE=0, then taken when MIE is set */
    log_reset();
    mtest_clear();
    CSR_WRITE(mie, MIP_MSIP);
    mmio_write32(CLINT_MSIP, 1);
    uint32_t pend = (CSR_READ(mip) >> IRQ_MSI) & 1;
    for (volatile int i = 0; i < 1000; i++) {
    }
    uint32_t taken_masked = ilog_n;
    CSR_SET(mstatus, MSTATUS_MIE);
    fired = spin_until_logged(1);
    CSR_CLEAR(mstatus, MSTATUS_MIE);
    printf("software interrupt: mip.MSIP=%u, taken with MIE=0: %u, after MIE=1: ", pend, taken_masked);
    log_print();
    printf(" mcause=%08x", mtest_m.cause);
    mtest_result(pend == 1 && taken_masked == 0 && fired && ilog_n == 1 && mtest_m.cause == (CAUSE_INTERRUPT | IRQ_MSI));

    /* mret with MPIE=1 to M takes the pending interrupt right at the mret target */
    log_reset();
    mtest_clear();
    mmio_write32(CLINT_MSIP, 1);
    uint32_t target;
    __asm__ volatile("li t0, 0x1880\n csrs mstatus, t0\n la %0, 1f\n csrw mepc, %0\n mret\n1: csrci mstatus, 8"
                     : "=&r"(target) : : "t0", "memory");
    printf("pending MSI taken at the mret target when mret sets MIE: ");
    log_print();
    printf(" mepc=%s", mtest_m.epc == target ? "target" : "other");
    mtest_result(ilog_n == 1 && ilog[0] == MLOG(IRQ_MSI) && mtest_m.epc == target);
    quiesce();
}

static void test_priority(void) {
    printf("-- priority: MEI > MSI > MTI > SEI > SSI > STI (all pending at once, none delegated)\n");
    log_reset();
    mtest_clear();
    claimed_m = 0;
    /* UART THR-empty -> PLIC source 10 -> context 0 (hart 0 M) */
    mmio_write32(PLIC_PRIORITY(UART_IRQ), 1);
    mmio_write32(PLIC_THRESHOLD(0), 0);
    mmio_write32(PLIC_ENABLE(0), 1u << UART_IRQ);
    mmio_write8(UART_IER, 0x02);
    mmio_write32(CLINT_MSIP, 1);
    mtimecmp_write(0);
    CSR_SET(mip, MIP_SEIP | MIP_SSIP | MIP_STIP);
    CSR_WRITE(mie, MIP_MEIP | MIP_MSIP | MIP_MTIP | MIP_SEIP | MIP_SSIP | MIP_STIP);
    for (int i = 0; i < 100000 && !(CSR_READ(mip) & MIP_MEIP); i++) {
    }
    uint32_t pending = CSR_READ(mip) & 0xaaa;
    CSR_SET(mstatus, MSTATUS_MIE);
    spin_until_logged(6);
    CSR_CLEAR(mstatus, MSTATUS_MIE);
    printf("pending before MIE=1: %03x; all six taken: %s, PLIC claim=%u", pending, ilog_n == 6 ? "yes" : "no", claimed_m);
    mtest_result(pending == 0xaaa && ilog_n == 6 && claimed_m == UART_IRQ);
    static const uint32_t want[6] = {MLOG(IRQ_MEI), MLOG(IRQ_MSI), MLOG(IRQ_MTI), MLOG(IRQ_SEI), MLOG(IRQ_SSI), MLOG(IRQ_STI)};
    printf(SPEC_ONLY "taken in the order ");
    log_print();
    printf(", want MEI MSI MTI SEI SSI STI (1.12 section 3.1.9):");
    mtest_result_spec_only(log_is(want, 6), "qemu-7.2 without AIA takes the lowest-numbered pending interrupt first");
    quiesce();

    /* the same without the external interrupt, through vectored mtvec: slot = cause */
    printf("-- vectored mtvec: interrupts enter at base + 4 * cause\n");
    CSR_WRITE(mtvec, (uint32_t)(uintptr_t)mtest_mvec_table | 1);
    static const uint32_t codes[3] = {IRQ_MSI, IRQ_MTI, IRQ_SSI};
    for (int k = 0; k < 3; k++) {
        log_reset();
        mtest_clear();
        if (codes[k] == IRQ_MSI) mmio_write32(CLINT_MSIP, 1);
        if (codes[k] == IRQ_MTI) mtimecmp_write(0);
        if (codes[k] == IRQ_SSI) CSR_SET(mip, MIP_SSIP);
        CSR_WRITE(mie, 1u << codes[k]);
        CSR_SET(mstatus, MSTATUS_MIE);
        spin_until_logged(1);
        CSR_CLEAR(mstatus, MSTATUS_MIE);
        printf("vectored interrupt %u: mcause=%08x entered slot %d", codes[k], mtest_m.cause, (int)mtest_m.vec);
        mtest_result(ilog_n == 1 && mtest_m.cause == (CAUSE_INTERRUPT | codes[k]) && mtest_m.vec == (int32_t)codes[k]);
    }
    CSR_WRITE(mtvec, (uint32_t)(uintptr_t)mtest_mtrap_direct);
    quiesce();
}

static void test_wfi(void) {
    printf("-- wfi\n");
    /* with mstatus.MIE=0, an interrupt enabled in mie wakes wfi; execution continues after it */
    log_reset();
    mtest_clear();
    CSR_WRITE(mie, MIP_MTIP);
    timer_in(1000);
    __asm__ volatile("wfi" : : : "memory");
    int pending = 0;
    for (int i = 0; i < SPIN_LIMIT && !pending; i++) pending = (CSR_READ(mip) >> IRQ_MTI) & 1;
    printf("wfi with MIE=0 and a timer 1000 ticks away: resumed, MTIP pending: %s, trapped: %s", pending ? "yes" : "no",
           mtest_m.count ? "yes" : "no");
    mtest_result(pending && mtest_m.count == 0 && ilog_n == 0);
    timer_off();
    /* TW does not apply to M-mode */
    CSR_SET(mstatus, MSTATUS_TW);
    CSR_WRITE(mie, MIP_MSIP);
    mmio_write32(CLINT_MSIP, 1);
    __asm__ volatile("wfi" : : : "memory");
    CSR_CLEAR(mstatus, MSTATUS_TW);
    printf("wfi in M with TW=1 and MSIP pending (MIE=0): trapped: %s", mtest_m.count ? "yes" : "no");
    mtest_result(mtest_m.count == 0 && ilog_n == 0);
    quiesce();
}

static void test_lower_modes(void) {
    printf("-- interrupts while in S and U\n");
    /* M-level interrupts are always enabled below M, whatever mstatus.MIE says */
    for (uint32_t mode = 0; mode < 2; mode++) {
        log_reset();
        mtest_clear();
        CSR_WRITE(mie, MIP_MSIP);
        mmio_write32(CLINT_MSIP, 1);
        uint32_t r = mtest_run(mode, wait_logged, 1);
        uint32_t mpp = (mtest_m.status >> MSTATUS_MPP_SHIFT) & 3;
        printf("MSI pending with mstatus.MIE=0 while in %c: ", mode ? 'S' : 'U');
        log_print();
        printf(" mcause=%08x from=%c", mtest_m.cause, mpp == PRV_S ? 'S' : mpp == PRV_U ? 'U' : 'M');
        mtest_result(r == 1 && log_is((const uint32_t[]){MLOG(IRQ_MSI)}, 1) && mpp == mode);
        quiesce();
    }
    /* a timer interrupt arriving while U spins */
    log_reset();
    mtest_clear();
    CSR_WRITE(mie, MIP_MTIP);
    timer_in(1000);
    uint32_t r = mtest_run(PRV_U, wait_logged, 1);
    printf("MTI arriving while U spins: ");
    log_print();
    printf(" from=%c", ((mtest_m.status >> MSTATUS_MPP_SHIFT) & 3) == PRV_U ? 'U' : '?');
    mtest_result(r == 1 && log_is((const uint32_t[]){MLOG(IRQ_MTI)}, 1) && ((mtest_m.status >> MSTATUS_MPP_SHIFT) & 3) == PRV_U);
    quiesce();

    /* a non-delegated S-level interrupt pending while in S goes to M */
    log_reset();
    mtest_clear();
    CSR_WRITE(mie, MIP_SSIP);
    CSR_SET(mip, MIP_SSIP);
    r = mtest_run(PRV_S, wait_logged, 1);
    printf("SSI not delegated, pending while in S: ");
    log_print();
    printf(" mcause=%08x", mtest_m.cause);
    mtest_result(r == 1 && log_is((const uint32_t[]){MLOG(IRQ_SSI)}, 1) && ((mtest_m.status >> MSTATUS_MPP_SHIFT) & 3) == PRV_S);
    quiesce();
}

static void test_delegated(void) {
    printf("-- interrupts delegated to S (mideleg)\n");
    /* STIP set by M, delegated: not taken in M even with MIE=1; taken in S once SIE=1 */
    log_reset();
    mtest_clear();
    CSR_WRITE(mideleg, MIP_STIP);
    CSR_WRITE(mie, MIP_STIP);
    CSR_SET(mip, MIP_STIP);
    CSR_SET(mstatus, MSTATUS_MIE);
    for (volatile int i = 0; i < 1000; i++) {
    }
    CSR_CLEAR(mstatus, MSTATUS_MIE);
    uint32_t in_m = ilog_n;
    uint32_t before = mtest_run(PRV_S, s_enable_and_wait, 0);
    printf("delegated STI: taken in M with MIE=1: %u, in S before SIE=1: %u, then ", in_m, before);
    log_print();
    printf(" scause=%08x, M cleared STIP on request: %s", mtest_s.cause, (CSR_READ(mip) & MIP_STIP) ? "no" : "yes");
    mtest_result(in_m == 0 && before == 0 && log_is((const uint32_t[]){SLOG(IRQ_STI)}, 1) &&
                 mtest_s.cause == (CAUSE_INTERRUPT | IRQ_STI) && (mtest_s.status & MSTATUS_SPP) &&
                 !(CSR_READ(mip) & MIP_STIP) && mtest_m.count == 1 && mtest_m.cause == CAUSE_ECALL_S);
    quiesce();

    /* SSIP raised by S through sip */
    log_reset();
    mtest_clear();
    CSR_WRITE(mideleg, MIP_SSIP);
    CSR_WRITE(mie, MIP_SSIP);
    uint32_t sip = mtest_run(PRV_S, s_set_ssip, 0);
    printf("S writes sip.SSIP with SIE=1: ");
    log_print();
    printf(" scause=%08x sip after handler=%08x", mtest_s.cause, sip);
    mtest_result(log_is((const uint32_t[]){SLOG(IRQ_SSI)}, 1) && mtest_s.cause == (CAUSE_INTERRUPT | IRQ_SSI) &&
                 (sip & MIP_SSIP) == 0 && mtest_m.count == 0);
    quiesce();

    /* a delegated interrupt pending while in U is taken in S even with sstatus.SIE=0 */
    log_reset();
    mtest_clear();
    CSR_WRITE(mideleg, MIP_SSIP);
    CSR_WRITE(mie, MIP_SSIP);
    CSR_SET(mip, MIP_SSIP);
    uint32_t r = mtest_run(PRV_U, wait_logged, 1);
    printf("delegated SSI pending while in U (SIE=0): ");
    log_print();
    printf(" scause=%08x from=%c", mtest_s.cause, (mtest_s.status & MSTATUS_SPP) ? 'S' : 'U');
    mtest_result(r == 1 && log_is((const uint32_t[]){SLOG(IRQ_SSI)}, 1) && !(mtest_s.status & MSTATUS_SPP));
    quiesce();

    /* M-level interrupts are serviced before S-level ones: MSI and delegated SSI both pending in S */
    log_reset();
    mtest_clear();
    CSR_WRITE(mideleg, MIP_SSIP);
    CSR_WRITE(mie, MIP_SSIP | MIP_MSIP);
    CSR_SET(mip, MIP_SSIP);
    mmio_write32(CLINT_MSIP, 1);
    before = mtest_run(PRV_S, s_enable_and_wait, 0);
    wait_logged(2);
    printf("MSI and delegated SSI pending in S: ");
    log_print();
    /* MSI is taken as soon as S runs (M interrupts are enabled in S); SSI once S sets SIE */
    mtest_result(log_is((const uint32_t[]){MLOG(IRQ_MSI), SLOG(IRQ_SSI)}, 2));
    quiesce();

    /* supervisor external interrupt: UART -> PLIC context 1 (hart 0 S) -> SEIP, delegated */
    log_reset();
    mtest_clear();
    claimed_s = 0;
    mmio_write32(PLIC_PRIORITY(UART_IRQ), 1);
    mmio_write32(PLIC_THRESHOLD(1), 0);
    mmio_write32(PLIC_ENABLE(1), 1u << UART_IRQ);
    CSR_WRITE(mideleg, MIP_SEIP);
    CSR_WRITE(mie, MIP_SEIP);
    mmio_write8(UART_IER, 0x02);
    for (int i = 0; i < 100000 && !(CSR_READ(mip) & MIP_SEIP); i++) {
    }
    uint32_t seip = (CSR_READ(mip) >> IRQ_SEI) & 1;
    before = mtest_run(PRV_S, s_enable_and_wait, 0);
    printf("S external interrupt via PLIC context 1: mip.SEIP=%u, ", seip);
    log_print();
    printf(" scause=%08x claim=%u", mtest_s.cause, claimed_s);
    mtest_result(seip == 1 && before == 0 && log_is((const uint32_t[]){SLOG(IRQ_SEI)}, 1) &&
                 mtest_s.cause == (CAUSE_INTERRUPT | IRQ_SEI) && claimed_s == UART_IRQ);
    quiesce();
}

static void test_external_m(void) {
    printf("-- machine external interrupt: UART THR-empty -> PLIC context 0\n");
    log_reset();
    mtest_clear();
    claimed_m = 0;
    mmio_write32(PLIC_PRIORITY(UART_IRQ), 1);
    mmio_write32(PLIC_THRESHOLD(0), 0);
    mmio_write32(PLIC_ENABLE(0), 1u << UART_IRQ);
    /* threshold >= priority masks the source */
    mmio_write32(PLIC_THRESHOLD(0), 1);
    mmio_write8(UART_IER, 0x02);
    for (volatile int i = 0; i < 1000; i++) {
    }
    uint32_t masked = (CSR_READ(mip) >> IRQ_MEI) & 1;
    uint32_t plic_pending = (mmio_read32(PLIC_PENDING) >> UART_IRQ) & 1;
    mmio_write32(PLIC_THRESHOLD(0), 0);
    int meip = 0;
    for (int i = 0; i < 100000 && !meip; i++) meip = (CSR_READ(mip) >> IRQ_MEI) & 1;
    CSR_WRITE(mie, MIP_MEIP);
    CSR_SET(mstatus, MSTATUS_MIE);
    int fired = spin_until_logged(1);
    CSR_CLEAR(mstatus, MSTATUS_MIE);
    printf("PLIC pending bit 10: %u, MEIP with threshold=1: %u, with threshold=0: %u; ", plic_pending, masked, meip);
    log_print();
    printf(" mcause=%08x claim=%u, MEIP after complete: %u", mtest_m.cause, claimed_m, (CSR_READ(mip) >> IRQ_MEI) & 1);
    mtest_result(plic_pending == 1 && masked == 0 && meip == 1 && fired && log_is((const uint32_t[]){MLOG(IRQ_MEI)}, 1) &&
                 mtest_m.cause == (CAUSE_INTERRUPT | IRQ_MEI) && claimed_m == UART_IRQ && !((CSR_READ(mip) >> IRQ_MEI) & 1));
    quiesce();
}

int main(void) {
    mtest_install();
    mtest_m_hook = m_hook;
    mtest_s_hook = s_hook;
    printf("interrupts: CLINT, PLIC, priorities, delegation, wfi\n");
    /* PMP entry 15: everything RWX for S/U */
    CSR_WRITE(pmpaddr15, 0xffffffffu);
    CSR_WRITE(pmpcfg3, 0x1fu << 24);
    test_clint_basics();
    test_m_timer_and_software();
    test_external_m();
    test_priority();
    test_wfi();
    test_lower_modes();
    test_delegated();
    quiesce();
    return mtest_finish("interrupts");
}
