import { availableParallelism } from "node:os";
import { NetSwitch, SharedRingPort, sharedLink, type SharedLinkBuffers } from "@matryoshka/devices";
import { ENGINE_NAMES, type EngineName } from "@matryoshka/engines";
import { PartitionConfigError, type PartitionPlan, type PlannedVm, type SchedulerName } from "./config.js";
import { INSTRUCTIONS_PER_MS, type Job, type JobResult, type OutcomeData, type VmMemoryUse, type VmRunResult, type VmSpec } from "./jobs.js";
import { promisedShares } from "./shares.js";
import { startJobThread, WorkerLoadError } from "./spawn.js";

export interface PartitionRunOptions {
  /**
   * Execution engine of every host board. Default: MATRYOSHKA_ENGINE if it names one (the test
   * suite runs on both), else the interpreter.
   */
  engine?: EngineName;
  /**
   * Also run every VM alone first (its partition, or the pool with only it), one at a time, to
   * measure how much slower it runs beside the others (`throughputVsAlone`).
   */
  baseline?: boolean;
  /** Told what is being run, for a progress line. */
  onProgress?: (text: string) => void;
}

/** How a guest stood at the end: it ran out of time ("running") or ended as its board says. */
export type GuestState = "running" | OutcomeData["kind"];

export interface VmReport {
  name: string;
  placement: "partition" | "shared";
  /** The partition's host harts; for a shared VM, the pool's. */
  harts: number[];
  vcpus: number;
  /** Shared VMs only: as configured (cap 0: uncapped). */
  weight?: number;
  cap?: number;
  state: GuestState;
  /** The test device's failure code, when state is "fail". */
  failCode?: number;
  /** Why the board stopped, for "idle", "stuck", "stopped". */
  reason?: string;
  /** Whether the guest counts as failed (a test-device failure or an abnormal stop). */
  failed: boolean;
  /** Guest time at which it ended, in ms (its host board's timeline). */
  finishedAtMs?: number;
  /** Guest instructions executed, all vCPUs together. */
  instructions: number;
  /**
   * Hart time promised, in hart-milliseconds: a partition's harts × the duration; a shared VM's
   * share of the pool's harts × the duration, as weights and caps imply (see `promisedShares`).
   */
  promisedHartMs: number;
  /** Hart time received, in hart-milliseconds: its instructions ÷ 100 000. */
  receivedHartMs: number;
  /** received ÷ promised. Below 1 when the guest slept, finished, or has fewer vCPUs than harts. */
  receivedVsPromised: number;
  /** Times the pool's scheduler dispatched it (1 for a partition). */
  dispatches: number;
  /** Wall-clock milliseconds its instructions took (shared: its own slices only). */
  wallMilliseconds: number;
  /** Guest instructions per wall-clock second while it ran. */
  instructionsPerSecond: number;
  /** With `baseline`: the same, with the VM running alone. */
  aloneInstructionsPerSecond?: number;
  /** With `baseline`: guest instructions it executed alone (a partition's equal `instructions`: its run is deterministic). */
  aloneInstructions?: number;
  /** With `baseline`: instructionsPerSecond ÷ aloneInstructionsPerSecond; below 1 is interference. */
  throughputVsAlone?: number;
  /** Console output, at most the first 64 KiB. */
  output: string;
  /** Its RAM as configured, in MiB. */
  memoryMiB: number;
  /** Shared VMs under a memory manager: memory shares and the minimum it keeps (MiB). */
  memoryShares?: number;
  minMiB?: number;
  /** Its memory at the end: resident, shared, ballooned and swapped MiB. */
  memory: VmMemoryUse;
}

export interface PartitionReport {
  machineHarts: number;
  poolHarts: number[];
  scheduler: SchedulerName;
  durationMs: number;
  /** The engine every host board ran on, as the workers report it. */
  engine: string;
  /** Worker threads that ran at the same time: one per partition, one for the pool. */
  threads: number;
  /** CPUs the host has: with fewer than `threads`, partitions also compete for host CPUs. */
  hostCpus: number;
  /** The machine's memory (if the config gives it) and the shared pool's, in MiB. */
  machineMemoryMiB?: number;
  poolMemoryMiB: number;
  /** The pool's memory policy, when a memory manager ran it. */
  memory?: { sharing: boolean; balloon: boolean; idleTax: number; swap: boolean };
  /** Wall-clock milliseconds of the parallel run, from the common start to the last thread's end. */
  wallMilliseconds: number;
  vms: VmReport[];
  /** 0: no guest failed (those still running count as fine); 1: some guest failed. */
  status: 0 | 1;
}

function defaultEngine(): EngineName {
  const fromEnvironment = process.env.MATRYOSHKA_ENGINE;
  return ENGINE_NAMES.find((name) => name === fromEnvironment) ?? "interpreter";
}

/**
 * The virtual switches of a run: one learning switch per name the VMs' `net` fields give, on this
 * thread, with a shared-memory link per VM to the worker that runs it. `pump` moves the frames
 * the VMs sent through the switches into the links of the VMs they are for.
 */
class Network {
  readonly links = new Map<string, { link: SharedLinkBuffers; macIndex: number }>();
  private readonly ports: SharedRingPort[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(vms: readonly PlannedVm[]) {
    const switches = new Map<string, NetSwitch>();
    for (const vm of vms) {
      if (vm.net === undefined) continue;
      let sw = switches.get(vm.net);
      if (sw === undefined) switches.set(vm.net, (sw = new NetSwitch(vm.net)));
      const link = sharedLink();
      this.links.set(vm.name, { link, macIndex: vm.index });
      this.ports.push(new SharedRingPort(link, sw.port()));
    }
  }

  /** Pumps every millisecond while the workers run (this thread only waits for them meanwhile). */
  start(): void {
    if (this.ports.length > 0) this.timer = setInterval(() => this.pump(), 1);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private pump(): void {
    for (const port of this.ports) port.pump();
  }
}

function spec(vm: PlannedVm, network?: Network): VmSpec {
  const placement = vm.placement;
  const net = network?.links.get(vm.name);
  return {
    ...(net === undefined ? {} : { net }),
    name: vm.name,
    guestPath: vm.guestPath,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    diskPath: vm.diskPath,
    virtio: vm.virtio,
    input: vm.input,
    memoryShares: vm.memoryShares,
    minMiB: vm.minMiB,
    ...(placement.kind === "shared" ? { weight: placement.weight, cap: placement.cap } : {}),
  };
}

/** The jobs for a set of VMs: one per partition, one for all the shared ones. */
function jobsFor(plan: PartitionPlan, vms: readonly PlannedVm[], engine: EngineName, network?: Network): Job[] {
  const jobs: Job[] = [];
  const shared: PlannedVm[] = [];
  for (const vm of vms) {
    if (vm.placement.kind === "partition") jobs.push({ kind: "partition", harts: vm.placement.harts.length, vm: spec(vm, network), durationMs: plan.durationMs, engine });
    else shared.push(vm);
  }
  if (shared.length > 0) {
    // Alone (a baseline), a shared VM gets the pool's memory all the same: what it had beside the others.
    jobs.push({ kind: "pool", harts: plan.poolHarts.length, scheduler: plan.scheduler, vms: shared.map((vm) => spec(vm, network)), durationMs: plan.durationMs, engine, memoryMiB: plan.poolMemoryMiB, memory: plan.memory });
  }
  return jobs;
}

/**
 * Runs the jobs on worker threads at once: each builds and boots its machines, and only when all
 * are ready are they told to start, so that they overlap for real. Results come back in job order.
 */
async function runTogether(plan: PartitionPlan, jobs: Job[], network?: Network): Promise<{ results: JobResult[]; wallMilliseconds: number }> {
  const threads = jobs.map(startJobThread);
  try {
    await Promise.all(threads.map((thread) => thread.ready));
    const started = performance.now();
    network?.start();
    const results = await Promise.all(threads.map((thread) => thread.start()));
    return { results, wallMilliseconds: performance.now() - started };
  } catch (error) {
    await Promise.all(threads.map((thread) => thread.terminate()));
    if (error instanceof WorkerLoadError) {
      const vm = plan.vms.find((candidate) => candidate.name === error.vmName);
      throw new PartitionConfigError([`vms[${vm?.index ?? "?"}].guest: cannot load ${vm?.guestPath ?? "the guest"}: ${error.message}`]);
    }
    throw error;
  } finally {
    network?.stop();
  }
}

const FAILED_STATES: ReadonlySet<GuestState> = new Set(["fail", "idle", "stuck", "stopped"]);

/**
 * Runs a validated plan: every partition's VM on a worker thread of its own with a host board of
 * its harts, the shared VMs together on one more, time-sliced by the plan's scheduler, all at the
 * same time for `durationMs` of guest time; then reports each VM.
 */
export async function runPartitions(plan: PartitionPlan, options: PartitionRunOptions = {}): Promise<PartitionReport> {
  const engine = options.engine ?? defaultEngine();
  const alone = new Map<string, VmRunResult>();
  if (options.baseline) {
    for (const vm of plan.vms) {
      options.onProgress?.(`baseline: ${vm.name} alone`);
      const { results } = await runTogether(plan, jobsFor(plan, [vm], engine));
      alone.set(vm.name, results[0]!.vms[0]!);
    }
  }
  const network = new Network(plan.vms);
  const jobs = jobsFor(plan, plan.vms, engine, network);
  options.onProgress?.(`running ${plan.vms.length} VMs on ${jobs.length} threads`);
  const { results, wallMilliseconds } = await runTogether(plan, jobs, network);
  const runs = new Map<string, VmRunResult>();
  for (const result of results) for (const vm of result.vms) runs.set(vm.name, vm);

  const shared = plan.vms.filter((vm) => vm.placement.kind === "shared");
  const shares = promisedShares(
    shared.map((vm) => ({ ...(vm.placement.kind === "shared" ? vm.placement : { weight: 1, cap: 0 }), vcpus: vm.vcpus })),
    plan.poolHarts.length,
    plan.scheduler === "round-robin",
  );
  const perSecond = (run: VmRunResult) => (run.wallMilliseconds > 0 ? (run.instructions / run.wallMilliseconds) * 1000 : 0);

  const vms = plan.vms.map((vm): VmReport => {
    const run = runs.get(vm.name)!;
    const placement = vm.placement;
    const promisedHarts = placement.kind === "partition" ? placement.harts.length : shares[shared.indexOf(vm)]!;
    const promisedHartMs = promisedHarts * plan.durationMs;
    const receivedHartMs = run.instructions / INSTRUCTIONS_PER_MS;
    const state: GuestState = run.outcome?.kind ?? "running";
    const instructionsPerSecond = perSecond(run);
    const baseline = alone.get(vm.name);
    const aloneInstructionsPerSecond = baseline === undefined ? undefined : perSecond(baseline);
    return {
      name: vm.name,
      placement: placement.kind,
      harts: placement.kind === "partition" ? placement.harts : plan.poolHarts,
      vcpus: vm.vcpus,
      ...(placement.kind === "shared" ? { weight: placement.weight, cap: placement.cap } : {}),
      state,
      failCode: run.outcome?.kind === "fail" ? run.outcome.code : undefined,
      reason: run.outcome?.reason,
      failed: FAILED_STATES.has(state),
      finishedAtMs: run.finishedAt === undefined ? undefined : run.finishedAt / INSTRUCTIONS_PER_MS,
      instructions: run.instructions,
      promisedHartMs,
      receivedHartMs,
      receivedVsPromised: promisedHartMs > 0 ? receivedHartMs / promisedHartMs : 0,
      dispatches: run.dispatches,
      wallMilliseconds: run.wallMilliseconds,
      instructionsPerSecond,
      aloneInstructionsPerSecond,
      aloneInstructions: baseline?.instructions,
      throughputVsAlone: aloneInstructionsPerSecond ? instructionsPerSecond / aloneInstructionsPerSecond : undefined,
      output: run.output,
      memoryMiB: vm.memoryMiB,
      ...(placement.kind === "shared" && plan.memory !== undefined ? { memoryShares: vm.memoryShares, minMiB: vm.minMiB } : {}),
      memory: run.memory,
    };
  });
  return {
    machineHarts: plan.machineHarts,
    poolHarts: plan.poolHarts,
    scheduler: plan.scheduler,
    durationMs: plan.durationMs,
    engine: [...new Set(results.map((result) => result.engine))].join(", "),
    threads: jobs.length,
    hostCpus: availableParallelism(),
    machineMemoryMiB: plan.machineMemoryMiB,
    poolMemoryMiB: plan.poolMemoryMiB,
    memory:
      plan.memory === undefined ? undefined : { sharing: plan.memory.sharing, balloon: plan.memory.balloon, idleTax: plan.memory.idleTax, swap: plan.memory.swapPath !== undefined },
    wallMilliseconds,
    vms,
    status: vms.some((vm) => vm.failed) ? 1 : 0,
  };
}
