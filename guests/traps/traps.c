/* traps: M-mode traps, privilege transitions, delegation, counters and PMP (privileged spec 1.12).

   Every line names one observation and ends with "ok", "FAIL" or, for a known QEMU 7.2 departure
   from the specification, "spec-only-mismatch (...)" which is reported but does not fail the
   guest. Exit status: the number of failed checks (0 = pass). */
#include "mtest.h"

#define NAKED __attribute__((naked, noinline))

volatile uint32_t payload_pc; /* payloads store the address of their interesting instruction here */

/* ---------------------------------------------------------------- small helpers */

static char mode_char(uint32_t m) { return m == PRV_M ? 'M' : m == PRV_S ? 'S' : m == PRV_U ? 'U' : '?'; }

/* The instruction bits at pc: 16 bits for a compressed encoding, else 32. */
static uint32_t insn_bits(uint32_t pc) {
    uint32_t lo = *(volatile uint16_t *)pc;
    if ((lo & 3) != 3) return lo;
    return lo | ((uint32_t) * (volatile uint16_t *)(pc + 2) << 16);
}

static void print_pc(const char *label, uint32_t got, uint32_t want) {
    if (got == want)
        printf(" %s=insn", label);
    else
        printf(" %s=%08x(want %08x)", label, got, want);
}

enum tval_kind { TV_EXACT, TV_ZERO_OR_BITS, TV_ZERO_OR_PC };

static int tval_ok(enum tval_kind kind, uint32_t tval, uint32_t want, uint32_t pc) {
    switch (kind) {
    case TV_EXACT: return tval == want;
    case TV_ZERO_OR_BITS: return tval == 0 || tval == insn_bits(pc);
    case TV_ZERO_OR_PC: return tval == 0 || tval == pc;
    }
    return 0;
}

/* Checks that exactly one trap was taken into M with the given cause, at pc, from mode `from`. */
static void m_check(const char *name, uint32_t cause, uint32_t pc, uint32_t from, enum tval_kind kind, uint32_t tval) {
    uint32_t mpp = (mtest_m.status >> MSTATUS_MPP_SHIFT) & 3;
    printf("%s: mcause=%08x", name, mtest_m.cause);
    print_pc("mepc", mtest_m.epc, pc);
    printf(" mtval=%08x from=%c", mtest_m.tval, mode_char(mpp));
    if (mtest_m.count != 1) printf(" traps=%u", mtest_m.count);
    mtest_result(mtest_m.count == 1 && mtest_s.count == 0 && mtest_m.cause == cause && mtest_m.epc == pc &&
                 mpp == from && tval_ok(kind, mtest_m.tval, tval, pc));
}

/* Same for a trap taken into S (delegated). */
static void s_check(const char *name, uint32_t cause, uint32_t pc, uint32_t from, enum tval_kind kind, uint32_t tval) {
    uint32_t spp = (mtest_s.status & MSTATUS_SPP) ? PRV_S : PRV_U;
    printf("%s: scause=%08x", name, mtest_s.cause);
    print_pc("sepc", mtest_s.epc, pc);
    printf(" stval=%08x from=%c m-traps=%u", mtest_s.tval, mode_char(spp), mtest_m.count);
    if (mtest_s.count != 1) printf(" s-traps=%u", mtest_s.count);
    mtest_result(mtest_s.count == 1 && mtest_m.count == 0 && mtest_s.cause == cause && mtest_s.epc == pc &&
                 spp == from && tval_ok(kind, mtest_s.tval, tval, pc));
}

static void no_trap_check(const char *name, uint32_t value, int show_value) {
    printf("%s: no trap", name);
    if (show_value) printf(" value=%08x", value);
    if (mtest_m.count || mtest_s.count) printf(" (mcause=%08x traps=%u/%u)", mtest_m.cause, mtest_m.count, mtest_s.count);
    mtest_result(mtest_m.count == 0 && mtest_s.count == 0);
}

/* Runs `insn` in M-mode with a0 preset to 0xdeadbeef; returns its address, leaves a0 in *val. */
#define M_TRY(insn, val)                                                                        \
    ({                                                                                          \
        uint32_t __pc;                                                                          \
        mtest_clear();                                                                          \
        register uint32_t __a0 __asm__("a0") = 0xdeadbeefu;                                     \
        __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: " insn "\n.option pop"    \
                         : "=&r"(__pc), "+r"(__a0)                                              \
                         :                                                                      \
                         : "memory", "t0");                                                     \
        (val) = __a0;                                                                           \
        __pc;                                                                                   \
    })

/* Same with t0 preset to addr. */
#define M_TRY_A(insn, addr, val)                                                                \
    ({                                                                                          \
        uint32_t __pc;                                                                          \
        mtest_clear();                                                                          \
        register uint32_t __a0 __asm__("a0") = 0xdeadbeefu;                                     \
        register uint32_t __t0 __asm__("t0") = (addr);                                          \
        __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: " insn "\n.option pop"    \
                         : "=&r"(__pc), "+r"(__a0)                                              \
                         : "r"(__t0)                                                            \
                         : "memory");                                                           \
        (val) = __a0;                                                                           \
        __pc;                                                                                   \
    })

/* A payload for mtest_run: records the address of `insn` in payload_pc, runs it with a7 = 0 and
   returns a0 (the argument, unless insn writes a0). */
#define PAYLOAD(name, insn)                                                                    \
    NAKED static uint32_t name(uint32_t a __attribute__((unused))) {                           \
        __asm__ volatile(".option push\n.option norvc\n"                                       \
                         " li a7, 0\n la t0, payload_pc\n la t1, 1f\n sw t1, 0(t0)\n"          \
                         "1: " insn "\n ret\n.option pop\n");                                  \
    }

static uint32_t run(uint32_t mode, uint32_t (*fn)(uint32_t)) {
    mtest_clear();
    payload_pc = 0;
    return mtest_run(mode, fn, 0xdeadbeefu);
}

/* PMP register access by number */
static void pmpaddr_write(int i, uint32_t v) {
    switch (i) {
    case 0: CSR_WRITE(pmpaddr0, v); break;
    case 1: CSR_WRITE(pmpaddr1, v); break;
    case 2: CSR_WRITE(pmpaddr2, v); break;
    case 3: CSR_WRITE(pmpaddr3, v); break;
    case 4: CSR_WRITE(pmpaddr4, v); break;
    case 5: CSR_WRITE(pmpaddr5, v); break;
    case 6: CSR_WRITE(pmpaddr6, v); break;
    case 7: CSR_WRITE(pmpaddr7, v); break;
    case 15: CSR_WRITE(pmpaddr15, v); break;
    default: break;
    }
}
static uint32_t pmpcfg_read(int n) {
    switch (n) {
    case 0: return CSR_READ(pmpcfg0);
    case 1: return CSR_READ(pmpcfg1);
    case 2: return CSR_READ(pmpcfg2);
    default: return CSR_READ(pmpcfg3);
    }
}
static void pmpcfg_write(int n, uint32_t v) {
    switch (n) {
    case 0: CSR_WRITE(pmpcfg0, v); break;
    case 1: CSR_WRITE(pmpcfg1, v); break;
    case 2: CSR_WRITE(pmpcfg2, v); break;
    default: CSR_WRITE(pmpcfg3, v); break;
    }
}
#define PMP_R 0x01u
#define PMP_W 0x02u
#define PMP_X 0x04u
#define PMP_TOR 0x08u
#define PMP_NA4 0x10u
#define PMP_NAPOT 0x18u
#define PMP_L 0x80u
static void pmp_set(int i, uint32_t addr, uint32_t cfg) {
    pmpaddr_write(i, addr);
    uint32_t shift = (uint32_t)(i % 4) * 8;
    uint32_t c = pmpcfg_read(i / 4);
    c = (c & ~(0xffu << shift)) | (cfg << shift);
    pmpcfg_write(i / 4, c);
}

/* ---------------------------------------------------------------- payloads (run in S or U) */

PAYLOAD(p_ecall, "ecall")
PAYLOAD(p_ebreak, "ebreak")
PAYLOAD(p_mret, "mret")
PAYLOAD(p_sret, "sret")
PAYLOAD(p_wfi, "wfi")
PAYLOAD(p_sfence, "sfence.vma")
PAYLOAD(p_illegal16, ".half 0x0000")
PAYLOAD(p_rd_mstatus, "csrr a0, mstatus")
PAYLOAD(p_rd_sstatus, "csrr a0, sstatus")
PAYLOAD(p_rd_mhartid, "csrr a0, mhartid")
PAYLOAD(p_wr_mscratch, "csrw mscratch, zero")
PAYLOAD(p_rd_satp, "csrr a0, satp")
PAYLOAD(p_wr_satp, "csrw satp, zero")
PAYLOAD(p_rd_cycle, "csrr a0, cycle")
PAYLOAD(p_rd_time, "csrr a0, time")
PAYLOAD(p_rd_instret, "csrr a0, instret")
PAYLOAD(p_nop, "nop")

/* S: sret to U with SPP=0, SPIE=1, SIE=0; U executes ecall (a7=1) and then returns to M with 0x600d */
NAKED static uint32_t p_sret_to_u(uint32_t a __attribute__((unused))) {
    __asm__ volatile(".option push\n.option norvc\n"
                     " li t0, 0x100\n csrc sstatus, t0\n li t0, 0x20\n csrs sstatus, t0\n csrci sstatus, 2\n"
                     " la t0, 1f\n csrw sepc, t0\n la t0, payload_pc\n la t1, 2f\n sw t1, 0(t0)\n sret\n"
                     "1: li a7, 1\n"
                     "2: ecall\n"
                     " li a0, 0x600d\n" MTEST_EXIT_TO_M_ASM
                     ".option pop\n");
}

/* S: sret to S with SPP=1, SPIE=0, SIE=1; returns sstatus as seen after the sret */
NAKED static uint32_t p_sret_to_s(uint32_t a __attribute__((unused))) {
    __asm__ volatile(".option push\n.option norvc\n"
                     " li t0, 0x100\n csrs sstatus, t0\n li t0, 0x20\n csrc sstatus, t0\n csrsi sstatus, 2\n"
                     " la t0, 1f\n csrw sepc, t0\n sret\n"
                     "1: csrr a0, sstatus\n ret\n"
                     ".option pop\n");
}

/* for the PMP tests: load / store at a0 in the current mode, return the loaded value / 0 */
NAKED static uint32_t p_load(uint32_t a __attribute__((unused))) {
    __asm__ volatile(".option push\n.option norvc\n la t0, payload_pc\n la t1, 1f\n sw t1, 0(t0)\n"
                     "1: lw a0, 0(a0)\n ret\n.option pop\n");
}
NAKED static uint32_t p_store(uint32_t a __attribute__((unused))) {
    __asm__ volatile(".option push\n.option norvc\n la t0, payload_pc\n la t1, 1f\n sw t1, 0(t0)\n"
                     " li t1, 0x5a5a5a5a\n"
                     "1: sw t1, 0(a0)\n li a0, 0\n ret\n.option pop\n");
}
NAKED static uint32_t p_jump(uint32_t a __attribute__((unused))) {
    __asm__ volatile("jr a0\n");
}

static uint32_t run_arg(uint32_t mode, uint32_t (*fn)(uint32_t), uint32_t arg) {
    mtest_clear();
    payload_pc = 0;
    return mtest_run(mode, fn, arg);
}

/* ---------------------------------------------------------------- sections */

static void test_identification(void) {
    printf("-- identification\n");
    uint32_t misa = CSR_READ(misa);
    printf("misa=%08x mvendorid=%08x marchid=%08x mimpid=%08x\n", misa, CSR_READ(mvendorid), CSR_READ(marchid),
           CSR_READ(mimpid));
    /* MXL = 1 (32-bit); I, M, A, C, S, U present; E absent */
    uint32_t need = (1u << ('I' - 'A')) | (1u << ('M' - 'A')) | (1u << ('A' - 'A')) | (1u << ('C' - 'A')) |
                    (1u << ('S' - 'A')) | (1u << ('U' - 'A'));
    printf("misa MXL=%u IMACSU=%s E=%u", misa >> 30, (misa & need) == need ? "yes" : "no", (misa >> 4) & 1);
    mtest_result((misa >> 30) == 1 && (misa & need) == need && ((misa >> 4) & 1) == 0);
    uint32_t hart = CSR_READ(mhartid);
    printf("mhartid=%u", hart);
    mtest_result(hart == 0);
    uint32_t v;
    uint32_t pc = M_TRY("csrr a0, 0xf15", v);
    (void)pc;
    printf("mconfigptr: %s value=%08x\n", mtest_m.count ? "illegal" : "readable", mtest_m.count ? 0 : v);

    /* misa is WARL: a reserved letter (bit 25, 'Z') can never read as 1; writing the current value
       plus that bit must leave misa unchanged. */
    CSR_WRITE(misa, misa | (1u << 25));
    uint32_t r1 = CSR_READ(misa);
    CSR_WRITE(misa, misa);
    printf("misa write with reserved bit 25: reads %08x", r1);
    mtest_result(r1 == misa);
    /* Clearing C: WARL, an implementation may ignore it (QEMU 7.2 does: misa is not writable).
       Done in 4-byte aligned, uncompressed code and undone before any compressed instruction. */
    uint32_t r2;
    __asm__ volatile(".option push\n.option norvc\n.balign 4\n csrw misa, %1\n csrr %0, misa\n csrw misa, %2\n.option pop"
                     : "=&r"(r2)
                     : "r"(misa & ~(1u << 2)), "r"(misa));
    printf("misa write clearing C: reads %08x (%s; WARL, either is allowed)\n", r2, r2 == misa ? "ignored" : "took effect");
}

static void test_status_csrs(void) {
    printf("-- mstatus / sstatus / mstatush\n");
    uint32_t saved = CSR_READ(mstatus);
    printf("mstatus at entry=%08x\n", saved);
    /* mie is 0, so setting MIE cannot take an interrupt */
    CSR_WRITE(mstatus, 0xffffffffu);
    uint32_t ones = CSR_READ(mstatus);
    uint32_t sview = CSR_READ(sstatus);
    CSR_WRITE(mstatus, 0);
    uint32_t zeros = CSR_READ(mstatus);
    printf("mstatus <- ffffffff reads %08x, <- 0 reads %08x, sstatus view of ones %08x\n", ones, zeros, sview);
    printf("mstatus WPRI bits read 0: %s", ((ones | zeros) & MSTATUS_WPRI) ? "no" : "yes");
    mtest_result(((ones | zeros) & MSTATUS_WPRI) == 0);
    uint32_t fs = (ones >> 13) & 3, vs = (ones >> 9) & 3, xs = (ones >> 15) & 3;
    int sd_want = fs == 3 || vs == 3 || xs == 3;
    printf("mstatus MPP after writing 3: %u, SD=%u summarises FS=%u VS=%u XS=%u", (ones >> 11) & 3, ones >> 31, fs, vs, xs);
    mtest_result(((ones >> 11) & 3) == 3 && (uint32_t)sd_want == (ones >> 31));
    printf("mstatus fields set by all-ones: SIE=%u MIE=%u SPIE=%u MPIE=%u SPP=%u MPRV=%u SUM=%u MXR=%u TVM=%u TW=%u TSR=%u",
           (ones >> 1) & 1, (ones >> 3) & 1, (ones >> 5) & 1, (ones >> 7) & 1, (ones >> 8) & 1, (ones >> 17) & 1,
           (ones >> 18) & 1, (ones >> 19) & 1, (ones >> 20) & 1, (ones >> 21) & 1, (ones >> 22) & 1);
    uint32_t must = MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPRV | MSTATUS_SUM |
                    MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
    mtest_result((ones & must) == must);
    printf("sstatus is mstatus masked to the S fields: %s", sview == (ones & SSTATUS_MASK) ? "yes" : "no");
    mtest_result(sview == (ones & SSTATUS_MASK));
    /* writing sstatus must not touch M-only fields */
    CSR_WRITE(mstatus, 0);
    CSR_WRITE(sstatus, 0xffffffffu);
    uint32_t after = CSR_READ(mstatus);
    CSR_WRITE(mstatus, 0);
    printf("mstatus after sstatus <- ffffffff: %08x, M-only fields untouched: %s", after,
           (after & ~SSTATUS_MASK) == 0 ? "yes" : "no");
    mtest_result((after & ~SSTATUS_MASK) == 0 && (after & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR)) ==
                                                        (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR));
    /* MPP must not hold the reserved encoding 2 (privileged 1.12 section 3.1.6.1: "xPP fields are
       WARL fields that can hold only privilege mode x and any implemented privilege mode lower
       than x"). QEMU 7.2 keeps 2. */
    CSR_WRITE(mstatus, 2u << MSTATUS_MPP_SHIFT);
    uint32_t mpp2 = (CSR_READ(mstatus) >> MSTATUS_MPP_SHIFT) & 3;
    CSR_WRITE(mstatus, 0);
    printf(SPEC_ONLY "mstatus MPP <- 2 (reserved) reads %u", mpp2);
    mtest_result_spec_only(mpp2 != 2, "qemu-7.2 keeps the reserved MPP value 2");
    uint32_t h0 = CSR_READ(mstatush);
    CSR_WRITE(mstatush, 0xffffffffu);
    uint32_t h1 = CSR_READ(mstatush);
    CSR_WRITE(mstatush, 0);
    printf(SPEC_ONLY "mstatush=%08x, after <- ffffffff %08x (MBE/SBE little-endian: %s)\n", h0, h1, (h1 & 0x30) ? "no" : "yes");
    /* without the H extension every mstatush field but SBE/MBE is WPRI, hence read-only zero */
    printf(SPEC_ONLY "mstatush bits other than SBE/MBE after all-ones: %08x (H extension in misa: %s)", h1 & ~0x30u,
           (CSR_READ(misa) >> 7) & 1 ? "yes" : "no");
    mtest_result_spec_only(((CSR_READ(misa) >> 7) & 1) || (h1 & ~0x30u) == 0,
                           "qemu-7.2 lets MPV/GVA (mstatush bits 7/6) be written without the H extension");
    CSR_WRITE(mstatus, saved);
}

static void test_trap_csrs(void) {
    printf("-- trap CSRs (WARL)\n");
    uint32_t base = (uint32_t)(uintptr_t)mtest_mvec_table;
    uint32_t r[4];
    for (uint32_t m = 0; m < 4; m++) {
        CSR_WRITE(mtvec, (uint32_t)(uintptr_t)mtest_mtrap_direct);
        CSR_WRITE(mtvec, base | m);
        r[m] = CSR_READ(mtvec);
    }
    CSR_WRITE(mtvec, (uint32_t)(uintptr_t)mtest_mtrap_direct);
    printf("mtvec <- base|0..3 reads %08x %08x %08x %08x (base=%08x)", r[0], r[1], r[2], r[3], base);
    mtest_result(r[0] == base && r[1] == (base | 1) && (r[2] & 3) < 2 && (r[3] & 3) < 2);
    base = (uint32_t)(uintptr_t)mtest_svec_table;
    for (uint32_t m = 0; m < 4; m++) {
        CSR_WRITE(stvec, (uint32_t)(uintptr_t)mtest_strap_direct);
        CSR_WRITE(stvec, base | m);
        r[m] = CSR_READ(stvec);
    }
    CSR_WRITE(stvec, (uint32_t)(uintptr_t)mtest_strap_direct);
    printf("stvec <- base|0..3 reads %08x %08x %08x %08x (base=%08x)", r[0], r[1], r[2], r[3], base);
    mtest_result(r[0] == base && r[1] == (base | 1) && (r[2] & 3) < 2 && (r[3] & 3) < 2);

    /* mepc/sepc bit 0 is always zero (IALIGN=16); scratch registers hold any value */
    uint32_t save_ms = CSR_READ(mscratch), save_ss = CSR_READ(sscratch);
    CSR_WRITE(mepc, 0xffffffffu);
    CSR_WRITE(sepc, 0xffffffffu);
    CSR_WRITE(mscratch, 0xffffffffu);
    CSR_WRITE(sscratch, 0xa5a5a5a5u);
    uint32_t mepc = CSR_READ(mepc), sepc = CSR_READ(sepc), ms = CSR_READ(mscratch), ss = CSR_READ(sscratch);
    CSR_WRITE(mscratch, save_ms);
    CSR_WRITE(sscratch, save_ss);
    printf("mscratch <- ffffffff reads %08x, sscratch <- a5a5a5a5 reads %08x", ms, ss);
    mtest_result(ms == 0xffffffffu && ss == 0xa5a5a5a5u);
    /* 1.12 sections 3.1.14 / 4.1.7: "The low bit of mepc (mepc[0]) is always zero" (same for sepc) */
    printf(SPEC_ONLY "mepc <- ffffffff reads %08x, sepc <- ffffffff reads %08x", mepc, sepc);
    mtest_result_spec_only(mepc == 0xfffffffeu && sepc == 0xfffffffeu, "qemu-7.2 stores bit 0 of mepc/sepc and masks it only on xRET");
    CSR_WRITE(mtval, 0xffffffffu);
    CSR_WRITE(stval, 0xffffffffu);
    CSR_WRITE(mcause, 0xffffffffu);
    CSR_WRITE(scause, 0xffffffffu);
    printf("mtval/stval/mcause/scause <- ffffffff read %08x %08x %08x %08x (WARL/WLRL)\n", CSR_READ(mtval), CSR_READ(stval),
           CSR_READ(mcause), CSR_READ(scause));

    /* delegation registers: medeleg[11] (ecall from M) must be read-only zero (1.12 section 3.1.8) */
    CSR_WRITE(medeleg, 0xffffffffu);
    CSR_WRITE(mideleg, 0xffffffffu);
    uint32_t me = CSR_READ(medeleg), mi = CSR_READ(mideleg);
    CSR_WRITE(medeleg, 0);
    CSR_WRITE(mideleg, 0);
    printf(SPEC_ONLY "medeleg <- ffffffff reads %08x, mideleg reads %08x\n", me, mi);
    printf("medeleg ecall-from-U(8), illegal(2), page faults(12,13,15) delegable: %s",
           (me & 0xb104) == 0xb104 ? "yes" : "no");
    mtest_result((me & 0xb104) == 0xb104);
    printf(SPEC_ONLY "medeleg[11] (ecall from M) read-only zero: %s", (me >> 11) & 1 ? "no" : "yes");
    mtest_result_spec_only(((me >> 11) & 1) == 0, "qemu-7.2 lets medeleg[11] be set");
    printf("mideleg SSI/STI/SEI delegable: %s, M-level bits 3/7/11 zero: %s", (mi & 0x222) == 0x222 ? "yes" : "no",
           (mi & 0x888) ? "no" : "yes");
    mtest_result((mi & 0x222) == 0x222);
    /* Bits for causes that cannot occur here (reserved, or defined only by the H extension or
       Sscofpmf, neither of which misa/the configuration enables) must not be writable. */
    int h = (CSR_READ(misa) >> 7) & 1;
    uint32_t me_ok = 0xb3ffu | (h ? (1u << 10) | (0xfu << 20) : 0) | 0xff000000u;
    uint32_t mi_ok = 0x222u | (h ? 0x1444u : 0);
    printf(SPEC_ONLY "medeleg bits of reserved/H-only causes: %08x, mideleg bits of absent interrupts: %08x", me & ~me_ok & ~0x800u,
           mi & ~mi_ok);
    mtest_result_spec_only((me & ~me_ok & ~0x800u) == 0 && (mi & ~mi_ok) == 0,
                           "qemu-7.2 makes the H-extension and LCOFI bits writable even when those are disabled");
}

static void test_interrupt_csrs(void) {
    printf("-- mie / mip / sie / sip\n");
    CSR_WRITE(mie, 0xffffffffu);
    uint32_t mie = CSR_READ(mie);
    CSR_WRITE(mie, 0);
    printf(SPEC_ONLY "mie <- ffffffff reads %08x\n", mie);
    printf("mie <- ffffffff: M and S bits (aaa) writable:");
    mtest_result((mie & 0xaaa) == 0xaaa);
    /* 1.12 figures 3.14/3.15: the standard bits other than the M/S interrupts read 0 unless an
       extension (H: 2/6/10/12, Sscofpmf: 13) defines them */
    uint32_t ie_ok = 0xaaau | (((CSR_READ(misa) >> 7) & 1) ? 0x1444u : 0);
    printf(SPEC_ONLY "mie bits of absent interrupts: %08x", mie & ~ie_ok);
    mtest_result_spec_only((mie & ~ie_ok) == 0, "qemu-7.2 makes the H-extension and LCOFI bits writable even when those are disabled");
    CSR_WRITE(mip, 0xffffffffu);
    uint32_t mip1 = CSR_READ(mip);
    CSR_WRITE(mip, 0);
    uint32_t mip0 = CSR_READ(mip);
    /* mtimecmp is 0 after reset, so MTIP is pending; it is read-only in mip either way */
    printf(SPEC_ONLY "mip <- ffffffff reads %08x\n", mip1);
    printf("mip <- ffffffff: standard bits read %03x, <- 0 reads %08x; SSIP/STIP/SEIP writable, MSIP/MEIP not:", mip1 & 0xaaa, mip0);
    mtest_result((mip1 & 0x222) == 0x222 && (mip0 & 0x222) == 0 && (mip1 & 0x808) == 0);

    CSR_WRITE(mideleg, 0);
    CSR_WRITE(mie, 0xaaa);
    uint32_t sie_nodeleg = CSR_READ(sie);
    CSR_WRITE(mideleg, 0x222);
    uint32_t sie_deleg = CSR_READ(sie);
    printf("sie with mideleg=0: %08x, with mideleg=222: %08x", sie_nodeleg, sie_deleg);
    mtest_result(sie_nodeleg == 0 && sie_deleg == 0x222);
    CSR_WRITE(mie, 0);
    CSR_WRITE(sie, 0xffffffffu);
    uint32_t mie_after = CSR_READ(mie);
    CSR_WRITE(mie, 0);
    CSR_WRITE(mideleg, 0);
    CSR_WRITE(sie, 0xffffffffu);
    uint32_t mie_after0 = CSR_READ(mie);
    CSR_WRITE(mie, 0);
    printf("sie <- ffffffff sets mie to %08x with mideleg=222, %08x with mideleg=0", mie_after, mie_after0);
    mtest_result(mie_after == 0x222 && mie_after0 == 0);

    CSR_WRITE(mideleg, 0x222);
    CSR_WRITE(sip, 0xffffffffu);
    uint32_t mip_s = CSR_READ(mip) & ~MIP_MTIP, sip_s = CSR_READ(sip);
    CSR_WRITE(mip, 0);
    printf("sip <- ffffffff with mideleg=222: mip=%08x (MTIP masked) sip=%08x; only SSIP writable", mip_s, sip_s);
    mtest_result(mip_s == MIP_SSIP && sip_s == MIP_SSIP);
    CSR_WRITE(mip, MIP_STIP | MIP_SEIP);
    uint32_t sip_t = CSR_READ(sip);
    CSR_WRITE(mip, 0);
    printf("sip shows M-set STIP|SEIP when delegated: %08x", sip_t);
    mtest_result(sip_t == (MIP_STIP | MIP_SEIP));
    CSR_WRITE(mideleg, 0);
    CSR_WRITE(mip, MIP_SSIP);
    uint32_t sip_n = CSR_READ(sip);
    CSR_WRITE(sip, 0);
    uint32_t mip_n = CSR_READ(mip) & ~MIP_MTIP;
    CSR_WRITE(mip, 0);
    printf("mideleg=0: sip with mip.SSIP set reads %08x, sip <- 0 leaves mip=%08x", sip_n, mip_n);
    mtest_result(sip_n == 0 && mip_n == MIP_SSIP);
}

static volatile uint32_t fault_word __attribute__((aligned(16)));

static void test_m_exceptions(void) {
    printf("-- exceptions in M-mode\n");
    uint32_t pc, v;
    pc = M_TRY(".half 0x0000", v);
    m_check("illegal 16-bit 0000", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY(".word 0xffffffff", v);
    m_check("illegal ffffffff", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY(".word 0x0000000b", v);
    m_check("illegal custom-0 0000000b", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY(".word 0x00000057", v);
    m_check("illegal OP-V 00000057", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY(".word 0x00000053", v);
    m_check("illegal fadd.s with mstatus.FS=0", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY("csrrw zero, mvendorid, zero", v);
    m_check("csrw to read-only mvendorid", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY("csrrwi zero, cycle, 0", v);
    m_check("csrwi to read-only cycle", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY("csrrsi a0, mhartid, 1", v);
    m_check("csrsi 1 to read-only mhartid", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY("csrrs a0, 0x8ff, zero", v);
    m_check("csrr nonexistent csr 0x8ff", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY("csrrs a0, 0xfff, zero", v);
    m_check("csrr nonexistent csr 0xfff", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY("csrrs a0, mvendorid, zero", v);
    no_trap_check("csrrs x0 (no write) of read-only mvendorid", v, 1);
    pc = M_TRY("csrrci a0, mimpid, 0", v);
    no_trap_check("csrrci 0 (no write) of read-only mimpid", 0, 0);
    pc = M_TRY("csrr a0, cycle", v);
    no_trap_check("csrr cycle in M (mcounteren does not apply)", 0, 0);
    pc = M_TRY("csrr a0, time", v);
    printf("csrr time in M: %s\n", mtest_m.count ? "illegal" : "readable");

    pc = M_TRY("ecall", v);
    m_check("ecall from M", CAUSE_ECALL_M, pc, PRV_M, TV_EXACT, 0);
    pc = M_TRY("ebreak", v);
    m_check("ebreak in M", CAUSE_BREAKPOINT, pc, PRV_M, TV_ZERO_OR_PC, 0);
    printf("ebreak mtval is %s\n", mtest_m.tval == pc ? "the pc" : "0");

    /* access faults: nothing is mapped at physical 0 or 0x00800000 or past 128 MiB of RAM */
    pc = M_TRY("lw a0, 0(zero)", v);
    m_check("lw from unmapped 00000000", CAUSE_LOAD_ACCESS, pc, PRV_M, TV_EXACT, 0);
    pc = M_TRY("sw a0, 0(zero)", v);
    m_check("sw to unmapped 00000000", CAUSE_STORE_ACCESS, pc, PRV_M, TV_EXACT, 0);
    pc = M_TRY_A("lb a0, 3(t0)", 0x00800000u, v);
    m_check("lb from unmapped 00800003", CAUSE_LOAD_ACCESS, pc, PRV_M, TV_EXACT, 0x00800003u);
    pc = M_TRY_A("lw a0, 0(t0)", 0x88000000u, v);
    m_check("lw past the end of RAM 88000000", CAUSE_LOAD_ACCESS, pc, PRV_M, TV_EXACT, 0x88000000u);
    pc = M_TRY_A("sw a0, 4(t0)", 0x88000000u, v);
    m_check("sw past the end of RAM 88000004", CAUSE_STORE_ACCESS, pc, PRV_M, TV_EXACT, 0x88000004u);
    /* an AMO that faults raises a store/AMO access fault (cause 7), never a load fault */
    pc = M_TRY_A("amoadd.w a0, a0, (t0)", 0x00800000u, v);
    printf(SPEC_ONLY "amoadd.w to unmapped 00800000: mcause=%08x mtval=%08x", mtest_m.cause, mtest_m.tval);
    mtest_result_spec_only(mtest_m.count == 1 && mtest_m.cause == CAUSE_STORE_ACCESS && mtest_m.tval == 0x00800000u &&
                               mtest_m.epc == pc,
                           "qemu-7.2 raises a load access fault (5) for a faulting AMO");
    pc = M_TRY_A("amoswap.w a0, a0, (t0)", 0x00800000u, v);
    printf(SPEC_ONLY "amoswap.w to unmapped 00800000: mcause=%08x mtval=%08x", mtest_m.cause, mtest_m.tval);
    mtest_result_spec_only(mtest_m.count == 1 && mtest_m.cause == CAUSE_STORE_ACCESS && mtest_m.tval == 0x00800000u &&
                               mtest_m.epc == pc,
                           "qemu-7.2 raises a load access fault (5) for a faulting AMO");
    pc = M_TRY_A("sc.w a0, a0, (t0)", 0x00800000u, v);
    printf(SPEC_ONLY "sc.w (no reservation) to unmapped 00800000: %s mcause=%08x a0=%08x\n", mtest_m.count ? "trapped" : "no trap",
           mtest_m.cause, v);
    pc = M_TRY_A("lr.w a0, (t0)", 0x00800000u, v);
    m_check("lr.w from unmapped 00800000", CAUSE_LOAD_ACCESS, pc, PRV_M, TV_EXACT, 0x00800000u);

    /* instruction access fault: jump to 0x00800000, resume at a label */
    uint32_t back;
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n la t0, mtest_m_resume\n sw %0, 0(t0)\n"
                     " li t0, 0x00800000\n jalr t0\n1:\n.option pop"
                     : "=&r"(back) : : "t0", "ra", "memory");
    m_check("fetch from unmapped 00800000", CAUSE_FETCH_ACCESS, 0x00800000u, PRV_M, TV_EXACT, 0x00800000u);

    /* misaligned atomics: address-misaligned or access fault, tval = the address (A extension 8.2/8.4) */
    uint32_t a = (uint32_t)(uintptr_t)&fault_word + 2;
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: lr.w t0, (%1)\n.option pop" : "=&r"(pc) : "r"(a) : "t0", "memory");
    printf("misaligned lr.w: mcause=%08x mtval=%s", mtest_m.cause, mtest_m.tval == a ? "addr" : "other");
    mtest_result(mtest_m.count == 1 && (mtest_m.cause == CAUSE_MISALIGNED_LOAD || mtest_m.cause == CAUSE_LOAD_ACCESS) &&
                 mtest_m.tval == a && mtest_m.epc == pc);
    /* a misaligned SC must trap even though it has no reservation to succeed with */
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: sc.w t0, zero, (%1)\n.option pop" : "=&r"(pc) : "r"(a) : "t0", "memory");
    printf(SPEC_ONLY "misaligned sc.w (no reservation): mcause=%08x mtval=%s traps=%u", mtest_m.cause, mtest_m.tval == a ? "addr" : "other",
           mtest_m.count);
    mtest_result_spec_only(mtest_m.count == 1 && (mtest_m.cause == CAUSE_MISALIGNED_STORE || mtest_m.cause == CAUSE_STORE_ACCESS) &&
                               mtest_m.tval == a && mtest_m.epc == pc,
                           "qemu-7.2 checks the reservation address before alignment and fails the sc.w silently");
    /* with a reservation on the aligned word, the misaligned SC still traps */
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n lr.w t0, (%2)\n la %0, 1f\n1: sc.w t0, zero, (%1)\n.option pop"
                     : "=&r"(pc) : "r"(a), "r"(a - 2) : "t0", "memory");
    printf(SPEC_ONLY "misaligned sc.w after lr.w: mcause=%08x mtval=%s traps=%u", mtest_m.cause, mtest_m.tval == a ? "addr" : "other",
           mtest_m.count);
    mtest_result_spec_only(mtest_m.count == 1 && (mtest_m.cause == CAUSE_MISALIGNED_STORE || mtest_m.cause == CAUSE_STORE_ACCESS) &&
                               mtest_m.tval == a && mtest_m.epc == pc,
                           "qemu-7.2 checks the reservation address before alignment and fails the sc.w silently");
    /* misaligned AMOs: store/AMO address-misaligned (6) or store/AMO access fault (7) */
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: amoadd.w t0, zero, (%1)\n.option pop" : "=&r"(pc) : "r"(a) : "t0", "memory");
    printf(SPEC_ONLY "misaligned amoadd.w: mcause=%08x mtval=%s", mtest_m.cause, mtest_m.tval == a ? "addr" : "other");
    mtest_result_spec_only(mtest_m.count == 1 && (mtest_m.cause == CAUSE_MISALIGNED_STORE || mtest_m.cause == CAUSE_STORE_ACCESS) &&
                               mtest_m.tval == a && mtest_m.epc == pc,
                           "qemu-7.2 raises load address-misaligned (4) for a misaligned AMO");
    printf("misaligned amoadd.w trapped with the address in mtval: %s", mtest_m.count == 1 && mtest_m.tval == a ? "yes" : "no");
    mtest_result(mtest_m.count == 1 && mtest_m.tval == a && mtest_m.epc == pc);
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: amoswap.w t0, zero, (%1)\n.option pop" : "=&r"(pc) : "r"(a + 1) : "t0", "memory");
    printf(SPEC_ONLY "misaligned amoswap.w (+3): mcause=%08x mtval=%s", mtest_m.cause, mtest_m.tval == a + 1 ? "addr" : "other");
    mtest_result_spec_only(mtest_m.count == 1 && (mtest_m.cause == CAUSE_MISALIGNED_STORE || mtest_m.cause == CAUSE_STORE_ACCESS) &&
                               mtest_m.tval == a + 1 && mtest_m.epc == pc,
                           "qemu-7.2 raises load address-misaligned (4) for a misaligned AMO");
    (void)back;
}

static void test_vectored_exceptions(void) {
    printf("-- vectored mtvec: exceptions use the base\n");
    uint32_t pc, v;
    (void)v;
    CSR_WRITE(mtvec, (uint32_t)(uintptr_t)mtest_mvec_table | 1);
    pc = M_TRY("ecall", v);
    CSR_WRITE(mtvec, (uint32_t)(uintptr_t)mtest_mtrap_direct);
    printf("ecall with vectored mtvec: entered slot %d", (int)mtest_m.vec);
    mtest_result(mtest_m.count == 1 && mtest_m.cause == CAUSE_ECALL_M && mtest_m.vec == 0 && mtest_m.epc == pc);
}

static void test_pmp_reset(void) {
    printf("-- PMP at reset: S/U have no access when no entry matches\n");
    printf("pmpcfg0..3=%08x %08x %08x %08x\n", CSR_READ(pmpcfg0), CSR_READ(pmpcfg1), CSR_READ(pmpcfg2), CSR_READ(pmpcfg3));
    CSR_WRITE(pmpaddr0, 0xffffffffu);
    uint32_t g = CSR_READ(pmpaddr0);
    CSR_WRITE(pmpaddr0, 0);
    printf("pmpaddr0 <- ffffffff reads %08x (granularity %u bytes)\n", g, g == 0xffffffffu ? 4 : 0);
    /* The spec: mret to S/U succeeds and the first fetch gets an instruction access fault (no PMP
       entry matches, so S/U accesses fail). QEMU 7.2 instead raises illegal instruction on the mret
       itself when PMP is implemented but no entry is active. */
    mtest_m_abort = 1;
    uint32_t fn = (uint32_t)(uintptr_t)p_nop;
    for (uint32_t mode = 0; mode < 2; mode++) {
        run(mode, p_nop);
        uint32_t mpp = (mtest_m.status >> MSTATUS_MPP_SHIFT) & 3;
        printf(SPEC_ONLY "%c-mode fetch with no PMP entry: mcause=%08x", mode_char(mode), mtest_m.cause);
        print_pc("mepc", mtest_m.epc, fn);
        printf(" mtval=%08x from=%c", mtest_m.tval, mode_char(mpp));
        mtest_result_spec_only(mtest_m.count == 1 && mtest_m.cause == CAUSE_FETCH_ACCESS && mtest_m.epc == fn &&
                                   mtest_m.tval == fn && mpp == mode,
                               "qemu-7.2 raises illegal instruction on an mret to S/U while no PMP entry is active");
    }
    mtest_m_abort = 0;
    uint32_t r;
    /* entry 15: NAPOT over the whole address space, RWX, for everything that follows */
    pmp_set(15, 0xffffffffu, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    printf("pmp15 NAPOT all RWX: pmpcfg3=%08x pmpaddr15=%08x\n", CSR_READ(pmpcfg3), CSR_READ(pmpaddr15));
    r = run(PRV_S, p_nop);
    printf("S-mode runs with PMP allow-all: returned %08x", r);
    mtest_result(r == 0xdeadbeefu && mtest_m.count == 0);
}

static void test_ecalls_and_modes(void) {
    printf("-- ecall / mret / sret and mstatus transitions\n");
    uint32_t r, v, pc;
    (void)v;
    r = run(PRV_S, p_ecall);
    m_check("ecall from S", CAUSE_ECALL_S, payload_pc, PRV_S, TV_EXACT, 0);
    r = run(PRV_U, p_ecall);
    m_check("ecall from U", CAUSE_ECALL_U, payload_pc, PRV_U, TV_EXACT, 0);
    r = run(PRV_U, p_ebreak);
    m_check("ebreak from U", CAUSE_BREAKPOINT, payload_pc, PRV_U, TV_ZERO_OR_PC, 0);
    (void)r;

    /* mret within M: MIE <- MPIE, MPIE <- 1, MPP <- U (least-privileged mode) */
    uint32_t st1, st2;
    CSR_WRITE(mstatus, MSTATUS_MPP | MSTATUS_MPIE);
    __asm__ volatile("la t0, 1f\n csrw mepc, t0\n mret\n1: csrr %0, mstatus\n csrci mstatus, 8" : "=r"(st1) : : "t0", "memory");
    CSR_WRITE(mstatus, MSTATUS_MPP | MSTATUS_MIE);
    __asm__ volatile("la t0, 1f\n csrw mepc, t0\n mret\n1: csrr %0, mstatus\n csrci mstatus, 8" : "=r"(st2) : : "t0", "memory");
    printf("mret M->M with MPIE=1: MIE=%u MPIE=%u MPP=%u; with MPIE=0 (MIE=1): MIE=%u MPIE=%u MPP=%u", (st1 >> 3) & 1,
           (st1 >> 7) & 1, (st1 >> 11) & 3, (st2 >> 3) & 1, (st2 >> 7) & 1, (st2 >> 11) & 3);
    mtest_result((st1 & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)) == (MSTATUS_MIE | MSTATUS_MPIE) &&
                 (st2 & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)) == MSTATUS_MPIE);
    /* MPRV survives an mret to M, and is cleared by an mret to S or U (1.12 section 3.1.6.1:
       "If y!=M, xRET also sets MPRV=0") */
    CSR_WRITE(mstatus, MSTATUS_MPP | MSTATUS_MPRV);
    __asm__ volatile("la t0, 1f\n csrw mepc, t0\n mret\n1: csrr %0, mstatus\n li t0, 0x20000\n csrc mstatus, t0" : "=r"(st1) : : "t0", "memory");
    CSR_WRITE(mstatus, MSTATUS_MPRV);
    run(PRV_S, p_nop);
    st2 = CSR_READ(mstatus);
    CSR_WRITE(mstatus, 0);
    printf("MPRV after mret to M: %u", (st1 >> 17) & 1);
    mtest_result(((st1 >> 17) & 1) == 1);
    printf(SPEC_ONLY "MPRV after mret to S: %u", (st2 >> 17) & 1);
    mtest_result_spec_only(((st2 >> 17) & 1) == 0, "qemu-7.2 does not clear MPRV on an mret to S/U (new in priv 1.12)");

    /* trap entry from M with MIE=1: MPIE <- 1, MIE <- 0, MPP <- M; mret restores MIE */
    CSR_WRITE(mstatus, MSTATUS_MIE);
    pc = M_TRY("ecall", v);
    st1 = CSR_READ(mstatus);
    CSR_WRITE(mstatus, 0);
    printf("trap from M with MIE=1: in handler MIE=%u MPIE=%u MPP=%u; after mret MIE=%u MPIE=%u MPP=%u",
           (mtest_m.status >> 3) & 1, (mtest_m.status >> 7) & 1, (mtest_m.status >> 11) & 3, (st1 >> 3) & 1, (st1 >> 7) & 1,
           (st1 >> 11) & 3);
    mtest_result((mtest_m.status & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)) == (MSTATUS_MPIE | MSTATUS_MPP) &&
                 (st1 & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)) == (MSTATUS_MIE | MSTATUS_MPIE));
    (void)pc;

    /* mret to S with MPIE=1 / 0: the S-mode ecall trap then records MPIE = the MIE that mret set */
    CSR_WRITE(mstatus, MSTATUS_MPIE);
    run(PRV_S, p_ecall);
    st1 = mtest_m.status;
    CSR_WRITE(mstatus, 0);
    run(PRV_S, p_ecall);
    st2 = mtest_m.status;
    CSR_WRITE(mstatus, 0);
    printf("mret to S: MIE in S (seen as MPIE at the next trap) = %u with MPIE=1, %u with MPIE=0", (st1 >> 7) & 1, (st2 >> 7) & 1);
    mtest_result(((st1 >> 7) & 1) == 1 && ((st2 >> 7) & 1) == 0);

    /* sret S->U: SIE <- SPIE, SPIE <- 1, SPP <- U */
    r = run(PRV_S, p_sret_to_u);
    st1 = CSR_READ(mstatus);
    CSR_WRITE(mstatus, 0);
    printf("sret to U (SPP=0 SPIE=1 SIE=0): U ecall mcause=%08x from=%c, returned %08x; then SIE=%u SPIE=%u SPP=%u",
           mtest_m.cause, mode_char((mtest_m.status >> 11) & 3), r, (st1 >> 1) & 1, (st1 >> 5) & 1, (st1 >> 8) & 1);
    mtest_result(mtest_m.count == 1 && mtest_m.cause == CAUSE_ECALL_U && mtest_m.epc == payload_pc &&
                 ((mtest_m.status >> 11) & 3) == PRV_U && r == 0x600d &&
                 (st1 & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP)) == (MSTATUS_SIE | MSTATUS_SPIE));
    r = run(PRV_S, p_sret_to_s);
    printf("sret to S (SPP=1 SPIE=0 SIE=1): sstatus after: SIE=%u SPIE=%u SPP=%u", (r >> 1) & 1, (r >> 5) & 1, (r >> 8) & 1);
    mtest_result(mtest_m.count == 0 && (r & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP)) == MSTATUS_SPIE);
    CSR_WRITE(mstatus, 0);
}

static void test_privilege_violations(void) {
    printf("-- privileged instructions and CSRs from lower modes\n");
    uint32_t r;
    r = run(PRV_U, p_mret);
    m_check("mret in U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_sret);
    m_check("sret in U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_wfi);
    m_check("wfi in U (S-mode present)", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_sfence);
    m_check("sfence.vma in U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_rd_sstatus);
    m_check("csrr sstatus in U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_rd_mstatus);
    m_check("csrr mstatus in U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_rd_satp);
    m_check("csrr satp in U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_illegal16);
    m_check("illegal 0000 in U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_mret);
    m_check("mret in S", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_rd_mstatus);
    m_check("csrr mstatus in S", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_rd_mhartid);
    m_check("csrr mhartid in S", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_wr_mscratch);
    m_check("csrw mscratch in S", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    CSR_WRITE(mstatus, MSTATUS_SPP | MSTATUS_SUM);
    r = run(PRV_S, p_rd_sstatus);
    no_trap_check("csrr sstatus in S", r, 1);
    CSR_WRITE(mstatus, 0);
    r = run(PRV_S, p_rd_satp);
    no_trap_check("csrr satp in S (TVM=0)", r, 1);
    r = run(PRV_S, p_sfence);
    no_trap_check("sfence.vma in S (TVM=0)", 0, 0);

    /* TSR, TW, TVM */
    CSR_WRITE(mstatus, MSTATUS_TSR);
    r = run(PRV_S, p_sret);
    m_check("sret in S with TSR=1", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    CSR_WRITE(mstatus, MSTATUS_TW);
    r = run(PRV_S, p_wfi);
    m_check("wfi in S with TW=1", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    CSR_WRITE(mstatus, MSTATUS_TVM);
    r = run(PRV_S, p_rd_satp);
    m_check("csrr satp in S with TVM=1", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_wr_satp);
    m_check("csrw satp in S with TVM=1", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_sfence);
    m_check("sfence.vma in S with TVM=1", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    CSR_WRITE(mstatus, 0);
    (void)r;
}

static void test_delegation(void) {
    printf("-- medeleg: traps delegated to S, never from M\n");
    uint32_t r, v, pc;
    (void)v;
    CSR_WRITE(medeleg, (1u << CAUSE_ECALL_U) | (1u << CAUSE_ILLEGAL) | (1u << CAUSE_BREAKPOINT));
    r = run(PRV_U, p_ecall);
    s_check("delegated ecall from U", CAUSE_ECALL_U, payload_pc, PRV_U, TV_EXACT, 0);
    r = run(PRV_U, p_illegal16);
    s_check("delegated illegal 0000 from U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_U, p_rd_sstatus);
    s_check("delegated csrr sstatus from U", CAUSE_ILLEGAL, payload_pc, PRV_U, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_rd_mstatus);
    s_check("delegated csrr mstatus from S", CAUSE_ILLEGAL, payload_pc, PRV_S, TV_ZERO_OR_BITS, 0);
    r = run(PRV_S, p_ebreak);
    s_check("delegated ebreak from S", CAUSE_BREAKPOINT, payload_pc, PRV_S, TV_ZERO_OR_PC, 0);
    /* S-mode trap entry: SPIE <- SIE, SIE <- 0 */
    CSR_WRITE(mstatus, MSTATUS_SIE);
    r = run(PRV_S, p_rd_mstatus);
    printf("delegated trap from S with SIE=1: in handler SIE=%u SPIE=%u SPP=%u", (mtest_s.status >> 1) & 1,
           (mtest_s.status >> 5) & 1, (mtest_s.status >> 8) & 1);
    mtest_result(mtest_s.count == 1 && (mtest_s.status & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP)) == (MSTATUS_SPIE | MSTATUS_SPP));
    CSR_WRITE(mstatus, 0);
    /* ecall from S is not delegated (medeleg[9] clear): goes to M */
    r = run(PRV_S, p_ecall);
    m_check("ecall from S with medeleg[9]=0", CAUSE_ECALL_S, payload_pc, PRV_S, TV_EXACT, 0);
    /* delegation never applies to traps taken in M */
    pc = M_TRY(".half 0x0000", v);
    m_check("illegal in M with medeleg[2]=1", CAUSE_ILLEGAL, pc, PRV_M, TV_ZERO_OR_BITS, 0);
    pc = M_TRY("ebreak", v);
    m_check("ebreak in M with medeleg[3]=1", CAUSE_BREAKPOINT, pc, PRV_M, TV_ZERO_OR_PC, 0);
    /* vectored stvec: exceptions go to the base */
    CSR_WRITE(stvec, (uint32_t)(uintptr_t)mtest_svec_table | 1);
    r = run(PRV_U, p_ecall);
    CSR_WRITE(stvec, (uint32_t)(uintptr_t)mtest_strap_direct);
    printf("delegated ecall with vectored stvec: entered slot %d", (int)mtest_s.vec);
    mtest_result(mtest_s.count == 1 && mtest_s.cause == CAUSE_ECALL_U && mtest_s.vec == 0);
    CSR_WRITE(medeleg, 0);
    (void)r;
}

static void test_counters(void) {
    printf("-- counters and mcounteren / scounteren\n");
    uint32_t c0 = CSR_READ(cycle), i0 = CSR_READ(instret);
    uint32_t m0 = CSR_READ(mcycle), mi0 = CSR_READ(minstret);
    __asm__ volatile("nop\n nop\n nop\n nop");
    uint32_t c1 = CSR_READ(cycle), i1 = CSR_READ(instret);
    uint32_t m1 = CSR_READ(mcycle), mi1 = CSR_READ(minstret);
    printf("cycle/instret/mcycle/minstret increase in M: %s %s %s %s", c1 != c0 ? "yes" : "no", i1 != i0 ? "yes" : "no",
           m1 != m0 ? "yes" : "no", mi1 != mi0 ? "yes" : "no");
    mtest_result(c1 != c0 && i1 != i0 && m1 != m0 && mi1 != mi0);
    uint32_t t0 = CSR_READ(time), t1 = t0;
    for (int n = 0; n < 1000000 && t1 == t0; n++) t1 = CSR_READ(time);
    printf("time advances: %s", t1 != t0 ? "yes" : "no");
    mtest_result(t1 != t0);
    /* mcountinhibit (1.12 section 3.1.12): an inhibited counter does not increment; it keeps its value */
    uint32_t before = CSR_READ(mcycle);
    CSR_WRITE(mcountinhibit, 5);
    uint32_t inh = CSR_READ(mcountinhibit);
    uint32_t f0 = CSR_READ(mcycle), g0 = CSR_READ(minstret);
    __asm__ volatile("nop\n nop\n nop\n nop");
    uint32_t f1 = CSR_READ(mcycle), g1 = CSR_READ(minstret);
    CSR_WRITE(mcountinhibit, 0);
    __asm__ volatile("nop\n nop\n nop\n nop");
    uint32_t after = CSR_READ(mcycle);
    printf("mcountinhibit <- 5 reads %08x; mcycle/minstret frozen: %s %s", inh, f1 == f0 ? "yes" : "no", g1 == g0 ? "yes" : "no");
    mtest_result(inh != 5 || (f1 == f0 && g1 == g0));
    int kept = f0 >= before && f0 - before < 0x10000000u;
    printf(SPEC_ONLY "inhibited mcycle keeps its count (not below the value read before inhibiting): %s", kept ? "yes" : "no");
    mtest_result_spec_only(inh != 5 || kept, "qemu-7.2 reads an inhibited counter as its last written value, here 0");
    printf("mcycle counts again after mcountinhibit <- 0: %s\n", after != f1 ? "yes" : "no");

    CSR_WRITE(mcounteren, 0xffffffffu);
    CSR_WRITE(scounteren, 0xffffffffu);
    printf("mcounteren <- ffffffff reads %08x, scounteren %08x\n", CSR_READ(mcounteren), CSR_READ(scounteren));
    printf("mhpmcounter3=%08x mhpmevent3=%08x (no events implemented)\n", CSR_READ(mhpmcounter3), CSR_READ(mhpmevent3));

    static const struct {
        const char *csr;
        uint32_t (*fn)(uint32_t);
        uint32_t bit;
    } ctr[3] = {{"cycle", p_rd_cycle, 1}, {"time", p_rd_time, 2}, {"instret", p_rd_instret, 4}};
    static const struct {
        uint32_t men, sen;
    } cfg[4] = {{0, 0}, {7, 0}, {7, 7}, {0, 7}};
    for (int c = 0; c < 4; c++) {
        CSR_WRITE(mcounteren, cfg[c].men);
        CSR_WRITE(scounteren, cfg[c].sen);
        for (int k = 0; k < 3; k++) {
            for (uint32_t mode = 0; mode < 2; mode++) {
                run(mode, ctr[k].fn);
                int allowed = (cfg[c].men & ctr[k].bit) && (mode == PRV_S || (cfg[c].sen & ctr[k].bit));
                printf("mcounteren=%u scounteren=%u %c reads %s: %s", cfg[c].men, cfg[c].sen, mode_char(mode), ctr[k].csr,
                       mtest_m.count ? "illegal" : "allowed");
                if (mtest_m.count) printf(" mcause=%08x", mtest_m.cause);
                mtest_result(allowed ? mtest_m.count == 0
                                     : (mtest_m.count == 1 && mtest_m.cause == CAUSE_ILLEGAL && mtest_m.epc == payload_pc));
            }
        }
    }
    /* only the CY bit */
    CSR_WRITE(mcounteren, 1);
    CSR_WRITE(scounteren, 0);
    run(PRV_S, p_rd_cycle);
    int cy = mtest_m.count;
    run(PRV_S, p_rd_instret);
    int ir = mtest_m.count;
    printf("mcounteren=1: S cycle %s, S instret %s", cy ? "illegal" : "allowed", ir ? "illegal" : "allowed");
    mtest_result(cy == 0 && ir == 1);
    CSR_WRITE(mcounteren, 0);
    CSR_WRITE(scounteren, 0);
}

static uint8_t pmp_ro_page[4096] __attribute__((aligned(4096)));
static uint8_t pmp_locked_page[4096] __attribute__((aligned(4096)));
static volatile uint32_t tor_buf[64] __attribute__((aligned(256)));
static volatile uint32_t na4_buf[4] __attribute__((aligned(16)));

static void pmp_probe(const char *name, uint32_t mode, int store, uint32_t addr, int expect_fault) {
    mtest_m_abort = 1;
    run_arg(mode, store ? p_store : p_load, addr);
    mtest_m_abort = 0;
    if (expect_fault)
        m_check(name, store ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS, payload_pc, mode, TV_EXACT, addr);
    else
        no_trap_check(name, 0, 0);
}

static void test_pmp(void) {
    printf("-- PMP regions\n");
    uint32_t ro = (uint32_t)(uintptr_t)pmp_ro_page;
    /* entry 0: NAPOT 4 KiB, read-only; it has priority over entry 15 (allow-all) */
    pmp_set(0, (ro >> 2) | 0x1ff, PMP_NAPOT | PMP_R);
    printf("pmp0 NAPOT 4KiB R: pmpaddr0=%08x pmpcfg0=%08x\n", CSR_READ(pmpaddr0), CSR_READ(pmpcfg0));
    pmp_probe("pmp NAPOT R-only: S load", PRV_S, 0, ro + 0x100, 0);
    pmp_probe("pmp NAPOT R-only: S store", PRV_S, 1, ro + 0x100, 1);
    pmp_probe("pmp NAPOT R-only: U store at last word", PRV_U, 1, ro + 4092, 1);
    pmp_probe("pmp NAPOT R-only: S store just past the region", PRV_S, 1, ro + 4096, 0);
    pmp_probe("pmp NAPOT R-only: S store just below the region", PRV_S, 1, ro - 4, 0);
    /* M is not subject to unlocked entries */
    mtest_clear();
    *(volatile uint32_t *)(uintptr_t)(ro + 0x100) = 0x11;
    no_trap_check("pmp NAPOT R-only: M store (entry not locked)", 0, 0);
    /* MPRV=1 with MPP=S: M-mode loads and stores are checked with S privilege */
    uint32_t pc, v;
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n li t0, 0x20800\n csrs mstatus, t0\n la %0, 1f\n"
                     "1: sw zero, 0(%1)\n li t0, 0x21800\n csrc mstatus, t0\n.option pop"
                     : "=&r"(pc) : "r"(ro + 8) : "t0", "memory");
    m_check("pmp NAPOT R-only: M store with MPRV=1 MPP=S", CAUSE_STORE_ACCESS, pc, PRV_M, TV_EXACT, ro + 8);
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n li t0, 0x1800\n csrc mstatus, t0\n li t0, 0x20000\n csrs mstatus, t0\n la %0, 1f\n"
                     "1: lw %1, 0(%2)\n li t0, 0x21800\n csrc mstatus, t0\n.option pop"
                     : "=&r"(pc), "=&r"(v) : "r"(ro + 0x100) : "t0", "memory");
    printf("pmp NAPOT R-only: M load with MPRV=1 MPP=U: value=%08x", v);
    mtest_result(mtest_m.count == 0 && v == 0x11);
    /* fetch from a region without X */
    mtest_m_abort = 1;
    run_arg(PRV_S, p_jump, ro);
    mtest_m_abort = 0;
    m_check("pmp NAPOT R-only: S jump into it", CAUSE_FETCH_ACCESS, ro, PRV_S, TV_EXACT, ro);

    /* entries 2-3: TOR [lo, hi) with no permissions; entry 2 itself is OFF and only provides lo */
    uint32_t lo = (uint32_t)(uintptr_t)&tor_buf[16], hi = (uint32_t)(uintptr_t)&tor_buf[32];
    pmp_set(2, lo >> 2, 0);
    pmp_set(3, hi >> 2, PMP_TOR);
    printf("pmp2/3 TOR no-access: pmpaddr2=%08x pmpaddr3=%08x pmpcfg0=%08x\n", CSR_READ(pmpaddr2), CSR_READ(pmpaddr3),
           CSR_READ(pmpcfg0));
    pmp_probe("pmp TOR: S load lo-4", PRV_S, 0, lo - 4, 0);
    pmp_probe("pmp TOR: S load lo", PRV_S, 0, lo, 1);
    pmp_probe("pmp TOR: U load hi-4", PRV_U, 0, hi - 4, 1);
    pmp_probe("pmp TOR: S store hi-4", PRV_S, 1, hi - 4, 1);
    pmp_probe("pmp TOR: S load hi", PRV_S, 0, hi, 0);

    /* entry 4: NA4 on one word, read-only */
    uint32_t w = (uint32_t)(uintptr_t)&na4_buf[1];
    pmp_set(4, w >> 2, PMP_NA4 | PMP_R);
    printf("pmp4 NA4 R: pmpaddr4=%08x pmpcfg1=%08x\n", CSR_READ(pmpaddr4), CSR_READ(pmpcfg1));
    pmp_probe("pmp NA4: S load of the word", PRV_S, 0, w, 0);
    pmp_probe("pmp NA4: S store to the word", PRV_S, 1, w, 1);
    pmp_probe("pmp NA4: S store to the next word", PRV_S, 1, w + 4, 0);
    pmp_probe("pmp NA4: S store to the previous word", PRV_S, 1, w - 4, 0);

    /* entry 5: locked NAPOT 4 KiB read-only: applies to M too, and cannot be changed */
    uint32_t lk = (uint32_t)(uintptr_t)pmp_locked_page;
    pmp_set(5, (lk >> 2) | 0x1ff, PMP_L | PMP_NAPOT | PMP_R);
    uint32_t cfg1 = CSR_READ(pmpcfg1);
    printf("pmp5 locked NAPOT R: pmpaddr5=%08x pmpcfg1=%08x\n", CSR_READ(pmpaddr5), cfg1);
    mtest_clear();
    __asm__ volatile(".option push\n.option norvc\n la %0, 1f\n1: sw zero, 16(%1)\n.option pop" : "=&r"(pc) : "r"(lk) : "memory");
    m_check("pmp locked R-only: M store", CAUSE_STORE_ACCESS, pc, PRV_M, TV_EXACT, lk + 16);
    mtest_clear();
    v = *(volatile uint32_t *)(uintptr_t)(lk + 16);
    no_trap_check("pmp locked R-only: M load", v, 1);
    pmp_probe("pmp locked R-only: S store", PRV_S, 1, lk, 1);
    /* writes to a locked entry's pmpaddr and cfg byte are ignored; its neighbours stay writable */
    CSR_WRITE(pmpaddr5, 0);
    pmpcfg_write(1, (cfg1 & 0xff0000ffu) | (0x00u << 8) | ((PMP_NA4 | PMP_R) << 16));
    uint32_t cfg1b = CSR_READ(pmpcfg1), a5 = CSR_READ(pmpaddr5);
    printf("pmp5 after writing pmpaddr5=0 and cfg byte 5=0 (byte 6=NA4 R): pmpaddr5=%08x pmpcfg1=%08x", a5, cfg1b);
    mtest_result(a5 == ((lk >> 2) | 0x1ff) && ((cfg1b >> 8) & 0xff) == (PMP_L | PMP_NAPOT | PMP_R) &&
                 ((cfg1b >> 16) & 0xff) == (PMP_NA4 | PMP_R) && (cfg1b & 0xff) == (cfg1 & 0xff));
    pmpcfg_write(1, cfg1);
    printf("pmp regions done: pmpcfg0..3=%08x %08x %08x %08x\n", CSR_READ(pmpcfg0), CSR_READ(pmpcfg1), CSR_READ(pmpcfg2),
           CSR_READ(pmpcfg3));
}

int main(void) {
    mtest_install();
    printf("traps: M-mode traps, CSRs, privilege transitions, delegation, counters, PMP\n");
    test_identification();
    test_status_csrs();
    test_trap_csrs();
    test_interrupt_csrs();
    test_m_exceptions();
    test_vectored_exceptions();
    test_pmp_reset();
    test_ecalls_and_modes();
    test_privilege_violations();
    test_delegation();
    test_counters();
    test_pmp();
    return mtest_finish("traps");
}
