/* sbi.h: calling the SBI (RISC-V Supervisor Binary Interface, v2.0) from an S-mode guest kernel.

   A header-only library: every function is a static inline wrapper around one ECALL, so a kernel
   includes this file and links nothing. On matryoshka's paravirtual backend (`--backend pv`) the
   hypervisor answers these calls itself, with no firmware in the VM; on any other SBI
   implementation (OpenSBI, KVM) the same calls work unchanged.

   Calling convention (SBI spec, "Binary Encoding"): a7 = extension ID, a6 = function ID,
   arguments in a0..a5; the result is a pair, error in a0 (0 or a negative SBI_ERR_* code) and
   value in a1. Every other register is preserved.

   Extensions the pv backend implements: BASE, TIME, IPI, RFENCE, HSM, SRST, DBCN. Anything else
   returns SBI_ERR_NOT_SUPPORTED. Addresses given to the firmware (console buffers, hart start
   addresses) are physical; ones outside the VM's RAM return SBI_ERR_INVALID_PARAM or
   SBI_ERR_INVALID_ADDRESS, never a crash. */
#ifndef MATRYOSHKA_SBI_H
#define MATRYOSHKA_SBI_H

#include <stdint.h>

/* ---- errors */
#define SBI_SUCCESS                0
#define SBI_ERR_FAILED            -1
#define SBI_ERR_NOT_SUPPORTED     -2
#define SBI_ERR_INVALID_PARAM     -3
#define SBI_ERR_DENIED            -4
#define SBI_ERR_INVALID_ADDRESS   -5
#define SBI_ERR_ALREADY_AVAILABLE -6
#define SBI_ERR_ALREADY_STARTED   -7
#define SBI_ERR_ALREADY_STOPPED   -8

/* ---- extension IDs */
#define SBI_EXT_BASE   0x10u
#define SBI_EXT_TIME   0x54494D45u /* "TIME" */
#define SBI_EXT_IPI    0x00735049u /* "sPI" */
#define SBI_EXT_RFENCE 0x52464E43u /* "RFNC" */
#define SBI_EXT_HSM    0x0048534Du /* "HSM" */
#define SBI_EXT_SRST   0x53525354u /* "SRST" */
#define SBI_EXT_DBCN   0x4442434Eu /* "DBCN" */

/* ---- HSM hart states, SRST types and reasons */
#define SBI_HSM_STARTED        0
#define SBI_HSM_STOPPED        1
#define SBI_HSM_SUSPENDED      4
#define SBI_HSM_SUSPEND_RETENTIVE     0x00000000u
#define SBI_HSM_SUSPEND_NON_RETENTIVE 0x80000000u
#define SBI_SRST_SHUTDOWN      0u
#define SBI_SRST_COLD_REBOOT   1u
#define SBI_SRST_WARM_REBOOT   2u
#define SBI_SRST_REASON_NONE   0u
#define SBI_SRST_REASON_SYSTEM_FAILURE 1u
/* Implementation-specific reason on matryoshka: shut down reporting failure `code` (1..65535)
   through the board's test device, as `(code << 16) | 0x3333` does natively. */
#define SBI_SRST_REASON_FAILURE_CODE(code) (0xF0000000u | ((uint32_t)(code) & 0xffffu))

struct sbiret {
    long error;
    unsigned long value;
};

/* One SBI call with up to six arguments. */
static inline struct sbiret sbi_ecall(uint32_t ext, uint32_t fid, uint32_t arg0, uint32_t arg1,
                                      uint32_t arg2, uint32_t arg3, uint32_t arg4, uint32_t arg5) {
    register uint32_t a0 __asm__("a0") = arg0;
    register uint32_t a1 __asm__("a1") = arg1;
    register uint32_t a2 __asm__("a2") = arg2;
    register uint32_t a3 __asm__("a3") = arg3;
    register uint32_t a4 __asm__("a4") = arg4;
    register uint32_t a5 __asm__("a5") = arg5;
    register uint32_t a6 __asm__("a6") = fid;
    register uint32_t a7 __asm__("a7") = ext;
    __asm__ volatile("ecall"
                     : "+r"(a0), "+r"(a1)
                     : "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a6), "r"(a7)
                     : "memory");
    struct sbiret ret = {(long)(int32_t)a0, a1};
    return ret;
}

/* ---- BASE: version, implementation, extension probing */
static inline struct sbiret sbi_get_spec_version(void) { return sbi_ecall(SBI_EXT_BASE, 0, 0, 0, 0, 0, 0, 0); }
static inline struct sbiret sbi_get_impl_id(void) { return sbi_ecall(SBI_EXT_BASE, 1, 0, 0, 0, 0, 0, 0); }
/* value 1 if the extension is available, 0 if not */
static inline struct sbiret sbi_probe_extension(uint32_t ext) { return sbi_ecall(SBI_EXT_BASE, 3, ext, 0, 0, 0, 0, 0); }

/* ---- TIME: one timer per hart; the S timer interrupt (STIP) is pending from `when` (mtime
   ticks) until the next sbi_set_timer, which also clears it. */
static inline struct sbiret sbi_set_timer(uint64_t when) {
    return sbi_ecall(SBI_EXT_TIME, 0, (uint32_t)when, (uint32_t)(when >> 32), 0, 0, 0, 0);
}

/* ---- IPI: an S software interrupt (SSIP) on every hart of the mask; bit i is hart base + i,
   and base = -1 means all harts. */
static inline struct sbiret sbi_send_ipi(uint32_t hart_mask, uint32_t hart_mask_base) {
    return sbi_ecall(SBI_EXT_IPI, 0, hart_mask, hart_mask_base, 0, 0, 0, 0);
}

/* ---- RFENCE: fences on other harts */
static inline struct sbiret sbi_remote_fence_i(uint32_t hart_mask, uint32_t hart_mask_base) {
    return sbi_ecall(SBI_EXT_RFENCE, 0, hart_mask, hart_mask_base, 0, 0, 0, 0);
}
/* sfence.vma over [start, start + size) on the harts of the mask; size = -1 means everything */
static inline struct sbiret sbi_remote_sfence_vma(uint32_t hart_mask, uint32_t hart_mask_base, uint32_t start,
                                                  uint32_t size) {
    return sbi_ecall(SBI_EXT_RFENCE, 1, hart_mask, hart_mask_base, start, size, 0, 0);
}

/* ---- HSM: starting, stopping and suspending harts */
/* The hart enters S-mode at the physical `start_addr` with a0 = its id, a1 = opaque, paging off. */
static inline struct sbiret sbi_hart_start(uint32_t hartid, uint32_t start_addr, uint32_t opaque) {
    return sbi_ecall(SBI_EXT_HSM, 0, hartid, start_addr, opaque, 0, 0, 0);
}
/* Does not return on success. */
static inline struct sbiret sbi_hart_stop(void) { return sbi_ecall(SBI_EXT_HSM, 1, 0, 0, 0, 0, 0, 0); }
/* value: SBI_HSM_STARTED, SBI_HSM_STOPPED, ... */
static inline struct sbiret sbi_hart_get_status(uint32_t hartid) { return sbi_ecall(SBI_EXT_HSM, 2, hartid, 0, 0, 0, 0, 0); }

/* ---- SRST: shut down or reboot the whole machine */
static inline struct sbiret sbi_system_reset(uint32_t type, uint32_t reason) {
    return sbi_ecall(SBI_EXT_SRST, 0, type, reason, 0, 0, 0, 0);
}

/* ---- DBCN: the debug console. Buffers are physical addresses; value = bytes written or read. */
static inline struct sbiret sbi_debug_console_write(uint32_t num_bytes, uint32_t base_addr) {
    return sbi_ecall(SBI_EXT_DBCN, 0, num_bytes, base_addr, 0, 0, 0, 0);
}
static inline struct sbiret sbi_debug_console_read(uint32_t num_bytes, uint32_t base_addr) {
    return sbi_ecall(SBI_EXT_DBCN, 1, num_bytes, base_addr, 0, 0, 0, 0);
}
static inline struct sbiret sbi_debug_console_write_byte(uint8_t byte) {
    return sbi_ecall(SBI_EXT_DBCN, 2, byte, 0, 0, 0, 0, 0);
}

#endif /* MATRYOSHKA_SBI_H */
