/* A minimal M-mode firmware in the style of OpenSBI's fw_dynamic: QEMU's reset vector (and
   matryoshka's) enters with a0 = hart id, a1 = device tree, a2 = fw_dynamic_info
   { magic, version, next_addr, next_mode, options, boot_hart }. Open PMP to S-mode, check the
   magic, and mret to next_addr in the mode asked for, with a0/a1 passed on. */
    .section .text.start, "ax"
    .globl _start
_start:
    bnez    a0, park                 /* only the boot hart goes on */
    li      t0, -1
    csrw    pmpaddr0, t0
    li      t0, 0x1f                 /* NAPOT, R W X: all of memory */
    csrw    pmpcfg0, t0
    lw      t1, 0(a2)                /* magic "OSBI" */
    li      t2, 0x4942534f
    bne     t1, t2, bad
    lw      t1, 8(a2)                /* next_addr */
    lw      t2, 12(a2)               /* next_mode: 1 = S */
    csrw    mepc, t1
    li      t3, 1
    bne     t2, t3, bad
    li      t0, 0x1800
    csrc    mstatus, t0
    li      t0, 0x0800               /* MPP = S */
    csrs    mstatus, t0
    mret
bad:
    li      t0, 0x100000
    li      t1, (1 << 16) | 0x3333
    sw      t1, 0(t0)
park:
    wfi
    j       park
