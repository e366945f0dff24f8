/* bss.h: for guests' assembly entry code (#include it in a .S file).

   clear_bss zeroes .bss (__bss_start to __bss_end, word by word, as the linker scripts align it),
   then goes on at the caller's local label 2, which must follow the macro. */
#ifndef MATRYOSHKA_BSS_H
#define MATRYOSHKA_BSS_H

.macro clear_bss
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
.endm

#endif /* MATRYOSHKA_BSS_H */
