/**
 * The contract between a hypervisor (one per nesting level) and its vCPU scheduling policy.
 *
 * Time is an abstract, monotonic unit chosen by the caller: microseconds of simulated time,
 * retired instructions, mtime ticks. All arguments named `now`, `ran` and `slice` use the same
 * unit. The credit scheduler's defaults (30 ms slice, 10 ms tick) assume microseconds; pass
 * `unitsPerMs` when counting something else.
 */

/** Whatever the hypervisor uses to name a vCPU (an index, a "vm0.1" string...). */
export type VcpuId = number | string;

/** Scheduling parameters of one vCPU. */
export interface VcpuParams {
  /** Relative share when harts are contended; > 0. Default 256, as in Xen. */
  weight?: number;
  /**
   * Most this vCPU may run, as a percentage of one hart over each accounting period: 25 means a
   * quarter of a hart. 0 (the default) means uncapped. A capped vCPU is parked once it has used
   * its cap, even if harts would otherwise idle: caps are deliberately not work-conserving.
   */
  cap?: number;
  /** Hart index this vCPU may exclusively run on; omit to let it run on any hart. */
  pin?: number;
  /** Whether it starts runnable (default) or blocked until the first `wake`. */
  runnable?: boolean;
}

/**
 * What `pick` tells a hart to do. The object is owned by the scheduler and reused for that hart
 * (no allocation per call): read it before the next `pick` on the same hart.
 */
export interface Decision {
  /** vCPU to run, or null to idle. */
  vcpu: VcpuId | null;
  /**
   * For a vCPU: how long to run it before calling `pick` again (arm the preemption timer with it).
   * When idle: how long until something may become runnable without a `wake` (for example a
   * capped vCPU's next refill), or Infinity if only a `wake` can change anything.
   */
  slice: number;
}

/**
 * A vCPU scheduling policy for `harts` harts. The hypervisor drives it with this loop per hart:
 *
 * ```
 * d = pick(h, now)                    // the previous vCPU on h (if any) goes back to the queue
 * run d.vcpu for up to d.slice        // it may trap out early, e.g. WFI or an I/O wait
 * account(d.vcpu, ran, now + ran)     // charge what it really used
 * if it now waits for I/O: block(d.vcpu, now + ran)
 * ```
 *
 * and calls `wake` when a blocked vCPU becomes runnable (interrupt, I/O completion), preempting
 * the hart that `wake` returns. A vCPU is dispatched on at most one hart at a time; it stays
 * bound to its hart until that hart's next `pick`, until it blocks or until it is unregistered.
 *
 * `pick` and `account` do not allocate.
 */
export interface Scheduler {
  /** Number of harts this scheduler places vCPUs on. */
  readonly harts: number;
  /** Adds a vCPU. Throws RangeError on a duplicate id or invalid parameters. */
  register(vcpu: VcpuId, params?: VcpuParams): void;
  /** Removes a vCPU (also if it is running: its hart just picks something else next time). */
  unregister(vcpu: VcpuId): void;
  /**
   * Makes a blocked vCPU runnable (no-op if it already is). Returns the hart that should call
   * `pick` now because the waker deserves it more than what runs there (or the hart is idle),
   * else -1.
   */
  wake(vcpu: VcpuId, now: number): number;
  /** The vCPU waits for I/O: it will not be picked until `wake`. No-op if already blocked. */
  block(vcpu: VcpuId, now: number): void;
  /** Ends the previous decision on `hart` and decides what runs there next. */
  pick(hart: number, now: number): Decision;
  /** Charges `ran` units of hart time that `vcpu` actually used, ending at `now`. */
  account(vcpu: VcpuId, ran: number, now: number): void;
}
