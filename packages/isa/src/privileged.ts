/*
 * The privileged architecture's numbering (priv 1.12): privilege levels, mstatus fields, trap
 * causes, interrupt numbers and their mip/mie bits, counter-enable bits. They live here, beside
 * the CSR table, because every hardware package needs them and `isa` is the one all of them may
 * depend on (`@matryoshka/cpu` re-exports them).
 */

/** Privilege levels as encoded in mstatus.MPP (privileged spec 1.12 §1.2). */
export const Priv = { U: 0, S: 1, M: 3 } as const;
export type Priv = (typeof Priv)[keyof typeof Priv];

/** mstatus fields for RV32 (§3.1.6). */
export const MSTATUS = {
  SIE: 1 << 1,
  MIE: 1 << 3,
  SPIE: 1 << 5,
  UBE: 1 << 6,
  MPIE: 1 << 7,
  SPP: 1 << 8,
  VS: 3 << 9,
  MPP: 3 << 11,
  FS: 3 << 13,
  XS: 3 << 15,
  MPRV: 1 << 17,
  SUM: 1 << 18,
  MXR: 1 << 19,
  TVM: 1 << 20,
  TW: 1 << 21,
  TSR: 1 << 22,
  SD: 1 << 31,
} as const;

export const MPP_SHIFT = 11;

/** Interrupt numbers (the exception code of an interrupt's mcause, §3.1.15 table 3.6). */
export const Irq = { SSI: 1, MSI: 3, STI: 5, MTI: 7, SEI: 9, MEI: 11 } as const;
/** mip/mie bits (§3.1.9): interrupt `i` is bit `i`. */
export const MIP = {
  SSIP: 1 << Irq.SSI,
  MSIP: 1 << Irq.MSI,
  STIP: 1 << Irq.STI,
  MTIP: 1 << Irq.MTI,
  SEIP: 1 << Irq.SEI,
  MEIP: 1 << Irq.MEI,
} as const;

/** Exception causes (§3.1.15, table 3.6). */
export const Cause = {
  InstructionMisaligned: 0,
  InstructionAccessFault: 1,
  IllegalInstruction: 2,
  Breakpoint: 3,
  LoadMisaligned: 4,
  LoadAccessFault: 5,
  StoreMisaligned: 6,
  StoreAccessFault: 7,
  EcallFromU: 8,
  EcallFromS: 9,
  EcallFromM: 11,
  InstructionPageFault: 12,
  LoadPageFault: 13,
  StorePageFault: 15,
  /**
   * A sensitive instruction a hypervisor must emulate (the H extension's "virtual instruction"
   * cause, priv 1.12 §8.6.1). The hart of `@matryoshka/cpu` raises it only for `Hart.hypervisorCall`:
   * the binary translator's replacement of sensitive guest instructions, delivered to the hypervisor.
   */
  VirtualInstruction: 22,
} as const;

/** mcause/scause bit 31: the trap is an interrupt (§3.1.15). */
export const INTERRUPT_BIT = 0x8000_0000;

/**
 * Bits of mcounteren and scounteren (§3.1.11, §4.1.5), and of mcountinhibit (§3.1.13): one per
 * counter, `hpmcounterN` at bit N.
 */
export const COUNTEREN = { CY: 1 << 0, TM: 1 << 1, IR: 1 << 2 } as const;
