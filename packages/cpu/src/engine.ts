import type { Hart, StopReason } from "./hart.js";

/**
 * An execution engine runs a hart for up to `budget` instructions and says why it stopped. The
 * interpreter here and the translator in `@matryoshka/bt` implement it with identical results:
 * the same architectural state and the same instruction counts.
 */
export interface Engine {
  readonly name: string;
  run(hart: Hart, budget: number): StopReason;
}
