import { runThreaded, siblingModule, type ThreadedRunReport } from "@matryoshka/machine";
import { describeMemory } from "@matryoshka/memory";
import type { VcpuThreadOptions, VcpuThreadReport } from "./threaded-vcpu.js";
import type { VM } from "./vm.js";

export interface VmThreadedRunOptions {
  /** Stop after this much machine time of the VM, in instructions. */
  maxInstructions?: number;
  /** The hardware's execution engine on every worker: "interpreter" or "bt". */
  engine: string;
  /** Called about every 20 ms with the event loop free (e.g. to feed console input). */
  poll?: () => void;
}

/**
 * Runs a VM's vCPUs in parallel, each on its own worker thread standing for one hart of the
 * hardware (`runThreaded` over the VM's board): the guest's instructions run on that thread's
 * hart under trap-and-emulate, with shadow tables private to the vCPU; the VM's devices stay on
 * this thread. The VM must run directly on the hardware (level 1) with the trap-and-emulate
 * backend; the deterministic `vm.run` stays available, before and after.
 *
 * The VM's shared shadow tables are dropped before and after: the workers use the same frames.
 */
export async function runVmThreaded(vm: VM, options: VmThreadedRunOptions): Promise<ThreadedRunReport> {
  if (vm.level !== 1) throw new RangeError(`${vm.name}: vCPUs on threads need a VM on the hardware (level 1), not level ${vm.level}`);
  if (vm.backend.name !== "trap-and-emulate") {
    throw new RangeError(`${vm.name}: vCPUs on threads run with the trap-and-emulate backend only (this VM: ${vm.backend.name})`);
  }
  const harts = vm.board.harts.length;
  const framesPerVcpu = Math.floor(vm.placement.shadowFrames / harts);
  if (framesPerVcpu < 2) throw new RangeError(`${vm.name}: ${vm.placement.shadowFrames} shadow frames are too few for ${harts} vCPUs`);
  // Workers cannot take frames from the hypervisor: every page gets its own frame first, and each
  // vCPU a share of shadow-table frames of its own.
  if (!vm.memory.populate()) throw new RangeError(`${vm.name}: not enough free memory beneath to back all its pages for vCPUs on threads`);
  const shadowFrames: number[] = [];
  const frames = vm.placement.frames;
  for (let i = 0; i < framesPerVcpu * harts; i++) {
    const frame = frames.allocateFrame();
    if (frame < 0) {
      for (const taken of shadowFrames) frames.releaseFrame(taken);
      throw new RangeError(`${vm.name}: not enough free memory beneath for its vCPUs' shadow tables`);
    }
    shadowFrames.push(frame);
  }
  const vcpuOptions: VcpuThreadOptions = {
    guest: describeMemory(vm.memory),
    hostEngine: options.engine,
    hostPmpEntries: 16,
    overlayPages: [...vm.board.bus.overlayPages],
    shadowFrames,
    framesPerVcpu,
    vcpus: harts,
  };
  dropShadows(vm);
  try {
    const report = await runThreaded(vm.board, {
      maxInstructions: options.maxInstructions,
      poll: options.poll,
      engine: { name: `trap-and-emulate on ${options.engine}`, module: siblingModule(import.meta.url, "threaded-vcpu").href, options: vcpuOptions },
    });
    for (const vcpu of report.engineReports) if (vcpu !== undefined) addStats(vm, vcpu as VcpuThreadReport);
    return report;
  } finally {
    dropShadows(vm);
    for (const frame of shadowFrames) frames.releaseFrame(frame);
  }
}

/**
 * Drops the VM's shared shadow tables (the workers use the same frames), without counting it as
 * the pool running dry (`stats.poolResets`).
 */
function dropShadows(vm: VM): void {
  const stats = vm.shadow.stats;
  const resets = stats.poolResets;
  vm.shadow.reset();
  stats.poolResets = resets;
}

/** A worker's counts added to the VM's own, so that `vm.stats` covers the threaded run too. */
function addStats(vm: VM, vcpu: VcpuThreadReport): void {
  const exits = vm.engine.exits;
  vcpu.exits.byCause.forEach((count, cause) => (exits.byCause[cause]! += count));
  exits.budget += vcpu.exits.budget;
  exits.platform += vcpu.exits.platform;
  exits.emulated += vcpu.exits.emulated;
  exits.hypercalls += vcpu.exits.hypercalls;
  exits.reflected += vcpu.exits.reflected;
  // The exit trace hashes one sequence; threads interleave theirs, so it is mixed, not replayed.
  exits.trace = Math.imul(exits.trace ^ vcpu.exits.trace, 0x01000193);
  const shadow = vm.shadow.stats;
  shadow.fills += vcpu.shadow.fills;
  shadow.pageFlushes += vcpu.shadow.pageFlushes;
  shadow.fullFlushes += vcpu.shadow.fullFlushes;
  shadow.rootsCreated += vcpu.shadow.rootsCreated;
  shadow.poolResets += vcpu.shadow.poolResets;
}
