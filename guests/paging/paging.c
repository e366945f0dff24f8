/* paging: Sv32 address translation (privileged spec 1.12 chapter 4.3) from S- and U-mode.

   The program runs identity-mapped through a 4 MiB megapage at 0x80000000 (S only, RWX). Test pages
   live at 0xC0000000 (one level-0 table) and a few more megapage slots. Every probe runs a tiny
   position-independent routine (upage.S) in S or U; faults are aborted back to M and reported.
   The probes run twice: first with page faults handled in M, then delegated to S (medeleg 12, 13,
   15). Access faults are never delegated and always reach M.

   Exit status: the number of failed checks (0 = pass). */
#include "mtest.h"

extern char upage_start[], probe_load[], probe_store[], probe_jump[], probe_marker[];

#define PTE_V 0x001u
#define PTE_R 0x002u
#define PTE_W 0x004u
#define PTE_X 0x008u
#define PTE_U 0x010u
#define PTE_G 0x020u
#define PTE_A 0x040u
#define PTE_D 0x080u
#define PTE(pa, flags) ((((uint32_t)(pa) >> 12) << 10) | (flags))
#define SATP_SV32 0x80000000u

static uint32_t root[1024] __attribute__((aligned(4096)));
static uint32_t l0[1024] __attribute__((aligned(4096)));
static uint32_t frame_a[1024] __attribute__((aligned(4096)));
static uint32_t frame_b[1024] __attribute__((aligned(4096)));
static uint32_t frame_c[1024] __attribute__((aligned(4096)));
static uint32_t frame_d[1024] __attribute__((aligned(4096)));
static uint32_t frame_e[1024] __attribute__((aligned(4096)));
static uint32_t frame_f1[1024] __attribute__((aligned(4096)));
static uint32_t frame_f2[1024] __attribute__((aligned(4096)));
static volatile uint32_t mega_marker = 0x3e6a0001u;

/* level-0 slots under VA 0xC0000000 */
enum {
    S_DATA = 0,  /* frame A, RW */
    S_RO = 1,    /* frame B, R */
    S_XO = 2,    /* the probe page, X only */
    S_UDATA = 3, /* frame C, U RW */
    S_WO = 4,    /* frame D, W without R: reserved */
    S_INVALID = 5,
    S_NOX = 6,   /* frame A, RW, no X */
    S_AD = 7,    /* frame E, RW, A=0 D=0 */
    S_REMAP = 8, /* frame F1, later F2 */
    S_NONLEAF = 9, /* V=1, R=W=X=0 at level 0 */
    S_DIRTY = 11, /* frame E, RW, A=1 D=0 */
    S_BADPA = 12, /* leaf pointing at unmapped physical memory */
    S_URO = 13,  /* frame C, U R */
    S_UCODE = 16, /* the probe page, U RX */
    S_UXO = 17,   /* the probe page, U X only */
};
#define VA(slot) (0xC0000000u + (uint32_t)(slot) * 0x1000u)
#define MEGA_MISALIGNED 0xC0400000u /* root[0x301]: ppn[0] != 0 */
#define MEGA_ALIAS 0xC0C00000u      /* root[0x303]: aligned megapage onto 0x80000000, R only */
#define MEGA_BADWALK 0xC1000000u    /* root[0x304]: points at a level-0 table in unmapped memory */

static uint32_t ualias(const char *sym) { return VA(S_UCODE) + (uint32_t)(sym - upage_start); }
static uint32_t xalias(const char *sym) { return VA(S_XO) + (uint32_t)(sym - upage_start); }
static uint32_t addr(const volatile void *p) { return (uint32_t)(uintptr_t)p; }

static void sfence_all(void) { __asm__ volatile("sfence.vma" : : : "memory"); }

static uint32_t satp_value(void) { return SATP_SV32 | (addr(root) >> 12); }

static void build_tables(void) {
    for (int i = 0; i < 1024; i++) {
        root[i] = 0;
        l0[i] = 0;
    }
    root[0x200] = PTE(0x80000000u, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
    root[0x300] = PTE(addr(l0), PTE_V);
    root[0x301] = PTE(0x80000000u + 0x1000u, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    root[0x303] = PTE(0x80000000u, PTE_V | PTE_R | PTE_A);
    root[0x304] = PTE(0x00800000u, PTE_V);
    l0[S_DATA] = PTE(addr(frame_a), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    l0[S_RO] = PTE(addr(frame_b), PTE_V | PTE_R | PTE_A);
    l0[S_XO] = PTE(addr(upage_start), PTE_V | PTE_X | PTE_A);
    l0[S_UDATA] = PTE(addr(frame_c), PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D);
    l0[S_WO] = PTE(addr(frame_d), PTE_V | PTE_W | PTE_A | PTE_D);
    l0[S_INVALID] = PTE(addr(frame_a), PTE_R | PTE_W | PTE_A | PTE_D);
    l0[S_NOX] = PTE(addr(frame_a), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    l0[S_AD] = PTE(addr(frame_e), PTE_V | PTE_R | PTE_W);
    l0[S_REMAP] = PTE(addr(frame_f1), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    l0[S_NONLEAF] = PTE(addr(frame_a), PTE_V);
    l0[S_DIRTY] = PTE(addr(frame_e), PTE_V | PTE_R | PTE_W | PTE_A);
    l0[S_BADPA] = PTE(0x00800000u, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
    l0[S_URO] = PTE(addr(frame_c), PTE_V | PTE_R | PTE_U | PTE_A);
    l0[S_UCODE] = PTE(addr(upage_start), PTE_V | PTE_R | PTE_X | PTE_U | PTE_A);
    l0[S_UXO] = PTE(addr(upage_start), PTE_V | PTE_X | PTE_U | PTE_A);
    frame_a[4] = 0xaaaa0004u;
    frame_b[4] = 0xbbbb0004u;
    frame_c[4] = 0xcccc0004u;
    frame_d[4] = 0xdddd0004u;
    frame_e[4] = 0xeeee0004u;
    frame_f1[4] = 0xf1f10004u;
    frame_f2[4] = 0xf2f20004u;
}

static void print_tables(void) {
    printf("root[200]=%08x (identity megapage) root[300]=%08x (-> l0) root[301]=%08x root[303]=%08x root[304]=%08x\n",
           root[0x200], root[0x300], root[0x301], root[0x303], root[0x304]);
    static const int slots[] = {S_DATA, S_RO, S_XO, S_UDATA, S_WO, S_INVALID, S_NOX, S_AD, S_REMAP, S_NONLEAF, S_DIRTY,
                                S_BADPA, S_URO, S_UCODE, S_UXO};
    for (unsigned i = 0; i < sizeof slots / sizeof slots[0]; i++)
        printf("  va %08x: pte %08x\n", VA(slots[i]), l0[slots[i]]);
}

/* ---------------------------------------------------------------- probes */

static int deleg_phase;
#define NO_FAULT (-1)

/* Runs fn(arg) in `mode` with translation on; cause = NO_FAULT: expects the return value `want`
   (when check is set); otherwise expects exactly one trap with that cause, tval and epc, taken in
   S when it is a page fault and page faults are delegated, else in M. */
static uint32_t probe(const char *name, uint32_t mode, uint32_t fn, uint32_t arg, int cause, uint32_t tval, uint32_t epc,
                      int check, uint32_t want) {
    CSR_WRITE(satp, satp_value());
    sfence_all();
    mtest_clear();
    mtest_m_abort = mtest_s_abort = 1;
    uint32_t v = mtest_run(mode, (uint32_t (*)(uint32_t))(uintptr_t)fn, arg);
    mtest_m_abort = mtest_s_abort = 0;
    printf("%c %s:", mode == PRV_S ? 'S' : 'U', name);
    int ok;
    if (v != MTEST_ABORTED) {
        printf(" value=%08x", v);
        ok = cause == NO_FAULT && mtest_m.count == 0 && mtest_s.count == 0 && (!check || v == want);
    } else {
        int in_s = mtest_s.count > 0;
        volatile struct mtest_trap *t = in_s ? &mtest_s : &mtest_m;
        printf(" trap to %c cause=%08x tval=%08x", in_s ? 'S' : 'M', t->cause, t->tval);
        if (t->epc == epc)
            printf(" epc=expected");
        else
            printf(" epc=%08x", t->epc);
        int page_fault = cause == CAUSE_FETCH_PAGE || cause == CAUSE_LOAD_PAGE || cause == CAUSE_STORE_PAGE;
        int want_s = deleg_phase && page_fault;
        ok = cause != NO_FAULT && t->count == 1 && t->cause == (uint32_t)cause && t->tval == tval && t->epc == epc &&
             in_s == want_s && (in_s ? mtest_m.count == 0 : mtest_s.count == 0);
    }
    mtest_result(ok);
    return v;
}

static void load_ok(const char *name, uint32_t mode, uint32_t va, uint32_t want) {
    uint32_t fn = mode == PRV_U ? ualias(probe_load) : addr(probe_load);
    probe(name, mode, fn, va, NO_FAULT, 0, 0, 1, want);
}
static void load_fault(const char *name, uint32_t mode, uint32_t va, int cause) {
    uint32_t fn = mode == PRV_U ? ualias(probe_load) : addr(probe_load);
    probe(name, mode, fn, va, cause, va, fn, 0, 0);
}
static void store_ok(const char *name, uint32_t mode, uint32_t va) {
    uint32_t fn = mode == PRV_U ? ualias(probe_store) : addr(probe_store);
    probe(name, mode, fn, va, NO_FAULT, 0, 0, 1, 0);
}
static void store_fault(const char *name, uint32_t mode, uint32_t va, int cause) {
    uint32_t fn = mode == PRV_U ? ualias(probe_store) : addr(probe_store);
    probe(name, mode, fn, va, cause, va, fn, 0, 0);
}
/* jump to va from S (probe_jump runs from the identity mapping) */
static void fetch_ok(const char *name, uint32_t va) {
    probe(name, PRV_S, addr(probe_jump), va, NO_FAULT, 0, 0, 1, 0x600dc0deu);
}
static void fetch_fault(const char *name, uint32_t va, int cause) {
    probe(name, PRV_S, addr(probe_jump), va, cause, va, va, 0, 0);
}

static void set_status(uint32_t bits) {
    CSR_CLEAR(mstatus, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_MPRV);
    CSR_SET(mstatus, bits);
}

static void run_probes(void) {
    printf("-- probes, page faults %s\n", deleg_phase ? "delegated to S (medeleg 12/13/15)" : "handled in M");
    set_status(0);
    load_ok("load RW page", PRV_S, VA(S_DATA) + 0x10, 0xaaaa0004u);
    store_ok("store RW page", PRV_S, VA(S_DATA) + 0x20);
    printf("  frame A word 8 after the store: %08x", frame_a[8]);
    mtest_result(frame_a[8] == VA(S_DATA) + 0x20);
    frame_a[8] = 0;
    load_ok("load R page", PRV_S, VA(S_RO) + 0x10, 0xbbbb0004u);
    store_fault("store R page", PRV_S, VA(S_RO) + 0x10, CAUSE_STORE_PAGE);
    load_fault("load X-only page, MXR=0", PRV_S, VA(S_XO), CAUSE_LOAD_PAGE);
    set_status(MSTATUS_MXR);
    load_ok("load X-only page, MXR=1", PRV_S, VA(S_XO), *(volatile uint32_t *)upage_start);
    set_status(0);
    fetch_ok("fetch X-only page", xalias(probe_marker));
    fetch_fault("fetch RW page without X", VA(S_NOX) + 0x10, CAUSE_FETCH_PAGE);

    load_fault("load U page, SUM=0", PRV_S, VA(S_UDATA) + 0x10, CAUSE_LOAD_PAGE);
    store_fault("store U page, SUM=0", PRV_S, VA(S_UDATA) + 0x10, CAUSE_STORE_PAGE);
    set_status(MSTATUS_SUM);
    load_ok("load U page, SUM=1", PRV_S, VA(S_UDATA) + 0x10, 0xcccc0004u);
    store_ok("store U page, SUM=1", PRV_S, VA(S_UDATA) + 0x30);
    fetch_fault("fetch U page, SUM=1", ualias(probe_marker), CAUSE_FETCH_PAGE);
    set_status(0);

    load_ok("load U page", PRV_U, VA(S_UDATA) + 0x10, 0xcccc0004u);
    store_ok("store U page", PRV_U, VA(S_UDATA) + 0x34);
    store_fault("store U read-only page", PRV_U, VA(S_URO) + 0x10, CAUSE_STORE_PAGE);
    load_fault("load S page", PRV_U, VA(S_DATA) + 0x10, CAUSE_LOAD_PAGE);
    store_fault("store S page", PRV_U, VA(S_DATA) + 0x10, CAUSE_STORE_PAGE);
    probe("fetch S page (the identity megapage)", PRV_U, addr(probe_marker), 0, CAUSE_FETCH_PAGE, addr(probe_marker),
          addr(probe_marker), 0, 0);
    probe("fetch U page", PRV_U, ualias(probe_marker), 0, NO_FAULT, 0, 0, 1, 0x600dc0deu);
    load_fault("load U X-only page, MXR=0", PRV_U, VA(S_UXO), CAUSE_LOAD_PAGE);
    set_status(MSTATUS_MXR);
    load_ok("load U X-only page, MXR=1", PRV_U, VA(S_UXO), *(volatile uint32_t *)upage_start);
    set_status(0);

    load_fault("load W-without-R page (reserved)", PRV_S, VA(S_WO) + 0x10, CAUSE_LOAD_PAGE);
    store_fault("store W-without-R page (reserved)", PRV_S, VA(S_WO) + 0x10, CAUSE_STORE_PAGE);
    load_fault("load invalid PTE", PRV_S, VA(S_INVALID) + 0x10, CAUSE_LOAD_PAGE);
    store_fault("store invalid PTE", PRV_S, VA(S_INVALID) + 0x10, CAUSE_STORE_PAGE);
    fetch_fault("fetch invalid PTE", VA(S_INVALID) + 0x10, CAUSE_FETCH_PAGE);
    load_fault("load unmapped va 0x00001000", PRV_S, 0x00001000u, CAUSE_LOAD_PAGE);
    load_fault("load via non-leaf PTE at level 0", PRV_S, VA(S_NONLEAF) + 0x10, CAUSE_LOAD_PAGE);
    load_fault("load misaligned megapage (ppn[0]!=0)", PRV_S, MEGA_MISALIGNED + 0x10, CAUSE_LOAD_PAGE);
    load_ok("load aligned megapage alias", PRV_S, MEGA_ALIAS + (addr(&mega_marker) - 0x80000000u), 0x3e6a0001u);
    store_fault("store read-only megapage alias", PRV_S, MEGA_ALIAS + (addr(&mega_marker) - 0x80000000u), CAUSE_STORE_PAGE);

    /* leaf PTE whose physical address is unmapped: an access fault after translation, tval = va */
    probe("load leaf to unmapped physical", PRV_S, addr(probe_load), VA(S_BADPA) + 0x10, CAUSE_LOAD_ACCESS,
          VA(S_BADPA) + 0x10, addr(probe_load), 0, 0);
    probe("fetch leaf to unmapped physical", PRV_S, addr(probe_jump), VA(S_BADPA) + 0x10, CAUSE_FETCH_ACCESS,
          VA(S_BADPA) + 0x10, VA(S_BADPA) + 0x10, 0, 0);
}

/* The page-table walk reading a PTE from unmapped memory: 1.12 section 4.3.2 step 2: "If accessing
   pte violates a PMA or PMP check, raise an access-fault exception corresponding to the original
   access type." QEMU 7.2 raises a page fault instead. */
static void test_walk_faults(void) {
    printf("-- page-table walk access faults\n");
    CSR_WRITE(satp, satp_value());
    sfence_all();
    mtest_clear();
    mtest_m_abort = mtest_s_abort = 1;
    uint32_t va = MEGA_BADWALK + 0x10;
    mtest_run(PRV_S, (uint32_t (*)(uint32_t))(uintptr_t)addr(probe_load), va);
    mtest_m_abort = mtest_s_abort = 0;
    volatile struct mtest_trap *t = mtest_s.count ? &mtest_s : &mtest_m;
    printf(SPEC_ONLY "S load through a PTE in unmapped memory: trap to %c cause=%08x tval=%08x", mtest_s.count ? 'S' : 'M', t->cause,
           t->tval);
    mtest_result_spec_only(mtest_m.count == 1 && mtest_s.count == 0 && t->cause == CAUSE_LOAD_ACCESS && t->tval == va,
                           "qemu-7.2 reports a page fault when the walk's PTE read fails");

    /* PMP: implicit page-table reads are checked as S-mode accesses; entry 0 denies the l0 page */
    CSR_WRITE(pmpaddr0, (addr(l0) >> 2) | 0x1ff);
    CSR_WRITE(pmpcfg0, 0x18); /* NAPOT, no permissions */
    probe("load through a PMP-protected level-0 table", PRV_S, addr(probe_load), VA(S_DATA) + 0x10, CAUSE_LOAD_ACCESS,
          VA(S_DATA) + 0x10, addr(probe_load), 0, 0);
    probe("store through a PMP-protected level-0 table", PRV_S, addr(probe_store), VA(S_DATA) + 0x10, CAUSE_STORE_ACCESS,
          VA(S_DATA) + 0x10, addr(probe_store), 0, 0);
    load_ok("load through the identity megapage (root only)", PRV_S, addr(&mega_marker), 0x3e6a0001u);
    CSR_WRITE(pmpcfg0, 0);
    CSR_WRITE(pmpaddr0, 0);
    sfence_all();
}

static void test_ad_bits(void) {
    printf("-- A and D bits (hardware update or page fault are both allowed)\n");
    l0[S_AD] = PTE(addr(frame_e), PTE_V | PTE_R | PTE_W);
    l0[S_DIRTY] = PTE(addr(frame_e), PTE_V | PTE_R | PTE_W | PTE_A);
    static const struct {
        const char *name;
        int slot, store;
    } cases[3] = {{"load with A=0", S_AD, 0}, {"store with A=1 D=0", S_DIRTY, 1}, {"store with A=0 D=0", S_AD, 1}};
    for (int k = 0; k < 3; k++) {
        if (k == 2) l0[S_AD] = PTE(addr(frame_e), PTE_V | PTE_R | PTE_W);
        uint32_t va = VA(cases[k].slot) + 0x10;
        uint32_t fn = addr(cases[k].store ? probe_store : probe_load);
        CSR_WRITE(satp, satp_value());
        sfence_all();
        mtest_clear();
        mtest_m_abort = mtest_s_abort = 1;
        uint32_t v = mtest_run(PRV_S, (uint32_t (*)(uint32_t))(uintptr_t)fn, va);
        mtest_m_abort = mtest_s_abort = 0;
        uint32_t flags = l0[cases[k].slot] & 0x3ff;
        printf("S %s: ", cases[k].name);
        int ok;
        if (v != MTEST_ABORTED) {
            uint32_t want = PTE_A | (cases[k].store ? PTE_D : 0);
            printf("A/D updated by hardware, pte flags now %03x", flags);
            ok = (flags & want) == want && (cases[k].store || !(flags & PTE_D));
        } else {
            volatile struct mtest_trap *t = mtest_s.count ? &mtest_s : &mtest_m;
            printf("page fault cause=%08x (software-managed A/D), pte flags %03x", t->cause, flags);
            ok = t->cause == (cases[k].store ? CAUSE_STORE_PAGE : CAUSE_LOAD_PAGE) && t->tval == va;
        }
        mtest_result(ok);
    }
}

/* S-mode: read through the mapping, point the PTE at another frame, sfence.vma, read again */
static volatile uint32_t remap_before, remap_global_after;

static uint32_t s_remap(uint32_t va) {
    remap_before = *(volatile uint32_t *)va;
    l0[S_REMAP] = PTE(addr(frame_f2), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    __asm__ volatile("sfence.vma %0, zero" : : "r"(va) : "memory");
    uint32_t after = *(volatile uint32_t *)va;
    l0[S_REMAP] = PTE(addr(frame_f1), PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    __asm__ volatile("sfence.vma zero, zero" : : : "memory");
    remap_global_after = *(volatile uint32_t *)va;
    return after;
}

/* S-mode turns translation on itself, reads through it, and turns it off again */
static uint32_t s_enable_paging(uint32_t satp) {
    CSR_WRITE(satp, satp);
    __asm__ volatile("sfence.vma" : : : "memory");
    uint32_t v = *(volatile uint32_t *)(VA(S_DATA) + 0x10);
    uint32_t readback = CSR_READ(satp);
    CSR_WRITE(satp, 0);
    __asm__ volatile("sfence.vma" : : : "memory");
    return v ^ readback;
}

static uint32_t s_read_phys(uint32_t pa) { return *(volatile uint32_t *)pa; }

static void test_satp_and_sfence(void) {
    printf("-- satp and sfence.vma\n");
    CSR_WRITE(satp, 0);
    uint32_t bare = CSR_READ(satp);
    printf("satp <- 0 (Bare) reads %08x", bare);
    mtest_result(bare == 0);
    CSR_WRITE(satp, satp_value() | (0x1ffu << 22));
    uint32_t s = CSR_READ(satp);
    uint32_t asid = (s >> 22) & 0x1ff, bits = 0;
    while (asid & 1) bits++, asid >>= 1;
    printf("satp <- Sv32|ASID=1ff|root reads %08x: MODE=%u ASID bits=%u PPN=root:", s, s >> 31, bits);
    mtest_result((s >> 31) == 1 && (s & 0x3fffff) == (addr(root) >> 12) && ((s >> 22) & 0x1ff) == (0x1ffu >> (9 - bits)));
    CSR_WRITE(satp, 0x803fffffu);
    printf("satp <- 803fffff reads %08x (WARL PPN)\n", CSR_READ(satp));
    CSR_WRITE(satp, 0x7fffffffu);
    printf("satp <- 7fffffff (Bare with nonzero fields: unspecified) reads %08x\n", CSR_READ(satp));
    CSR_WRITE(satp, 0);

    uint32_t r = mtest_run(PRV_S, s_enable_paging, satp_value());
    printf("S writes satp=Sv32 itself, loads through it: %08x", r ^ satp_value());
    mtest_result(r == (0xaaaa0004u ^ satp_value()) && mtest_m.count == 0);
    CSR_WRITE(satp, 0);
    r = mtest_run(PRV_S, s_read_phys, addr(&frame_b[4]));
    printf("S load with satp=Bare reads physical memory: %08x", r);
    mtest_result(r == 0xbbbb0004u);

    CSR_WRITE(satp, satp_value());
    sfence_all();
    mtest_clear();
    r = mtest_run(PRV_S, s_remap, VA(S_REMAP) + 0x10);
    printf("remap + sfence.vma va: before=%08x after=%08x, back + sfence.vma x0: %08x", remap_before, r, remap_global_after);
    mtest_result(remap_before == 0xf1f10004u && r == 0xf2f20004u && remap_global_after == 0xf1f10004u && mtest_m.count == 0);
    CSR_WRITE(satp, 0);
}

/* MPRV: M-mode loads and stores translated and checked as MPP (S or U) */
static uint32_t mprv_access(uint32_t set, uint32_t va, int store, uint32_t *pc_out) {
    uint32_t v = 0xdeadbeefu, pc;
    mtest_clear();
    if (store)
        __asm__ volatile(".option push\n.option norvc\n li t0, 0xc1800\n csrc mstatus, t0\n csrs mstatus, %2\n la %0, 1f\n"
                         "1: sw %1, 0(%3)\n li t0, 0xe1800\n csrc mstatus, t0\n.option pop"
                         : "=&r"(pc), "+r"(v) : "r"(set), "r"(va) : "t0", "memory");
    else
        __asm__ volatile(".option push\n.option norvc\n li t0, 0xc1800\n csrc mstatus, t0\n csrs mstatus, %2\n la %0, 1f\n"
                         "1: lw %1, 0(%3)\n li t0, 0xe1800\n csrc mstatus, t0\n.option pop"
                         : "=&r"(pc), "+r"(v) : "r"(set), "r"(va) : "t0", "memory");
    *pc_out = pc;
    return v;
}

static void mprv_check(const char *name, uint32_t set, uint32_t va, int store, int cause, uint32_t want) {
    uint32_t pc;
    uint32_t v = mprv_access(set, va, store, &pc);
    printf("M MPRV %s:", name);
    int ok;
    if (mtest_m.count == 0 && mtest_s.count == 0) {
        if (!store) printf(" value=%08x", v);
        printf(" no trap");
        ok = cause == NO_FAULT && (store || v == want);
    } else {
        printf(" trap to %c cause=%08x tval=%08x epc=%s", mtest_s.count ? 'S' : 'M', mtest_m.cause, mtest_m.tval,
               mtest_m.epc == pc ? "expected" : "other");
        ok = mtest_s.count == 0 && mtest_m.count == 1 && mtest_m.cause == (uint32_t)cause && mtest_m.tval == va &&
             mtest_m.epc == pc;
    }
    mtest_result(ok);
}

static void test_mprv(void) {
    printf("-- MPRV from M-mode (traps from M are never delegated)\n");
    CSR_WRITE(satp, satp_value());
    sfence_all();
    uint32_t mprv_s = MSTATUS_MPRV | (PRV_S << MSTATUS_MPP_SHIFT), mprv_u = MSTATUS_MPRV;
    mprv_check("MPP=S load RW page", mprv_s, VA(S_DATA) + 0x10, 0, NO_FAULT, 0xaaaa0004u);
    mprv_check("MPP=S store RW page", mprv_s, VA(S_DATA) + 0x24, 1, NO_FAULT, 0);
    printf("  frame A word 9 after the store: %08x", frame_a[9]);
    mtest_result(frame_a[9] == 0xdeadbeefu);
    mprv_check("MPP=S load invalid PTE", mprv_s, VA(S_INVALID) + 0x10, 0, CAUSE_LOAD_PAGE, 0);
    mprv_check("MPP=S store R page", mprv_s, VA(S_RO) + 0x10, 1, CAUSE_STORE_PAGE, 0);
    mprv_check("MPP=S load U page, SUM=0", mprv_s, VA(S_UDATA) + 0x10, 0, CAUSE_LOAD_PAGE, 0);
    mprv_check("MPP=S load U page, SUM=1", mprv_s | MSTATUS_SUM, VA(S_UDATA) + 0x10, 0, NO_FAULT, 0xcccc0004u);
    mprv_check("MPP=S load X-only page, MXR=1", mprv_s | MSTATUS_MXR, VA(S_XO), 0, NO_FAULT, *(volatile uint32_t *)upage_start);
    mprv_check("MPP=U load S page", mprv_u, VA(S_DATA) + 0x10, 0, CAUSE_LOAD_PAGE, 0);
    mprv_check("MPP=U load U page", mprv_u, VA(S_UDATA) + 0x10, 0, NO_FAULT, 0xcccc0004u);
    mprv_check("MPP=M load (no translation): physical frame A", MSTATUS_MPRV | (PRV_M << MSTATUS_MPP_SHIFT), addr(&frame_a[4]), 0,
               NO_FAULT, 0xaaaa0004u);
    CSR_WRITE(satp, 0);
    sfence_all();
}

int main(void) {
    mtest_install();
    printf("paging: Sv32 translation from S and U\n");
    /* PMP entry 15: everything RWX for S/U */
    CSR_WRITE(pmpaddr15, 0xffffffffu);
    CSR_WRITE(pmpcfg3, 0x1fu << 24);
    build_tables();
    print_tables();
    test_satp_and_sfence();
    deleg_phase = 0;
    CSR_WRITE(medeleg, 0);
    run_probes();
    build_tables();
    deleg_phase = 1;
    CSR_WRITE(medeleg, (1u << CAUSE_FETCH_PAGE) | (1u << CAUSE_LOAD_PAGE) | (1u << CAUSE_STORE_PAGE));
    run_probes();
    test_ad_bits();
    test_mprv();
    CSR_WRITE(medeleg, 0);
    deleg_phase = 0;
    test_walk_faults();
    CSR_WRITE(satp, 0);
    return mtest_finish("paging");
}
