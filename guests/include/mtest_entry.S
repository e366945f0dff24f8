/* mtest trap entries, vector tables, stacks and the M <-> S/U switch (see mtest.h).
   Include exactly once from one .S file of a guest. */

#define MTEST_FRAME 160
#define MTEST_F_CAUSE 128
#define MTEST_F_EPC 132
#define MTEST_F_TVAL 136
#define MTEST_F_STATUS 140
#define MTEST_F_VEC 144

/* A trap entry for privilege p (m or s): swaps sp with pscratch (which holds the trap stack top),
   saves all registers and the trap CSRs, calls cfunc(frame), writes frame.epc back to pepc,
   restores the registers and returns with pret. */
.macro MTEST_VEC_STUB p, n
    csrrw   sp, \p\()scratch, sp
    addi    sp, sp, -MTEST_FRAME
    sw      t0, 5*4(sp)
    li      t0, \n
    j       mtest_\p\()trap_common
.endm

.macro MTEST_TRAP p, cfunc
    .section .text.mtest_\p, "ax"
    .option push
    .option norvc
    .balign 256
    .globl mtest_\p\()vec_table
mtest_\p\()vec_table:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    j       mtest_\p\()vec_\n
    .endr
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
mtest_\p\()vec_\n:
    MTEST_VEC_STUB \p, \n
    .endr
    .balign 4
    .globl mtest_\p\()trap_direct
mtest_\p\()trap_direct:
    MTEST_VEC_STUB \p, -1
mtest_\p\()trap_common:
    sw      t0, MTEST_F_VEC(sp)
    sw      x1, 1*4(sp)
    sw      x3, 3*4(sp)
    sw      x4, 4*4(sp)
    sw      x6, 6*4(sp)
    sw      x7, 7*4(sp)
    sw      x8, 8*4(sp)
    sw      x9, 9*4(sp)
    sw      x10, 10*4(sp)
    sw      x11, 11*4(sp)
    sw      x12, 12*4(sp)
    sw      x13, 13*4(sp)
    sw      x14, 14*4(sp)
    sw      x15, 15*4(sp)
    sw      x16, 16*4(sp)
    sw      x17, 17*4(sp)
    sw      x18, 18*4(sp)
    sw      x19, 19*4(sp)
    sw      x20, 20*4(sp)
    sw      x21, 21*4(sp)
    sw      x22, 22*4(sp)
    sw      x23, 23*4(sp)
    sw      x24, 24*4(sp)
    sw      x25, 25*4(sp)
    sw      x26, 26*4(sp)
    sw      x27, 27*4(sp)
    sw      x28, 28*4(sp)
    sw      x29, 29*4(sp)
    sw      x30, 30*4(sp)
    sw      x31, 31*4(sp)
    csrr    t0, \p\()scratch
    sw      t0, 2*4(sp)
    csrr    t0, \p\()cause
    sw      t0, MTEST_F_CAUSE(sp)
    csrr    t0, \p\()epc
    sw      t0, MTEST_F_EPC(sp)
    csrr    t0, \p\()tval
    sw      t0, MTEST_F_TVAL(sp)
    csrr    t0, \p\()status
    sw      t0, MTEST_F_STATUS(sp)
    mv      a0, sp
    call    \cfunc
    lw      t0, MTEST_F_EPC(sp)
    csrw    \p\()epc, t0
    lw      x1, 1*4(sp)
    lw      x3, 3*4(sp)
    lw      x4, 4*4(sp)
    lw      x6, 6*4(sp)
    lw      x7, 7*4(sp)
    lw      x8, 8*4(sp)
    lw      x9, 9*4(sp)
    lw      x10, 10*4(sp)
    lw      x11, 11*4(sp)
    lw      x12, 12*4(sp)
    lw      x13, 13*4(sp)
    lw      x14, 14*4(sp)
    lw      x15, 15*4(sp)
    lw      x16, 16*4(sp)
    lw      x17, 17*4(sp)
    lw      x18, 18*4(sp)
    lw      x19, 19*4(sp)
    lw      x20, 20*4(sp)
    lw      x21, 21*4(sp)
    lw      x22, 22*4(sp)
    lw      x23, 23*4(sp)
    lw      x24, 24*4(sp)
    lw      x25, 25*4(sp)
    lw      x26, 26*4(sp)
    lw      x27, 27*4(sp)
    lw      x28, 28*4(sp)
    lw      x29, 29*4(sp)
    lw      x30, 30*4(sp)
    lw      x31, 31*4(sp)
    lw      x5, 5*4(sp)
    addi    sp, sp, MTEST_FRAME
    csrrw   sp, \p\()scratch, sp
    \p\()ret
    .option pop
.endm

    MTEST_TRAP m, mtest_m_trap
    MTEST_TRAP s, mtest_s_trap

    .section .text.mtest_run, "ax"
/* uint32_t mtest_run_sp(uint32_t mode, uint32_t (*fn)(uint32_t), uint32_t arg, uint32_t sp)
   Saves the callee-saved state, sets mstatus.MPP = mode, mepc = fn and mrets; fn runs with
   a0 = arg, ra = mtest_return_trampoline, and sp = the given sp (or the caller's when 0). */
    .globl mtest_run_sp
mtest_run_sp:
    la      t0, mtest_saved
    sw      ra, 0(t0)
    sw      sp, 4(t0)
    sw      s0, 8(t0)
    sw      s1, 12(t0)
    sw      s2, 16(t0)
    sw      s3, 20(t0)
    sw      s4, 24(t0)
    sw      s5, 28(t0)
    sw      s6, 32(t0)
    sw      s7, 36(t0)
    sw      s8, 40(t0)
    sw      s9, 44(t0)
    sw      s10, 48(t0)
    sw      s11, 52(t0)
    li      t1, 0x1800
    csrc    mstatus, t1
    andi    t1, a0, 3
    slli    t1, t1, 11
    csrs    mstatus, t1
    csrw    mepc, a1
    mv      a0, a2
    la      ra, mtest_return_trampoline
    beqz    a3, 1f
    mv      sp, a3
1:  mret

/* Where payloads return to: the magic ecall takes them back to M (mtest_m_trap calls
   mtest_resume_m with a1). */
    .balign 4
    .globl mtest_return_trampoline
mtest_return_trampoline:
    mv      a1, a0
    li      a7, 0x4d544553
    ecall
2:  j       2b

/* Called by the M trap handler in M-mode: resets mscratch and sscratch (an S handler that forwarded
   to M is abandoned, and its entry left sscratch holding the interrupted sp), restores the state
   mtest_run_sp saved and returns result from mtest_run_sp. */
    .globl mtest_resume_m
mtest_resume_m:
    la      t0, mtest_m_stack_top
    csrw    mscratch, t0
    la      t0, mtest_s_stack_top
    csrw    sscratch, t0
    la      t0, mtest_saved
    lw      ra, 0(t0)
    lw      sp, 4(t0)
    lw      s0, 8(t0)
    lw      s1, 12(t0)
    lw      s2, 16(t0)
    lw      s3, 20(t0)
    lw      s4, 24(t0)
    lw      s5, 28(t0)
    lw      s6, 32(t0)
    lw      s7, 36(t0)
    lw      s8, 40(t0)
    lw      s9, 44(t0)
    lw      s10, 48(t0)
    lw      s11, 52(t0)
    ret

    .section .bss.mtest, "aw", @nobits
    .balign 16
mtest_saved:
    .space 64
    .balign 16
    .space 4096
    .globl mtest_m_stack_top
mtest_m_stack_top:
    .space 4096
    .globl mtest_s_stack_top
mtest_s_stack_top:
    .text
