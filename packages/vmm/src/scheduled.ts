import type { RunOutcome } from "@matryoshka/machine";
import type { Scheduler, VcpuParams } from "@matryoshka/scheduler";
import type { MemoryManager } from "./memory-manager.js";
import type { VM } from "./vm.js";

/** A VM to share the platform's harts with others, with its scheduling parameters. */
export interface ScheduledVm {
  vm: VM;
  /** Weight, cap (percent of a hart), pin; as `@matryoshka/scheduler` defines them. */
  params?: VcpuParams;
}

export interface ScheduledVmResult {
  name: string;
  /** Hart time it received: instructions its guest executed, over all its vCPUs (slept time not counted). */
  received: number;
  /** Times one of its vCPUs was put on a hart. */
  dispatches: number;
  /** The same per vCPU (index = the vCPU's hart id in the VM). */
  vcpus: { received: number; dispatches: number }[];
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
  /**
   * Longest stretch the platform's harts run before the hypervisor looks again at sleeping vCPUs
   * (default 100 000 instructions, 1 ms of guest time). A vCPU that an IPI or a device wakes while
   * it is off its hart is noticed at the end of the stretch; timers and slices end stretches
   * exactly.
   */
  maxStep?: number;
  /**
   * Called after every stretch with the platform time reached: where the caller feeds the VMs
   * input from outside this thread (network frames from a shared-memory link, say).
   */
  onStep?: (now: number) => void;
  /**
   * The hypervisor's memory manager, stepped every `memoryPeriod` instructions of platform time
   * (default 1 000 000, 10 ms of guest time): activity sampling, targets, balloons, sharing.
   */
  memoryManager?: MemoryManager;
  memoryPeriod?: number;
}

/**
 * Time-shares the platform's harts among the vCPUs of several VMs as `scheduler` decides,
 * deterministically in this thread (DESIGN.md §7). Every vCPU is a scheduling entity (its VM's
 * `params` apply to each), time is platform instructions, and each hart follows the loop
 * `Scheduler` documents: `pick` a vCPU, run it for at most the slice, `account` what it executed,
 * `block` it if it went to sleep, `wake` it when its timer is due or an interrupt (an IPI from a
 * sibling vCPU, a device) makes it runnable, preempting the hart `wake` names.
 *
 * The harts advance in lockstep, from one decision point to the next (a slice ending, a sleeper's
 * timer, at most `maxStep`). In each stretch a VM runs the vCPUs that are on harts together,
 * on its own board (`hartMask`), which interleaves them as parallel harts; vCPUs off a hart do
 * not run. Time in a VM never runs behind the platform's: a VM that was off every hart finds, when
 * it comes back, that the time it was away has passed (its clock is moved up), so its timers fire
 * as they would have.
 */
export function runScheduled(entries: readonly ScheduledVm[], scheduler: Scheduler, options: ScheduleOptions): ScheduledVmResult[] {
  const duration = options.duration;
  if (!(duration > 0)) throw new RangeError(`duration must be positive, got ${duration}`);
  const maxStep = options.maxStep ?? 100_000;
  if (!(maxStep >= 1)) throw new RangeError(`maxStep must be at least 1, got ${maxStep}`);
  const results: ScheduledVmResult[] = entries.map(({ vm }) => ({
    name: vm.name,
    received: 0,
    dispatches: 0,
    vcpus: vm.board.harts.map(() => ({ received: 0, dispatches: 0 })),
    wallMilliseconds: 0,
  }));
  // vCPU ids: consecutive numbers, VM by VM.
  const vmOf: number[] = [];
  const hartOf: number[] = [];
  entries.forEach((entry, i) => {
    entry.vm.board.skipIdleTime = false; // a sleeping vCPU leaves its hart: see below
    entry.vm.board.harts.forEach((_, h) => {
      scheduler.register(vmOf.length, entry.params);
      vmOf.push(i);
      hartOf.push(h);
    });
  });
  const harts = scheduler.harts;
  const onHart = new Int32Array(harts).fill(-1);
  const decisionEnd = new Float64Array(harts);
  const blocked = new Uint8Array(vmOf.length);
  const stepsBefore = new Float64Array(vmOf.length);
  const finished = new Uint8Array(entries.length);
  let running = entries.length;
  let now = 0;
  const memoryPeriod = options.memoryPeriod ?? 1_000_000;
  let nextMemoryStep = options.memoryManager === undefined ? Number.POSITIVE_INFINITY : memoryPeriod;
  while (running > 0 && now < duration) {
    if (now >= nextMemoryStep) {
      options.memoryManager!.step();
      nextMemoryStep = now + memoryPeriod;
    }
    // Sleepers whose timer is due, or whom an interrupt made runnable, come back.
    let nextWake = Number.POSITIVE_INFINITY;
    for (let id = 0; id < blocked.length; id++) {
      if (blocked[id] === 0) continue;
      const board = entries[vmOf[id]!]!.vm.board;
      const deadline = board.timerDeadline(hartOf[id]!);
      if (board.harts[hartOf[id]!]!.wakeable || (deadline !== undefined && deadline <= now)) {
        blocked[id] = 0;
        const preempt = scheduler.wake(id, now);
        if (preempt >= 0) decisionEnd[preempt] = now;
      } else if (deadline !== undefined) nextWake = Math.min(nextWake, deadline);
    }
    // Harts whose slice ended, or whose vCPU slept or finished, decide again.
    for (let hart = 0; hart < harts; hart++) {
      if (onHart[hart]! >= 0 && now < decisionEnd[hart]!) continue;
      const decision = scheduler.pick(hart, now);
      decisionEnd[hart] = now + decision.slice;
      if (decision.vcpu === null) {
        onHart[hart] = -1;
        continue;
      }
      const id = decision.vcpu as number;
      onHart[hart] = id;
      const result = results[vmOf[id]!]!;
      result.dispatches++;
      result.vcpus[hartOf[id]!]!.dispatches++;
    }
    // Up to the next decision point.
    let step = Math.min(duration - now, maxStep, nextWake - now, nextMemoryStep - now);
    for (let hart = 0; hart < harts; hart++) step = Math.min(step, decisionEnd[hart]! - now);
    step = Math.max(1, Math.ceil(step));
    for (let i = 0; i < entries.length; i++) {
      if (finished[i] === 1) continue;
      let mask = 0;
      for (let hart = 0; hart < harts; hart++) {
        const id = onHart[hart]!;
        if (id >= 0 && vmOf[id] === i) mask |= 1 << hartOf[id]!;
      }
      if (mask === 0) continue;
      const vm = entries[i]!.vm;
      const board = vm.board;
      if (board.clock.elapsed < now) board.clock.elapsed = now;
      for (let hart = 0; hart < harts; hart++) {
        const id = onHart[hart]!;
        if (id >= 0 && vmOf[id] === i) stepsBefore[id] = board.harts[hartOf[id]!]!.steps;
      }
      const started = performance.now();
      const outcome = vm.run(step, mask);
      const result = results[i]!;
      result.wallMilliseconds += performance.now() - started;
      let longest = 0;
      for (let hart = 0; hart < harts; hart++) {
        const id = onHart[hart]!;
        if (id < 0 || vmOf[id] !== i) continue;
        const ran = board.harts[hartOf[id]!]!.steps - stepsBefore[id]!;
        longest = Math.max(longest, ran);
        result.received += ran;
        result.vcpus[hartOf[id]!]!.received += ran;
        scheduler.account(id, ran, now + ran);
        if (outcome.kind === "limit" && board.isAsleep(hartOf[id]!)) {
          // Asleep in WFI: off the hart until its timer or an interrupt.
          scheduler.block(id, now + ran);
          blocked[id] = 1;
          onHart[hart] = -1;
        }
      }
      if (outcome.kind !== "limit") {
        result.outcome = outcome;
        result.finishedAt = now + longest;
        finished[i] = 1;
        running--;
        for (let id = 0; id < vmOf.length; id++) {
          if (vmOf[id] !== i) continue;
          scheduler.unregister(id);
          blocked[id] = 0;
        }
        for (let hart = 0; hart < harts; hart++) if (onHart[hart]! >= 0 && vmOf[onHart[hart]!] === i) onHart[hart] = -1;
      }
    }
    now += step;
    options.onStep?.(now);
  }
  return results;
}
