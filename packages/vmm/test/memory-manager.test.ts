import { describe, expect, it } from "vitest";
import { parseElf, VirtMachine, type RunOutcome } from "@matryoshka/machine";
import { guestPhysical as gpa, MemorySwapStore } from "@matryoshka/memory";
import { bareMetal, Hypervisor, MemoryManager, VmBalloon, type ManagedVmReport, type Platform, type VM } from "@matryoshka/vmm";
import { ConsoleCapture, guestImage } from "./support.js";

// The memory manager (issue 19, after Waldspurger's ESX): overcommit, ballooning, content-based
// page sharing, the idle memory tax and swapping, at depths 1 and 2.

const MEMHOG = guestImage("memhog");
const PARAMS = parseElf(MEMHOG).symbols.get("params")!.value;
const PAGES_PER_MIB = 256;

interface Hog {
  fill: number;
  active: number;
  rounds: number;
  idleRounds?: number;
  /** Loop iterations of an idle round (about three instructions each). */
  idleSpins?: number;
}

/** A memhog VM on `hypervisor`, its parameters written into its memory after loading. */
function hogVm(hypervisor: Hypervisor, name: string, memoryMiB: number, hog: Hog, balloon = true): { vm: VM; console: ConsoleCapture } {
  const console = new ConsoleCapture();
  const vm = hypervisor.createVm({ name, memoryMiB, balloon, console: console.sink });
  vm.boot({ kernel: MEMHOG });
  const words = [hog.fill, hog.active, hog.rounds, hog.idleRounds ?? 0, hog.idleSpins ?? 20_000];
  words.forEach((word, i) => vm.memory.writeU32(gpa(PARAMS + 4 * i), word));
  return { vm, console };
}

/** Runs the VMs in turns of `slice` instructions, the manager stepping after every turn, until all finish. */
function runAll(vms: VM[], manager: MemoryManager | undefined, slice = 200_000, maxTurns = 20_000): { outcomes: RunOutcome[]; turns: number; whileAllRan: ManagedVmReport[] } {
  const outcomes: (RunOutcome | undefined)[] = vms.map(() => undefined);
  let turns = 0;
  // The manager's view in the last step before any guest finished (a guest's final check of its
  // pages is activity of its own).
  let whileAllRan: ManagedVmReport[] = [];
  while (outcomes.some((o) => o === undefined)) {
    if (++turns > maxTurns) throw new Error(`the guests did not finish in ${maxTurns} turns`);
    vms.forEach((vm, i) => {
      if (outcomes[i] !== undefined) return;
      const outcome = vm.run(slice);
      if (outcome.kind !== "limit") outcomes[i] = outcome;
    });
    if (outcomes.every((o) => o === undefined)) whileAllRan = manager?.report() ?? [];
    manager?.step();
  }
  return { outcomes: outcomes as RunOutcome[], turns, whileAllRan };
}

/** A hypervisor `depth` levels up: at depth 2 it runs in a VM (with a balloon) of a hypervisor on the hardware. */
function hypervisorAt(depth: 1 | 2, hostMiB: number): { hypervisor: Hypervisor; below?: VM } {
  const host = new VirtMachine({ memoryMiB: depth === 1 ? hostMiB : hostMiB + 64 });
  if (depth === 1) return { hypervisor: new Hypervisor(bareMetal(host)) };
  const below = new Hypervisor(bareMetal(host)).createVm({ name: "level1", memoryMiB: hostMiB, balloon: true });
  return { hypervisor: new Hypervisor(below as Platform), below };
}

const INTACT = /memhog: \d+ active pages intact/;

describe.each([1, 2] as const)("the memory manager at depth %i", (depth) => {
  it("overcommits: three VMs of 32 MiB in 40 MiB of frames, each filling 16 MiB, all finish intact", () => {
    const { hypervisor } = hypervisorAt(depth, 40);
    const swap = new MemorySwapStore();
    const manager = new MemoryManager(hypervisor, { swap, reservedFrames: 128 });
    const hogs = ["a", "b", "c"].map((name) => hogVm(hypervisor, name, 32, { fill: 16 * PAGES_PER_MIB, active: 2 * PAGES_PER_MIB, rounds: 6 }));
    for (const { vm } of hogs) manager.manage(vm);
    expect(hogs.length * 32).toBeGreaterThan(40 * 2);
    const { outcomes } = runAll(hogs.map((h) => h.vm), manager);
    expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }, { kind: "pass" }]);
    for (const { console } of hogs) expect(console.text).toMatch(INTACT);
    const report = manager.report();
    // The frames never ran out for good: what did not fit was ballooned, shared or swapped.
    const resident = report.reduce((sum, vm) => sum + vm.resident, 0);
    expect(resident).toBeLessThanOrEqual(hypervisor.frames.totalFrames);
    expect(report.some((vm) => vm.ballooned > 0)).toBe(true);
    expect(hypervisor.frames.usedFrames).toBeLessThanOrEqual(hypervisor.frames.totalFrames);
  });

  it("shares identical pages: four VMs holding the same 4 MiB keep far fewer frames than 16 MiB", () => {
    const { hypervisor } = hypervisorAt(depth, 96);
    const manager = new MemoryManager(hypervisor, { balloon: false, scanPages: 4096 });
    const hogs = [0, 1, 2, 3].map((i) => hogVm(hypervisor, `twin${i}`, 16, { fill: 4 * PAGES_PER_MIB, active: 64, rounds: 1, idleRounds: 40 }, false));
    for (const { vm } of hogs) manager.manage(vm);
    runAll(hogs.map((h) => h.vm), manager, 100_000);
    const report = manager.report();
    const resident = report.reduce((sum, vm) => sum + vm.resident, 0);
    const shared = report.reduce((sum, vm) => sum + vm.shared, 0);
    for (const { console } of hogs) expect(console.text).toMatch(INTACT);
    // ESX measured up to 67% of memory shared among identical VMs; these are more alike than that.
    expect(shared / resident).toBeGreaterThan(0.67);
    // And the frames really are fewer: the shared pages of four VMs take about one VM's worth.
    expect(hypervisor.frames.usedFrames).toBeLessThan(resident * 0.5);
  });

  it("keeps shared pages private: two VMs fill the same content, share it, then diverge, each reading only its own writes", () => {
    const { hypervisor } = hypervisorAt(depth, 48);
    const manager = new MemoryManager(hypervisor, { balloon: false, scanPages: 8192 });
    // The same 1 MiB in both; then one adds 1 + 2 to every word, the other 1 + 2 + ... + 5.
    const twins = [2, 5].map((rounds, i) => hogVm(hypervisor, `diverge${i}`, 8, { fill: PAGES_PER_MIB, active: PAGES_PER_MIB, rounds }, false));
    for (const { vm } of twins) manager.manage(vm);
    while (!twins.every(({ console }) => console.text.includes("memhog: filled"))) for (const { vm } of twins) vm.run(50_000);
    manager.step();
    manager.step();
    const sharedBefore = manager.report().map((vm) => vm.shared);
    for (const shared of sharedBefore) expect(shared).toBeGreaterThan(PAGES_PER_MIB / 2);
    const { outcomes } = runAll(twins.map((t) => t.vm), undefined, 200_000);
    expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }]);
    expect(twins[0]!.console.text).toMatch(/256 active pages intact after 2 rounds/);
    expect(twins[1]!.console.text).toMatch(/256 active pages intact after 5 rounds/);
    // Every write broke the sharing of the page it went to: nothing of the filled MiB is shared now.
    const first = twins[0]!.vm.memory.base >>> 12;
    const data = first + PAGES_PER_MIB; // memhog fills from RAM + 1 MiB
    for (const { vm } of twins) for (let page = data; page < data + PAGES_PER_MIB; page++) expect(vm.memory.isShared(page)).toBe(false);
  });

  it("taxes idle memory: an idle VM gets a smaller target than an active one with the same shares", () => {
    const run = (idleTax: number) => {
      const { hypervisor } = hypervisorAt(depth, 40);
      // A sampling window (16 steps of 250 000 instructions) outlasts one sweep of the active VM over
      // its 2 MiB (about 3 M instructions), so its whole working set counts as active.
      const manager = new MemoryManager(hypervisor, { idleTax, sharing: false, swap: new MemorySwapStore(), reservedFrames: 128, sampleSteps: 16 });
      const active = hogVm(hypervisor, "active", 32, { fill: 2 * PAGES_PER_MIB, active: 2 * PAGES_PER_MIB, rounds: 16 });
      const idle = hogVm(hypervisor, "idle", 32, { fill: 2 * PAGES_PER_MIB, active: 64, rounds: 1, idleRounds: 200, idleSpins: 100_000 });
      manager.manage(active.vm);
      manager.manage(idle.vm);
      const { outcomes, whileAllRan } = runAll([active.vm, idle.vm], manager, 250_000);
      expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }]);
      const [a, i] = whileAllRan;
      return { active: a!, idle: i! };
    };
    const taxed = run(0.75);
    const untaxed = run(0);
    expect(taxed.idle.activeFraction).toBeLessThan(0.3);
    expect(taxed.active.activeFraction).toBeGreaterThan(0.6);
    // With the tax the idle VM pays for what it does not use; without it, equal shares get equal targets.
    expect(taxed.idle.target).toBeLessThan(taxed.active.target);
    expect(Math.abs(untaxed.idle.target - untaxed.active.target)).toBeLessThanOrEqual(untaxed.idle.size / 64);
    expect(taxed.idle.balloonTarget).toBeGreaterThan(untaxed.idle.balloonTarget);
  });

  it("swaps pages out when no balloon can help, and back in when the guest needs them, intact", () => {
    const { hypervisor } = hypervisorAt(depth, 12);
    const swap = new MemorySwapStore();
    const manager = new MemoryManager(hypervisor, { swap, sharing: false, reservedFrames: 64 });
    // No balloon device: only swapping can make 16 MiB of writes fit 12 MiB of frames.
    const hog = hogVm(hypervisor, "hog", 32, { fill: 16 * PAGES_PER_MIB, active: 16 * PAGES_PER_MIB, rounds: 2 }, false);
    manager.manage(hog.vm);
    const { outcomes } = runAll([hog.vm], manager);
    expect(outcomes).toEqual([{ kind: "pass" }]);
    expect(hog.console.text).toMatch(INTACT);
    const stats = hog.vm.memory.stats;
    expect(stats.swapOuts).toBeGreaterThan(1000);
    expect(stats.swapIns).toBeGreaterThan(1000);
    expect(swap.used).toBe(stats.swapped);
  });
});

describe("ballooning through the levels", () => {
  it("a level-2 hypervisor gives level 1 the frames its balloon asks for, by reclaiming them from its own VMs", () => {
    const { hypervisor, below } = hypervisorAt(2, 48);
    const manager = new MemoryManager(hypervisor, { sharing: false, reservedFrames: 128 });
    const hogs = ["x", "y"].map((name) => hogVm(hypervisor, name, 32, { fill: 12 * PAGES_PER_MIB, active: 2 * PAGES_PER_MIB, rounds: 4, idleRounds: 30 }));
    for (const { vm } of hogs) manager.manage(vm);
    // Let the guests fill their memory, then level 1 asks for 16 MiB of its VM back.
    while (!hogs.every(({ console }) => console.text.includes("memhog: filled"))) for (const { vm } of hogs) vm.run(200_000);
    const residentBefore = below!.memory.stats.resident;
    expect(residentBefore).toBeGreaterThan(20 * PAGES_PER_MIB);
    below!.balloon!.setTarget(16 * PAGES_PER_MIB);
    const { outcomes } = runAll(hogs.map((h) => h.vm), manager, 200_000);
    expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }]);
    for (const { console } of hogs) expect(console.text).toMatch(INTACT);
    expect(below!.balloon!.heldPages).toBe(16 * PAGES_PER_MIB);
    // Level 1 has those frames back: its VM holds 16 MiB less than the level-2 guests had filled.
    expect(below!.memory.stats.resident).toBeLessThanOrEqual(48 * PAGES_PER_MIB - 16 * PAGES_PER_MIB);
    expect(manager.report().reduce((sum, vm) => sum + vm.ballooned, 0)).toBeGreaterThan(0);
  });
});

describe("a lying balloon driver", () => {
  it("is refused and counted, never a host exception, and changes nothing it should not", () => {
    const host = new VirtMachine({ memoryMiB: 16 });
    const vm = new Hypervisor(bareMetal(host)).createVm({ memoryMiB: 4, balloon: true });
    const balloon = vm.balloon as VmBalloon;
    const first = vm.memory.base >>> 12;
    vm.memory.writeU32(gpa(vm.memory.base + 4096), 7);
    const resident = vm.memory.stats.resident;
    expect(balloon.inflate(Uint32Array.of(first - 1, first + 4 * PAGES_PER_MIB, 0xffff_ffff))).toBe(3); // outside its RAM
    expect(balloon.deflate(Uint32Array.of(first + 3))).toBe(1); // never inflated
    expect(balloon.inflate(Uint32Array.of(first + 1, first + 1))).toBe(1); // the same page twice
    expect(balloon.heldPages).toBe(1);
    expect(vm.memory.stats.resident).toBe(resident - 1);
    expect(vm.memory.readU32(gpa(vm.memory.base + 4096))).toBe(0); // given back: it reads as zero
    expect(balloon.deflate(Uint32Array.of(first + 1))).toBe(0);
    expect(balloon.heldPages).toBe(0);
  });
});

