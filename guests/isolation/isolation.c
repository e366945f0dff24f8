/* isolation: a misbehaving guest gets exactly the fault the real machine gives (privileged spec 1.12).

   M-mode builds Sv32 tables and runs one-instruction probes (probes.S) in S and U. A trap handler
   records cause/tval/epc and resumes the probe after the faulting instruction. Checks: PTEs that
   point outside RAM (load/store/fetch access faults, tval = VA), privileged instructions from U
   (illegal instruction, tval = the instruction bits), U/S page protection (page faults, tval = VA),
   and physical accesses outside RAM from M and from S with satp = Bare (access faults, tval = PA).
   The S/U checks run twice: traps taken in M (medeleg = 0), then delegated to S.

   Exit status: the number of failed checks (0 = pass). */
#include "mtest.h"

extern char probe_page[], probe_load[], probe_store[], probe_jump[], probe_csrr_sstatus[], probe_csrw_satp[], probe_sret[],
    probe_mret[], probe_wfi[], probe_sfence[], probe_exit[];

#define PTE_V 0x001u
#define PTE_R 0x002u
#define PTE_W 0x004u
#define PTE_X 0x008u
#define PTE_U 0x010u
#define PTE_A 0x040u
#define PTE_D 0x080u
#define PTE(pa, flags) ((((uint32_t)(pa) >> 12) << 10) | (flags))
#define RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

#define PAST_RAM 0x88000000u /* RAM is 0x80000000 + 128 MiB */
#define HOLE 0x00800000u     /* nothing mapped there on the virt board */

#define VA_UDATA 0xC0000000u  /* l0[0]: U RW page (frame_u) */
#define VA_SDATA 0xC0001000u  /* l0[1]: S-only RWX page (frame_s) */
#define VA_UCODE 0xC0002000u  /* l0[2]: the probe page, U RX */
#define VA_PAST_RAM 0xC0400000u /* root[0x301]: megapage -> PAST_RAM, RWX */
#define VA_HOLE 0xC0800000u     /* root[0x302]: megapage -> HOLE (4 MiB aligned), RWX */

static uint32_t root[1024] __attribute__((aligned(4096)));
static uint32_t l0[1024] __attribute__((aligned(4096)));
static uint32_t frame_u[1024] __attribute__((aligned(4096)));
static uint32_t frame_s[1024] __attribute__((aligned(4096)));

static int checks, failures, deleg;

static uint32_t addr(const volatile void *p) { return (uint32_t)(uintptr_t)p; }
/* where a probe runs: its identity address in S, its U alias in U */
static uint32_t at(uint32_t mode, const char *sym) { return mode == PRV_U ? VA_UCODE + (uint32_t)(sym - probe_page) : addr(sym); }

static void build_tables(void) {
    for (int i = 0; i < 1024; i++) root[i] = l0[i] = 0;
    root[0x200] = PTE(0x80000000u, RWXAD); /* the program, identity, S only */
    root[0x300] = PTE(addr(l0), PTE_V);
    root[0x301] = PTE(PAST_RAM, RWXAD);
    root[0x302] = PTE(HOLE, RWXAD);
    l0[0] = PTE(addr(frame_u), PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D);
    l0[1] = PTE(addr(frame_s), RWXAD);
    l0[2] = PTE(addr(probe_page), PTE_V | PTE_R | PTE_X | PTE_U | PTE_A);
    frame_u[0] = 0x75e70001u;
    frame_s[0] = 0x5e570001u;
}

static void result(int ok) {
    checks++;
    if (!ok) failures++;
    puts_uart(ok ? " ok\n" : " FAIL\n");
}

/* Runs a probe in S or U with satp as given; a trap resumes it at probe_exit. */
static uint32_t run(uint32_t mode, const char *probe, uint32_t arg, uint32_t satp) {
    CSR_WRITE(satp, satp);
    __asm__ volatile("sfence.vma" : : : "memory");
    mtest_clear();
    mtest_m_resume = mtest_s_resume = at(mode, probe_exit);
    uint32_t v = mtest_run(mode, (uint32_t (*)(uint32_t))(uintptr_t)at(mode, probe), arg);
    mtest_m_resume = mtest_s_resume = 0;
    CSR_WRITE(satp, 0);
    __asm__ volatile("sfence.vma" : : : "memory");
    return v;
}

/* Prints the trap taken (or the value read) and checks it: exactly one trap with this cause, tval
   and epc, taken in M, or in S when delegated and it came from S/U (cause < 0: no trap, value). */
static void report(const char *name, uint32_t from, uint32_t v, int cause, uint32_t tval, uint32_t epc, uint32_t value) {
    int in_s = mtest_s.count > 0, n = mtest_m.count + mtest_s.count;
    volatile struct mtest_trap *t = in_s ? &mtest_s : &mtest_m;
    printf("%s:", name);
    if (n == 0) {
        printf(" no trap, value=%08x", v);
        result(cause < 0 && v == value);
        return;
    }
    printf(" cause=%x tval=%08x in %c", t->cause, t->tval, in_s ? 'S' : 'M');
    if (t->epc != epc) printf(" epc=%08x (want %08x)", t->epc, epc);
    if (n != 1) printf(" traps=%d", n);
    result(n == 1 && t->cause == (uint32_t)cause && t->tval == tval && t->epc == epc && in_s == (deleg && from != PRV_M));
}

static uint32_t satp_sv32(void) { return 0x80000000u | (addr(root) >> 12); }

static void access(const char *name, uint32_t mode, const char *probe, uint32_t va, int cause, uint32_t satp) {
    uint32_t v = run(mode, probe, va, satp);
    report(name, mode, v, cause, va, probe == probe_jump ? va : at(mode, probe), 0);
}

static void privileged(const char *name, const char *probe, uint32_t bits) {
    uint32_t v = run(PRV_U, probe, 0, satp_sv32());
    report(name, PRV_U, v, CAUSE_ILLEGAL, bits, at(PRV_U, probe), 0);
}

static void s_and_u_checks(void) {
    uint32_t sv32 = satp_sv32();
    printf("-- PTEs pointing outside RAM (S-mode, Sv32)\n");
    access("S load via pte->88000000 (past RAM)", PRV_S, probe_load, VA_PAST_RAM, CAUSE_LOAD_ACCESS, sv32);
    access("S store via pte->88000000 (past RAM)", PRV_S, probe_store, VA_PAST_RAM + 8, CAUSE_STORE_ACCESS, sv32);
    access("S fetch via pte->88000000 (past RAM)", PRV_S, probe_jump, VA_PAST_RAM + 0x10, CAUSE_FETCH_ACCESS, sv32);
    access("S load via pte->00800000 (hole)", PRV_S, probe_load, VA_HOLE, CAUSE_LOAD_ACCESS, sv32);
    access("S store via pte->00800000 (hole)", PRV_S, probe_store, VA_HOLE + 4, CAUSE_STORE_ACCESS, sv32);
    access("S fetch via pte->00800000 (hole)", PRV_S, probe_jump, VA_HOLE + 0x10, CAUSE_FETCH_ACCESS, sv32);

    printf("-- privileged instructions from U\n");
    privileged("U csrr a0, sstatus", probe_csrr_sstatus, 0x10002573u);
    privileged("U csrw satp, a0", probe_csrw_satp, 0x18051073u);
    privileged("U sret", probe_sret, 0x10200073u);
    privileged("U mret", probe_mret, 0x30200073u);
    privileged("U wfi", probe_wfi, 0x10500073u);
    privileged("U sfence.vma", probe_sfence, 0x12000073u);

    printf("-- U/S page protection\n");
    access("U load S page", PRV_U, probe_load, VA_SDATA + 0x10, CAUSE_LOAD_PAGE, sv32);
    access("U store S page", PRV_U, probe_store, VA_SDATA + 0x14, CAUSE_STORE_PAGE, sv32);
    access("U fetch S page", PRV_U, probe_jump, VA_SDATA + 0x18, CAUSE_FETCH_PAGE, sv32);
    access("S load U page, SUM=0", PRV_S, probe_load, VA_UDATA + 0x10, CAUSE_LOAD_PAGE, sv32);
    access("S store U page, SUM=0", PRV_S, probe_store, VA_UDATA + 0x14, CAUSE_STORE_PAGE, sv32);
    CSR_SET(mstatus, MSTATUS_SUM);
    uint32_t v = run(PRV_S, probe_load, VA_UDATA, sv32);
    report("S load U page, SUM=1", PRV_S, v, -1, 0, 0, 0x75e70001u);
    access("S fetch U page, SUM=1", PRV_S, probe_jump, VA_UDATA + 0x18, CAUSE_FETCH_PAGE, sv32);
    CSR_CLEAR(mstatus, MSTATUS_SUM);

    printf("-- physical accesses outside RAM from S (satp = Bare)\n");
    access("S load 88000000", PRV_S, probe_load, PAST_RAM, CAUSE_LOAD_ACCESS, 0);
    access("S store 88000004", PRV_S, probe_store, PAST_RAM + 4, CAUSE_STORE_ACCESS, 0);
    access("S load 00800000", PRV_S, probe_load, HOLE, CAUSE_LOAD_ACCESS, 0);
    access("S store 00000000", PRV_S, probe_store, 0, CAUSE_STORE_ACCESS, 0);
}

/* Runs `insn` (with t0 = address) in M-mode; the M handler skips it. Returns its address. */
#define M_TRY(insn, address)                                                                    \
    ({                                                                                          \
        uint32_t __pc;                                                                          \
        mtest_clear();                                                                          \
        register uint32_t __t0 __asm__("t0") = (address);                                       \
        __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: " insn "\n.option pop"    \
                         : "=&r"(__pc)                                                          \
                         : "r"(__t0)                                                            \
                         : "memory", "a0");                                                     \
        __pc;                                                                                   \
    })

static void m_access(const char *name, uint32_t pc, uint32_t a, int cause) { report(name, PRV_M, 0, cause, a, pc, 0); }

static void m_checks(void) {
    printf("-- physical accesses outside RAM from M\n");
    m_access("M load 88000000", M_TRY("lw a0, 0(t0)", PAST_RAM), PAST_RAM, CAUSE_LOAD_ACCESS);
    m_access("M store 88000000", M_TRY("sw a0, 0(t0)", PAST_RAM), PAST_RAM, CAUSE_STORE_ACCESS);
    m_access("M load 00800000", M_TRY("lw a0, 0(t0)", HOLE), HOLE, CAUSE_LOAD_ACCESS);
    m_access("M store 00800000", M_TRY("sw a0, 0(t0)", HOLE), HOLE, CAUSE_STORE_ACCESS);
    m_access("M load 00000000", M_TRY("lw a0, 0(t0)", 0), 0, CAUSE_LOAD_ACCESS);
    m_access("M store 00000000", M_TRY("sw a0, 0(t0)", 0), 0, CAUSE_STORE_ACCESS);
}

int main(void) {
    mtest_install();
    printf("isolation: faults a misbehaving guest must get\n");
    /* PMP entry 15: everything RWX for S/U, so that only translation and the memory map decide */
    CSR_WRITE(pmpaddr15, 0xffffffffu);
    CSR_WRITE(pmpcfg3, 0x1fu << 24);
    build_tables();
    m_checks();
    printf("-- traps taken in M (medeleg = 0)\n");
    deleg = 0;
    CSR_WRITE(medeleg, 0);
    s_and_u_checks();
    uint32_t bits = (1u << CAUSE_FETCH_ACCESS) | (1u << CAUSE_ILLEGAL) | (1u << CAUSE_LOAD_ACCESS) | (1u << CAUSE_STORE_ACCESS) |
                    (1u << CAUSE_FETCH_PAGE) | (1u << CAUSE_LOAD_PAGE) | (1u << CAUSE_STORE_PAGE);
    printf("-- traps delegated to S (medeleg = %08x)\n", bits);
    deleg = 1;
    CSR_WRITE(medeleg, bits);
    s_and_u_checks();
    CSR_WRITE(medeleg, 0);
    printf("isolation: %d checks, %d failed\n", checks, failures);
    return failures;
}
