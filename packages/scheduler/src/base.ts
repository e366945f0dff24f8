import type { Decision, Scheduler, VcpuId, VcpuParams } from "./types.js";

export const DEFAULT_WEIGHT = 256;

/** vCPU states. RUNNING means bound to a hart until that hart's next `pick`. */
export const BLOCKED = 0;
export const RUNNABLE = 1;
export const RUNNING = 2;

/** Options every policy accepts. */
export interface BaseOptions {
  /** Harts to schedule on (default 1). */
  harts?: number;
  /**
   * Length of the window over which caps are enforced (and, for the credit scheduler, credits
   * refilled). Windows are aligned: [k·period, (k+1)·period).
   */
  period?: number;
}

function describe(id: VcpuId): string {
  return typeof id === "string" ? JSON.stringify(id) : String(id);
}

/**
 * Bookkeeping shared by the policies: vCPU slots in parallel arrays (grown only by `register`,
 * so `pick`/`account` never allocate), the hart bindings that keep a vCPU on one hart at a time,
 * pinning, and cap enforcement. A policy supplies `choose` and `sliceFor` and may hook the
 * state changes.
 *
 * Policies scan all slots in `choose`: O(vCPUs) per pick, which beats keeping sorted queues at
 * the few dozen vCPUs one hypervisor level has.
 */
export abstract class SchedulerBase implements Scheduler {
  readonly harts: number;
  protected readonly period: number;

  private readonly slotOf = new Map<VcpuId, number>();
  private readonly free: number[] = [];
  /** Number of slots ever used; loops run to here and skip dead ones. */
  protected slots = 0;
  protected readonly ids: VcpuId[] = [];
  protected readonly live: boolean[] = [];
  protected readonly weight: number[] = [];
  protected readonly cap: number[] = [];
  protected readonly pin: number[] = [];
  protected readonly state: number[] = [];
  /** Hart a RUNNING vCPU is bound to, else -1. */
  protected readonly hartOf: number[] = [];
  protected readonly dispatchedAt: number[] = [];
  /** FIFO order among equals: a counter value taken when a vCPU (re)joins the queue. */
  protected readonly seq: number[] = [];
  protected nextSeq = 0;
  /** Cap budget left in the current window (may go negative if a run overshot its slice). */
  protected readonly capLeft: number[] = [];
  protected readonly parked: boolean[] = [];

  /** vCPU slot bound to each hart, or -1. */
  protected readonly running: Int32Array;
  /** Harts that `wake` asked to reschedule and that have not picked yet. */
  private readonly kicked: Uint8Array;
  private readonly decisions: Decision[];
  /** Index of the current window, k for [k·period, (k+1)·period). */
  protected window = 0;

  constructor(options: BaseOptions | undefined, defaultPeriod: number) {
    const harts = options?.harts ?? 1;
    if (!Number.isInteger(harts) || harts < 1) {
      throw new RangeError(`scheduler: harts must be an integer >= 1, got ${harts}`);
    }
    const period = options?.period ?? defaultPeriod;
    if (!(period > 0) || !Number.isFinite(period)) {
      throw new RangeError(`scheduler: period must be a finite number > 0, got ${period}`);
    }
    this.harts = harts;
    this.period = period;
    this.running = new Int32Array(harts).fill(-1);
    this.kicked = new Uint8Array(harts);
    this.decisions = [];
    for (let h = 0; h < harts; h++) this.decisions.push({ vcpu: null, slice: Number.POSITIVE_INFINITY });
  }

  register(vcpu: VcpuId, params: VcpuParams = {}): void {
    if (this.slotOf.has(vcpu)) throw new RangeError(`scheduler: vCPU ${describe(vcpu)} is already registered`);
    const weight = params.weight ?? DEFAULT_WEIGHT;
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0) {
      throw new RangeError(`scheduler: weight of vCPU ${describe(vcpu)} must be a finite number > 0, got ${weight}`);
    }
    const cap = params.cap ?? 0;
    const maxCap = 100 * this.harts;
    if (typeof cap !== "number" || !Number.isFinite(cap) || cap < 0 || cap > maxCap) {
      throw new RangeError(
        `scheduler: cap of vCPU ${describe(vcpu)} must be a percentage of one hart in 0..${maxCap} ` +
          `(0 = uncapped, at most 100 per hart), got ${cap}`,
      );
    }
    const pin = params.pin ?? -1;
    if (params.pin !== undefined && (!Number.isInteger(pin) || pin < 0 || pin >= this.harts)) {
      throw new RangeError(`scheduler: pin of vCPU ${describe(vcpu)} must be a hart in 0..${this.harts - 1}, got ${pin}`);
    }
    const slot = this.free.length > 0 ? this.free.pop()! : this.slots++;
    this.slotOf.set(vcpu, slot);
    this.ids[slot] = vcpu;
    this.live[slot] = true;
    this.weight[slot] = weight;
    this.cap[slot] = cap;
    this.pin[slot] = pin;
    this.state[slot] = params.runnable === false ? BLOCKED : RUNNABLE;
    this.hartOf[slot] = -1;
    this.dispatchedAt[slot] = 0;
    this.seq[slot] = this.nextSeq++;
    this.capLeft[slot] = this.capBudget(slot);
    this.parked[slot] = false;
    this.onRegister(slot);
  }

  unregister(vcpu: VcpuId): void {
    const slot = this.slot(vcpu);
    if (this.state[slot] === RUNNING) this.unbind(slot);
    this.onUnregister(slot);
    this.live[slot] = false;
    this.state[slot] = BLOCKED;
    this.slotOf.delete(vcpu);
    this.free.push(slot);
  }

  wake(vcpu: VcpuId, now: number): number {
    const slot = this.slot(vcpu);
    this.advance(now);
    if (this.state[slot] !== BLOCKED) return -1;
    this.state[slot] = RUNNABLE;
    this.seq[slot] = this.nextSeq++;
    this.onWake(slot, now);
    if (this.parked[slot]) return -1;
    const target = this.preemptTarget(slot, now);
    if (target >= 0) this.kicked[target] = 1;
    return target;
  }

  block(vcpu: VcpuId, now: number): void {
    const slot = this.slot(vcpu);
    this.advance(now);
    if (this.state[slot] === BLOCKED) return;
    // Unbind now rather than at the hart's next pick, so that a wake in between cannot make the
    // vCPU runnable while a hart still counts it as its own.
    if (this.state[slot] === RUNNING) this.unbind(slot);
    this.state[slot] = BLOCKED;
    this.onBlock(slot, now);
  }

  pick(hart: number, now: number): Decision {
    if (!Number.isInteger(hart) || hart < 0 || hart >= this.harts) {
      throw new RangeError(`scheduler: hart ${hart} out of range 0..${this.harts - 1}`);
    }
    this.advance(now);
    this.kicked[hart] = 0;
    const prev = this.running[hart]!;
    if (prev >= 0) this.unbind(prev);
    const next = this.choose(hart, now, prev);
    const d = this.decisions[hart]!;
    if (next < 0) {
      d.vcpu = null;
      d.slice = this.idleFor(hart, now);
      return d;
    }
    this.state[next] = RUNNING;
    this.hartOf[next] = hart;
    this.running[hart] = next;
    this.dispatchedAt[next] = now;
    let slice = this.sliceFor(next, now);
    if (this.cap[next]! > 0) {
      // Never let a capped run straddle a window boundary or exceed the budget, so that every
      // window's charge is exact (see account).
      slice = Math.min(slice, this.capLeft[next]!, (this.window + 1) * this.period - now);
    }
    d.vcpu = this.ids[next]!;
    d.slice = slice;
    return d;
  }

  account(vcpu: VcpuId, ran: number, now: number): void {
    const slot = this.slot(vcpu);
    if (!(ran >= 0) || !Number.isFinite(ran)) {
      throw new RangeError(`scheduler: time run by vCPU ${describe(vcpu)} must be a finite number >= 0, got ${ran}`);
    }
    if (this.cap[slot]! > 0) {
      // The run covered (now - ran, now]. If another hart already moved us into a later window,
      // only the part inside the current window counts against its budget.
      const inWindow = Math.min(ran, Math.max(0, now - this.window * this.period));
      const left = (this.capLeft[slot] = this.capLeft[slot]! - inWindow);
      if (left <= 0) this.parked[slot] = true;
    }
    this.onAccount(slot, ran, now);
    this.advance(now);
  }

  /** Whether `slot` may be dispatched on `hart` now. */
  protected eligible(slot: number, hart: number): boolean {
    if (this.state[slot] !== RUNNABLE || this.parked[slot]) return false;
    const pin = this.pin[slot]!;
    return pin < 0 || pin === hart;
  }

  /** Whether `slot` is allowed on `hart` at all (pinning only). */
  protected allowed(slot: number, hart: number): boolean {
    const pin = this.pin[slot]!;
    return pin < 0 || pin === hart;
  }

  /** A hart that is idle and not already kicked, allowed for `slot`, else -1. */
  protected idleHart(slot: number): number {
    for (let h = 0; h < this.harts; h++) {
      if (this.running[h]! < 0 && this.kicked[h] === 0 && this.allowed(slot, h)) return h;
    }
    return -1;
  }

  protected isKicked(hart: number): boolean {
    return this.kicked[hart] !== 0;
  }

  /** The window's cap budget of `slot` (Infinity when uncapped). */
  protected capBudget(slot: number): number {
    const cap = this.cap[slot]!;
    return cap > 0 ? (this.period * cap) / 100 : Number.POSITIVE_INFINITY;
  }

  /** Moves to the window containing `now`, refilling cap budgets and running `onWindow`. */
  protected advance(now: number): void {
    const w = Math.floor(now / this.period);
    if (w <= this.window) return;
    this.window = w;
    for (let s = 0; s < this.slots; s++) {
      if (!this.live[s] || this.cap[s]! <= 0) continue;
      // Overshoot (a run longer than its slice) is debt against the new window.
      const left = this.capBudget(s) + Math.min(0, this.capLeft[s]!);
      this.capLeft[s] = left;
      this.parked[s] = left <= 0;
    }
    this.onWindow(now);
  }

  private idleFor(hart: number, now: number): number {
    for (let s = 0; s < this.slots; s++) {
      if (this.live[s] && this.state[s] === RUNNABLE && this.parked[s] && this.allowed(s, hart)) {
        return (this.window + 1) * this.period - now;
      }
    }
    return Number.POSITIVE_INFINITY;
  }

  private unbind(slot: number): void {
    const hart = this.hartOf[slot]!;
    this.running[hart] = -1;
    this.hartOf[slot] = -1;
    this.state[slot] = RUNNABLE;
    this.onRelease(slot);
  }

  protected slot(vcpu: VcpuId): number {
    const slot = this.slotOf.get(vcpu);
    if (slot === undefined) throw new RangeError(`scheduler: unknown vCPU id ${describe(vcpu)}`);
    return slot;
  }

  /** Best eligible slot for `hart`, or -1. `prev` is what ran there until now (or -1). */
  protected abstract choose(hart: number, now: number, prev: number): number;
  /** Policy slice for a just-chosen slot (caps are applied on top). Must be > 0. */
  protected abstract sliceFor(slot: number, now: number): number;

  /** Which hart a woken slot should preempt; default: an idle hart only. */
  protected preemptTarget(slot: number, _now: number): number {
    return this.idleHart(slot);
  }

  protected onRegister(_slot: number): void {}
  protected onUnregister(_slot: number): void {}
  protected onWake(_slot: number, _now: number): void {}
  protected onBlock(_slot: number, _now: number): void {}
  /** The slot left its hart (end of slice, block, unregister); state is RUNNABLE here. */
  protected onRelease(_slot: number): void {}
  protected onAccount(_slot: number, _ran: number, _now: number): void {}
  /** A new window began (called once even if several elapsed). */
  protected onWindow(_now: number): void {}
}
