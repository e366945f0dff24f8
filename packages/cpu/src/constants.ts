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

/** Interrupt numbers and mip/mie bits (§3.1.9). */
export const Irq = { SSI: 1, MSI: 3, STI: 5, MTI: 7, SEI: 9, MEI: 11 } as const;
export const MIP = {
  SSIP: 1 << 1,
  MSIP: 1 << 3,
  STIP: 1 << 5,
  MTIP: 1 << 7,
  SEIP: 1 << 9,
  MEIP: 1 << 11,
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
   * cause, priv 1.12 §8.6.1). This hart raises it only for `Hart.hypervisorCall`: the binary
   * translator's replacement of sensitive guest instructions, delivered to the hypervisor.
   */
  VirtualInstruction: 22,
} as const;

export const INTERRUPT_BIT = 0x8000_0000;
