/* mtest C side (see mtest.h). Include exactly once from one C file of a guest. */
#include "mtest.h"

volatile struct mtest_trap mtest_m, mtest_s;
volatile uint32_t mtest_m_resume, mtest_s_resume;
volatile int mtest_m_abort, mtest_s_abort;
volatile mtest_hook_t mtest_m_hook, mtest_s_hook;
int mtest_failures, mtest_spec_only, mtest_checks;

void mtest_m_trap(struct mtest_frame *f);
void mtest_s_trap(struct mtest_frame *f);

/* Length of the instruction at pc, from its low two bits (read with the current translation). */
static uint32_t mtest_insn_len(uint32_t pc) {
    uint16_t low = *(volatile uint16_t *)pc;
    return (low & 3) == 3 ? 4 : 2;
}

static void mtest_record(volatile struct mtest_trap *t, const struct mtest_frame *f) {
    t->count++;
    t->cause = f->cause;
    t->epc = f->epc;
    t->tval = f->tval;
    t->status = f->status;
    t->a7 = f->x[17];
    t->vec = f->vec;
}

void mtest_m_trap(struct mtest_frame *f) {
    uint32_t cause = f->cause;
    /* the magic ecall: from S/U, or from M when an mret in mtest_run did not leave M */
    if ((cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S || cause == CAUSE_ECALL_M) && f->x[17] == MTEST_MAGIC)
        mtest_resume_m(f->x[11]);
    mtest_record(&mtest_m, f);
    if (mtest_m_hook && mtest_m_hook(f)) return;
    if (cause & CAUSE_INTERRUPT) {
        /* no hook claimed it: mask the source so that it cannot fire again */
        CSR_CLEAR(mie, 1u << (cause & 31));
        return;
    }
    uint32_t mpp = (f->status >> MSTATUS_MPP_SHIFT) & 3;
    if (mtest_m_abort && mpp != PRV_M) mtest_resume_m(MTEST_ABORTED);
    if (mtest_m_resume) {
        f->epc = mtest_m_resume;
        mtest_m_resume = 0;
        return;
    }
    if (cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S || cause == CAUSE_ECALL_M) {
        f->epc += 4;
    } else if (cause == CAUSE_FETCH_ACCESS || cause == CAUSE_FETCH_PAGE || cause == CAUSE_MISALIGNED_FETCH) {
        printf("mtest: unexpected fetch fault in M handler, mcause=%08x mepc=%08x\n", cause, f->epc);
        exit(100);
    } else {
        f->epc += mtest_insn_len(f->epc);
    }
}

__attribute__((noreturn)) static void mtest_forward_to_m(uint32_t value) {
    register uint32_t a1 __asm__("a1") = value;
    register uint32_t a7 __asm__("a7") = MTEST_MAGIC;
    __asm__ volatile("ecall" : : "r"(a1), "r"(a7) : "memory");
    for (;;) {
    }
}

void mtest_s_trap(struct mtest_frame *f) {
    uint32_t cause = f->cause;
    if (cause == CAUSE_ECALL_U && f->x[17] == MTEST_MAGIC) mtest_forward_to_m(f->x[11]);
    mtest_record(&mtest_s, f);
    if (mtest_s_hook && mtest_s_hook(f)) return;
    if (cause & CAUSE_INTERRUPT) {
        CSR_CLEAR(sie, 1u << (cause & 31));
        return;
    }
    if (mtest_s_abort) mtest_forward_to_m(MTEST_ABORTED);
    if (mtest_s_resume) {
        f->epc = mtest_s_resume;
        mtest_s_resume = 0;
        return;
    }
    if (cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S) {
        f->epc += 4;
    } else if (cause == CAUSE_FETCH_ACCESS || cause == CAUSE_FETCH_PAGE || cause == CAUSE_MISALIGNED_FETCH) {
        mtest_forward_to_m(MTEST_ABORTED);
    } else {
        f->epc += mtest_insn_len(f->epc);
    }
}

void mtest_install(void) {
    CSR_WRITE(mscratch, mtest_m_stack_top);
    CSR_WRITE(sscratch, mtest_s_stack_top);
    CSR_WRITE(mtvec, mtest_mtrap_direct);
    CSR_WRITE(stvec, mtest_strap_direct);
}

void mtest_clear(void) {
    mtest_m.count = mtest_m.cause = mtest_m.epc = mtest_m.tval = mtest_m.status = mtest_m.a7 = 0;
    mtest_s.count = mtest_s.cause = mtest_s.epc = mtest_s.tval = mtest_s.status = mtest_s.a7 = 0;
    mtest_m.vec = mtest_s.vec = -2;
}

void mtest_result(int ok) {
    mtest_checks++;
    if (ok) {
        puts_uart(" ok\n");
    } else {
        puts_uart(" FAIL\n");
        mtest_failures++;
    }
}

void mtest_result_spec_only(int ok, const char *note) {
    mtest_checks++;
    if (ok) {
        puts_uart(" ok\n");
    } else {
        printf(" spec-only-mismatch (%s)\n", note);
        mtest_spec_only++;
    }
}

int mtest_finish(const char *guest) {
    printf("%s: %d checks, %d failed\n", guest, mtest_checks, mtest_failures);
    printf(SPEC_ONLY "%s: %d spec-only mismatches\n", guest, mtest_spec_only);
    return mtest_failures;
}
