/* Entry points of the test kernel: reset (every hart), the M-mode trap entry, the S-mode entry,
   the S-mode trap entry (from U and from S) and the switches between the kernel and U-mode tasks. */
#include "kernel.h"
#include "bss.h" /* clear_bss: both entries below use it */

#ifdef PV
/* ---------------------------------------------------------------- paravirtual entry
   The kernel-pv build has no M-mode part: the hypervisor (the SBI implementation) starts the boot
   hart in S-mode at the ELF entry with a0 = hart id and a1 = the device tree, as KVM-based VMMs
   and SBI firmware do. Other harts would come through sbi_hart_start; this build uses one. */
    .section .text.start, "ax"
    .globl _start
_start:
    li      t0, SMP
    bgeu    a0, t0, pv_stop
    bnez    a0, 2f
    clear_bss
2:  j       s_entry
pv_stop:
    li      a7, 0x48534D            /* SBI HSM hart_stop: does not return */
    li      a6, 1
    ecall
    j       pv_stop
#else
/* ---------------------------------------------------------------- reset, M-mode, every hart */
    .section .text.start, "ax"
    .globl _start
_start:
    csrw    mie, zero
    csrr    a0, mhartid
    li      t0, SMP
    bgeu    a0, t0, park            /* harts this build does not use */
    /* sp = top of this hart's stack area; m_main runs on the S-mode part of it */
    la      sp, __stacks_bottom
    li      t0, HART_STACK
    addi    t1, a0, 1
    mul     t1, t1, t0
    add     sp, sp, t1
    bnez    a0, 3f
    /* hart 0 clears .bss, then lets the other harts go on */
    clear_bss
2:  fence   rw, rw
    la      t0, boot_flag
    li      t1, 1
    sw      t1, 0(t0)
    j       4f
3:  la      t0, boot_flag           /* in .data, so hart 0's clearing cannot race with this */
    lw      t1, 0(t0)
    beqz    t1, 3b
    fence   rw, rw
4:  call    m_main                  /* never returns: mret into s_entry */
park:
    csrw    mie, zero
1:  wfi
    j       1b

    .data
    .globl boot_flag
    .p2align 2
boot_flag:
    .word 0

/* ---------------------------------------------------------------- M-mode trap entry
   mscratch holds the top of this hart's M stack while the hart is outside M-mode. */
    .text
    .globl m_trap_entry
    .p2align 2
m_trap_entry:
    csrrw   sp, mscratch, sp
    addi    sp, sp, -128
    sw      x1, 4(sp)
    sw      x3, 12(sp)
    sw      x4, 16(sp)
    sw      x5, 20(sp)
    sw      x6, 24(sp)
    sw      x7, 28(sp)
    sw      x8, 32(sp)
    sw      x9, 36(sp)
    sw      x10, 40(sp)
    sw      x11, 44(sp)
    sw      x12, 48(sp)
    sw      x13, 52(sp)
    sw      x14, 56(sp)
    sw      x15, 60(sp)
    sw      x16, 64(sp)
    sw      x17, 68(sp)
    sw      x18, 72(sp)
    sw      x19, 76(sp)
    sw      x20, 80(sp)
    sw      x21, 84(sp)
    sw      x22, 88(sp)
    sw      x23, 92(sp)
    sw      x24, 96(sp)
    sw      x25, 100(sp)
    sw      x26, 104(sp)
    sw      x27, 108(sp)
    sw      x28, 112(sp)
    sw      x29, 116(sp)
    sw      x30, 120(sp)
    sw      x31, 124(sp)
    csrr    t0, mscratch
    sw      t0, 8(sp)
    mv      a0, sp
    call    m_trap
    lw      x1, 4(sp)
    lw      x3, 12(sp)
    lw      x4, 16(sp)
    lw      x5, 20(sp)
    lw      x6, 24(sp)
    lw      x7, 28(sp)
    lw      x8, 32(sp)
    lw      x9, 36(sp)
    lw      x10, 40(sp)
    lw      x11, 44(sp)
    lw      x12, 48(sp)
    lw      x13, 52(sp)
    lw      x14, 56(sp)
    lw      x15, 60(sp)
    lw      x16, 64(sp)
    lw      x17, 68(sp)
    lw      x18, 72(sp)
    lw      x19, 76(sp)
    lw      x20, 80(sp)
    lw      x21, 84(sp)
    lw      x22, 88(sp)
    lw      x23, 92(sp)
    lw      x24, 96(sp)
    lw      x25, 100(sp)
    lw      x26, 104(sp)
    lw      x27, 108(sp)
    lw      x28, 112(sp)
    lw      x29, 116(sp)
    lw      x30, 120(sp)
    lw      x31, 124(sp)
    addi    sp, sp, 128
    csrrw   sp, mscratch, sp
    mret

#endif /* PV */

/* ---------------------------------------------------------------- S-mode entry (a0 = hart id) */
    .globl s_entry
    .p2align 2
s_entry:
    la      sp, __stacks_bottom
    li      t0, HART_STACK
    addi    t1, a0, 1
    mul     t1, t1, t0
    add     sp, sp, t1
    mv      tp, a0                  /* tp = hart id while in the kernel */
    csrw    sscratch, zero          /* 0 = "trap came from the kernel" */
    call    s_main
1:  j       1b

/* ---------------------------------------------------------------- S-mode trap entry
   sscratch is 0 while the hart runs kernel code and points at the current task's trap frame while
   it runs U-mode code (the Linux convention). */
    .globl s_trap_entry
    .p2align 2
s_trap_entry:
    csrrw   tp, sscratch, tp
    bnez    tp, from_user
    /* from S-mode: tp was 0; swap back so tp = kernel tp and sscratch = 0 again */
    csrrw   tp, sscratch, tp
    addi    sp, sp, -144
    sw      x1, 4(sp)
    sw      x3, 12(sp)
    sw      x4, 16(sp)
    sw      x5, 20(sp)
    sw      x6, 24(sp)
    sw      x7, 28(sp)
    sw      x8, 32(sp)
    sw      x9, 36(sp)
    sw      x10, 40(sp)
    sw      x11, 44(sp)
    sw      x12, 48(sp)
    sw      x13, 52(sp)
    sw      x14, 56(sp)
    sw      x15, 60(sp)
    sw      x16, 64(sp)
    sw      x17, 68(sp)
    sw      x18, 72(sp)
    sw      x19, 76(sp)
    sw      x20, 80(sp)
    sw      x21, 84(sp)
    sw      x22, 88(sp)
    sw      x23, 92(sp)
    sw      x24, 96(sp)
    sw      x25, 100(sp)
    sw      x26, 104(sp)
    sw      x27, 108(sp)
    sw      x28, 112(sp)
    sw      x29, 116(sp)
    sw      x30, 120(sp)
    sw      x31, 124(sp)
    addi    t0, sp, 144
    sw      t0, 8(sp)
    csrr    t0, sepc
    sw      t0, 128(sp)
    csrr    t0, sstatus
    sw      t0, 132(sp)
    mv      a0, sp
    call    s_trap_kernel
    lw      t0, 128(sp)
    csrw    sepc, t0
    lw      t0, 132(sp)
    csrw    sstatus, t0
    lw      x1, 4(sp)
    lw      x3, 12(sp)
    lw      x4, 16(sp)
    lw      x5, 20(sp)
    lw      x6, 24(sp)
    lw      x7, 28(sp)
    lw      x8, 32(sp)
    lw      x9, 36(sp)
    lw      x10, 40(sp)
    lw      x11, 44(sp)
    lw      x12, 48(sp)
    lw      x13, 52(sp)
    lw      x14, 56(sp)
    lw      x15, 60(sp)
    lw      x16, 64(sp)
    lw      x17, 68(sp)
    lw      x18, 72(sp)
    lw      x19, 76(sp)
    lw      x20, 80(sp)
    lw      x21, 84(sp)
    lw      x22, 88(sp)
    lw      x23, 92(sp)
    lw      x24, 96(sp)
    lw      x25, 100(sp)
    lw      x26, 104(sp)
    lw      x27, 108(sp)
    lw      x28, 112(sp)
    lw      x29, 116(sp)
    lw      x30, 120(sp)
    lw      x31, 124(sp)
    addi    sp, sp, 144
    sret

from_user:
    /* tp = the task's trap frame, sscratch = the user's tp */
    sw      x1, 4(tp)
    sw      x2, 8(tp)
    sw      x3, 12(tp)
    sw      x5, 20(tp)
    sw      x6, 24(tp)
    sw      x7, 28(tp)
    sw      x8, 32(tp)
    sw      x9, 36(tp)
    sw      x10, 40(tp)
    sw      x11, 44(tp)
    sw      x12, 48(tp)
    sw      x13, 52(tp)
    sw      x14, 56(tp)
    sw      x15, 60(tp)
    sw      x16, 64(tp)
    sw      x17, 68(tp)
    sw      x18, 72(tp)
    sw      x19, 76(tp)
    sw      x20, 80(tp)
    sw      x21, 84(tp)
    sw      x22, 88(tp)
    sw      x23, 92(tp)
    sw      x24, 96(tp)
    sw      x25, 100(tp)
    sw      x26, 104(tp)
    sw      x27, 108(tp)
    sw      x28, 112(tp)
    sw      x29, 116(tp)
    sw      x30, 120(tp)
    sw      x31, 124(tp)
    csrr    t0, sscratch
    sw      t0, 16(tp)
    csrw    sscratch, zero
    csrr    t0, sepc
    sw      t0, TF_EPC(tp)
    mv      a0, tp
    lw      sp, TF_KSP(a0)
    lw      tp, TF_KTP(a0)
    call    s_trap_user             /* returns the trap frame of the task to run next */
    /* fall through */

/* s_return_user(frame): resume the task whose trap frame is a0 in U-mode. */
    .globl s_return_user
s_return_user:
    li      t0, (1 << 8)            /* sstatus.SPP = U */
    csrc    sstatus, t0
    li      t0, (1 << 5)            /* sstatus.SPIE = 1 */
    csrs    sstatus, t0
    sw      tp, TF_KTP(a0)
    lw      t0, TF_EPC(a0)
    csrw    sepc, t0
    csrw    sscratch, a0
    lw      x1, 4(a0)
    lw      x2, 8(a0)
    lw      x3, 12(a0)
    lw      x4, 16(a0)
    lw      x5, 20(a0)
    lw      x6, 24(a0)
    lw      x7, 28(a0)
    lw      x8, 32(a0)
    lw      x9, 36(a0)
    lw      x11, 44(a0)
    lw      x12, 48(a0)
    lw      x13, 52(a0)
    lw      x14, 56(a0)
    lw      x15, 60(a0)
    lw      x16, 64(a0)
    lw      x17, 68(a0)
    lw      x18, 72(a0)
    lw      x19, 76(a0)
    lw      x20, 80(a0)
    lw      x21, 84(a0)
    lw      x22, 88(a0)
    lw      x23, 92(a0)
    lw      x24, 96(a0)
    lw      x25, 100(a0)
    lw      x26, 104(a0)
    lw      x27, 108(a0)
    lw      x28, 112(a0)
    lw      x29, 116(a0)
    lw      x30, 120(a0)
    lw      x31, 124(a0)
    lw      x10, 40(a0)
    sret

/* kctx_enter_user(ctx, frame): save the kernel's callee-saved context in ctx and start running
   tasks at frame. Returns when the scheduler calls kctx_resume(ctx) (all tasks finished). */
    .globl kctx_enter_user
kctx_enter_user:
    sw      ra, 0(a0)
    sw      sp, 4(a0)
    sw      s0, 8(a0)
    sw      s1, 12(a0)
    sw      s2, 16(a0)
    sw      s3, 20(a0)
    sw      s4, 24(a0)
    sw      s5, 28(a0)
    sw      s6, 32(a0)
    sw      s7, 36(a0)
    sw      s8, 40(a0)
    sw      s9, 44(a0)
    sw      s10, 48(a0)
    sw      s11, 52(a0)
    mv      a0, a1
    j       s_return_user

    .globl kctx_resume
kctx_resume:
    lw      ra, 0(a0)
    lw      sp, 4(a0)
    lw      s0, 8(a0)
    lw      s1, 12(a0)
    lw      s2, 16(a0)
    lw      s3, 20(a0)
    lw      s4, 24(a0)
    lw      s5, 28(a0)
    lw      s6, 32(a0)
    lw      s7, 36(a0)
    lw      s8, 40(a0)
    lw      s9, 44(a0)
    lw      s10, 48(a0)
    lw      s11, 52(a0)
    li      a0, 0
    ret
