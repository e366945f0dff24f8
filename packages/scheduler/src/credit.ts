import { BLOCKED, SchedulerBase, type BaseOptions } from "./base.js";
import type { VcpuId } from "./types.js";

/** Options of the credit scheduler. Durations are in time units; see `unitsPerMs`. */
export interface CreditOptions extends BaseOptions {
  /** Time units per millisecond, used for the Xen defaults below (default 1000: microseconds). */
  unitsPerMs?: number;
  /** Longest a vCPU runs before others of its priority get a turn (default 30 ms). */
  timeslice?: number;
  /** Interval at which priorities are re-evaluated and boosts expire (default 10 ms). */
  tick?: number;
  /** Accounting period: credits are refilled and caps reset once per period (default 30 ms). */
  period?: number;
}

/** Credit priorities, highest first. PARKED ones (cap used up) do not run at all. */
export type CreditPriority = "boost" | "under" | "over" | "parked";

const BOOST = 2;
const UNDER = 1;
const OVER = 0;
/** `seq` of a vCPU that was interrupted mid-slice by a tick: it resumes ahead of its peers. */
const FRONT = -1;

/**
 * Xen's credit scheduler (sched_credit.c, Ackaouy 2006; evaluated in Cherkasova, Gupta and
 * Vahdat, "Comparison of the three CPU schedulers in Xen", 2007), re-derived:
 *
 * - Credits are hart time. Every accounting period (30 ms) `period × harts` of credit is shared
 *   among active vCPUs in proportion to weight; a vCPU's share is limited to one hart, to its cap
 *   and to what brings it to `+timeslice`, and whatever a vCPU cannot take is shared among the
 *   rest (water-filling, like the credit_peak/credit_xtra redistribution in csched_acct).
 * - Running debits credit by the time actually used (Xen debits exact run time since 4.2 rather
 *   than whole ticks, which a guest could dodge by yielding just before a tick).
 * - Priority: BOOST (just woke from I/O wait with credit left) > UNDER (credit ≥ 0) > OVER.
 *   Uncapped OVER vCPUs still run when nothing better wants the hart: work-conserving.
 * - A capped vCPU is parked once it has used `cap%` of the period and unparked at the next
 *   refill, even if harts idle meanwhile.
 * - Slices are 30 ms but the hart comes back at every 10 ms tick, so a vCPU that has gone OVER
 *   yields to a waiting UNDER one at the tick (Xen only re-sorts then and preempts at slice end)
 *   and a BOOST lasts at most one tick of running.
 * - A BOOST (or UNDER over OVER) waker preempts a lower-priority vCPU at once ("tickle").
 *
 * Xen keeps a run queue per physical CPU and steals work between them; here one global choice
 * per pick is made over all vCPUs, which behaves like perfect stealing.
 */
export class CreditScheduler extends SchedulerBase {
  readonly timeslice: number;
  readonly tick: number;

  private readonly credit: number[] = [];
  private readonly boost: boolean[] = [];
  /** Time run since the boost was granted. */
  private readonly boostRan: number[] = [];
  /** Rest of the current 30 ms slice; <= 0 means the next dispatch starts a fresh one. */
  private readonly sliceLeft: number[] = [];
  /** Time run in the current period, so that a vCPU that ran and then blocked still gets credit. */
  private readonly ranInPeriod: number[] = [];
  // Scratch for the refill, grown with the slots.
  private readonly limit: number[] = [];
  private readonly given: number[] = [];
  private readonly settled: boolean[] = [];

  constructor(options: CreditOptions = {}) {
    const ms = options.unitsPerMs ?? 1000;
    if (!(ms > 0) || !Number.isFinite(ms)) {
      throw new RangeError(`scheduler: unitsPerMs must be a finite number > 0, got ${ms}`);
    }
    super(options, 30 * ms);
    this.timeslice = options.timeslice ?? 30 * ms;
    this.tick = options.tick ?? 10 * ms;
    for (const [name, v] of [["timeslice", this.timeslice], ["tick", this.tick]] as const) {
      if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`scheduler: ${name} must be a finite number > 0, got ${v}`);
    }
    // Slices end at tick boundaries; with periods made of whole ticks no run straddles a refill.
    const ticks = this.period / this.tick;
    if (Math.abs(ticks - Math.round(ticks)) > 1e-9) {
      throw new RangeError(`scheduler: period (${this.period}) must be a whole number of ticks (${this.tick})`);
    }
  }

  /** Current priority of a vCPU (for tests and monitors). */
  priority(vcpu: VcpuId): CreditPriority {
    const s = this.slot(vcpu);
    if (this.parked[s]) return "parked";
    const p = this.prio(s);
    return p === BOOST ? "boost" : p === UNDER ? "under" : "over";
  }

  /** Credit balance of a vCPU in time units. */
  creditOf(vcpu: VcpuId): number {
    return this.credit[this.slot(vcpu)]!;
  }

  private prio(s: number): number {
    return this.boost[s] ? BOOST : this.credit[s]! >= 0 ? UNDER : OVER;
  }

  protected choose(hart: number, _now: number, prev: number): number {
    let best = -1;
    let bestPrio = -1;
    for (let s = 0; s < this.slots; s++) {
      if (!this.eligible(s, hart)) continue;
      const p = this.prio(s);
      if (p > bestPrio || (p === bestPrio && this.seq[s]! < this.seq[best]!)) {
        best = s;
        bestPrio = p;
      }
    }
    if (prev >= 0 && prev !== best && this.seq[prev] === FRONT) {
      // Preempted mid-slice by someone better: it goes to the back of its class, slice forfeited.
      this.seq[prev] = this.nextSeq++;
      this.sliceLeft[prev] = 0;
    }
    if (best >= 0 && this.sliceLeft[best]! <= 0) this.sliceLeft[best] = this.timeslice;
    return best;
  }

  protected sliceFor(s: number, now: number): number {
    const nextTick = (Math.floor(now / this.tick) + 1) * this.tick;
    let slice = Math.min(this.sliceLeft[s]!, nextTick - now);
    if (this.boost[s]) slice = Math.min(slice, this.tick - this.boostRan[s]!);
    return slice;
  }

  protected override preemptTarget(s: number): number {
    const idle = this.idleHart(s);
    if (idle >= 0) return idle;
    let target = -1;
    let lowest = this.prio(s);
    for (let h = 0; h < this.harts; h++) {
      const r = this.running[h]!;
      if (r < 0 || this.isKicked(h) || !this.allowed(s, h)) continue;
      const p = this.prio(r);
      if (p < lowest) {
        lowest = p;
        target = h;
      }
    }
    return target;
  }

  protected override onRegister(s: number): void {
    this.credit[s] = 0;
    this.boost[s] = false;
    this.boostRan[s] = 0;
    this.sliceLeft[s] = 0;
    this.ranInPeriod[s] = 0;
    this.limit[s] = 0;
    this.given[s] = 0;
    this.settled[s] = false;
  }

  protected override onWake(s: number): void {
    // Only a vCPU with credit left is boosted: one that burnt its share cannot jump the queue by
    // blocking briefly (Xen's rule, which keeps BOOST from being an exploit).
    this.boost[s] = this.credit[s]! >= 0 && !this.parked[s];
    this.boostRan[s] = 0;
    this.sliceLeft[s] = 0;
  }

  protected override onRelease(s: number): void {
    this.seq[s] = this.sliceLeft[s]! > 0 ? FRONT : this.nextSeq++;
  }

  protected override onAccount(s: number, ran: number): void {
    this.credit[s] = this.credit[s]! - ran;
    this.sliceLeft[s] = this.sliceLeft[s]! - ran;
    this.ranInPeriod[s] = this.ranInPeriod[s]! + ran;
    if (this.boost[s]) {
      this.boostRan[s] = this.boostRan[s]! + ran;
      if (this.boostRan[s]! >= this.tick) this.boost[s] = false;
    }
  }

  /** The refill (csched_acct): share `period × harts` by weight among active vCPUs. */
  protected override onWindow(): void {
    let remaining = this.period * this.harts;
    for (let s = 0; s < this.slots; s++) {
      const active = this.live[s]! && (this.state[s] !== BLOCKED || this.ranInPeriod[s]! > 0);
      this.settled[s] = !active;
      this.given[s] = 0;
      // One vCPU can use at most one hart and its cap; credit beyond +timeslice would only be
      // hoarded by a vCPU that does not use it (Xen marks such vCPUs inactive instead).
      this.limit[s] = Math.max(0, Math.min(this.period, this.capBudget(s), this.timeslice - this.credit[s]!));
    }
    // Water-filling: give each unsettled vCPU its weighted part of what remains; those whose part
    // reaches their limit take the limit and drop out, and the rest is re-shared.
    for (;;) {
      let weights = 0;
      for (let s = 0; s < this.slots; s++) if (!this.settled[s]) weights += this.weight[s]!;
      if (weights === 0 || remaining <= 0) break;
      const pool = remaining;
      let saturated = false;
      for (let s = 0; s < this.slots; s++) {
        if (this.settled[s] || (pool * this.weight[s]!) / weights < this.limit[s]!) continue;
        this.given[s] = this.limit[s]!;
        this.settled[s] = true;
        remaining -= this.limit[s]!;
        saturated = true;
      }
      if (saturated) continue;
      for (let s = 0; s < this.slots; s++) {
        if (!this.settled[s]) this.given[s] = (pool * this.weight[s]!) / weights;
      }
      break;
    }
    for (let s = 0; s < this.slots; s++) {
      if (!this.live[s]) continue;
      // The floor keeps a vCPU that ran far beyond its share while harts were otherwise free
      // (work conservation) from starving for long once there is contention again.
      this.credit[s] = Math.max(-this.timeslice, this.credit[s]! + this.given[s]!);
      this.ranInPeriod[s] = 0;
    }
  }
}
