import type { Clock } from "@matryoshka/interrupts";

/**
 * Deterministic machine time: mtime advances by one tick per `instructionsPerTick` instructions
 * of the machine's clock, so a run gives the same output and the same counts every time, however
 * fast the host is. The board advances `elapsed` after each scheduling round; during a hart's
 * slice, reads see that hart's progress within the slice.
 */
export class InstructionClock implements Clock {
  readonly instructionsPerTick: number;
  /** Instructions of machine time before the current slice. */
  elapsed = 0;
  private slice: { steps: number } | undefined;
  private sliceStart = 0;

  constructor(instructionsPerTick: number) {
    if (!Number.isInteger(instructionsPerTick) || instructionsPerTick <= 0) {
      throw new RangeError(`instructions per tick must be a positive integer, got ${instructionsPerTick}`);
    }
    this.instructionsPerTick = instructionsPerTick;
  }

  /** Marks the start of a hart's slice: its progress counts as machine time until `endSlice`. */
  beginSlice(hart: { steps: number }): void {
    this.slice = hart;
    this.sliceStart = hart.steps;
  }

  endSlice(): void {
    this.slice = undefined;
  }

  /** Machine time in instructions, including the running hart's progress in its slice. */
  get instructions(): number {
    return this.elapsed + (this.slice ? this.slice.steps - this.sliceStart : 0);
  }

  now(): number {
    return Math.floor(this.instructions / this.instructionsPerTick);
  }

  /** Instructions from now until mtime reaches `ticks` (0 if already there). */
  instructionsUntil(ticks: number): number {
    return Math.max(0, ticks * this.instructionsPerTick - this.instructions);
  }
}
