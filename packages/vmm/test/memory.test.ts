import { describe, expect, it } from "vitest";
import { encode, Op } from "@matryoshka/isa";
import { VirtMachine, type RunOutcome } from "@matryoshka/machine";
import { guestPhysical as gpa, mergeIdenticalPages, type PagedMemory } from "@matryoshka/memory";
import { bareMetal, Hypervisor, type Platform } from "@matryoshka/vmm";
import {
  bootStack, buildStack, ConsoleCapture, guestBoardOptions, guestImage, runGuestAt, runSliced, vmHostPages, type Stack,
} from "./support.js";

// Guest memory owned page by page (issue 17): frames on demand with accounting, frames scattered
// among VMs, copy-on-write sharing, and the dirty log, at several depths.

const RAM = 0x8000_0000;
const PASS = [0x5555];

/** `li rd, value` as LUI + ADDI. */
function li(rd: number, value: number): number[] {
  const low = (value << 20) >> 20;
  const high = (value - low) | 0;
  return [encode(Op.LUI, { rd, imm: high >>> 0 }), encode(Op.ADDI, { rd, rs1: rd, imm: low })];
}

/** Registers the programs below use. */
const T0 = 5, T1 = 6, T2 = 7, T3 = 28, T4 = 29;

/** Ends a program: writes `value` to the test device (0x5555: pass), then spins. */
function finish(value = PASS[0]!): number[] {
  return [...li(T0, 0x10_0000), ...li(T1, value), encode(Op.SW, { rs1: T0, rs2: T1, imm: 0 }), encode(Op.JAL, { rd: 0, imm: 0 })];
}

/** Stores `value` to the first word of `count` pages from `first`, then more of the same, 4096 apart. */
function storeToPages(first: number, count: number, value: number): number[] {
  return [
    ...li(T0, first), ...li(T1, count), ...li(T2, value), ...li(T3, 4096),
    encode(Op.SW, { rs1: T0, rs2: T2, imm: 0 }), encode(Op.ADD, { rd: T0, rs1: T0, rs2: T3 }),
    encode(Op.ADDI, { rd: T1, rs1: T1, imm: -1 }), encode(Op.BNE, { rs1: T1, rs2: 0, imm: -12 }),
  ];
}

/** Spins until the word at `flag` is not zero. */
function waitFor(flag: number): number[] {
  return [...li(T0, flag), encode(Op.LW, { rd: T1, rs1: T0, imm: 0 }), encode(Op.BEQ, { rs1: T1, rs2: 0, imm: -4 })];
}

const image = (words: number[]) => new Uint8Array(new Uint32Array(words.map((w) => w >>> 0)).buffer);

/** Runs a VM (or board) in slices until its guest stops. */
function finishRun(run: (n: number) => RunOutcome): RunOutcome {
  return runSliced(run, 100_000, 2000).outcome;
}

describe("frames on demand", () => {
  it("starts a VM larger than its platform's memory, backs only what its guest touches, and takes it all back when the VM ends", () => {
    const host = new VirtMachine({ memoryMiB: 24 });
    const hypervisor = new Hypervisor(bareMetal(host));
    const total = hypervisor.frames.totalFrames;
    expect(total).toBe(24 * 256);
    const console = new ConsoleCapture();
    const vm = hypervisor.createVm({ ...guestBoardOptions("hello", console.sink), memoryMiB: 128 });
    expect(hypervisor.memoryStats.freeFrames).toBe(total);
    vm.boot({ kernel: guestImage("hello") });
    expect(finishRun((n) => vm.run(n))).toEqual({ kind: "pass" });
    expect(console.text).toContain("Hello");
    const stats = hypervisor.memoryStats;
    const [mine] = stats.vms;
    expect(mine!.memoryPages).toBe(128 * 256);
    // The image, the device tree, the stack: a few pages of the 32768, and a few shadow tables.
    expect(mine!.resident).toBeGreaterThan(2);
    expect(mine!.resident).toBeLessThan(64);
    expect(mine!.shadowFrames).toBeGreaterThan(0);
    expect(stats.freeFrames + mine!.resident + mine!.shadowFrames).toBe(total);
    hypervisor.destroyVm(vm);
    expect(hypervisor.memoryStats).toEqual({ totalFrames: total, freeFrames: total, vms: [] });
  });

  it("stops a VM whose guest needs a frame when none is free, with a message, and leaves its neighbour running", () => {
    const host = new VirtMachine({ memoryMiB: 6 });
    const hypervisor = new Hypervisor(bareMetal(host));
    const greedy = hypervisor.createVm({ memoryMiB: 64 });
    // 16 MiB of stores: more than the host has.
    greedy.boot({ kernel: image([...storeToPages(RAM + 0x10_0000, 4096, 7), ...finish()]) });
    const outcome = finishRun((n) => greedy.run(n));
    expect(outcome.kind).toBe("stopped");
    expect(outcome.kind === "stopped" && outcome.reason).toMatch(/vm1: out of memory: guest page 0x[0-9a-f]+ needs a frame and bare metal has none free/);
    expect(greedy.memory.stats.exhausted).toBeGreaterThan(0);
    // Its frames come back, and another VM runs in them.
    hypervisor.destroyVm(greedy);
    const console = new ConsoleCapture();
    const next = hypervisor.createVm({ ...guestBoardOptions("hello", console.sink), memoryMiB: 64 });
    next.boot({ kernel: guestImage("hello") });
    expect(finishRun((n) => next.run(n))).toEqual({ kind: "pass" });
  });
});

describe("scattered frames", () => {
  it("interleaves two running VMs' frames in the host's memory, and each guest prints what it prints alone", () => {
    const host = new VirtMachine({ memoryMiB: 300 });
    const hypervisor = new Hypervisor(bareMetal(host), { frameOrder: "interleaved" });
    const names = ["kernel", "paging"];
    const consoles = names.map(() => new ConsoleCapture());
    const vms = names.map((name, i) => hypervisor.createVm({ ...guestBoardOptions(name, consoles[i]!.sink), name }));
    // Their first 8 MiB touched in turn, page by page: frame by frame, the host's memory alternates
    // between them where the guests' images, data and stacks go.
    for (let page = 0; page < 2048; page++) for (const vm of vms) vm.memory.writeU32(gpa(RAM + page * 4096), 0);
    vms.forEach((vm, i) => vm.boot({ kernel: guestImage(names[i]!) }));
    const outcomes: (RunOutcome | undefined)[] = [undefined, undefined];
    while (outcomes.some((o) => o === undefined)) {
      vms.forEach((vm, i) => {
        if (outcomes[i] !== undefined) return;
        const outcome = vm.run(1_000);
        if (outcome.kind !== "limit") outcomes[i] = outcome;
      });
    }
    names.forEach((name, i) => {
      const alone = runGuestAt(name, 0);
      expect({ name, outcome: outcomes[i], output: consoles[i]!.text }).toEqual({ name, outcome: alone.outcome, output: alone.output });
    });
    // The test means something: in the host's memory, the two VMs' frames alternate.
    const owner = new Map<number, number>();
    vms.forEach((vm, i) => {
      for (const page of vmHostPages(vm)) owner.set(page, i);
    });
    const inOrder = [...owner.keys()].sort((a, b) => a - b);
    let switches = 0;
    for (let i = 1; i < inOrder.length; i++) if (owner.get(inOrder[i]!) !== owner.get(inOrder[i - 1]!)) switches++;
    expect(switches).toBeGreaterThan(2000);
  });

  it("builds every level of a stack on scattered frames: the innermost guest's pages are far from contiguous in the hardware's memory", () => {
    const stack = buildStack(3, { ...guestBoardOptions("paging", () => {}), frameOrder: "descending" });
    bootStack(stack, guestImage("paging"));
    expect(finishRun((n) => stack.vms[2]!.run(n))).toEqual({ kind: "pass" });
    const pages = [...vmHostPages(stack.vms[2]!)];
    let adjacent = 0;
    for (let i = 1; i < pages.length; i++) if (pages[i] === pages[i - 1]! + 1) adjacent++;
    expect(pages.length).toBeGreaterThan(20);
    expect(adjacent).toBeLessThan(pages.length / 4);
  });
});

describe("copy-on-write sharing between VMs", () => {
  /**
   * Two VMs on one hypervisor beneath `depth - 1` other levels run the same program: fill a page
   * with the same bytes, wait for the host's go, then each writes its own id into the page and
   * copies the page's first words out for the test to read.
   */
  function pair(depth: number) {
    const SHARED = RAM + 0x10_0000;
    const FLAG = RAM + 0x20_0000;
    const ID = RAM + 0x20_0010;
    const OUT = RAM + 0x30_0000;
    const words = [
      ...li(T0, SHARED), ...li(T1, 1024), ...li(T2, 0x1234_5678),
      encode(Op.SW, { rs1: T0, rs2: T2, imm: 0 }), encode(Op.ADDI, { rd: T0, rs1: T0, imm: 4 }),
      encode(Op.ADDI, { rd: T1, rs1: T1, imm: -1 }), encode(Op.BNE, { rs1: T1, rs2: 0, imm: -12 }),
      ...waitFor(FLAG),
      ...li(T0, ID), encode(Op.LW, { rd: T2, rs1: T0, imm: 0 }),
      ...li(T0, SHARED), encode(Op.SW, { rs1: T0, rs2: T2, imm: 8 }),
      encode(Op.LW, { rd: T3, rs1: T0, imm: 0 }), encode(Op.LW, { rd: T4, rs1: T0, imm: 8 }),
      ...li(T0, OUT), encode(Op.SW, { rs1: T0, rs2: T3, imm: 0 }), encode(Op.SW, { rs1: T0, rs2: T4, imm: 4 }),
      ...finish(),
    ];
    // Levels beneath: plain VMs, each the platform of the next.
    let platform: Platform = bareMetal(new VirtMachine({ memoryMiB: 64 + 64 * depth }));
    for (let level = 1; level < depth; level++) platform = new Hypervisor(platform).createVm({ memoryMiB: 48 + 64 * (depth - level) });
    const hypervisor = new Hypervisor(platform, { frameOrder: "descending" });
    const vms = [0, 1].map((i) => {
      const vm = hypervisor.createVm({ memoryMiB: 8, name: `twin${i}` });
      vm.boot({ kernel: image(words) });
      vm.memory.writeU32(gpa(ID), 0xa0 + i);
      return vm;
    });
    return { vms, SHARED, FLAG, OUT };
  }

  it.each([1, 2])("depth %i: a merged page carries neither VM's write into the other", (depth) => {
    const { vms, SHARED, FLAG, OUT } = pair(depth);
    // Both fill the page, then wait.
    for (const vm of vms) expect(vm.run(200_000).kind).toBe("limit");
    const page = SHARED >>> 12;
    expect(vms[0]!.memory.readU32(gpa(SHARED + 4092))).toBe(0x1234_5678);
    const memories = vms.map((vm) => vm.memory) as [PagedMemory, PagedMemory];
    expect(mergeIdenticalPages(memories[0], page, memories[1], page)).toBe(true);
    expect(memories[0].currentFrame(page)).toBe(memories[1].currentFrame(page));
    for (const vm of vms) vm.memory.writeU32(gpa(FLAG), 1);
    const outcomes = vms.map((vm) => finishRun((n) => vm.run(n)));
    expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }]);
    // Each saw its own id in the page, the shared bytes still there, and nothing of the other's.
    vms.forEach((vm, i) => {
      expect([vm.memory.readU32(gpa(OUT)), vm.memory.readU32(gpa(OUT + 4))]).toEqual([0x1234_5678, 0xa0 + i]);
      expect(vm.memory.readU32(gpa(SHARED + 8))).toBe(0xa0 + i);
    });
    expect(memories[0].currentFrame(page)).not.toBe(memories[1].currentFrame(page));
    // The first writer copied; the second found the frame its own.
    expect(memories[0].stats.copies + memories[1].stats.copies).toBe(1);
  });
});

describe("the dirty log", () => {
  /** Content of every page of a VM's memory that has a frame (the others read as zero). */
  function pagesOf(memory: PagedMemory): Map<number, Uint8Array> {
    const pages = new Map<number, Uint8Array>();
    const first = memory.base >>> 12;
    for (let page = first; page < first + memory.pages; page++) {
      if (memory.currentFrame(page) < 0) continue;
      const offset = memory.frameOffset(page, false);
      pages.set(page, memory.u8.slice(offset, offset + 4096));
    }
    return pages;
  }

  const ZERO = new Uint8Array(4096);
  const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) => Buffer.compare(a ?? ZERO, b ?? ZERO) === 0;
  const dirtyPages = (memory: PagedMemory, log: Uint32Array) =>
    [...Array(memory.pages).keys()].filter((i) => (log[i >>> 5]! & (1 << (i & 31))) !== 0).map((i) => (memory.base >>> 12) + i);

  /**
   * Runs the stack's guest in slices with every level's VM logging, and checks after each slice
   * that every page whose bytes changed is in its VM's log, whoever wrote it (the guest's stores,
   * emulated stores, DMA, a hypervisor's shadow tables in the VM beneath). Returns the logs.
   */
  function checkLogsSound(stack: Stack, slice: number): { slices: number; dirty: number[][] } {
    const vms = stack.vms;
    for (const vm of vms) vm.memory.startDirtyLog();
    const dirty: number[][] = vms.map(() => []);
    let slices = 0;
    for (;;) {
      const before = vms.map((vm) => pagesOf(vm.memory));
      const outcome = stack.vms.at(-1)!.run(slice);
      slices++;
      vms.forEach((vm, level) => {
        const log = new Set(dirtyPages(vm.memory, vm.memory.harvestDirtyLog()));
        const after = pagesOf(vm.memory);
        const changed = [...new Set([...before[level]!.keys(), ...after.keys()])].filter((page) => !same(before[level]!.get(page), after.get(page)));
        const missed = changed.filter((page) => !log.has(page)).map((page) => `0x${(page * 4096).toString(16)}`);
        expect({ level: level + 1, slice: slices, missed }).toEqual({ level: level + 1, slice: slices, missed: [] });
        dirty[level]!.push(log.size);
      });
      if (outcome.kind !== "limit") {
        expect(outcome).toEqual({ kind: "pass" });
        break;
      }
    }
    return { slices, dirty };
  }

  it.each([1, 3])("depth %i: every page the test kernel changes (stores, DMA from its disk, emulated writes) is in the log of every level", (depth) => {
    const stack = buildStack(depth, guestBoardOptions("kernel", () => {}));
    bootStack(stack, guestImage("kernel"));
    const { slices, dirty } = checkLogsSound(stack, 500_000);
    expect(slices).toBeGreaterThan(5);
    // Something was logged in most slices, at every level.
    for (const perSlice of dirty) expect(perSlice.filter((n) => n > 0).length).toBeGreaterThan(slices / 2);
  });

  it.each([1, 3])("depth %i: the innermost VM's log holds exactly the pages its guest wrote, slice by slice, while every level logs", (depth) => {
    const stack = buildStack(depth, { memoryMiB: 16 });
    const FIRST = RAM + 0x10_0000;
    const words = [
      ...storeToPages(FIRST, 8, 1), // phase 1: pages 0..7
      ...li(T4, 0), encode(Op.ADDI, { rd: T4, rs1: T4, imm: 1 }), // a pause between the phases
      ...storeToPages(FIRST + 0x4000, 8, 2), // phase 2: pages 4..11
      ...finish(),
    ];
    bootStack(stack, image(words));
    const guestVm = stack.vms.at(-1)!;
    for (const vm of stack.vms) vm.memory.startDirtyLog();
    const page = (i: number) => (FIRST >>> 12) + i;
    // Phase 1 takes well under 200 instructions; stop after it (the pause is long enough).
    const logs: number[][] = [];
    let outcome: RunOutcome;
    do {
      outcome = guestVm.run(10);
      const log = dirtyPages(guestVm.memory, guestVm.memory.harvestDirtyLog());
      if (log.length > 0) logs.push(log);
    } while (outcome.kind === "limit");
    expect(outcome).toEqual({ kind: "pass" });
    const union = [...new Set(logs.flat())].sort((a, b) => a - b);
    expect(union).toEqual([...Array(12).keys()].map(page));
    // Pages 4..7 were written twice, so they show in two harvests: the log starts afresh each time.
    for (const i of [4, 5, 6, 7]) expect(logs.filter((log) => log.includes(page(i))).length).toBe(2);
    for (const i of [0, 1, 2, 3, 8, 9, 10, 11]) expect(logs.filter((log) => log.includes(page(i))).length).toBe(1);
    // With the log off, nothing is recorded.
    guestVm.memory.stopDirtyLog();
    expect(guestVm.memory.harvestDirtyLog().every((word) => word === 0)).toBe(true);
  });
});
