// Snapshots and live migration (issue 20): downtime and total time of a pre-copy migration against
// the rate at which the guest dirties its memory, beside Clark et al.'s 60 ms (Xen, NSDI'05); and
// snapshot and restore time beside Firecracker's (restore in about 8 ms in its CI; goal under 5 ms).
// The dirtying guest is generated here: a loop that stores to one page of a 16 MiB working set,
// then spins, so the spin count sets the dirtying rate.
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { encode, Op } from "@matryoshka/isa";
import { runGuest } from "@matryoshka/runner";
import { loadRun, MigrationSource, receiveMigration, saveRun, type LoadedRun } from "@matryoshka/snapshot";
import { guestPath } from "@matryoshka/testkit";

const WORKING_SET_PAGES = 4096;

/** `li rd, value` as LUI + ADDI (the ADDI's sign-extended immediate is compensated in the LUI). */
function li(rd: number, value: number): number[] {
  const low = ((value & 0xfff) << 20) >> 20;
  const high = ((value - low) >>> 12) & 0xfffff;
  return [encode(Op.LUI, { rd, imm: high << 12 }), encode(Op.ADDI, { rd, rs1: rd, imm: low })];
}

/**
 * A raw M-mode program (loaded at the start of RAM, as QEMU's -bios none -kernel does) that stores
 * to page i of a working set at 0x80100000, i = 0, 1, … wrapping, `stores` times, with a spin of
 * `spin` iterations (two instructions each) after each store; then passes through the test device.
 */
export function dirtyingKernel(stores: number, spin: number): Uint8Array {
  const [s0, s1, s2, s3, s5, t0, t1] = [8, 9, 18, 19, 21, 5, 6];
  const code: number[] = [...li(s0, 0x8010_0000), ...li(s1, 0), ...li(s2, WORKING_SET_PAGES), ...li(s3, stores), ...li(s5, 0)];
  const loop = code.length;
  code.push(
    encode(Op.SLLI, { rd: t0, rs1: s1, imm: 12 }),
    encode(Op.ADD, { rd: t0, rs1: t0, rs2: s0 }),
    encode(Op.SW, { rs1: t0, rs2: s5, imm: 0 }),
    encode(Op.ADDI, { rd: s1, rs1: s1, imm: 1 }),
    encode(Op.BLT, { rs1: s1, rs2: s2, imm: 8 }),
    encode(Op.ADDI, { rd: s1, rs1: 0, imm: 0 }),
    ...li(t1, spin),
  );
  const spinAt = code.length;
  code.push(encode(Op.ADDI, { rd: t1, rs1: t1, imm: -1 }));
  code.push(encode(Op.BNE, { rs1: t1, rs2: 0, imm: (spinAt - code.length) * 4 }));
  code.push(encode(Op.ADDI, { rd: s5, rs1: s5, imm: 1 }));
  code.push(encode(Op.BLT, { rs1: s5, rs2: s3, imm: (loop - code.length) * 4 }));
  code.push(...li(t0, 0x10_0000), ...li(t1, 0x5555), encode(Op.SW, { rs1: t0, rs2: t1, imm: 0 }), encode(Op.JAL, { rd: 0, imm: 0 }));
  const bytes = new Uint8Array(code.length * 4);
  code.forEach((word, index) => new DataView(bytes.buffer).setUint32(index * 4, word >>> 0, true));
  return bytes;
}

export interface MigrationRow {
  spin: number;
  /** Pages the guest dirties per million instructions (one store per loop). */
  pagesPerMillion: number;
  rounds: number;
  pagesSent: number;
  downtime: number;
  total: number;
  /** The destination ran the rest to the same end. */
  passed: boolean;
}

/** One migration at depth 1 (bt engine) of the dirtying guest, source and destination in this process over loopback. */
async function migrateOnce(spin: number): Promise<MigrationRow> {
  const perStore = 2 * spin + 12;
  const stores = Math.ceil(40_000_000 / perStore);
  const kernel = dirtyingKernel(stores, spin);
  const server = createServer();
  const connection = new Promise<LoadedRun>((resolve, reject) => server.once("connection", (socket) => receiveMigration(socket).then(resolve, reject)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const options = { kernel, depth: 1, engine: "bt" as const, memoryMiB: 32 };
  const source = new MigrationSource({ ...options, host: "127.0.0.1", port, at: 5_000_000, log: (line) => console.log(line) });
  await runGuest({ ...options, console: () => {}, afterSlice: source.afterSlice, sliceInstructions: 200_000 });
  server.close();
  const loaded = await connection;
  const rest = await runGuest({ kernel: loaded.kernel, depth: 1, engine: "bt", memoryMiB: 32, console: () => {}, resume: (stack) => loaded.restore(stack) });
  const report = source.report!;
  return {
    spin,
    pagesPerMillion: 1_000_000 / perStore,
    rounds: report.rounds,
    pagesSent: report.pagesSent,
    downtime: report.downtimeMilliseconds,
    total: report.totalMilliseconds,
    passed: rest.outcome.kind === "pass",
  };
}

export async function benchMigration(spins = [20_000, 2_000, 200, 20]): Promise<MigrationRow[]> {
  const rows: MigrationRow[] = [];
  for (const spin of spins) rows.push(await migrateOnce(spin));
  return rows;
}

export interface SnapshotRow {
  guest: string;
  depth: number;
  bytes: number;
  save: number;
  restore: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Save and restore times (medians): save is `saveRun` on a paused run; restore is reading the file and putting it into a built stack. */
export async function benchSnapshots(repeats = 5): Promise<SnapshotRow[]> {
  const rows: SnapshotRow[] = [];
  for (const [guest, depth, at] of [["hello", 0, 200], ["kernel", 0, 9_000_000], ["kernel", 1, 9_000_000]] as const) {
    const kernel = new Uint8Array(readFileSync(guestPath(guest)));
    const saves: number[] = [];
    const restores: number[] = [];
    let bytes = 0;
    for (let i = 0; i < repeats; i++) {
      const paused = await runGuest({ kernel, depth, engine: "bt", console: () => {}, pauseAt: at });
      let started = performance.now();
      const file = saveRun(paused.paused!, { kernel, engine: "bt" }).bytes;
      saves.push(performance.now() - started);
      bytes = file.length;
      let restore = 0;
      await runGuest({
        kernel,
        depth,
        engine: "bt",
        console: () => {},
        maxInstructions: at + 1,
        resume: (stack) => {
          started = performance.now();
          const counters = loadRun(file).restore(stack);
          restore = performance.now() - started;
          return counters;
        },
      });
      restores.push(restore);
    }
    rows.push({ guest, depth, bytes, save: median(saves), restore: median(restores) });
  }
  return rows;
}
