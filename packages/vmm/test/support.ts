import { readFileSync } from "node:fs";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { encode, Op } from "@matryoshka/isa";
import type { RunOutcome } from "@matryoshka/machine";
import { guestPhysical as gpa, PagedMemory, type GuestMemory, type Ram } from "@matryoshka/memory";
import type { ShadowStats } from "@matryoshka/mmu";
import { guestPath, guestVariants } from "@matryoshka/testkit";
import { buildStack, type GuestMachineOptions, type Platform, type Stack, type VM } from "@matryoshka/vmm";

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

/**
 * Host pages (page numbers of the hardware's RAM) that hold what a VM owns now: the frames of its
 * RAM and of its shadow tables, followed down through the memories of the levels beneath (a
 * level-k VM's frames are pages of the VM of level k-1). Frames come and go as the VM runs.
 */
export function vmHostPages(vm: VM): Set<number> {
  const firstPage = vm.memory.base >>> 12;
  const frames: number[] = vm.shadow.frames();
  for (let page = 0; page < vm.memory.pages; page++) {
    const frame = vm.memory.currentFrame(firstPage + page);
    if (frame >= 0) frames.push(frame);
  }
  return new Set(hostPagesOf(vm.platform, frames));
}

/** The host pages of a VM's shadow tables alone (they change whenever it runs a context). */
export function shadowHostPages(vm: VM): Set<number> {
  return new Set(hostPagesOf(vm.platform, vm.shadow.frames()));
}

/** Pages of `platform`'s memory, as host pages (pages with no frame beneath hold nothing). */
function hostPagesOf(platform: Platform, frames: number[]): number[] {
  let memory = platform.memory;
  while (memory instanceof PagedMemory) {
    const below = memory;
    frames = frames.map((frame) => below.currentFrame(frame)).filter((frame) => frame >= 0);
    memory = below.platform;
  }
  return frames;
}

/**
 * Watches the host's memory page by page: `snapshot` copies all of it, `changes(allowed)` lists the
 * host pages that differ since and are not among `allowed` (a memcmp of the whole, paged only on
 * a mismatch).
 */
export class HostMemoryGuard {
  readonly host: Ram;
  private readonly copy: Uint8Array;
  private readonly live: Buffer;

  constructor(host: Ram) {
    this.host = host;
    this.live = Buffer.from(host.buffer, host.byteOffset, host.size);
    this.copy = new Uint8Array(host.size);
  }

  snapshot(): void {
    this.copy.set(this.live);
  }

  /** Host pages (hex addresses) that changed since the snapshot and are not `allowed`, at most `limit`. */
  changes(allowed: ReadonlySet<number> = new Set(), limit = 8): string[] {
    const changed: string[] = [];
    const saved = Buffer.from(this.copy.buffer, this.copy.byteOffset, this.copy.length);
    if (this.live.equals(saved)) return changed;
    const firstPage = this.host.base >>> 12;
    for (let offset = 0; offset < this.live.length && changed.length < limit; offset += 4096) {
      if (allowed.has(firstPage + (offset >>> 12))) continue;
      if (Buffer.compare(this.live.subarray(offset, offset + 4096), saved.subarray(offset, offset + 4096)) !== 0) {
        changed.push(`0x${(this.host.base + offset).toString(16)}`);
      }
    }
    return changed;
  }
}

/** Fills host pages with a recognizable pattern (so that a stray write of zeros shows). */
export function fillPattern(host: Ram, pages: Iterable<number>, seed: number): void {
  let state = seed | 1;
  for (const page of pages) {
    const words = new Int32Array(host.buffer, host.byteOffset + (page * 4096 - host.base), 1024);
    for (let i = 0; i < words.length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      words[i] = state;
    }
  }
}

/** Host pages no VM of the stack owns now. */
export function freeHostPages(host: Ram, vms: VM[]): number[] {
  const owned = new Set<number>();
  for (const vm of vms) for (const page of vmHostPages(vm)) owned.add(page);
  const free: number[] = [];
  for (let page = host.base >>> 12; page < (host.base + host.size) >>> 12; page++) if (!owned.has(page)) free.push(page);
  return free;
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
export function writeScript(ram: GuestMemory, entries: ScriptEntry[]): number[] {
  const bytes = new Uint8Array(12 * (entries.length + 1));
  const view = new DataView(bytes.buffer);
  entries.forEach((entry, i) => {
    view.setUint32(12 * i, entry.op, true);
    view.setUint32(12 * i + 4, entry.address >>> 0, true);
    view.setUint32(12 * i + 8, entry.value >>> 0, true);
  });
  ram.write(gpa(SCRIPT_ADDRESS), bytes);
  return entries.map((_, i) => SCRIPT_ADDRESS + 12 * i);
}
