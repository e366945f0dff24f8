/* exits: the M-mode trap handler (a tiny "hypercall" service) and the S-mode entry (see exits.c). */

#define CAUSE_ECALL_S 9

    .section .text, "ax"
    .option push
    .option norvc

/* M-mode trap vector (mtvec direct mode). Every ecall from S is a "hypercall" selected by a7:
     a7 = 0: mix a0 with a1 and the M-mode call counter, return the result in a0;
     a7 = 1: the S-mode loop is done: switch to the M stack and call m_finish(a0, a1) (no return).
   Anything else goes to m_unexpected(mcause, mepc, mtval). Only t0/t1 are clobbered; every CSR
   access below is a separate exit when the guest runs in a VM. */
    .balign 4
    .globl m_trap
m_trap:
    csrrw   sp, mscratch, sp        /* sp = M trap stack, mscratch = S sp */
    sw      t0, 0(sp)
    sw      t1, 4(sp)
    csrr    t0, mcause
    li      t1, CAUSE_ECALL_S
    bne     t0, t1, 9f
    csrr    t0, mepc
    addi    t0, t0, 4
    csrw    mepc, t0
    bnez    a7, 8f
    /* a0 = rotl(a0 ^ a1, 5) * 0x01000193 + ++m_calls */
    xor     a0, a0, a1
    slli    t0, a0, 5
    srli    t1, a0, 27
    or      a0, t0, t1
    li      t0, 0x01000193
    mul     a0, a0, t0
    lw      t1, 8(sp)               /* the call counter lives in the trap frame */
    addi    t1, t1, 1
    sw      t1, 8(sp)
    add     a0, a0, t1
    lw      t1, 4(sp)
    lw      t0, 0(sp)
    csrrw   sp, mscratch, sp
    mret
8:  lw      a2, 8(sp)               /* a7 != 0: finished; a2 = calls counted in M */
    la      sp, m_stack_top
    tail    m_finish
9:  csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    la      sp, m_stack_top
    tail    m_unexpected

/* S-mode entry (mret lands here): its own stack, then s_main(), which never returns. */
    .balign 4
    .globl s_entry
s_entry:
    la      sp, s_stack_top
    call    s_main
1:  j       1b

    .option pop

    .section .bss
    .balign 16
    .globl m_frame
m_frame:                            /* mscratch while S runs: t0, t1, M's call counter */
    .space  16
    .balign 16
    .space  8192
m_stack_top:                        /* M-mode C code after the loop */
    .space  8192
s_stack_top:                        /* the S-mode loop */
