import { MIP } from "@matryoshka/isa";

/** Something with interrupt inputs: a hart's mip lines (MSIP, MTIP, SEIP, MEIP). */
export interface InterruptLines {
  setInterruptLine(bit: number, level: boolean): void;
}

/** The mip bits controllers drive (privileged spec 1.12 §3.1.9). */
export const LINE = { MSIP: MIP.MSIP, MTIP: MIP.MTIP, SEIP: MIP.SEIP, MEIP: MIP.MEIP } as const;

/** A source of machine time (mtime ticks). */
export interface Clock {
  now(): number;
}
