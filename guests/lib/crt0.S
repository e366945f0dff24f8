/* Entry for every C guest: hart 0 sets up a stack, clears .bss and calls main; other harts park.
   main's return value becomes the test-device exit code (0 = pass). */
    .section .text.start, "ax"
    .globl _start
_start:
    csrr    t0, mhartid
    bnez    t0, park
    la      sp, __stack_top
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:  call    main
    call    exit
park:
    wfi
    j       park
