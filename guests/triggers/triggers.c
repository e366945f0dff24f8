/* triggers: Sdtrig's mcontrol (type 2) triggers as a native debugger uses them (RISC-V Debug
   Specification 1.0 chapter 5): tselect, tdata1/2/3, tinfo, and execute, load and store address
   matches raising breakpoint exceptions (action 0) in the modes they select. Then a short counting
   loop over a global, `watched`, for debuggers to watch (the gdb test of apps/matryoshka).

   Triggers in M-mode fire only while mstatus.MIE is set (Sdtrig 1.0 §5.4 without tcontrol), so
   the M-mode checks run with MIE set and mie zero (no interrupt can come). Every line ends in
   "ok", "FAIL" or, where QEMU 7.2 departs from the specification, "spec-only-mismatch (...)".
   Exit status: the number of failed checks. */
#include "mtest.h"

#define TYPE2 (2u << 28)
#define HIT (1u << 20)
#define MATCH(m) ((uint32_t)(m) << 7)
#define M_MODE (1u << 6)
#define S_MODE (1u << 4)
#define U_MODE (1u << 3)
#define EXECUTE (1u << 2)
#define STORE (1u << 1)
#define LOAD (1u << 0)

volatile uint32_t data[4];
volatile uint32_t watched;

/* Addresses of instructions in the payloads below (set by `la` in their asm). */
extern char exec_here[], exec_after[], user_here[];

static void arm(uint32_t index, uint32_t tdata1, uint32_t tdata2) {
    CSR_WRITE(tselect, index);
    CSR_WRITE(tdata1, TYPE2); /* disable first: never a half-written trigger */
    CSR_WRITE(tdata2, tdata2);
    CSR_WRITE(tdata1, tdata1);
}

static void disarm_all(void) {
    for (uint32_t i = 0; i < 2; i++) {
        CSR_WRITE(tselect, i);
        CSR_WRITE(tdata1, TYPE2); /* type 2 matching in no mode: QEMU 7.2 ignores a write of 0 */
    }
}

/* Runs `addi a0, a0, 1` at exec_here and `addi a0, a0, 2` at exec_after; returns a0 from 0. */
static uint32_t run_exec_payload(void) {
    register uint32_t a0 __asm__("a0") = 0;
    __asm__ volatile(
        ".option push\n .option norvc\n"
        ".globl exec_here\n exec_here: addi a0, a0, 1\n"
        ".globl exec_after\n exec_after: addi a0, a0, 2\n"
        ".option pop\n"
        : "+r"(a0) : : "memory");
    return a0;
}

/* A U-mode payload: the same two adds. */
static uint32_t user_payload(uint32_t arg) {
    register uint32_t a0 __asm__("a0") = arg;
    __asm__ volatile(
        ".option push\n .option norvc\n"
        ".globl user_here\n user_here: addi a0, a0, 1\n"
        " addi a0, a0, 2\n"
        ".option pop\n"
        : "+r"(a0) : : "memory");
    return a0;
}

static void expect_breakpoint(const char *what, uint32_t count, uint32_t epc, uint32_t tval) {
    int ok = mtest_m.count == count && (count == 0 || (mtest_m.cause == CAUSE_BREAKPOINT && mtest_m.epc == epc));
    printf("%s: traps=%u", what, (unsigned)mtest_m.count);
    if (count) printf(" mcause=%u epc-ok=%d", (unsigned)mtest_m.cause, mtest_m.epc == epc);
    mtest_result(ok);
    if (count && tval) {
        /* QEMU 7.2 writes mtval only for data watchpoints; the specification gives the address. */
        printf(SPEC_ONLY "%s: mtval=%08x", what, (unsigned)mtest_m.tval);
        mtest_result_spec_only(mtest_m.tval == tval, "QEMU 7.2 leaves mtval 0 for execute triggers");
    }
}

static int registers(void) {
    mtest_clear();
    CSR_WRITE(tselect, 0);
    uint32_t t0 = CSR_READ(tselect);
    CSR_WRITE(tselect, 1);
    uint32_t t1 = CSR_READ(tselect);
    CSR_WRITE(tselect, 5);
    uint32_t t5 = CSR_READ(tselect);
    printf("tselect: 0 -> %u, 1 -> %u, 5 -> %u (two triggers)", (unsigned)t0, (unsigned)t1, (unsigned)t5);
    mtest_result(mtest_m.count == 0 && t0 == 0 && t1 == 1 && t5 == 1);

    uint32_t info = CSR_READ(tinfo);
    printf("tinfo: type 2 supported=%d", (info >> 2) & 1);
    mtest_result(mtest_m.count == 0 && ((info >> 2) & 1));

    uint32_t want = TYPE2 | M_MODE | EXECUTE;
    CSR_WRITE(tselect, 0);
    CSR_WRITE(tdata1, want);
    uint32_t got = CSR_READ(tdata1);
    printf("tdata1: type 2, m, execute reads back %08x", (unsigned)got);
    mtest_result(got == want);
    CSR_WRITE(tdata1, TYPE2 | (1u << 27) | M_MODE | LOAD);
    got = CSR_READ(tdata1);
    printf("tdata1: dmode is read-only 0: %08x", (unsigned)got);
    mtest_result(got == (TYPE2 | M_MODE | LOAD));
    CSR_WRITE(tdata2, 0x80001234u);
    got = CSR_READ(tdata2);
    printf("tdata2: %08x", (unsigned)got);
    mtest_result(got == 0x80001234u);
    CSR_WRITE(tselect, 1);
    got = CSR_READ(tdata2);
    CSR_WRITE(tdata2, 0x5678);
    CSR_WRITE(tselect, 0);
    uint32_t back = CSR_READ(tdata2);
    printf("tdata2 is per trigger: %08x", (unsigned)back);
    mtest_result(back == 0x80001234u);
    disarm_all();
    return 0;
}

static void execute(void) {
    CSR_SET(mstatus, MSTATUS_MIE);
    mtest_clear();
    arm(1, TYPE2 | M_MODE | EXECUTE, (uint32_t)exec_here);
    uint32_t a0 = run_exec_payload();
    expect_breakpoint("execute trigger in M", 1, (uint32_t)exec_here, (uint32_t)exec_here);
    printf("execute trigger: the instruction did not run: a0=%u", (unsigned)a0);
    mtest_result(a0 == 2);

    mtest_clear();
    arm(1, TYPE2 | S_MODE | U_MODE | EXECUTE, (uint32_t)exec_here);
    a0 = run_exec_payload();
    expect_breakpoint("execute trigger for S and U, run in M", 0, 0, 0);

    mtest_clear();
    arm(1, TYPE2 | M_MODE | EXECUTE, (uint32_t)exec_here);
    CSR_WRITE(tdata1, TYPE2);
    a0 = run_exec_payload();
    expect_breakpoint("execute trigger disabled again", 0, 0, 0);

    /* tdata1's type is WARL: writing 0 disables the trigger (Debug spec 1.0 §5.7.2). */
    mtest_clear();
    arm(1, TYPE2 | M_MODE | EXECUTE, (uint32_t)exec_here);
    CSR_WRITE(tdata1, 0);
    a0 = run_exec_payload();
    printf(SPEC_ONLY "execute trigger after writing 0 to tdata1: traps=%u", (unsigned)mtest_m.count);
    mtest_result_spec_only(mtest_m.count == 0, "QEMU 7.2 ignores the write");
    disarm_all();
    CSR_CLEAR(mstatus, MSTATUS_MIE);
}

static void loads_and_stores(void) {
    CSR_SET(mstatus, MSTATUS_MIE);
    data[1] = 11;
    data[2] = 22;
    mtest_clear();
    arm(0, TYPE2 | M_MODE | LOAD, (uint32_t)&data[1]);
    uint32_t value = 7;
    __asm__ volatile("lw %0, 0(%1)" : "+r"(value) : "r"(&data[1]) : "memory");
    expect_breakpoint("load trigger", 1, mtest_m.epc, 0);
    uint32_t load_tval = mtest_m.tval;
    printf("load trigger: the register is untouched=%d", value == 7);
    mtest_result(value == 7);
    printf(SPEC_ONLY "load trigger: mtval=%s", load_tval == (uint32_t)&data[1] ? "address" : "other");
    mtest_result_spec_only(load_tval == (uint32_t)&data[1], "QEMU 7.2 does not give the address");

    mtest_clear();
    data[1] = 5; /* a store does not match a load trigger */
    value = data[2];
    uint32_t traps = mtest_m.count;
    CSR_WRITE(tdata1, TYPE2); /* before reading data[1] back */
    printf("load trigger ignores stores and other addresses: traps=%u data[1]=%u value=%u", (unsigned)traps,
           (unsigned)data[1], (unsigned)value);
    mtest_result(traps == 0 && data[1] == 5 && value == 22);
    mtest_clear();

    arm(1, TYPE2 | M_MODE | STORE, (uint32_t)&data[2]);
    __asm__ volatile("sw %0, 0(%1)" : : "r"(99), "r"(&data[2]) : "memory");
    CSR_CLEAR(mstatus, MSTATUS_MIE);
    uint32_t store_tval = mtest_m.tval;
    printf("store trigger: traps=%u mcause=%u memory untouched=%d", (unsigned)mtest_m.count, (unsigned)mtest_m.cause, data[2] == 22);
    mtest_result(mtest_m.count == 1 && mtest_m.cause == CAUSE_BREAKPOINT && data[2] == 22);
    printf(SPEC_ONLY "store trigger: mtval=%s", store_tval == (uint32_t)&data[2] ? "address" : "other");
    mtest_result_spec_only(store_tval == (uint32_t)&data[2], "QEMU 7.2 does not give the address");

    /* With MIE clear, an M-mode trigger does not fire (Sdtrig 1.0 §5.4): the handler's guard. */
    mtest_clear();
    __asm__ volatile("sw %0, 0(%1)" : : "r"(33), "r"(&data[2]) : "memory");
    printf(SPEC_ONLY "store trigger with mstatus.MIE clear: traps=%u", (unsigned)mtest_m.count);
    mtest_result_spec_only(mtest_m.count == 0 && data[2] == 33, "QEMU 7.2 fires M-mode triggers whatever MIE says");
    disarm_all();
}

static void user_mode(void) {
    /* U-mode needs PMP to reach memory. */
    CSR_WRITE(pmpaddr0, 0xffffffffu);
    CSR_WRITE(pmpcfg0, 0x1f);
    mtest_clear();
    arm(0, TYPE2 | U_MODE | EXECUTE, (uint32_t)user_here);
    uint32_t result = mtest_run(PRV_U, user_payload, 10);
    printf("execute trigger in U: traps=%u mcause=%u epc-ok=%d result=%u", (unsigned)mtest_m.count, (unsigned)mtest_m.cause,
           mtest_m.epc == (uint32_t)user_here, (unsigned)result);
    mtest_result(mtest_m.count == 1 && mtest_m.cause == CAUSE_BREAKPOINT && mtest_m.epc == (uint32_t)user_here && result == 12);
    disarm_all();
}

/* What a debugger watches: `watched` counts to 3, one store per step (a symbol of its own, for
   `break count`). */
void count(void);
__attribute__((noinline)) void count(void) {
    for (uint32_t i = 0; i < 3; i++) watched = watched + 1;
    printf("watched = %u", (unsigned)watched);
    mtest_result(watched == 3);
}

int main(void) {
    mtest_install();
    registers();
    execute();
    loads_and_stores();
    user_mode();
    count();
    return mtest_finish("triggers");
}
