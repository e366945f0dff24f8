/* Probes for the isolation guest, alone at the start of a 4 KiB page so that the page can also be
   mapped U-executable at another virtual address. Each probe executes one instruction that may
   fault and then falls into probe_exit (the mtest "return to M" ecall); the trap handlers resume a
   faulting probe at probe_exit, so the same code works in S and in U, through either mapping. */
    .section .text.probes, "ax"
    .option push
    .option norvc
    .balign 4096
    .globl probe_page
probe_page:
/* a0 = address: load a word, return it */
    .globl probe_load
probe_load:
    lw      a0, 0(a0)
    j       probe_exit
/* a0 = address: store a0 there */
    .globl probe_store
probe_store:
    sw      a0, 0(a0)
    j       probe_exit
/* a0 = address: jump there */
    .globl probe_jump
probe_jump:
    jr      a0
/* privileged instructions, one each (illegal from U) */
    .globl probe_csrr_sstatus
probe_csrr_sstatus:
    csrr    a0, sstatus
    j       probe_exit
    .globl probe_csrw_satp
probe_csrw_satp:
    csrw    satp, a0
    j       probe_exit
    .globl probe_sret
probe_sret:
    sret
    j       probe_exit
    .globl probe_mret
probe_mret:
    mret
    j       probe_exit
    .globl probe_wfi
probe_wfi:
    wfi
    j       probe_exit
    .globl probe_sfence
probe_sfence:
    sfence.vma
    j       probe_exit
    .globl probe_exit
probe_exit:
    mv      a1, a0
    li      a7, 0x4d544553
    ecall
1:  j       1b
    .option pop
