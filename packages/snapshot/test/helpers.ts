import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileBlockBackend } from "@matryoshka/devices";
import type { EngineName } from "@matryoshka/engines";
import { runGuest, type InputSource, type RunOptions, type RunReport } from "@matryoshka/runner";
import { guestPath, repoRoot } from "@matryoshka/testkit";
import { loadRun, saveRun } from "../src/index.js";

/** Console input that is all there at the start: deterministic, unlike a pipe. */
export function inputOf(text: string | undefined): InputSource | undefined {
  if (text === undefined) return undefined;
  let pending: Uint8Array | undefined = new Uint8Array(Buffer.from(text, "latin1"));
  return {
    drain: () => {
      const bytes = pending;
      pending = undefined;
      return bytes;
    },
    next: () => {
      const bytes = pending;
      pending = undefined;
      return Promise.resolve(bytes);
    },
  };
}

/** A guest to run: which one, at what depth, on which engine and backend, with which disk and input. */
export interface Case {
  guest: string;
  depth: number;
  engine: EngineName;
  backend?: RunOptions["backend"];
  /** Copy guests/kernel/disk.img to a temporary file and attach it (virtio-mmio version 2). */
  disk?: boolean;
  input?: string;
  harts?: number;
  /**
   * Guest RAM (default 16 MiB: a save at depth 0 reads all of the board's RAM, and the host's first
   * touch of a large untouched SharedArrayBuffer is slow enough to starve the test runner's messages).
   */
  memoryMiB?: number;
}

export interface Transcript {
  output: string;
  report: RunReport;
}

/** Runs `run` with a fresh copy of the test kernel's disk, if asked; the copy is removed afterwards. */
async function withDisk<T>(wanted: boolean | undefined, run: (path: string | undefined) => Promise<T>): Promise<T> {
  if (!wanted) return run(undefined);
  const dir = mkdtempSync(join(tmpdir(), "matryoshka-snapshot-"));
  const path = join(dir, "disk.img");
  copyFileSync(join(repoRoot, "guests/kernel/disk.img"), path);
  try {
    return await run(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function baseOptions(c: Case, kernel: Uint8Array, disk: string | undefined) {
  return {
    kernel,
    depth: c.depth,
    engine: c.engine,
    backend: c.backend,
    virtioVersion: disk === undefined ? (1 as const) : (2 as const),
    harts: c.harts,
    memoryMiB: c.memoryMiB ?? 16,
  };
}

/** The guest's console output and report, uninterrupted. */
export function uninterrupted(c: Case, kernel: Uint8Array): Promise<Transcript> {
  return withDisk(c.disk, async (disk) => {
    let output = "";
    const backends = disk === undefined ? [] : [new FileBlockBackend(disk)];
    try {
      const report = await runGuest({
        ...baseOptions(c, kernel, disk),
        disks: backends,
        console: (byte) => (output += String.fromCharCode(byte)),
        input: inputOf(c.input),
      });
      return { output, report };
    } finally {
      for (const backend of backends) backend.close();
    }
  });
}

/**
 * The run paused at `at`, saved, read back and continued in a fresh stack: the output before and
 * after, the snapshot's size, and the restored run's report (which counts the whole run).
 */
export function interrupted(c: Case, kernel: Uint8Array, at: number, restoreEngine: EngineName = c.engine): Promise<Transcript & { bytes: number; before: string; pausedAt: number }> {
  return withDisk(c.disk, async (disk) => {
    let before = "";
    let after = "";
    const first = disk === undefined ? [] : [new FileBlockBackend(disk)];
    let bytes: Uint8Array;
    let pausedAt = 0;
    try {
      const options = baseOptions(c, kernel, disk);
      const paused = await runGuest({
        ...options,
        disks: first,
        console: (byte) => (before += String.fromCharCode(byte)),
        input: inputOf(c.input),
        pauseAt: at,
      });
      if (paused.paused === undefined) throw new Error(`the run ended (${paused.outcome.kind}) before ${at} instructions`);
      pausedAt = paused.paused.machineTime;
      bytes = saveRun(paused.paused, { ...options, engine: c.engine, disks: disk === undefined ? [] : [{ path: disk }] }).bytes;
    } finally {
      for (const backend of first) backend.close();
    }
    const loaded = loadRun(bytes);
    const second = loaded.config.disks.map((saved) => new FileBlockBackend(saved.path));
    try {
      const report = await runGuest({
        kernel: loaded.kernel,
        depth: loaded.config.depth,
        engine: restoreEngine,
        backend: loaded.config.backend,
        virtioVersion: loaded.config.virtioVersion,
        harts: loaded.config.harts,
        memoryMiB: loaded.config.memoryMiB,
        disks: second,
        console: (byte) => (after += String.fromCharCode(byte)),
        resume: (stack) => loaded.restore(stack),
      });
      return { output: before + after, before, report, bytes: bytes.length, pausedAt };
    } finally {
      for (const backend of second) backend.close();
    }
  });
}

export { guestPath };
