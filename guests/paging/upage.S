/* Position-independent probes for the paging guest, alone at the start of a 4 KiB page so that the
   page can also be mapped at other virtual addresses (U-executable, execute-only). Each probe ends
   with the mtest "return to M" ecall, so it works in S and in U without a return address. */
    .section .text.upage, "ax"
    .option push
    .option norvc
    .balign 4096
    .globl upage_start
upage_start:
/* a0 = address: load a word, return it */
    .globl probe_load
probe_load:
    lw      a0, 0(a0)
    j       probe_exit
/* a0 = address: store a0 there, return 0 */
    .globl probe_store
probe_store:
    sw      a0, 0(a0)
    li      a0, 0
    j       probe_exit
/* a0 = address: jump there */
    .globl probe_jump
probe_jump:
    jr      a0
/* returns 0x600dc0de: the target probe_jump uses to show that a fetch succeeded */
    .globl probe_marker
probe_marker:
    li      a0, 0x600dc0de
    j       probe_exit
probe_exit:
    mv      a1, a0
    li      a7, 0x4d544553
    ecall
1:  j       1b
    .option pop
