import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { MachineState, VirtMachine } from "@matryoshka/machine";
import type { PausedRun, RunCounters, Stack } from "@matryoshka/runner";
import { FrameAllocator, type PagedMemoryStats } from "@matryoshka/memory";
import type { VM } from "@matryoshka/vmm";
import { decodeRam, encodeRam } from "./ram.js";
import { decodeSnapshot, encodeSnapshot, jsonSection, readJsonSection, requireSection, SnapshotError, type Section } from "./format.js";

/** A disk as a snapshot names it: shared storage, found again by path and checked by content. */
export interface SavedDisk {
  /** Absolute path of the image. */
  path: string;
  /** The virtio-mmio slot it was given (null: the board chose, as it will again for the same list). */
  slot: number | null;
  size: number;
  /** SHA-256 of the image's contents when the snapshot was taken, hex. */
  sha256: string;
}

/** How the stack was built: what a restore builds again before putting the state back ("CONF"). */
export interface SnapshotConfig {
  depth: number;
  engine: string;
  backend: "trap-and-emulate" | "bt" | "pv";
  harts: number;
  memoryMiB: number;
  pmpEntries: number;
  isaProfile: string;
  virtioVersion: 1 | 2;
  frameOrder: string | null;
  /** Kernel command line, for a reboot after the restore (the device tree in RAM already has it). */
  append: string | null;
  disks: SavedDisk[];
  counters: RunCounters;
  /** Machine time (instructions) at which the snapshot was taken, counting earlier boots. */
  machineTime: number;
  /**
   * The lowest level whose state a restore puts back (default 0, all of them): a migration of VM K
   * (`--migrate-level K`) moves levels K and up, and the destination's levels beneath start afresh.
   */
  fromLevel?: number;
}

/** A VM's shadow tables as saved (`ShadowState` of @matryoshka/mmu, reached through the VM's type). */
type ShadowState = ReturnType<VM["shadow"]["saveState"]>;

/** One level's state ("MACH"): its board (level 0 the hardware, k VM k's), and what its hypervisor counted. */
export interface LevelState {
  machine: MachineState;
  exits?: Record<string, number | number[]>;
  /** The VM's shadow page tables: statistics, frames and entries (`ShadowPageTables.saveState`). */
  shadow?: ShadowState;
  /** The VM's memory's counters (resident, shared, copies…), put back after its pages are. */
  memory?: PagedMemoryStats;
  /** The VM's backend's own state (`VirtualizationBackend.saveState`): the pv firmware's; absent for stateless backends. */
  backend?: unknown;
  /**
   * The VM's frame table, [page index, platform frame, flags] per resident page (zero pages
   * included: residency is kept apart from contents). A restore puts every page at the frame it
   * had, at every level, so that the memory beneath holds what it held (the shadow tables'
   * frames too) and every level's resident count, fills and exits continue as they would have;
   * a pv guest needs it anyway, its page tables holding machine frames.
   */
  frames?: [number, number, number][];
}

/** What `saveRun` needs beside the paused run: the configuration and boot images it was started with. */
export interface SaveRunOptions {
  engine: string;
  backend?: "trap-and-emulate" | "bt" | "pv";
  harts?: number;
  memoryMiB?: number;
  pmpEntries?: number;
  isaProfile?: string;
  virtioVersion?: 1 | 2;
  frameOrder?: string;
  kernel: Uint8Array;
  bios?: Uint8Array;
  initrd?: Uint8Array;
  append?: string;
  /** Disk images by path, in the order the run was given them. */
  disks?: { path: string; slot?: number }[];
}

/** The SHA-256 of a file's contents, hex. */
export function fileSha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The boards of a stack, bottom up: the hardware, then each VM's. */
function boards(stack: Stack): VirtMachine[] {
  return [stack.host, ...stack.vms.map((vm) => vm.board)];
}

/**
 * The per-level state of a paused stack: every board (the hardware's and each VM's: harts, clock,
 * devices), each level's exit and memory counters, frame table and shadow tables (so that a
 * restored run counts exactly as the saved one would have). TLBs and decoded code are not saved:
 * they are caches a restored stack rebuilds without a count changing. Throws a RangeError for what cannot be saved.
 */
export function captureLevels(stack: Stack, cut = false): LevelState[] {
  return boards(stack).map((board, level): LevelState => {
    const vm: VM | undefined = level === 0 ? undefined : stack.vms[level - 1];
    if (vm === undefined) return { machine: board.saveState() };
    const exits = vm.engine.exits;
    // A pause that cut a slice short ended the guest's context with a budget exit at every level
    // it was entered at: an artefact of pausing, which the saved count leaves out (the restored
    // run enters the context again without counting one either).
    const budget = cut && vm.engine.lastExitWasBudget ? exits.budget - 1 : exits.budget;
    const saved: LevelState = {
      machine: board.saveState(),
      exits: { ...exits, budget, byCause: Array.from(exits.byCause) },
      shadow: vm.shadow.saveState(),
      memory: { ...vm.memory.stats },
      frames: frameTable(vm),
    };
    if (vm.backend.saveState !== undefined) saved.backend = vm.backend.saveState();
    return saved;
  });
}

/** Bit of `PagedMemoryState.flags`: the page shares its frame copy-on-write. */
const SHARED_FLAG = 1;
/** Bit of `PagedMemoryState.flags`: the page is pinned to its frame (direct paging). */
const PINNED_FLAG = 2;

function frameTable(vm: VM): [number, number, number][] {
  const { table, flags } = vm.memory.state;
  const out: [number, number, number][] = [];
  for (let index = 0; index < table.length; index++) if (table[index]! >= 0) out.push([index, table[index]!, flags[index]! & (SHARED_FLAG | PINNED_FLAG)]);
  return out;
}

/**
 * Gives a fresh VM's pages the frames they had (see `LevelState.frames`), and its shadow tables
 * theirs: those frames are claimed from its hypervisor's allocator (with one reference per page
 * sharing a frame), entered in the VM's table and its shadow pool, then pinned pages are pinned
 * again. Contents come afterwards, through the memory as usual. Nothing here counts as a fill, a
 * root created or a page backed: the counters are put back as saved.
 */
function restoreFrameTable(vm: VM, frames: readonly [number, number, number][], shadow: ShadowState | undefined): void {
  const memory = vm.memory;
  const source = vm.placement.frames;
  if (!(source instanceof FrameAllocator)) throw new SnapshotError("the VM's hypervisor does not hand out frames from an allocator a restore can claim them from");
  const wanted = new Map<number, number>();
  const { table, flags } = memory.state;
  for (const [index, frame, flag] of frames) {
    if (!Number.isInteger(index) || index < 0 || index >= table.length || table[index] !== -1) throw new SnapshotError(`corrupt: frame table entry for page ${index}`);
    table[index] = frame;
    flags[index] = flag & SHARED_FLAG;
    wanted.set(frame, (wanted.get(frame) ?? 0) + 1);
  }
  for (const frame of shadow?.pool.frames ?? []) {
    if (wanted.has(frame)) throw new SnapshotError(`corrupt: shadow table frame ${frame} is also a page's`);
    wanted.set(frame, 1);
  }
  try {
    source.claim(wanted);
  } catch (error) {
    throw new SnapshotError(`the VM's pages were at frames the rebuilt hypervisor does not have free (${error instanceof Error ? error.message : String(error)})`);
  }
  memory.stats.resident = frames.length;
  memory.stats.shared = frames.filter(([, , flag]) => (flag & SHARED_FLAG) !== 0).length;
  for (const [index, , flag] of frames) if ((flag & PINNED_FLAG) !== 0) memory.pin(memory.base / 4096 + index);
  if (shadow !== undefined) vm.shadow.restoreState(shadow);
}

/** The backends' state, once the memory holds its pages again. */
export function restoreBackends(stack: Stack, levels: readonly LevelState[], fromLevel = 0): void {
  stack.vms.forEach((vm, index) => {
    const saved = levels[index + 1];
    if (index + 1 < fromLevel || saved?.backend === undefined) return;
    if (vm.backend.restoreState === undefined) throw new SnapshotError(`the ${vm.backend.name} backend of level ${index + 1} cannot take saved state`);
    vm.backend.restoreState(saved.backend);
  });
}

/** Puts per-level state back into a freshly built stack of the same shape. */
export function restoreLevels(stack: Stack, levels: readonly LevelState[], fromLevel = 0): void {
  const all = boards(stack);
  if (levels.length !== all.length) throw new SnapshotError(`the snapshot has ${levels.length} levels, the stack built for it ${all.length}`);
  all.forEach((board, level) => {
    if (level < fromLevel) return;
    const saved = levels[level]!;
    board.restoreState(saved.machine);
    const vm = level === 0 ? undefined : stack.vms[level - 1];
    if (vm === undefined) return;
    if (saved.exits) {
      const exits = vm.engine.exits as unknown as Record<string, number>;
      for (const [key, value] of Object.entries(saved.exits)) {
        if (key === "byCause" && Array.isArray(value)) vm.engine.exits.byCause.set(value.slice(0, 32));
        else if (typeof value === "number" && key in exits) exits[key] = value;
      }
    }
    if (saved.frames) restoreFrameTable(vm, saved.frames, saved.shadow);
  });
}

/** The memories' counters, once their pages are back (writing them back counted nothing, but to be exact). */
export function restoreMemoryStats(stack: Stack, levels: readonly LevelState[], fromLevel = 0): void {
  stack.vms.forEach((vm, index) => {
    const saved = levels[index + 1]?.memory;
    if (index + 1 < fromLevel || saved === undefined) return;
    const stats = vm.memory.stats as unknown as Record<string, number>;
    for (const [key, value] of Object.entries(saved)) if (typeof value === "number" && key in stats) stats[key] = value;
  });
}

/** The disks as a snapshot names them: absolute path, slot, size and content hash. */
export function describeDisks(disks: readonly { path: string; slot?: number }[]): SavedDisk[] {
  return disks.map((disk) => {
    const path = resolve(disk.path);
    return { path, slot: disk.slot ?? null, size: statSync(path).size, sha256: fileSha256(path) };
  });
}

/** The configuration section of a paused run. */
export function snapshotConfig(paused: PausedRun, options: SaveRunOptions): SnapshotConfig {
  return {
    depth: paused.stack.vms.length,
    engine: options.engine,
    backend: options.backend ?? "trap-and-emulate",
    harts: options.harts ?? 1,
    memoryMiB: options.memoryMiB ?? 128,
    pmpEntries: options.pmpEntries ?? 16,
    isaProfile: options.isaProfile ?? "standard",
    virtioVersion: options.virtioVersion ?? 1,
    frameOrder: options.frameOrder ?? null,
    append: options.append ?? null,
    disks: describeDisks(options.disks ?? []),
    counters: { ...paused.counters },
    machineTime: paused.machineTime,
  };
}

/** The sections that carry the boot images, for a reboot after a restore. */
export function bootSections(options: Pick<SaveRunOptions, "kernel" | "bios" | "initrd">): Section[] {
  const sections: Section[] = [{ tag: "KERN", data: options.kernel }];
  if (options.bios) sections.push({ tag: "BIOS", data: options.bios });
  if (options.initrd) sections.push({ tag: "INRD", data: options.initrd });
  return sections;
}

/** Every section of a snapshot but the RAM's, which is given (a migration sends its pages in rounds instead). */
export function stateSections(paused: PausedRun, options: SaveRunOptions, config: SnapshotConfig, ram: Uint8Array): Section[] {
  return [jsonSection("CONF", config), jsonSection("MACH", { levels: captureLevels(paused.stack, paused.cut === true) }), { tag: "RAM ", data: ram }, ...bootSections(options)];
}

/** What `saveRun` wrote, for its one line of report. */
export interface SavedRun {
  bytes: Uint8Array;
  /** RAM pages stored (the others were zero). */
  pages: number;
  config: SnapshotConfig;
}

/**
 * The snapshot of a paused run (`runGuest` with `pauseAt`): its configuration ("CONF"), every
 * level's board and counters ("MACH"), the guest's RAM ("RAM ": sparse, compressed) and the boot
 * images. At depth 1 and more the RAM stored is the guest's, guest-physical: the levels beneath
 * hold nothing else but its pages and the shadow tables, whose frames and entries "MACH" keeps.
 */
export function saveRun(paused: PausedRun, options: SaveRunOptions): SavedRun {
  const config = snapshotConfig(paused, options);
  const ram = encodeRam(paused.stack.guest.ram);
  const bytes = encodeSnapshot(stateSections(paused, options, config, ram.data));
  return { bytes, pages: ram.stored, config };
}

/** A snapshot read back: how to build its stack, its boot images, and how to put its state into the stack. */
export interface LoadedRun {
  config: SnapshotConfig;
  kernel: Uint8Array;
  bios?: Uint8Array;
  initrd?: Uint8Array;
  /** Puts the saved state into a stack built from `config` and not booted; returns the run's counters. */
  restore(stack: Stack): RunCounters;
}

/** Checks the configuration section's fields, so a corrupt but well-checksummed file still fails with one clear line. */
export function checkSnapshotConfig(config: SnapshotConfig): SnapshotConfig {
  const integer = (value: unknown, name: string, min: number, max: number) => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) throw new SnapshotError(`corrupt: configuration field ${name} is ${String(value)}`);
  };
  if (typeof config !== "object" || config === null) throw new SnapshotError("corrupt: the configuration is not an object");
  integer(config.depth, "depth", 0, 64);
  integer(config.harts, "harts", 1, 8);
  integer(config.memoryMiB, "memoryMiB", 1, 2047);
  integer(config.pmpEntries, "pmpEntries", 0, 64);
  integer(config.machineTime, "machineTime", 0, Number.MAX_SAFE_INTEGER);
  if (config.virtioVersion !== 1 && config.virtioVersion !== 2) throw new SnapshotError(`corrupt: configuration field virtioVersion is ${String(config.virtioVersion)}`);
  if (!["trap-and-emulate", "bt", "pv"].includes(config.backend)) throw new SnapshotError(`corrupt: unknown backend ${String(config.backend)}`);
  if (config.fromLevel !== undefined) integer(config.fromLevel, "fromLevel", 0, config.depth);
  if (!Array.isArray(config.disks) || typeof config.counters !== "object" || config.counters === null) throw new SnapshotError("corrupt: the configuration lacks its disks or counters");
  return config;
}

/**
 * Reads a snapshot (throws SnapshotError if it is truncated, corrupt or of another version) and
 * checks its disks: each must still be at its path with the contents it had (a RangeError otherwise).
 */
export function loadRun(bytes: Uint8Array): LoadedRun {
  const sections = decodeSnapshot(bytes);
  const config = checkSnapshotConfig(readJsonSection<SnapshotConfig>(sections, "CONF"));
  const { levels } = readJsonSection<{ levels: LevelState[] }>(sections, "MACH");
  if (!Array.isArray(levels)) throw new SnapshotError("corrupt: the machine section has no levels");
  const ram = requireSection(sections, "RAM ");
  for (const disk of config.disks) {
    let hash: string;
    try {
      hash = fileSha256(disk.path);
    } catch {
      throw new RangeError(`the snapshot's disk ${disk.path} cannot be read`);
    }
    if (hash !== disk.sha256) throw new RangeError(`the snapshot's disk ${disk.path} changed since the snapshot (its SHA-256 differs)`);
  }
  return {
    config,
    kernel: requireSection(sections, "KERN"),
    bios: sections.get("BIOS"),
    initrd: sections.get("INRD"),
    restore(stack: Stack): RunCounters {
      if (stack.vms.length !== config.depth) throw new SnapshotError(`the snapshot is of depth ${config.depth}, the stack built for it ${stack.vms.length}`);
      try {
        restoreLevels(stack, levels, config.fromLevel ?? 0);
        decodeRam(ram, stack.guest.ram);
        restoreBackends(stack, levels, config.fromLevel ?? 0);
        restoreMemoryStats(stack, levels, config.fromLevel ?? 0);
      } catch (error) {
        if (error instanceof SnapshotError) throw error;
        throw new SnapshotError(`corrupt: the machine state does not fit the machine it describes (${error instanceof Error ? error.message : String(error)})`);
      }
      return { ...config.counters };
    },
  };
}
