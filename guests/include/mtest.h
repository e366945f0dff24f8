/* mtest: a small privileged-architecture test harness shared by the isa, traps, paging and
   interrupts guests.

   - M-mode and S-mode trap entries (direct and vectored) that save every register in a frame,
     record cause/epc/tval/status in mtest_m / mtest_s and, unless a hook or a resume address says
     otherwise, skip the trapping instruction (4 bytes for ecall, otherwise its encoded length).
   - mtest_run(mode, fn, arg): runs fn(arg) in U-mode (0) or S-mode (1) through mret and comes back
     to M when fn returns (its return address is a trampoline that executes a "magic" ecall) or
     when a payload executes MTEST_EXIT_TO_M directly, or when a trap is aborted. (If the mret
     itself traps in M, the trampoline's ecall from M also ends the run.)
   - Abort: with mtest_m_abort set, any trap taken from S/U into M that is not the magic ecall makes
     mtest_run return MTEST_ABORTED after recording the trap; mtest_s_abort does the same for traps
     taken into S (the S handler forwards to M with a magic ecall).

   Usage: one C file of a guest includes "mtest_impl.h" once, one .S file includes
   "mtest_entry.S" once; every file may include this header. */
#ifndef MTEST_H
#define MTEST_H

#include <stdint.h>
#include "rt.h"

#define CSR_READ(csr) ({ uint32_t __v; __asm__ volatile("csrr %0, " #csr : "=r"(__v) : : "memory"); __v; })
#define CSR_WRITE(csr, val) __asm__ volatile("csrw " #csr ", %0" : : "r"((uint32_t)(val)) : "memory")
#define CSR_SET(csr, val) __asm__ volatile("csrs " #csr ", %0" : : "r"((uint32_t)(val)) : "memory")
#define CSR_CLEAR(csr, val) __asm__ volatile("csrc " #csr ", %0" : : "r"((uint32_t)(val)) : "memory")
#define CSR_SWAP(csr, val) ({ uint32_t __v; __asm__ volatile("csrrw %0, " #csr ", %1" : "=r"(__v) : "r"((uint32_t)(val)) : "memory"); __v; })

/* mstatus fields (RV32, privileged 1.12 section 3.1.6) */
#define MSTATUS_SIE   (1u << 1)
#define MSTATUS_MIE   (1u << 3)
#define MSTATUS_SPIE  (1u << 5)
#define MSTATUS_UBE   (1u << 6)
#define MSTATUS_MPIE  (1u << 7)
#define MSTATUS_SPP   (1u << 8)
#define MSTATUS_VS    (3u << 9)
#define MSTATUS_MPP   (3u << 11)
#define MSTATUS_FS    (3u << 13)
#define MSTATUS_XS    (3u << 15)
#define MSTATUS_MPRV  (1u << 17)
#define MSTATUS_SUM   (1u << 18)
#define MSTATUS_MXR   (1u << 19)
#define MSTATUS_TVM   (1u << 20)
#define MSTATUS_TW    (1u << 21)
#define MSTATUS_TSR   (1u << 22)
#define MSTATUS_SD    (1u << 31)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_WPRI  ((1u << 0) | (1u << 2) | (1u << 4) | (0xffu << 23))
/* the bits sstatus shows of mstatus (privileged 1.12 section 4.1.1) */
#define SSTATUS_MASK  (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | MSTATUS_VS | MSTATUS_FS | \
                       MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SD)

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* exception causes */
#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL          2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U          8
#define CAUSE_ECALL_S          9
#define CAUSE_ECALL_M          11
#define CAUSE_FETCH_PAGE       12
#define CAUSE_LOAD_PAGE        13
#define CAUSE_STORE_PAGE       15
#define CAUSE_INTERRUPT        0x80000000u

/* interrupt numbers / mip and mie bits */
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1u << IRQ_SSI)
#define MIP_MSIP (1u << IRQ_MSI)
#define MIP_STIP (1u << IRQ_STI)
#define MIP_MTIP (1u << IRQ_MTI)
#define MIP_SEIP (1u << IRQ_SEI)
#define MIP_MEIP (1u << IRQ_MEI)

#define MTEST_MAGIC   0x4d544553u  /* "MTES" in a7: return to M */
#define MTEST_ABORTED 0xab0127edu  /* what mtest_run returns when a trap was aborted */

/* The frame the trap entries build on the trap stack. x[2] is the interrupted sp, x[0] unused. */
struct mtest_frame {
    uint32_t x[32];
    uint32_t cause, epc, tval, status;
    int32_t vec;  /* -1 direct entry, n when entered through vector table slot n */
    uint32_t pad[3];
};

/* The last trap taken into a mode, and how many since the count was last cleared. */
struct mtest_trap {
    uint32_t count, cause, epc, tval, status, a7;
    int32_t vec;
};

typedef int (*mtest_hook_t)(struct mtest_frame *f);

extern volatile struct mtest_trap mtest_m, mtest_s;
extern volatile uint32_t mtest_m_resume, mtest_s_resume; /* one-shot: continue here instead of skipping */
extern volatile int mtest_m_abort, mtest_s_abort;
extern volatile mtest_hook_t mtest_m_hook, mtest_s_hook;
extern int mtest_failures, mtest_spec_only;

/* from mtest_entry.S */
extern char mtest_mtrap_direct[], mtest_mvec_table[], mtest_strap_direct[], mtest_svec_table[];
extern char mtest_m_stack_top[], mtest_s_stack_top[];
extern char mtest_return_trampoline[];
uint32_t mtest_run_sp(uint32_t mode, uint32_t (*fn)(uint32_t), uint32_t arg, uint32_t sp);
__attribute__((noreturn)) void mtest_resume_m(uint32_t result);

static inline uint32_t mtest_run(uint32_t mode, uint32_t (*fn)(uint32_t), uint32_t arg) {
    return mtest_run_sp(mode, fn, arg, 0);
}

void mtest_install(void);               /* direct-mode mtvec and stvec, scratch registers */
void mtest_clear(void);                 /* zero both trap records */
/* Print " ok" or " FAIL" and a newline, counting failures. */
void mtest_result(int ok);
/* For checks QEMU 7.2 is known to fail: prints " ok" or " spec-only-mismatch (note)" and counts the
   mismatch separately without failing the guest. Such lines, and every line whose printed values
   depend on a known QEMU deviation, start with SPEC_ONLY so that a transcript comparison between
   QEMU and a machine that follows the specification can leave them out. */
#define SPEC_ONLY "[spec-only] "
void mtest_result_spec_only(int ok, const char *note);
int mtest_finish(const char *guest);    /* prints the summary, returns the failure count */

#define MTEST_EXIT_TO_M_ASM "mv a1, a0\n li a7, 0x4d544553\n ecall\n"

#endif
