/* Entry for every C guest: hart 0 sets up a stack, clears .bss and calls main; other harts park.
   main's return value becomes the test-device exit code (0 = pass). */
#include "bss.h"
    .section .text.start, "ax"
    .globl _start
_start:
    csrr    t0, mhartid
    bnez    t0, park
    la      sp, __stack_top
    clear_bss
2:  call    main
    call    exit
park:
    wfi
    j       park
