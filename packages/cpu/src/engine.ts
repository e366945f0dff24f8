import type { Hart, StopReason } from "./hart.js";

/**
 * An execution engine runs a hart for up to `budget` instructions and says why it stopped. The
 * interpreter here and the translator in `@matryoshka/bt` implement it with identical results:
 * the same architectural state and the same instruction counts.
 */
export interface Engine {
  readonly name: string;
  /**
   * The URL of a module that builds an engine like this one (its defaults) with its export
   * `createEngine(): Engine`. A worker thread cannot be handed an engine object, so this is how
   * `runThreaded` gives each worker the board's engine without knowing engine packages. Engines
   * without one (a hypervisor's vCPU engine) run on threads only through their own modules.
   */
  readonly module?: string;
  /** Its counters (blocks translated, …), kept in place for `@matryoshka/metrics`; none for the interpreter. */
  readonly stats?: object;
  run(hart: Hart, budget: number): StopReason;
}
