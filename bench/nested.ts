// Nested-virtualization benchmarks for `pnpm bench`: what one hypervisor level costs (depth 1 vs
// the bare board) and how that cost grows with depth. Every number is a ratio of runs made in this
// process, in interleaved rounds (the machine is shared and noisy), each configuration warmed up
// first and timed by the median of its rounds.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { guestPath, guestVariants } from "@matryoshka/testkit";
import { FileBlockBackend } from "@matryoshka/devices";
import type { EngineName } from "@matryoshka/engines";
import { runGuest, type InputSource, type LevelReport, type RunReport } from "@matryoshka/runner";

/** A guest and how to run it. */
export interface Workload {
  name: string;
  kernel: Uint8Array;
  /** Raw disk image, copied to a scratch file for every run (the guest writes to it). */
  disk?: string;
  virtio?: 1 | 2;
  /** Console input, all available from the start (as when piped into `matryoshka run`). */
  input?: string;
}

export interface Configuration {
  workload: Workload;
  depth: number;
  /** The hardware's execution engine (default: the interpreter). */
  engine?: EngineName;
  /** Instruction cap of the warm-up run (default: the whole run). */
  warmupInstructions?: number;
}

export interface Measurement {
  configuration: Configuration;
  /** Wall time of each timed run (ms), in run order. */
  walls: number[];
  /** Median of `walls`. */
  wall: number;
  /** The report of the last timed run (counters are the same on every run: they are deterministic). */
  report: RunReport;
  output: string;
}

/** A guest by name, with the disk and console input of its oracle.json's first variant that has input. */
export function workload(name: string): Workload {
  const variants = guestVariants(name);
  const variant = variants.find((v) => v.input !== undefined) ?? variants[0]!;
  return { name, kernel: new Uint8Array(readFileSync(guestPath(name))), disk: variant.disk, virtio: variant.virtio, input: variant.input };
}

function onceInput(text: string): InputSource {
  let bytes: Uint8Array | undefined = new Uint8Array(Buffer.from(text, "latin1"));
  return {
    drain() {
      const all = bytes;
      bytes = undefined;
      return all;
    },
    next: async () => undefined,
  };
}

const scratch = { dir: undefined as string | undefined, disks: 0 };

/** One run to completion (or to `maxInstructions`), on a fresh stack, with a fresh copy of the disk. */
async function runOnce(configuration: Configuration, maxInstructions?: number): Promise<{ report: RunReport; output: string }> {
  const { workload, depth } = configuration;
  const disks: FileBlockBackend[] = [];
  let copy: string | undefined;
  if (workload.disk) {
    if (scratch.dir === undefined) {
      const dir = mkdtempSync(join(tmpdir(), "matryoshka-bench-"));
      process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
      scratch.dir = dir;
    }
    copy = join(scratch.dir, `disk${scratch.disks++}.img`);
    copyFileSync(workload.disk, copy);
    disks.push(new FileBlockBackend(copy));
  }
  const bytes: number[] = [];
  try {
    const report = await runGuest({
      kernel: workload.kernel,
      depth,
      engine: configuration.engine,
      disks,
      virtioVersion: workload.virtio,
      console: (byte) => bytes.push(byte),
      input: workload.input === undefined ? undefined : onceInput(workload.input),
      maxInstructions,
    });
    const output = Buffer.from(bytes).toString("latin1");
    if (maxInstructions === undefined && report.outcome.kind !== "pass") {
      throw new Error(`${workload.name} at depth ${depth} did not pass: ${JSON.stringify(report.outcome)}\n${output}`);
    }
    return { report, output };
  } finally {
    for (const disk of disks) disk.close();
    if (copy) rmSync(copy, { force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Warms every configuration up once, then times `rounds` rounds, each running every configuration
 * once in order (so slow drifts of the machine's load spread over all of them). Checks that every
 * depth of a guest prints exactly what its first configuration printed.
 */
export async function measureAll(configurations: Configuration[], rounds = 3, progress?: (text: string) => void): Promise<Measurement[]> {
  for (const configuration of configurations) await runOnce(configuration, configuration.warmupInstructions);
  const walls: number[][] = configurations.map(() => []);
  const last: { report: RunReport; output: string }[] = [];
  for (let round = 0; round < rounds; round++) {
    progress?.(`round ${round + 1}/${rounds}`);
    for (const [i, configuration] of configurations.entries()) {
      const run = await runOnce(configuration);
      walls[i]!.push(run.report.wallMilliseconds);
      last[i] = run;
    }
  }
  const reference = new Map<string, string>();
  return configurations.map((configuration, i) => {
    const { report, output } = last[i]!;
    const expected = reference.get(configuration.workload.name);
    if (expected === undefined) reference.set(configuration.workload.name, output);
    else if (expected !== output) {
      throw new Error(`${configuration.workload.name} printed something else at depth ${configuration.depth} on ${configuration.engine ?? "interpreter"}`);
    }
    return { configuration, walls: walls[i]!, wall: median(walls[i]!), report, output };
  });
}

/** Exits a level's engine took: traps by cause plus deadline (budget) exits. */
export function exitCount(level: LevelReport): number {
  let traps = 0;
  for (const count of level.exits.byCause) traps += count;
  return traps + level.exits.budget;
}
