import type { RunOutcome } from "@matryoshka/machine";
import type { Scheduler, VcpuParams } from "@matryoshka/scheduler";
import type { VM } from "./vm.js";

/** A VM to share the platform's harts with others, with its scheduling parameters. */
export interface ScheduledVm {
  vm: VM;
  /** Weight, cap (percent of a hart), pin; as `@matryoshka/scheduler` defines them. */
  params?: VcpuParams;
}

export interface ScheduledVmResult {
  name: string;
  /** Hart time it received: instructions its guest executed (slept time not counted). */
  received: number;
  /** Times it was put on a hart. */
  dispatches: number;
  /**
   * Wall-clock milliseconds spent running it (its slices only), so that its speed while on a hart,
   * `received / wallMilliseconds`, can be compared with its speed alone.
   */
  wallMilliseconds: number;
  /** How it ended, if it did within the duration. */
  outcome?: RunOutcome;
  /** Platform time when it ended. */
  finishedAt?: number;
}

export interface ScheduleOptions {
  /** Platform time to run, in instructions (deterministic time: 10 instructions per mtime tick). */
  duration: number;
}

/**
 * Time-shares the platform's harts among VMs as `scheduler` decides, deterministically in this
 * thread (DESIGN.md §7). Each VM is one scheduling entity (its board interleaves its own vCPUs),
 * time is platform instructions, and the loop per hart is the one `Scheduler` documents:
 * `pick`, run the VM for at most the slice, `account` what it executed, `block` it if it went to
 * sleep. Harts are advanced in the order of their own timelines (a discrete-event simulation of
 * parallel harts), and a slice ends early when a sleeping VM is due to wake, so that `wake` can
 * put it ahead of a CPU hog (the credit scheduler's boost).
 *
 * Time in a VM never runs behind the platform's: a VM taken off its hart finds, when it comes
 * back, that the time it was away has passed (its clock is moved up to the platform's), so its
 * timers fire as they would have. A VM whose vCPUs all sleep (WFI with nothing to do) leaves its
 * hart at once and is blocked until its next timer.
 */
export function runScheduled(entries: readonly ScheduledVm[], scheduler: Scheduler, options: ScheduleOptions): ScheduledVmResult[] {
  const duration = options.duration;
  if (!(duration > 0)) throw new RangeError(`duration must be positive, got ${duration}`);
  const results: ScheduledVmResult[] = entries.map(({ vm }) => ({ name: vm.name, received: 0, dispatches: 0, wallMilliseconds: 0 }));
  entries.forEach((entry, i) => {
    scheduler.register(i, entry.params);
    entry.vm.board.skipIdleTime = false; // a sleeping VM leaves its hart: see below
  });
  const hartNow = new Float64Array(scheduler.harts);
  const wakeAt = new Float64Array(entries.length).fill(-1);
  let running = entries.length;
  while (running > 0) {
    let hart = 0;
    for (let h = 1; h < hartNow.length; h++) if (hartNow[h]! < hartNow[hart]!) hart = h;
    const now = hartNow[hart]!;
    if (now >= duration) break;
    let nextWake = Number.POSITIVE_INFINITY;
    for (let i = 0; i < wakeAt.length; i++) {
      const at = wakeAt[i]!;
      if (at < 0) continue;
      if (at <= now) {
        wakeAt[i] = -1;
        scheduler.wake(i, now);
      } else nextWake = Math.min(nextWake, at);
    }
    const decision = scheduler.pick(hart, now);
    if (decision.vcpu === null) {
      // Idle until something may become runnable: a refill, a sleeper's wake-up, or never.
      const until = Math.min(now + decision.slice, nextWake, duration);
      hartNow[hart] = Number.isFinite(until) && until > now ? until : duration;
      continue;
    }
    const index = decision.vcpu as number;
    const vm = entries[index]!.vm;
    const clock = vm.board.clock;
    if (clock.elapsed < now) clock.elapsed = now;
    // A sleeper waking during the slice may deserve the hart (a boost): end the slice there.
    const slice = Math.max(1, Math.min(decision.slice, duration - now, nextWake - now));
    const before = vm.board.instructions;
    const started = performance.now();
    const outcome = vm.run(slice);
    const ran = vm.board.instructions - before;
    const result = results[index]!;
    result.wallMilliseconds += performance.now() - started;
    result.received += ran;
    result.dispatches++;
    scheduler.account(index, ran, now + ran);
    hartNow[hart] = now + ran;
    if (outcome.kind !== "limit") {
      result.outcome = outcome;
      result.finishedAt = now + ran;
      scheduler.unregister(index);
      running--;
    } else if (ran < slice) {
      // Every vCPU sleeps: off the hart until its next timer (a device interrupt needs a timer
      // or input to arrive too, in this single-threaded run).
      scheduler.block(index, now + ran);
      wakeAt[index] = Math.max(vm.board.nextTimerDeadline() ?? duration, now + ran + 1);
    }
  }
  return results;
}
