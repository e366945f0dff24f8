import { readFileSync } from "node:fs";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { encode, Op } from "@matryoshka/isa";
import type { RunOutcome } from "@matryoshka/machine";
import type { Ram } from "@matryoshka/memory";
import type { ShadowStats } from "@matryoshka/mmu";
import { guestPath, guestVariants } from "@matryoshka/testkit";
import { buildStack, type GuestMachineOptions, type Stack, type VM } from "@matryoshka/vmm";

export { buildStack, type GuestMachineOptions, type Stack };

// Helpers shared by the vmm tests.

export const MIB = 1024 * 1024;

/** The RTC's wall-clock time at boot, fixed so that every run of a guest is identical. */
export const RTC_EPOCH_MS = Date.UTC(2024, 0, 1);

/** Boots a kernel on the stack's guest board, through the innermost VM so the levels beneath hear of it. */
export function bootStack(stack: Stack, kernel: Uint8Array): void {
  (stack.vms.at(-1) ?? stack.guest).boot({ kernel });
}

/**
 * Runs `run(slice)` until the outcome is not "limit" (as runGuest does), failing after
 * `maxSlices` slices so a guest that never finishes fails the test instead of hanging it.
 */
export function runSliced(run: (instructions: number) => RunOutcome, slice: number, maxSlices = 100_000): { outcome: RunOutcome; slices: number } {
  for (let slices = 1; slices <= maxSlices; slices++) {
    const outcome = run(slice);
    if (outcome.kind !== "limit") return { outcome, slices };
  }
  throw new Error(`the guest did not finish within ${maxSlices} slices of ${slice} instructions`);
}

/** A console that collects what the guest prints. */
export class ConsoleCapture {
  private readonly bytes: number[] = [];
  readonly sink = (byte: number): void => {
    this.bytes.push(byte);
  };
  get text(): string {
    return Buffer.from(this.bytes).toString("latin1");
  }
}

const images = new Map<string, Uint8Array>();

/** The bytes of a bundled guest ELF. */
export function guestImage(name: string): Uint8Array {
  let image = images.get(name);
  if (image === undefined) {
    image = new Uint8Array(readFileSync(guestPath(name)));
    images.set(name, image);
  }
  return image;
}

/**
 * Board options for a guest as its oracle.json describes its first variant: harts, virtio version
 * and a private in-memory copy of its disk image (the kernel writes to its disk).
 */
export function guestBoardOptions(name: string, console: (byte: number) => void): GuestMachineOptions {
  const variant = guestVariants(name)[0]!;
  const disks = variant.disk === undefined ? undefined : [new MemoryBlockBackend(new Uint8Array(readFileSync(variant.disk)))];
  return { harts: variant.harts, virtioVersion: variant.virtio, disks, console, rtcEpochMilliseconds: RTC_EPOCH_MS };
}

/** What one hypervisor level saw, copied out of its live counters. */
export interface LevelSnapshot {
  trace: number;
  byCause: number[];
  budget: number;
  platform: number;
  emulated: number;
  reflected: number;
  shadow: ShadowStats;
  injectedInterrupts: number[];
  instructions: number;
}

export function snapshotLevel(vm: VM): LevelSnapshot {
  const stats = vm.stats;
  const exits = stats.exits;
  return {
    trace: exits.trace,
    byCause: Array.from(exits.byCause),
    budget: exits.budget,
    platform: exits.platform,
    emulated: exits.emulated,
    reflected: exits.reflected,
    shadow: { ...stats.shadow },
    injectedInterrupts: Array.from(stats.injectedInterrupts),
    instructions: stats.instructions,
  };
}

export interface GuestRun {
  outcome: RunOutcome;
  output: string;
  /** Per level, from level 1 (on the hardware) to the guest's own; empty at depth 0. */
  levels: LevelSnapshot[];
  instructions: number;
}

/** Boots a bundled guest at `depth` and runs it to the end in slices of the innermost VM's `run`. */
export function runGuestAt(name: string, depth: number, options: { slice?: number; input?: string } = {}): GuestRun {
  const console = new ConsoleCapture();
  const stack = buildStack(depth, guestBoardOptions(name, console.sink));
  bootStack(stack, guestImage(name));
  if (options.input !== undefined) stack.guest.uart.receive(new Uint8Array(Buffer.from(options.input, "latin1")));
  const target = stack.vms.at(-1) ?? stack.guest;
  const { outcome } = runSliced((n) => target.run(n), options.slice ?? 100_000);
  return { outcome, output: console.text, levels: stack.vms.map(snapshotLevel), instructions: stack.guest.instructions };
}

/** A range of the host's memory, as byte offsets into the host RAM's buffer: [start, end). */
export interface HostRange {
  name: string;
  start: number;
  end: number;
}

/**
 * Where a VM's own memory lies in the host's buffer: its RAM window and its shadow-table pool.
 * `platformMemory` is the memory of the platform it runs on (host RAM for level 1, the VM below
 * otherwise): the placement's addresses are that platform's physical addresses.
 */
export function vmHostRanges(vm: VM, platformMemory: Ram): HostRange[] {
  const shadowStart = platformMemory.byteOffset + (vm.placement.shadowBase - platformMemory.base);
  return [
    { name: `${vm.name} RAM`, start: vm.memory.byteOffset, end: vm.memory.byteOffset + vm.memory.size },
    { name: `${vm.name} shadow pool`, start: shadowStart, end: shadowStart + vm.placement.shadowFrames * 4096 },
  ];
}

/** The memory of the platform a level-k VM of the stack runs on. */
export function platformMemoryOf(stack: Stack, vm: VM): Ram {
  const index = stack.vms.indexOf(vm);
  if (index < 0) throw new Error(`${vm.name} is not in the stack`);
  return index === 0 ? stack.host.ram : stack.vms[index - 1]!.memory;
}

/**
 * Watches every byte of host memory except some excluded ranges: `snapshot` copies them, `changes`
 * lists the 4 KiB host pages that differ since (a memcmp of the whole, paged only on a mismatch).
 */
export class HostMemoryGuard {
  readonly host: Ram;
  /** The watched ranges (the complement of the excluded ones). */
  readonly watched: HostRange[];
  private readonly copy: Uint8Array;
  private readonly live: Buffer[];
  private readonly saved: Buffer[];

  constructor(host: Ram, excluded: HostRange[]) {
    this.host = host;
    const sorted = [...excluded].sort((a, b) => a.start - b.start);
    const watched: HostRange[] = [];
    let at = host.byteOffset;
    const end = host.byteOffset + host.size;
    for (const range of sorted) {
      if (range.start < at || range.end > end) throw new Error(`excluded ranges overlap or leave host memory: ${range.name}`);
      if (range.start > at) watched.push({ name: `host before ${range.name}`, start: at, end: range.start });
      at = range.end;
    }
    if (at < end) watched.push({ name: "host tail", start: at, end });
    this.watched = watched;
    const total = watched.reduce((sum, r) => sum + (r.end - r.start), 0);
    this.copy = new Uint8Array(total);
    this.live = watched.map((r) => Buffer.from(host.buffer, r.start, r.end - r.start));
    let offset = 0;
    this.saved = watched.map((r) => {
      const view = Buffer.from(this.copy.buffer, offset, r.end - r.start);
      offset += r.end - r.start;
      return view;
    });
  }

  /** Bytes watched. */
  get size(): number {
    return this.copy.length;
  }

  snapshot(): void {
    this.live.forEach((live, i) => this.saved[i]!.set(live));
  }

  /** Host-physical pages (hex) that changed since the snapshot, at most `limit` of them. */
  changes(limit = 8): string[] {
    const changed: string[] = [];
    this.live.forEach((live, i) => {
      if (changed.length >= limit || live.equals(this.saved[i]!)) return;
      const range = this.watched[i]!;
      for (let offset = 0; offset < live.length && changed.length < limit; offset += 4096) {
        const length = Math.min(4096, live.length - offset);
        if (Buffer.compare(live.subarray(offset, offset + length), this.saved[i]!.subarray(offset, offset + length)) !== 0) {
          changed.push(`${range.name}: 0x${(this.host.base + range.start - this.host.byteOffset + offset).toString(16)}`);
        }
      }
    });
    return changed;
  }
}

/** Fills a host range with a recognizable pattern (so that a stray write of zeros shows). */
export function fillPattern(host: Ram, range: HostRange, seed: number): void {
  const words = new Int32Array(host.buffer, range.start, (range.end - range.start) >>> 2);
  let state = seed | 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state;
  }
}

/**
 * A tiny M-mode guest, loaded as a raw image at 0x80000000, that plays a script of MMIO accesses
 * at `SCRIPT_ADDRESS`, as a driver would: 12-byte entries {op, address, value}; op 1 stores `value`
 * to `address`, op 2 loads a word from `address` into the entry's `value`, op 0 ends the script.
 * It then writes 0x5555 (pass) to the test device.
 */
export const SCRIPT_ADDRESS = 0x8000_1000;
export const ScriptOp = { End: 0, Store: 1, Load: 2 } as const;

export function scriptPlayer(): Uint8Array {
  const s0 = 8;
  const t0 = 5;
  const t1 = 6;
  const t2 = 7;
  const t3 = 28;
  const words = [
    /* 0  */ encode(Op.LUI, { rd: s0, imm: SCRIPT_ADDRESS | 0 }),
    /* 4  loop: */ encode(Op.LW, { rd: t0, rs1: s0, imm: 0 }),
    /* 8  */ encode(Op.BEQ, { rs1: t0, rs2: 0, imm: 44 }), // → done (52)
    /* 12 */ encode(Op.LW, { rd: t1, rs1: s0, imm: 4 }),
    /* 16 */ encode(Op.ADDI, { rd: t3, rs1: 0, imm: ScriptOp.Store }),
    /* 20 */ encode(Op.BNE, { rs1: t0, rs2: t3, imm: 16 }), // → load (36)
    /* 24 */ encode(Op.LW, { rd: t2, rs1: s0, imm: 8 }),
    /* 28 */ encode(Op.SW, { rs1: t1, rs2: t2, imm: 0 }),
    /* 32 */ encode(Op.JAL, { rd: 0, imm: 12 }), // → next (44)
    /* 36 load: */ encode(Op.LW, { rd: t2, rs1: t1, imm: 0 }),
    /* 40 */ encode(Op.SW, { rs1: s0, rs2: t2, imm: 8 }),
    /* 44 next: */ encode(Op.ADDI, { rd: s0, rs1: s0, imm: 12 }),
    /* 48 */ encode(Op.JAL, { rd: 0, imm: -44 }), // → loop (4)
    /* 52 done: */ encode(Op.LUI, { rd: t0, imm: 0x0010_0000 }),
    /* 56 */ encode(Op.LUI, { rd: t1, imm: 0x5000 }),
    /* 60 */ encode(Op.ADDI, { rd: t1, rs1: t1, imm: 0x555 }),
    /* 64 */ encode(Op.SW, { rs1: t0, rs2: t1, imm: 0 }),
    /* 68 */ encode(Op.JAL, { rd: 0, imm: 0 }),
  ];
  return new Uint8Array(Uint32Array.from(words, (w) => w >>> 0).buffer);
}

/** One script entry. */
export interface ScriptEntry {
  op: number;
  address: number;
  value: number;
}

/** Writes a script (and its End entry) into guest RAM; returns the guest address of each entry. */
export function writeScript(ram: Ram, entries: ScriptEntry[]): number[] {
  const bytes = new Uint8Array(12 * (entries.length + 1));
  const view = new DataView(bytes.buffer);
  entries.forEach((entry, i) => {
    view.setUint32(12 * i, entry.op, true);
    view.setUint32(12 * i + 4, entry.address >>> 0, true);
    view.setUint32(12 * i + 8, entry.value >>> 0, true);
  });
  ram.write(SCRIPT_ADDRESS, bytes);
  return entries.map((_, i) => SCRIPT_ADDRESS + 12 * i);
}
