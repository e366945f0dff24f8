import { readFileSync } from "node:fs";
import { MemoryBlockBackend, SharedRingNetBackend, defaultMac, type SharedLinkBuffers } from "@matryoshka/devices";
import { VirtMachine, type RunOutcome } from "@matryoshka/machine";
import { createEngine, type EngineName } from "@matryoshka/engines";
import { CreditScheduler, RoundRobin, StrideScheduler, type Scheduler } from "@matryoshka/scheduler";
import { bareMetal, Hypervisor, MemoryManager, runScheduled, runVmThreaded, vmFootprintBytes, type VM } from "@matryoshka/vmm";
import type { MemoryPlan, PlannedVm, SchedulerName } from "./config.js";
import { FileSwapStore } from "./file-swap.js";

/**
 * Guest time is counted in instructions: the board's mtime runs at 10 MHz and advances one tick
 * every 10 instructions, so a millisecond of guest time is 100 000 instructions on one hart.
 */
export const INSTRUCTIONS_PER_MS = 100_000;

/** The RTC's time at boot, fixed so that every run of a config is the same. */
const RTC_EPOCH_MS = Date.UTC(2024, 0, 1);
/** Console output kept per VM for the report. */
const OUTPUT_LIMIT = 64 * 1024;
const MIB = 1024 * 1024;

/** One VM as a worker builds it (plain data: it crosses to the worker by structured clone). */
export type VmSpec = Pick<PlannedVm, "name" | "guestPath" | "vcpus" | "memoryMiB" | "diskPath" | "virtio" | "input"> & Partial<Pick<PlannedVm, "memoryShares" | "minMiB">> & {
  /** Scheduling parameters in the shared pool. */
  weight?: number;
  cap?: number;
  /** Its network card: the shared-memory link to its switch, and the number of its MAC (`defaultMac`). */
  net?: { link: SharedLinkBuffers; macIndex: number };
};

/** Instructions a networked VM runs between looks at its link (0.2 ms of guest time). */
const NET_POLL_INSTRUCTIONS = 20_000;

/**
 * Work for one host thread: a partition (one VM alone on a host board of `harts` harts) or the
 * shared pool (its VMs time-sliced on a host board of `harts` harts by `scheduler`).
 */
export type Job =
  | { kind: "partition"; harts: number; vm: VmSpec; durationMs: number; engine: EngineName }
  | {
      kind: "pool";
      harts: number;
      scheduler: SchedulerName;
      vms: VmSpec[];
      durationMs: number;
      engine: EngineName;
      /**
       * The pool's host memory in MiB (default: what its VMs need), and its memory manager's policy
       * (none: every VM's memory is its own).
       */
      memoryMiB?: number;
      memory?: MemoryPlan;
    };

/** How a VM's run ended, as plain data. */
export interface OutcomeData {
  kind: RunOutcome["kind"];
  /** The test device's failure code, for "fail". */
  code?: number;
  reason?: string;
}

export interface VmRunResult {
  name: string;
  /** Guest instructions executed, all vCPUs together: the hart time it received. */
  instructions: number;
  /** Set if the guest ended within the duration. */
  outcome?: OutcomeData;
  /** Guest time (instructions of its host board's timeline) at which it ended. */
  finishedAt?: number;
  /** Wall-clock milliseconds its instructions took (in the pool: only its own slices). */
  wallMilliseconds: number;
  /** Times the pool's scheduler put it on a hart (1 for a partition). */
  dispatches: number;
  /** Its console output (at most the first 64 KiB), Latin-1. */
  output: string;
  /** Its memory at the end. */
  memory: VmMemoryUse;
}

/** A VM's memory at the end of a run, in MiB (pages ÷ 256). */
export interface VmMemoryUse {
  /** Pages with a frame (shared ones included). */
  residentMiB: number;
  /** Of those, pages sharing a frame copy-on-write. */
  sharedMiB: number;
  /** Pages its balloon driver gave back. */
  balloonedMiB: number;
  /** Pages the hypervisor swapped out. */
  swappedMiB: number;
}

const PAGES_PER_MIB = 256;

function memoryUse(vm: VM): VmMemoryUse {
  const stats = vm.memory.stats;
  return {
    residentMiB: stats.resident / PAGES_PER_MIB,
    sharedMiB: stats.shared / PAGES_PER_MIB,
    balloonedMiB: (vm.balloon?.heldPages ?? 0) / PAGES_PER_MIB,
    swappedMiB: stats.swapped / PAGES_PER_MIB,
  };
}

export interface JobResult {
  /** The name of the engine the host board ran on (what the worker really used). */
  engine: string;
  vms: VmRunResult[];
  /** Wall-clock milliseconds of the whole run, boot excluded. */
  wallMilliseconds: number;
}

/** A guest image the loader rejected: the config's fault, reported against that VM's `guest`. */
export class GuestLoadError extends Error {
  override readonly name = "GuestLoadError";
  constructor(
    readonly vmName: string,
    message: string,
  ) {
    super(message);
  }
}

class OutputCapture {
  private readonly bytes = new Uint8Array(OUTPUT_LIMIT);
  private length = 0;
  readonly sink = (byte: number): void => {
    if (this.length < OUTPUT_LIMIT) this.bytes[this.length++] = byte;
  };
  get text(): string {
    return Buffer.from(this.bytes.subarray(0, this.length)).toString("latin1");
  }
}

function outcomeData(outcome: RunOutcome): OutcomeData {
  return { kind: outcome.kind, ...("code" in outcome ? { code: outcome.code } : {}), ...("reason" in outcome ? { reason: outcome.reason } : {}) };
}

/** The scheduler the pool runs, in instruction time: 1 ms slices (round robin, stride quanta), Xen's defaults for credit. */
export function createScheduler(name: SchedulerName, harts: number): Scheduler {
  switch (name) {
    case "round-robin":
      return new RoundRobin(INSTRUCTIONS_PER_MS, { harts });
    case "stride":
      return new StrideScheduler({ quantum: INSTRUCTIONS_PER_MS, harts });
    case "credit":
      return new CreditScheduler({ unitsPerMs: INSTRUCTIONS_PER_MS, harts });
  }
}

/** A job with its machines built and guests booted, ready to `run` (so that runs start together). */
export interface PreparedJob {
  run(): Promise<JobResult>;
}

function createVm(hypervisor: Hypervisor, spec: VmSpec, output: OutputCapture, balloon: boolean, links: SharedRingNetBackend[]): VM {
  const disks = spec.diskPath === undefined ? undefined : [new MemoryBlockBackend(new Uint8Array(readFileSync(spec.diskPath)))];
  const link = spec.net === undefined ? undefined : new SharedRingNetBackend(spec.net.link);
  if (link !== undefined) links.push(link);
  const vm = hypervisor.createVm({
    name: spec.name,
    harts: spec.vcpus,
    memoryMiB: spec.memoryMiB,
    disks,
    net: link === undefined ? undefined : [{ backend: link, mac: defaultMac(spec.net!.macIndex) }],
    virtioVersion: spec.virtio,
    console: output.sink,
    rtcEpochMilliseconds: RTC_EPOCH_MS,
    balloon,
  });
  try {
    vm.boot({ kernel: new Uint8Array(readFileSync(spec.guestPath)) });
  } catch (error) {
    if (error instanceof Error && error.name === "LoadError") throw new GuestLoadError(spec.name, error.message);
    throw error;
  }
  if (spec.input !== undefined) vm.board.uart.receive(Buffer.from(spec.input, "latin1"));
  return vm;
}

/** Builds the job's host board, hypervisor and VMs (depth 1) and boots the guests. */
export function prepareJob(job: Job): PreparedJob {
  const duration = job.durationMs * INSTRUCTIONS_PER_MS;
  const specs = job.kind === "partition" ? [job.vm] : job.vms;
  const memory = job.kind === "pool" ? job.memory : undefined;
  // A partition's board holds its VM; the pool's holds the pool's memory, which may be less than
  // its VMs' (they start anyway: frames are handed out as pages are touched).
  const hostMiB = (job.kind === "pool" ? job.memoryMiB : undefined) ?? Math.ceil(specs.reduce((sum, spec) => sum + vmFootprintBytes(spec.memoryMiB), 0) / MIB);
  const host = new VirtMachine({ harts: job.harts, memoryMiB: hostMiB, engine: createEngine(job.engine) });
  const hypervisor = new Hypervisor(bareMetal(host));
  const outputs = specs.map(() => new OutputCapture());
  const links: SharedRingNetBackend[] = [];
  const vms = specs.map((spec, i) => createVm(hypervisor, spec, outputs[i]!, memory?.balloon === true, links));
  const poll = () => {
    for (const link of links) link.poll();
  };

  if (job.kind === "partition") {
    const vm = vms[0]!;
    return {
      async run() {
        const started = performance.now();
        // One vCPU runs here; several run in parallel, each on a worker thread standing for one
        // of the partition's harts (a machine's harts are threads: runVmThreaded).
        const outcome =
          vm.board.harts.length > 1
            ? (await runVmThreaded(vm, { engine: host.engine.name, maxInstructions: duration, poll })).outcome
            : runPolling(vm, duration, links.length > 0 ? poll : undefined);
        const wallMilliseconds = performance.now() - started;
        const finished = outcome.kind !== "limit";
        return {
          engine: host.engine.name,
          wallMilliseconds,
          vms: [
            {
              name: vm.name,
              instructions: vm.board.instructions,
              outcome: finished ? outcomeData(outcome) : undefined,
              finishedAt: finished ? vm.board.clock.elapsed : undefined,
              wallMilliseconds,
              dispatches: 1,
              output: outputs[0]!.text,
              memory: memoryUse(vm),
            },
          ],
        };
      },
    };
  }
  const scheduler = createScheduler(job.scheduler, job.harts);
  const swap = memory?.swapPath === undefined ? undefined : new FileSwapStore(memory.swapPath);
  let memoryManager: MemoryManager | undefined;
  if (memory !== undefined) {
    memoryManager = new MemoryManager(hypervisor, { sharing: memory.sharing, balloon: memory.balloon, idleTax: memory.idleTax, swap });
    vms.forEach((vm, i) => memoryManager!.manage(vm, { shares: job.vms[i]!.memoryShares, minPages: (job.vms[i]!.minMiB ?? 0) * PAGES_PER_MIB }));
  }
  return {
    async run() {
      const started = performance.now();
      let results;
      try {
        results = runScheduled(
          vms.map((vm, i) => ({ vm, params: { weight: job.vms[i]!.weight, cap: job.vms[i]!.cap } })),
          scheduler,
          { duration, memoryManager, onStep: links.length > 0 ? poll : undefined },
        );
      } finally {
        swap?.close();
      }
      const wallMilliseconds = performance.now() - started;
      return {
        engine: host.engine.name,
        wallMilliseconds,
        vms: results.map((result, i) => ({
          name: result.name,
          instructions: result.received,
          outcome: result.outcome === undefined ? undefined : outcomeData(result.outcome),
          finishedAt: result.finishedAt,
          wallMilliseconds: result.wallMilliseconds,
          dispatches: result.dispatches,
          output: outputs[i]!.text,
          memory: memoryUse(vms[i]!),
        })),
      };
    },
  };
}

/**
 * Runs a lone VM for `duration` instructions of its time; with `poll` (a network link to look at),
 * in short slices with a poll after each, so frames from other threads arrive while it runs.
 */
function runPolling(vm: VM, duration: number, poll: (() => void) | undefined): RunOutcome {
  if (poll === undefined) return vm.run(duration);
  for (;;) {
    const left = duration - vm.board.clock.elapsed;
    if (left <= 0) return { kind: "limit" };
    const outcome = vm.run(Math.min(left, NET_POLL_INSTRUCTIONS));
    if (outcome.kind !== "limit") return outcome;
    poll();
  }
}
