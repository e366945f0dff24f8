import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { CopyOnWriteBlockBackend, MemoryBlockBackend } from "@matryoshka/devices";
import type { RunOutcome, VirtioDisk } from "@matryoshka/machine";
import { buildStack, MAX_DEPTH } from "@matryoshka/vmm";
import { runGuest, type InputSource, type LevelReport, type RunOptions, type RunReport } from "./run.js";
import { describeOutcome, guestStatus } from "./status.js";

/** A malformed depth list, with a message fit for one line. */
export class DepthListError extends Error {
  override readonly name = "DepthListError";
}

/**
 * Parses a list of depths: `A..B` (both included), a comma list `0,1,2,5,30`, a single number, or
 * a comma list of numbers and ranges (`0..2,5,30`). Depths are integers from 0 to `max`, strictly
 * ascending (so no duplicates). Throws DepthListError otherwise.
 */
export function parseDepths(text: string, max: number = MAX_DEPTH): number[] {
  const depths: number[] = [];
  const item = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/;
  if (text.trim() === "") throw new DepthListError("expected depths such as 0..30, 0,1,2,5,30 or 3");
  for (const part of text.split(",")) {
    const match = item.exec(part);
    if (!match) throw new DepthListError(`"${part.trim()}" is not a depth or a range A..B (e.g. 0..30, 0,1,2,5,30)`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    for (const depth of [from, to]) {
      if (!Number.isSafeInteger(depth) || depth > max) throw new DepthListError(`depth ${match[2] === undefined ? match[1] : depth} is out of range 0..${max}`);
    }
    if (to < from) throw new DepthListError(`range ${from}..${to} is not ascending`);
    for (let depth = from; depth <= to; depth++) {
      const last = depths.at(-1);
      if (last !== undefined && depth <= last) {
        throw new DepthListError(depth === last ? `depth ${depth} is listed twice` : `depths must be ascending: ${depth} comes after ${last}`);
      }
      depths.push(depth);
    }
  }
  return depths;
}

/**
 * A disk for every depth: a host file (copied to a temporary file per depth) or bytes (copied in
 * memory), optionally in a chosen virtio-mmio slot (see `VirtioDisk`).
 */
export type DiskImage = string | Uint8Array | { image: string | Uint8Array; slot?: number };

const diskSpec = (disk: DiskImage) => (typeof disk === "string" || disk instanceof Uint8Array ? { image: disk, slot: undefined } : disk);

export interface SweepOptions extends Omit<RunOptions, "depth" | "disks" | "console" | "input"> {
  /** Depths to run at, in order; the first is the reference the others are compared with. */
  depths: readonly number[];
  /** Disk images. Every depth starts from the same bytes: it runs on a fresh copy-on-write view of each (the image is never written). */
  disks?: readonly DiskImage[];
  /** Console input, all of it available from the start at every depth, then end of input. */
  input?: Uint8Array;
  /** Told when a depth starts and when it has finished (with its result, already compared). */
  onProgress?: (event: SweepProgress) => void;
  /** Run the first depth once, untimed and unreported, before the sweep, so its time is not a cold start. */
  warmup?: boolean;
}

export type SweepProgress =
  | { kind: "start"; depth: number; index: number; total: number }
  | { kind: "done"; depth: number; index: number; total: number; result: DepthResult };

/** One hypervisor level's work, flattened for tables and JSON. */
export interface LevelSummary {
  level: number;
  /** Exits this level's hypervisor took from its VM: traps (all causes), budget and platform exits. */
  exitsHandled: number;
  /** Traps and interrupts this level passed up to the hypervisor running in its VM. */
  reflected: number;
  /** Trap exits by exception cause (only causes that occurred). */
  byCause: Record<number, number>;
  /** Exits because the VM's instruction budget (its next deadline) ran out. */
  budget: number;
  /** Exits the platform asked for (its own machine stopping, its own interrupts). */
  platform: number;
  /** Guest instructions emulated one at a time. */
  emulated: number;
  shadowFills: number;
  /** Shadow invalidations: single pages plus whole address spaces. */
  shadowFlushes: number;
  rootsCreated: number;
  poolResets: number;
  /** Virtual interrupts injected into the level's guest, by cause. */
  injectedInterrupts: Record<number, number>;
}

/** Where a depth departs from the reference depth. */
export interface Difference {
  /** The first line (1-based) whose bytes differ, with its newline; undefined past the end of an output. */
  output?: { line: number; expected: string | undefined; got: string | undefined };
  status?: { expected: number; got: number };
}

export interface DepthResult {
  depth: number;
  outcome: RunOutcome;
  /** `guestStatus(outcome)`: the status `matryoshka run` would exit with. */
  status: number;
  /** Everything the guest wrote to its console. */
  output: Uint8Array;
  outputSha256: string;
  /** The guest's run time, as `run --stats` reports it (building the stack and loading excluded). */
  wallMilliseconds: number;
  /** This depth's wall time over the reference depth's. */
  slowdown: number;
  /** Guest instructions started, summed over harts. */
  instructions: number;
  /** Level 1 (on the hardware) to the guest's own: `depth` entries. */
  levels: LevelSummary[];
  totals: {
    /** Exits handled, summed over the levels. */
    exitsHandled: number;
    /** Exits reflected, summed over the levels. */
    reflected: number;
    /** Exits taken by the guest's own hypervisor (the innermost level); 0 at depth 0. */
    innermostExits: number;
    /** Shadow fills, summed over the levels. */
    shadowFills: number;
  };
  /** Output bytes and status equal the reference depth's. */
  identical: boolean;
  /** Set when `identical` is false. */
  difference?: Difference;
  report: RunReport;
}

export interface SweepResult {
  /** The reference depth (the first in the list). */
  reference: number;
  depths: DepthResult[];
  /** True when every depth's output and status equal the reference's. */
  identical: boolean;
  /** Depths whose output or status differ from the reference. */
  differing: number[];
}

/** The `--json` document of `matryoshka sweep`. */
export interface SweepJson {
  guest: string;
  depths: {
    depth: number;
    status: number;
    outcome: string;
    wallMilliseconds: number;
    slowdown: number;
    instructions: number;
    outputSha256: string;
    identical: boolean;
    difference?: Difference;
    levels: LevelSummary[];
    /** Every counter of the run, as `@matryoshka/metrics` read it (see RunReport.metrics). */
    metrics: RunReport["metrics"];
  }[];
  identical: boolean;
}

/** Summarises one level of a run report. */
export function summarizeLevel(report: LevelReport): LevelSummary {
  const exits = report.exits;
  const byCause: Record<number, number> = {};
  let traps = 0;
  exits.byCause.forEach((count, cause) => {
    if (count) byCause[cause] = count;
    traps += count;
  });
  const injectedInterrupts: Record<number, number> = {};
  for (const [cause, count] of [...report.injectedInterrupts].sort((a, b) => a[0] - b[0])) if (count) injectedInterrupts[cause] = count;
  return {
    level: report.level,
    exitsHandled: traps + exits.budget + exits.platform,
    reflected: exits.reflected,
    byCause,
    budget: exits.budget,
    platform: exits.platform,
    emulated: exits.emulated,
    shadowFills: report.shadow.fills,
    shadowFlushes: report.shadow.pageFlushes + report.shadow.fullFlushes,
    rootsCreated: report.shadow.rootsCreated,
    poolResets: report.shadow.poolResets,
    injectedInterrupts,
  };
}

/** Lines of console output, each with its newline (the last may have none), read as Latin-1. */
function lines(output: Uint8Array): string[] {
  return Buffer.from(output.buffer, output.byteOffset, output.byteLength).toString("latin1").match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * Compares a run with the reference run: output bytes and status. Returns undefined when both are
 * equal, otherwise the first differing line of output and/or the two statuses.
 */
export function compareRuns(expected: { output: Uint8Array; status: number }, got: { output: Uint8Array; status: number }): Difference | undefined {
  const difference: Difference = {};
  if (!Buffer.from(expected.output.buffer, expected.output.byteOffset, expected.output.byteLength).equals(got.output)) {
    const want = lines(expected.output);
    const have = lines(got.output);
    let index = 0;
    while (index < want.length && index < have.length && want[index] === have[index]) index++;
    difference.output = { line: index + 1, expected: want[index], got: have[index] };
  }
  if (expected.status !== got.status) difference.status = { expected: expected.status, got: got.status };
  return difference.output || difference.status ? difference : undefined;
}

/** Console input that is all there from the start, then ends (like a file on stdin). */
function bytesInput(bytes: Uint8Array | undefined): InputSource {
  let pending = bytes && bytes.length > 0 ? bytes.slice() : undefined;
  const take = () => {
    const out = pending;
    pending = undefined;
    return out;
  };
  return { drain: take, next: async () => take() };
}

/** Console output collected in memory. */
class OutputBuffer {
  private bytes = new Uint8Array(4096);
  private length = 0;

  readonly push = (byte: number): void => {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = byte;
  };

  contents(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function checkDepths(depths: readonly number[]): void {
  if (depths.length === 0) throw new RangeError("no depths to sweep");
  for (const depth of depths) {
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw new RangeError(`depth must be 0..${MAX_DEPTH}, got ${depth}`);
  }
  if (new Set(depths).size !== depths.length) throw new RangeError("a depth is listed twice");
}

/**
 * Runs a guest at each depth in turn (in this process, one after another) on fresh copies of its
 * disks and the same console input, and compares every depth's console output and status with
 * the first depth's. Throws what `runGuest` throws: LoadError for a kernel that does not load,
 * RangeError for bad depths or a stack too deep for the memory limit (checked before any depth runs).
 */
export async function sweep(options: SweepOptions): Promise<SweepResult> {
  const { depths, disks: images = [], input, onProgress, warmup = false, ...guest } = options;
  checkDepths(depths);
  if (guest.backend === "pv" && depths.includes(0)) {
    throw new RangeError("the pv backend needs depths of 1 or more: the hypervisor is the guest kernel's firmware");
  }
  // The deepest stack must fit the host memory limit: find out before running anything.
  buildStack(Math.max(...depths), { harts: guest.harts, memoryMiB: guest.memoryMiB, pmpEntries: guest.pmpEntries });
  const scratch = images.some((disk) => typeof diskSpec(disk).image === "string") ? mkdtempSync(join(tmpdir(), "matryoshka-sweep-")) : undefined;
  const results: DepthResult[] = [];
  const runAt = async (depth: number): Promise<{ report: RunReport; bytes: Uint8Array }> => {
    const copies: string[] = [];
    const disks: VirtioDisk[] = [];
    const output = new OutputBuffer();
    try {
      for (const [number, disk] of images.entries()) {
        const { image, slot } = diskSpec(disk);
        if (typeof image === "string") {
          // A private view of the image: its blocks as written at this depth, the image untouched
          // (copying it instead took seconds per depth for a large image).
          const copy = join(scratch!, `depth${depth}-disk${number}-${basename(image)}`);
          copies.push(copy);
          disks.push({ backend: new CopyOnWriteBlockBackend(image, copy), slot });
        } else {
          disks.push({ backend: new MemoryBlockBackend(image.slice()), slot });
        }
      }
      const report = await runGuest({ ...guest, depth, disks, console: output.push, input: bytesInput(input) });
      return { report, bytes: output.contents() };
    } finally {
      for (const { backend } of disks) if (backend instanceof CopyOnWriteBlockBackend) backend.close();
      for (const copy of copies) rmSync(copy, { force: true });
    }
  };
  try {
    // The first run in a process also pays for compiling the emulator's hot paths: without an
    // untimed run first, the reference depth looks slower than it is and every slowdown too small.
    if (warmup) await runAt(depths[0]!);
    for (const [index, depth] of depths.entries()) {
      onProgress?.({ kind: "start", depth, index, total: depths.length });
      const { report, bytes } = await runAt(depth);
      const status = guestStatus(report.outcome);
      const reference = results[0];
      const difference = reference ? compareRuns(reference, { output: bytes, status }) : undefined;
      const levels = report.levels.map(summarizeLevel);
      const result: DepthResult = {
        depth,
        outcome: report.outcome,
        status,
        output: bytes,
        outputSha256: createHash("sha256").update(bytes).digest("hex"),
        wallMilliseconds: report.wallMilliseconds,
        slowdown: reference ? report.wallMilliseconds / Math.max(reference.wallMilliseconds, 1e-6) : 1,
        instructions: report.instructions,
        levels,
        totals: {
          exitsHandled: levels.reduce((sum, level) => sum + level.exitsHandled, 0),
          reflected: levels.reduce((sum, level) => sum + level.reflected, 0),
          innermostExits: levels.at(-1)?.exitsHandled ?? 0,
          shadowFills: levels.reduce((sum, level) => sum + level.shadowFills, 0),
        },
        identical: difference === undefined,
        ...(difference ? { difference } : {}),
        report,
      };
      results.push(result);
      onProgress?.({ kind: "done", depth, index, total: depths.length, result });
    }
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
  const differing = results.filter((result) => !result.identical).map((result) => result.depth);
  return { reference: depths[0]!, depths: results, identical: differing.length === 0, differing };
}

/** The JSON document for a sweep (`matryoshka sweep --json`); `guest` names the kernel. */
export function sweepJson(result: SweepResult, guest: string): SweepJson {
  return {
    guest,
    depths: result.depths.map((depth) => ({
      depth: depth.depth,
      status: depth.status,
      outcome: describeOutcome(depth.outcome),
      wallMilliseconds: depth.wallMilliseconds,
      slowdown: depth.slowdown,
      instructions: depth.instructions,
      outputSha256: depth.outputSha256,
      identical: depth.identical,
      ...(depth.difference ? { difference: depth.difference } : {}),
      levels: depth.levels,
      metrics: depth.report.metrics,
    })),
    identical: result.identical,
  };
}
