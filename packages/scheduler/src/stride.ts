import { BLOCKED, SchedulerBase, type BaseOptions } from "./base.js";
import type { VcpuId } from "./types.js";

/** Options of the stride scheduler. */
export interface StrideOptions extends BaseOptions {
  /** Longest run before the hart picks again (default 10 000 units: 10 ms in microseconds). */
  quantum?: number;
}

/** Numerator of strides: stride = STRIDE1 / tickets, as in the paper (any constant works with doubles). */
const STRIDE1 = 1 << 20;

/**
 * Stride scheduling (Waldspurger and Weihl, "Stride Scheduling: Deterministic Proportional-Share
 * Resource Management", MIT/LCS/TM-528, 1995). Tickets are the weights; each vCPU's pass advances
 * by stride × time run (stride = STRIDE1 / tickets), and the hart goes to the runnable vCPU with
 * the smallest pass, so over any interval service tracks tickets to within one quantum.
 *
 * Dynamic participation follows §4 of the report: a global pass advances by STRIDE1 / (tickets of
 * all runnable vCPUs) per unit of service. A vCPU joins at the global pass; one that blocks keeps
 * `remain = pass − global pass` and wakes at global pass + remain, so sleeping earns nothing
 * (no windfall) and the lag or lead it had is kept. Time is charged exactly (fractional quanta, §3
 * of the report) rather than per whole quantum.
 *
 * A woken vCPU preempts the running vCPU with the largest pass (counting the time it has run so
 * far) if that pass is larger than the waker's, as it would win the hart at a pick right now.
 */
export class StrideScheduler extends SchedulerBase {
  readonly quantum: number;

  private readonly pass: number[] = [];
  private readonly remain: number[] = [];
  private globalPass = 0;
  /** Tickets of every registered vCPU that is not blocked. */
  private globalTickets = 0;

  constructor(options: StrideOptions = {}) {
    const quantum = options.quantum ?? 10_000;
    if (!(quantum > 0) || !Number.isFinite(quantum)) {
      throw new RangeError(`scheduler: stride quantum must be a finite number > 0, got ${quantum}`);
    }
    super(options, 3 * quantum);
    this.quantum = quantum;
  }

  /** Pass value of a vCPU (for tests and monitors). */
  passOf(vcpu: VcpuId): number {
    return this.pass[this.slot(vcpu)]!;
  }

  protected choose(hart: number): number {
    let best = -1;
    for (let s = 0; s < this.slots; s++) {
      if (!this.eligible(s, hart)) continue;
      if (best < 0 || this.pass[s]! < this.pass[best]! || (this.pass[s] === this.pass[best] && this.seq[s]! < this.seq[best]!)) {
        best = s;
      }
    }
    return best;
  }

  protected sliceFor(): number {
    return this.quantum;
  }

  protected override preemptTarget(s: number, now: number): number {
    const idle = this.idleHart(s);
    if (idle >= 0) return idle;
    let target = -1;
    let highest = this.pass[s]!;
    for (let h = 0; h < this.harts; h++) {
      const r = this.running[h]!;
      if (r < 0 || this.isKicked(h) || !this.allowed(s, h)) continue;
      const pass = this.pass[r]! + ((now - this.dispatchedAt[r]!) * STRIDE1) / this.weight[r]!;
      if (pass > highest) {
        highest = pass;
        target = h;
      }
    }
    return target;
  }

  protected override onRegister(s: number): void {
    this.pass[s] = this.globalPass;
    this.remain[s] = 0;
    if (this.state[s] !== BLOCKED) this.globalTickets += this.weight[s]!;
  }

  protected override onUnregister(s: number): void {
    if (this.state[s] !== BLOCKED) this.globalTickets -= this.weight[s]!;
  }

  protected override onBlock(s: number): void {
    this.remain[s] = this.pass[s]! - this.globalPass;
    this.globalTickets -= this.weight[s]!;
  }

  protected override onWake(s: number): void {
    this.globalTickets += this.weight[s]!;
    this.pass[s] = this.globalPass + this.remain[s]!;
  }

  protected override onAccount(s: number, ran: number): void {
    this.pass[s] = this.pass[s]! + (ran * STRIDE1) / this.weight[s]!;
    // The global pass is the pass of an ideal client holding all runnable tickets. Summing the
    // service of all harts keeps it right on several harts too.
    if (this.globalTickets > 0) this.globalPass += (ran * STRIDE1) / this.globalTickets;
  }
}
