/** Something with interrupt inputs: a hart's mip lines (MSIP, MTIP, SEIP, MEIP). */
export interface InterruptLines {
  setInterruptLine(bit: number, level: boolean): void;
}

/** The mip bits controllers drive (privileged spec 1.12 §3.1.9). */
export const LINE = { MSIP: 1 << 3, MTIP: 1 << 7, SEIP: 1 << 9, MEIP: 1 << 11 } as const;

/** A source of machine time (mtime ticks). */
export interface Clock {
  now(): number;
}
