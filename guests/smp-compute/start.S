/* Entry for both harts: a 16 KiB stack each, then main(hartid). Hart 0 clears .bss before it
   lets hart 1 in (bss_ready lives in .data, which the loader wrote and nobody clears). */
#include "bss.h"
    .section .text.start, "ax"
    .globl _start
_start:
    csrr    a0, mhartid
    li      t0, 2
    bgeu    a0, t0, park            /* only two harts take part */
    la      sp, __stacks_top
    slli    t0, a0, 14
    sub     sp, sp, t0
    bnez    a0, wait_for_bss
    clear_bss
2:  fence   rw, rw
    la      t0, bss_ready
    li      t1, 1
    amoswap.w.rl zero, t1, (t0)
    j       enter
wait_for_bss:
    la      t0, bss_ready
3:  lw      t1, 0(t0)
    beqz    t1, 3b
    fence   rw, rw
enter:
    call    main
park:
    wfi
    j       park

    .data
    .balign 4
    .globl bss_ready
bss_ready:
    .word 0
