// Memory resource management benchmarks for `pnpm bench`, set beside the figures of Waldspurger's
// "Memory Resource Management in VMware ESX Server" (OSDI'02): how much memory identical VMs share,
// what ballooning costs a VM against one natively that small, and how the idle memory tax moves
// memory from an idle VM to an active one. Memory figures are deterministic (time is counted in
// instructions); only the slowdown is a wall-clock ratio (medians of interleaved runs).
import { readFileSync } from "node:fs";
import { parseElf, VirtMachine, type RunOutcome } from "@matryoshka/machine";
import { guestPhysical as gpa } from "@matryoshka/memory";
import { guestPath } from "@matryoshka/testkit";
import { bareMetal, Hypervisor, MemoryManager, type MemoryPolicy, type VM } from "@matryoshka/vmm";

const MEMHOG = new Uint8Array(readFileSync(guestPath("memhog")));
const PARAMS = parseElf(MEMHOG).symbols.get("params")!.value;
const PAGES_PER_MIB = 256;

/** memhog's parameters (guests/memhog): pages filled, the working set, its rounds, then idle rounds. */
interface Hog {
  fill: number;
  active: number;
  rounds: number;
  idleRounds: number;
  idleSpins?: number;
}

function hogVm(hypervisor: Hypervisor, name: string, memoryMiB: number, hog: Hog, balloon: boolean): VM {
  const vm = hypervisor.createVm({ name, memoryMiB, balloon, console: () => {} });
  vm.boot({ kernel: MEMHOG });
  [hog.fill, hog.active, hog.rounds, hog.idleRounds, hog.idleSpins ?? 20_000].forEach((word, i) => vm.memory.writeU32(gpa(PARAMS + 4 * i), word));
  return vm;
}

/** Runs VMs in turns of `slice` instructions until all end, stepping the manager after each turn. */
function runTogether(vms: VM[], manager: MemoryManager | undefined, slice: number, onTurn?: () => void): RunOutcome[] {
  const outcomes: (RunOutcome | undefined)[] = vms.map(() => undefined);
  for (let turn = 0; outcomes.some((o) => o === undefined); turn++) {
    if (turn > 100_000) throw new Error("the memhog VMs did not finish");
    vms.forEach((vm, i) => {
      if (outcomes[i] !== undefined) return;
      const outcome = vm.run(slice);
      if (outcome.kind !== "limit") outcomes[i] = outcome;
    });
    if (outcomes.every((o) => o === undefined)) onTurn?.();
    manager?.step();
  }
  for (const [i, outcome] of outcomes.entries()) if (outcome!.kind !== "pass") throw new Error(`${vms[i]!.name} ended with ${JSON.stringify(outcome)}`);
  return outcomes as RunOutcome[];
}

export interface SharingRow {
  vms: number;
  /** Guest pages with a frame, over all VMs; of those, pages sharing a frame. */
  resident: number;
  shared: number;
  /** Frames the VMs really take: resident minus what sharing saved. */
  frames: number;
}

/**
 * N identical VMs (16 MiB each, memhog holding the same 4 MiB and idling), page sharing on:
 * the share of their memory that is shared, and the frames saved (ESX: up to 67% shared).
 */
export function benchSharing(counts = [1, 2, 4, 8]): SharingRow[] {
  return counts.map((n) => {
    const hypervisor = new Hypervisor(bareMetal(new VirtMachine({ memoryMiB: 16 * n + 8 })));
    const manager = new MemoryManager(hypervisor, { balloon: false, scanPages: 4096 });
    const vms = Array.from({ length: n }, (_, i) => hogVm(hypervisor, `twin${i}`, 16, { fill: 4 * PAGES_PER_MIB, active: 64, rounds: 1, idleRounds: 40 }, false));
    for (const vm of vms) manager.manage(vm);
    let at = { resident: 0, shared: 0, used: 0 };
    runTogether(vms, manager, 100_000, () => {
      const report = manager.report();
      at = { resident: report.reduce((s, r) => s + r.resident, 0), shared: report.reduce((s, r) => s + r.shared, 0), used: hypervisor.frames.usedFrames };
    });
    // Frames the VMs take: every private page one, every shared frame once (the manager's zero frame included).
    const frames = at.resident - at.shared + distinctSharedFrames(vms);
    return { vms: n, resident: at.resident, shared: at.shared, frames };
  });
}

/** Frames the VMs' shared pages map, counted once each. */
function distinctSharedFrames(vms: VM[]): number {
  const frames = new Set<number>();
  for (const vm of vms) {
    const first = vm.memory.base >>> 12;
    for (let page = first; page < first + vm.memory.pages; page++) if (vm.memory.isShared(page)) frames.add(vm.memory.currentFrame(page));
  }
  return frames.size;
}

export interface BalloonRow {
  /** Guest instructions of each run (the ballooned one also runs its balloon driver). */
  nativeInstructions: number;
  balloonedInstructions: number;
  /** Median wall ms: a 24 MiB VM, and a 32 MiB VM ballooned down by 8 MiB. */
  native: number;
  ballooned: number;
  /** Pages the ballooned VM gave back. */
  balloonedPages: number;
  rounds: number;
}

/**
 * The cost of ballooning (ESX's Figure 3: 1.4% to 4.4% slower than a VM booted with that
 * memory): memhog filling 12 MiB and working on 4 MiB of it, in a VM of 24 MiB, and in a VM of
 * 32 MiB asked to give 8 MiB back, which its driver does from the memory it no longer uses.
 */
export function benchBalloon(rounds = 5): BalloonRow {
  const hog: Hog = { fill: 12 * PAGES_PER_MIB, active: 4 * PAGES_PER_MIB, rounds: 12, idleRounds: 0 };
  const once = (ballooned: boolean) => {
    const hypervisor = new Hypervisor(bareMetal(new VirtMachine({ memoryMiB: 40 })));
    const vm = hogVm(hypervisor, ballooned ? "ballooned" : "native", ballooned ? 32 : 24, hog, ballooned);
    if (ballooned) vm.balloon!.setTarget(8 * PAGES_PER_MIB);
    const started = performance.now();
    runTogether([vm], undefined, 1_000_000);
    return { wall: performance.now() - started, instructions: vm.board.instructions, held: vm.balloon?.heldPages ?? 0 };
  };
  once(false);
  once(true);
  const native: number[] = [];
  const ballooned: number[] = [];
  let last = { native: once(false), ballooned: once(true) };
  for (let round = 0; round < rounds; round++) {
    last = { native: once(false), ballooned: once(true) };
    native.push(last.native.wall);
    ballooned.push(last.ballooned.wall);
  }
  return {
    nativeInstructions: last.native.instructions,
    balloonedInstructions: last.ballooned.instructions,
    native: median(native),
    ballooned: median(ballooned),
    balloonedPages: last.ballooned.held,
    rounds,
  };
}

export interface IdleTaxRow {
  tax: number;
  /** Allocation targets (MiB) the manager settled on while both ran, and what each VM held then. */
  activeTarget: number;
  idleTarget: number;
  activeResident: number;
  idleResident: number;
  activeFraction: number;
  idleFraction: number;
}

/**
 * The idle memory tax (ESX's Figure 5): two VMs with equal shares in a pool too small for both,
 * one working on all its memory, one idle after filling it. With τ = 0 they get equal targets;
 * as τ grows the idle VM's memory moves to the active one.
 */
export function benchIdleTax(taxes = [0, 0.5, 0.75, 0.9]): IdleTaxRow[] {
  return taxes.map((tax) => {
    const hypervisor = new Hypervisor(bareMetal(new VirtMachine({ memoryMiB: 24 })));
        // A sampling window (40 steps of 250 000 instructions) outlasts one sweep of the active VM over its 6 MiB.
    const policy: MemoryPolicy = { idleTax: tax, sharing: false, reservedFrames: 128, sampleSteps: 40 };
    const manager = new MemoryManager(hypervisor, policy);
    const active = hogVm(hypervisor, "active", 32, { fill: 6 * PAGES_PER_MIB, active: 6 * PAGES_PER_MIB, rounds: 12, idleRounds: 0 }, true);
    const idle = hogVm(hypervisor, "idle", 32, { fill: 6 * PAGES_PER_MIB, active: 64, rounds: 1, idleRounds: 400, idleSpins: 100_000 }, true);
    manager.manage(active);
    manager.manage(idle);
    let seen = manager.report();
    runTogether([active, idle], manager, 250_000, () => (seen = manager.report()));
    const [a, i] = seen;
    return {
      tax,
      activeTarget: a!.target / PAGES_PER_MIB,
      idleTarget: i!.target / PAGES_PER_MIB,
      activeResident: a!.resident / PAGES_PER_MIB,
      idleResident: i!.resident / PAGES_PER_MIB,
      activeFraction: a!.activeFraction,
      idleFraction: i!.activeFraction,
    };
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
