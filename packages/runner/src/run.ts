import type { BlockBackend } from "@matryoshka/devices";
import { runThreaded, type BootInfo, type RunOutcome, type VirtioConsoleCard, type VirtioDisk, type VirtioNic, type VirtioRngCard } from "@matryoshka/machine";
import type { ShadowStats } from "@matryoshka/mmu";
import type { ExitStats } from "@matryoshka/vmm";
import { ISA_PROFILES, type IsaProfileName } from "@matryoshka/isa";
import { copyGuestMemory, type FrameOrder } from "@matryoshka/memory";
import type { CounterValue, MetricsSnapshot } from "@matryoshka/metrics";
import { SbiFirmware } from "@matryoshka/paravirt";
import { buildStack, runVmThreaded, type Stack, type VmBackend } from "@matryoshka/vmm";
import { createEngine, type EngineName } from "@matryoshka/engines";
import { createDefaultEngine } from "@matryoshka/cpu";
import { installTrace, TracingEngine, type TraceOptions } from "./trace.js";

/** Everything `matryoshka run` needs, already read from disk. */
export interface RunOptions {
  kernel: Uint8Array;
  /** Levels of hypervisor beneath the guest: 0 runs it on the bare board. */
  depth?: number;
  /** The hardware's execution engine (default: the board's default, the interpreter). */
  engine?: EngineName;
  /**
   * How each VM gets its guest's sensitive instructions (default "trap-and-emulate"; "bt" needs
   * engine "bt"; "pv": the guest's VM boots its kernel in S-mode with the hypervisor as its SBI
   * firmware, `@matryoshka/paravirt`).
   */
  backend?: VmBackend;
  /** The hardware's ISA profile, which every VM presents too (default: standard). */
  isaProfile?: IsaProfileName;
  bios?: Uint8Array;
  append?: string;
  initrd?: Uint8Array;
  harts?: number;
  memoryMiB?: number;
  pmpEntries?: number;
  /**
   * virtio-blk disks: `{ backend, slot }` in virtio-mmio slot `slot` (QEMU's bus=virtio-mmio-bus.N),
   * the others in the highest free slots (the first plain one at 0x10008000, as QEMU's first -device).
   */
  disks?: (BlockBackend | VirtioDisk)[];
  /**
   * virtio-net cards of the guest's board (at any depth), each on its backend (a socket, a switch
   * port…). With a card, the run lets the event loop turn between short slices, so frames from
   * sockets arrive, and an idle guest waits for them instead of ending the run.
   */
  net?: VirtioNic[];
  /** A virtio-rng device for the guest (`seededEntropy` from `@matryoshka/devices` keeps runs repeatable). */
  rng?: VirtioRngCard;
  /** A virtio-console port for the guest (Linux's hvc0). */
  virtioConsole?: VirtioConsoleCard;
  /** virtio-mmio version: 1 legacy (QEMU's default), 2 modern. */
  virtioVersion?: 1 | 2;
  /** Stop after this many instructions of machine time (exit status 124). */
  maxInstructions?: number;
  /** Receives the guest's console output. */
  console: (byte: number) => void;
  /** Console input; the run waits for it when every hart is idle. */
  input?: InputSource;
  /**
   * Run the harts in parallel, each on its own worker thread, instead of interleaving them
   * deterministically in this one: the guest's harts at depth 0, the VM's vCPUs at depth 1
   * (trap-and-emulate only). Deeper stacks are refused.
   */
  threads?: boolean;
  /**
   * How every hypervisor level hands out frames (default "ascending"). "descending" and
   * "interleaved" scatter each VM's pages over the memory beneath; a guest cannot tell (the tests
   * check it, for every bundled guest).
   */
  frameOrder?: FrameOrder;
  /**
   * A balloon for the guest's VM (QEMU's `-device virtio-balloon-device`), asking the guest to give
   * this many MiB back to its hypervisor (`run --balloon MiB`); needs depth 1 or more.
   */
  balloonMiB?: number;
  /**
   * Pause at this much machine time (instructions, as `maxInstructions` counts them): the run
   * returns with `paused` set, its stack intact, for a snapshot to save. Ignored at or past the limit.
   * A guest of several harts pauses at the first slice boundary at or after it instead (see run.ts),
   * so that the rest of its run interleaves its harts as an uninterrupted run does.
   */
  pauseAt?: number;
  /**
   * Continue a saved run instead of booting: called with a freshly built stack (not booted) to put
   * the saved state back, it returns the run's counters as they were (`PausedRun.counters`). The
   * boot images in `kernel`, `bios`, `initrd` and `append` still serve a later reset.
   */
  resume?: (stack: Stack) => RunCounters;
  /**
   * Called between slices (of `sliceInstructions`, default 2,000,000; shorter slices change how a
   * guest of several harts interleaves them) with the run as it stands:
   * resolving true ends the run there, as `pauseAt` does (the report's `paused` holds it), false
   * goes on. Live migration copies the guest's memory here while it keeps running.
   */
  afterSlice?: (run: PausedRun) => boolean | Promise<boolean>;
  /** Instructions of machine time between checks for input and `afterSlice` calls (default 2,000,000). */
  sliceInstructions?: number;
  /**
   * Called with each stack the run builds, booted (or restored) and not run yet: the first, and a
   * fresh one after every reset. A debugger attaches to its boards here (`VirtMachine.debugger`).
   */
  onStack?: (stack: Stack) => void;
  /** Trace what the run does (`matryoshka run --trace`, trace.ts); not with `threads`. */
  trace?: TraceOptions;
}

/** What the run loop counts beside the machines: time and instructions of boots before a reset. */
export interface RunCounters {
  /** Machine time (instructions) of the boots before the last reset. */
  earlierTime: number;
  /** Instructions of the boots before the last reset. */
  earlierInstructions: number;
  resets: number;
}

/** A run stopped at `RunOptions.pauseAt`: the stack as it stands, and the loop's own counters. */
export interface PausedRun {
  stack: Stack;
  counters: RunCounters;
  /** Machine time (instructions) at which it paused, counting earlier boots. */
  machineTime: number;
  /**
   * True when the pause ended the guest's board's quantum early (`pauseAt` between quantum
   * boundaries): a VM whose guest was running then took one budget exit for the cut that an
   * uninterrupted run would not have taken.
   */
  cut?: boolean;
}

/** Host input for the guest's UART, e.g. from process.stdin. */
export interface InputSource {
  /** Resolves with the next bytes, or undefined at end of input. */
  next(): Promise<Uint8Array | undefined>;
  /** Bytes that arrived and have not been consumed, without waiting. */
  drain(): Uint8Array | undefined;
}

/** What one hypervisor level did (level k runs VM k on the platform of level k-1). */
export interface LevelReport {
  level: number;
  /**
   * Everything the level counted, as `@matryoshka/metrics` reads it from the VM's board: "exits",
   * "shadow", "memory", "harts" (its virtual harts: instructions, traps and injected interrupts),
   * its virtio devices, and "sbi" for a paravirtual VM. The fields below are views of it.
   */
  metrics: MetricsSnapshot;
  exits: ExitStats;
  shadow: ShadowStats;
  /** Virtual interrupts the level's guest took, by cause. */
  injectedInterrupts: Map<number, number>;
}

export interface RunReport {
  outcome: RunOutcome;
  depth: number;
  /** The name of the hardware's execution engine ("interpreter", "bt"). */
  engine: string;
  /**
   * Per hypervisor level, from level 1 (on the hardware) to the guest's own; empty at depth 0.
   * Like the exceptions and interrupts, counted since the last reset.
   */
  levels: LevelReport[];
  /** Instructions started, summed over harts (and over boots, if the guest reset the machine). */
  instructions: number;
  /** Times the guest reset the machine through the test device (each reset reboots, as on QEMU). */
  resets: number;
  /** Exceptions and interrupts taken since the last reset, by cause number, summed over harts. */
  exceptions: Map<number, number>;
  interrupts: Map<number, number>;
  wallMilliseconds: number;
  /**
   * Every counter of the run (`@matryoshka/metrics`): the hardware's board (its harts and engine)
   * and each level's VM, since the last reset. `--stats` and the JSON outputs read this.
   */
  metrics: { hardware: MetricsSnapshot; levels: MetricsSnapshot[] };
  /** Set when the run stopped at `RunOptions.pauseAt` (the outcome then says "limit"). */
  paused?: PausedRun;
}

/** Instructions between checks for console input and between event-loop turns. */
const SLICE = 2_000_000;
/** The same with a network card: frames from another process wait at most this many instructions. */
const NET_SLICE = 200_000;
/** How long an idle guest with a network card waits before looking again, in ms. */
const NET_IDLE_WAIT = 2;

/**
 * Boots a guest on the `virt` board, on bare metal (depth 0) or under `depth` nested hypervisors,
 * and runs it to completion.
 */
export async function runGuest(options: RunOptions): Promise<RunReport> {
  const depth = options.depth ?? 0;
  if (options.balloonMiB !== undefined && depth === 0) {
    throw new RangeError("--balloon needs --depth 1 or more: the balloon gives memory back to a hypervisor");
  }
  if (options.backend === "pv" && depth === 0) {
    throw new RangeError("the pv backend needs --depth 1 or more: the hypervisor is the guest kernel's firmware");
  }
  if (options.threads === true && (depth > 1 || (depth === 1 && (options.backend ?? "trap-and-emulate") !== "trap-and-emulate"))) {
    throw new RangeError("--threads runs harts on worker threads at depth 0, or a VM's vCPUs at depth 1 with the trap-and-emulate backend");
  }
  if (options.trace !== undefined && options.threads === true) throw new RangeError("--trace needs the deterministic run: drop --threads");
  const build = () => {
    const built = buildRunStack(options, depth);
    if (options.trace !== undefined) installTrace(built, options.trace);
    return built;
  };
  // A VM's boot also tells the levels beneath that its RAM changed.
  const boot = (stack: Stack) => bootRunStack(stack, options);
  let stack = build();
  // Machine time and instructions of the boots before a reset.
  let earlierTime = 0;
  let earlierInstructions = 0;
  let resets = 0;
  if (options.resume) ({ earlierTime, earlierInstructions, resets } = options.resume(stack));
  else boot(stack);
  options.onStack?.(stack);
  const started = performance.now();
  const limit = options.maxInstructions ?? Number.POSITIVE_INFINITY;
  const networked = (options.net?.length ?? 0) > 0;
  // A network card needs short slices, so that frames move between the host and the guest often.
  const slice = options.sliceInstructions ?? (networked ? NET_SLICE : SLICE);
  const pauseAt = options.pauseAt !== undefined && options.pauseAt < limit ? options.pauseAt : undefined;
  let paused: PausedRun | undefined;
  let inputOpen = options.input !== undefined;
  let outcome: RunOutcome;
  for (;;) {
    const machine = stack.guest;
    const pending = options.input?.drain();
    if (pending) machine.uart.receive(pending);
    const left = limit - earlierTime - machine.clock.elapsed;
    if (left <= 0) {
      outcome = { kind: "limit" };
      break;
    }
    if (pauseAt !== undefined && earlierTime + machine.clock.elapsed >= pauseAt) {
      // Console input that reached the host by now belongs to the saved run: one turn of the
      // event loop lets it arrive, and it waits in the UART's FIFO, which the snapshot holds.
      if (options.input) {
        await new Promise((resolve) => setImmediate(resolve));
        const late = options.input.drain();
        if (late) machine.uart.receive(late);
      }
      outcome = { kind: "limit" };
      const machineTime = earlierTime + machine.clock.elapsed;
      // Cut short: the guest board's last quantum ended at the pause rather than at its boundary.
      paused = { stack, counters: { earlierTime, earlierInstructions, resets }, machineTime, cut: machine.clock.elapsed % machine.quantum !== 0 };
      break;
    }
    if (options.afterSlice) {
      const run: PausedRun = { stack, counters: { earlierTime, earlierInstructions, resets }, machineTime: earlierTime + machine.clock.elapsed };
      if (await options.afterSlice(run)) {
        outcome = { kind: "limit" };
        paused = run;
        break;
      }
    }
    // One hart pauses at `pauseAt` exactly. Several interleave in rounds of a quantum each, which a
    // slice that ends early cuts short: pausing there would change the interleaving of the rest of
    // the run, so they pause at the first boundary of the run's own slices at or after `pauseAt`.
    const untilPause = pauseAt === undefined || machine.harts.length > 1 ? left : Math.min(left, pauseAt - earlierTime - machine.clock.elapsed);
    // Slices end at whole multiples of the slice length of machine time, counted from the first
    // boot: a restored run then cuts its harts' quanta where the saved run would have gone on to
    // cut them, and the VMs' budget exits agree with an uninterrupted run's.
    const now = earlierTime + machine.clock.elapsed;
    const thisSlice = slice - (now % slice);
    outcome = options.threads === true ? await runOnThreads(stack, untilPause, options.input) : machine.run(Math.min(thisSlice, untilPause));
    if (outcome.kind === "limit") {
      if (earlierTime + machine.clock.elapsed >= limit) break;
      if (pauseAt !== undefined && earlierTime + machine.clock.elapsed >= pauseAt) continue;
      if (options.input || networked) await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    if (outcome.kind === "idle" && networked && !(inputOpen && options.input)) {
      // A frame may yet come and raise the card's interrupt: as on QEMU, a NIC keeps the machine up.
      await new Promise((resolve) => setTimeout(resolve, NET_IDLE_WAIT));
      continue;
    }
    if (outcome.kind === "idle" && inputOpen && options.input) {
      const bytes = await options.input.next();
      if (bytes === undefined) inputOpen = false;
      else machine.uart.receive(bytes);
      continue;
    }
    if (outcome.kind === "reset") {
      // QEMU's system reset: every device and hart back to its reset state, the images (kernel,
      // firmware, initrd, device tree) loaded again, and the rest of RAM left as it was. A fresh
      // stack resets the devices; the guest's RAM carries over.
      const previous = stack.guest.ram;
      earlierTime += machine.clock.elapsed;
      earlierInstructions += machine.instructions;
      resets++;
      stack = build();
      if (!copyGuestMemory(previous, stack.guest.ram)) throw new Error("the guest's RAM could not be carried over the reset");
      boot(stack);
      options.onStack?.(stack);
      continue;
    }
    break;
  }
  return { ...reportOf(stack, { earlierTime, earlierInstructions, resets }, outcome, performance.now() - started), paused };
}

/**
 * The report of a run as its stack stands: at the end of `runGuest`, or of a run stopped between
 * slices (`afterSlice` gets a `PausedRun`) for a summary of the run so far.
 */
export function reportOf(stack: Stack, counters: RunCounters, outcome: RunOutcome, wallMilliseconds: number): RunReport {
  const hardware = stack.host.metrics.snapshot();
  const levelMetrics = stack.vms.map((vm) => vm.board.metrics.snapshot());
  // The guest's own board counted what the guest took: the hardware at depth 0, its VM's otherwise.
  const guestHarts = (levelMetrics.at(-1) ?? hardware).harts!;
  const levels = stack.vms.map((vm, index): LevelReport => levelReport(vm.level, levelMetrics[index]!));
  return {
    outcome,
    depth: stack.vms.length,
    engine: stack.host.engine.name,
    levels,
    instructions: counters.earlierInstructions + (guestHarts.instructions as number),
    resets: counters.resets,
    exceptions: byCause(guestHarts.exceptions),
    interrupts: byCause(guestHarts.interrupts),
    wallMilliseconds,
    metrics: { hardware, levels: levelMetrics },
  };
}

/** The stack a run's options describe, not booted. */
function buildRunStack(options: RunOptions, depth: number): Stack {
  const trace = options.trace?.categories;
  const engine = options.engine === undefined ? undefined : createEngine(options.engine);
  const traceInstructions = trace !== undefined && (trace.has("exec") || trace.has("in_asm"));
  return buildStack(depth, {
    engine: traceInstructions ? new TracingEngine(engine ?? createDefaultEngine(), trace.has("exec"), trace.has("in_asm"), options.trace!.write) : engine,
    backend: options.backend,
    paravirtualFirmware: () => new SbiFirmware(),
    isaProfile: options.isaProfile === undefined ? undefined : ISA_PROFILES[options.isaProfile],
    harts: options.harts,
    memoryMiB: options.memoryMiB,
    pmpEntries: options.pmpEntries,
    console: options.console,
    disks: options.disks,
    net: options.net,
    rng: options.rng,
    virtioConsole: options.virtioConsole,
    virtioVersion: options.virtioVersion,
    frameOrder: options.frameOrder,
    balloon: options.balloonMiB !== undefined,
  });
}

/** Boots the innermost board (a VM's boot also tells the levels beneath that its RAM changed). */
function bootRunStack(stack: Stack, options: RunOptions): BootInfo {
  const info = (stack.vms.at(-1) ?? stack.guest).boot({ kernel: options.kernel, bios: options.bios, append: options.append, initrd: options.initrd });
  if (options.balloonMiB !== undefined) stack.vms.at(-1)!.balloon!.setTarget(options.balloonMiB * 256);
  return info;
}

/**
 * The flattened device tree the guest boots with (QEMU's `-machine dumpdtb`): at depth > 0 the
 * innermost VM's, the board the guest itself sees. Builds and boots the stack, runs nothing.
 */
export function guestDeviceTree(options: RunOptions): Uint8Array {
  const depth = options.depth ?? 0;
  if (options.balloonMiB !== undefined && depth === 0) throw new RangeError("--balloon needs --depth 1 or more: the balloon gives memory back to a hypervisor");
  if (options.backend === "pv" && depth === 0) throw new RangeError("the pv backend needs --depth 1 or more: the hypervisor is the guest kernel's firmware");
  return bootRunStack(buildRunStack(options, depth), options).fdt;
}

/** A level's report, read from its metrics. */
function levelReport(level: number, metrics: MetricsSnapshot): LevelReport {
  const exits = metrics.exits as unknown as Omit<ExitStats, "byCause"> & { byCause: number[] };
  return {
    level,
    metrics,
    exits: { ...exits, byCause: Float64Array.from(exits.byCause) },
    shadow: metrics.shadow as unknown as ShadowStats,
    injectedInterrupts: byCause(metrics.harts!.interrupts),
  };
}

/** The non-zero counts of a by-cause counter. */
function byCause(counts: CounterValue | undefined): Map<number, number> {
  const map = new Map<number, number>();
  if (Array.isArray(counts)) counts.forEach((count, cause) => count && map.set(cause, count));
  return map;
}

/** One threaded run (see RunOptions.threads) until the guest stops, idles or reaches `limit`, taking console input as it comes. */
async function runOnThreads(stack: Stack, limit: number, input: InputSource | undefined): Promise<RunOutcome> {
  const machine = stack.guest;
  const poll = () => {
    const bytes = input?.drain();
    if (bytes) machine.uart.receive(bytes);
  };
  const maxInstructions = Number.isFinite(limit) ? limit : undefined;
  const vm = stack.vms[0];
  const report = vm === undefined
    ? await runThreaded(machine, { maxInstructions, poll })
    : await runVmThreaded(vm, { engine: stack.host.engine.name, maxInstructions, poll });
  return report.outcome;
}
