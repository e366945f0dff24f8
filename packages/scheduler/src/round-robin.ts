import { SchedulerBase, type BaseOptions } from "./base.js";

/**
 * Round robin: runnable vCPUs take turns in FIFO order, each for `sliceLength`. Weights are
 * accepted but ignored, so contended harts are shared equally; caps and pins still apply.
 * A woken vCPU joins the tail and only takes an idle hart at once: its latency is up to a full
 * round of slices, the baseline the credit and stride policies improve on.
 */
export class RoundRobin extends SchedulerBase {
  readonly sliceLength: number;

  constructor(sliceLength: number, options?: BaseOptions) {
    if (!(sliceLength > 0) || !Number.isFinite(sliceLength)) {
      throw new RangeError(`scheduler: round robin slice length must be a finite number > 0, got ${sliceLength}`);
    }
    // Cap windows default to three slices, like the credit scheduler's 30 ms period over 10 ms ticks.
    super(options, 3 * sliceLength);
    this.sliceLength = sliceLength;
  }

  protected choose(hart: number): number {
    let best = -1;
    for (let s = 0; s < this.slots; s++) {
      if (this.eligible(s, hart) && (best < 0 || this.seq[s]! < this.seq[best]!)) best = s;
    }
    return best;
  }

  protected sliceFor(): number {
    return this.sliceLength;
  }

  protected override onRelease(slot: number): void {
    this.seq[slot] = this.nextSeq++;
  }
}
