import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { guestPath, repoRoot, runFrontDoor } from "@matryoshka/testkit";

const dir = mkdtempSync(join(tmpdir(), "matryoshka-snapshot-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The instruction count `--stats` printed. */
function instructions(stderr: string): string | undefined {
  return /instructions\D*([\d,]+)/.exec(stderr)?.[1];
}

describe("pnpm matryoshka run --snapshot / --restore", () => {
  it("continues the test kernel (disk and console input) where it stopped: same transcript, instructions and trap counts", async () => {
    const disk = join(dir, "disk.img");
    copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
    const args = ["run", guestPath("kernel"), "--disk", disk, "--virtio-version", "2"];
    const whole = await runFrontDoor([...args, "--stats"], { input: "hello\n" });
    expect(whole.status).toBe(0);
    expect(whole.stdout).toContain("input: hello\n");

    copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
    const file = join(dir, "kernel.snap");
    // Late enough that the console input has long reached the guest's UART (it waits in the FIFO, which is saved).
    const first = await runFrontDoor([...args, "--snapshot", file, "--snapshot-at", "9000000"], { input: "hello\n" });
    expect(first.status).toBe(0);
    expect(first.stderr.trim().split("\n")).toHaveLength(1);
    expect(first.stderr).toMatch(/snapshot written to .* at 9000000 instructions/);
    const rest = await runFrontDoor(["run", "--restore", file, "--stats"]);
    expect(rest.status).toBe(0);
    expect(first.stdout + rest.stdout).toBe(whole.stdout);
    expect(instructions(rest.stderr)).toBe(instructions(whole.stderr));
    const traps = (text: string) => text.split("\n").filter((line) => /exception|interrupt/.test(line));
    expect(traps(rest.stderr)).toEqual(traps(whole.stderr));
    // The kernel writes a scratch sector and restores it: across the two processes too.
    expect(Buffer.compare(readFileSync(disk), readFileSync(join(repoRoot, "guests/kernel/disk.img")))).toBe(0);
  });

  it("refuses truncated, corrupt and other-version snapshots with status 2 and one line", async () => {
    const file = join(dir, "hello.snap");
    const made = await runFrontDoor(["run", guestPath("hello"), "--depth", "1", "--snapshot", file, "--snapshot-at", "200"]);
    expect(made.status).toBe(0);
    const good = readFileSync(file);
    const truncated = join(dir, "truncated.snap");
    writeFileSync(truncated, good.subarray(0, good.length - 100));
    const corrupt = join(dir, "corrupt.snap");
    const flipped = Buffer.from(good);
    flipped[flipped.length - 50]! ^= 0xff;
    writeFileSync(corrupt, flipped);
    const version = join(dir, "version.snap");
    const other = Buffer.from(good);
    other.writeUInt32LE(99, 8);
    other.writeUInt32LE(crc32(other.subarray(0, 16)), 16);
    writeFileSync(version, other);
    for (const [path, message] of [[truncated, /truncated/], [corrupt, /corrupt/], [version, /version 99 is not supported/]] as const) {
      const result = await runFrontDoor(["run", "--restore", path]);
      expect(result.status, path).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
    const ok = await runFrontDoor(["run", "--restore", file]);
    expect(ok.status).toBe(0);
    expect(made.stdout + ok.stdout).toContain("Hello from matryoshka");
  });

  it("says what is wrong with the options in one line (status 2)", async () => {
    for (const args of [
      ["run", guestPath("hello"), "--snapshot", join(dir, "x.snap")],
      ["run", "--restore", join(dir, "missing.snap")],
      ["run", "--restore", join(dir, "hello.snap"), "--depth", "2"],
      ["run"],
    ]) {
      const result = await runFrontDoor(args);
      expect(result.status, args.join(" ")).toBe(2);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});

/**
 * The `--stats` tables, minus what measures the host rather than the machine (see the snapshot
 * package's README): wall time, MIPS and the translator's own rows.
 */
function machineStats(stderr: string, backend: string): string[] {
  const lines = stderr.split("\n").filter((line) => !/wall time|MIPS|\bbt: |snapshot written/.test(line));
  if (backend !== "bt") return lines;
  // With the bt backend, which sensitive instructions arrive as "bt call" exits and which as
  // "illegal" traps depends on the translator's cache (README): their sum must agree.
  const header = lines.find((line) => line.includes("│ level │"))?.split("│").map((cell) => cell.trim());
  const illegal = header?.indexOf("exit: illegal") ?? -1;
  const call = header?.indexOf("exit: bt call") ?? -1;
  return lines.map((line) => {
    if (!/^│ L\d/.test(line)) return line;
    const cells = line.split("│").map((cell) => cell.trim());
    const count = (index: number) => (index < 0 ? 0 : Number(cells[index]!.replaceAll(",", "")));
    const sum = count(illegal) + count(call);
    if (illegal >= 0) cells[illegal] = "";
    if (call >= 0) cells[call] = `illegal + bt call: ${sum}`;
    return cells.join("|");
  });
}

// Each case picks its engine itself: it runs once, in the "interpreter" project.
describe.skipIf(process.env.MATRYOSHKA_ENGINE === "bt")("run --stats after --restore", () => {
  const cases = [
    { guest: "kernel", depth: 2, engine: "bt", backend: "trap-and-emulate", at: 7_000_001 },
    { guest: "kernel", depth: 1, engine: "interpreter", backend: "trap-and-emulate", at: 5_555_555 },
    { guest: "kernel", depth: 5, engine: "bt", backend: "bt", at: 7_654_321 },
    { guest: "kernel-pv", depth: 2, engine: "bt", backend: "pv", at: 9_000_000 },
    { guest: "hello", depth: 30, engine: "bt", backend: "trap-and-emulate", at: 300 },
  ];
  for (const c of cases) {
    it(`${c.guest} at depth ${c.depth}, ${c.engine} engine, ${c.backend} backend: the whole --stats table agrees but for host time`, async () => {
      const disk = join(dir, `stats-${c.guest}-${c.depth}.img`);
      const args = ["run", guestPath(c.guest), "--depth", String(c.depth), "--engine", c.engine, "--backend", c.backend, "--mem", "16"];
      if (c.guest !== "hello") args.push("--disk", disk, "--virtio-version", "2");
      copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
      const whole = await runFrontDoor([...args, "--stats"], { input: "hello\n" });
      expect(whole.status).toBe(0);
      copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
      const file = join(dir, `stats-${c.guest}-${c.depth}.snap`);
      const first = await runFrontDoor([...args, "--snapshot", file, "--snapshot-at", String(c.at)], { input: "hello\n" });
      expect(first.status).toBe(0);
      const rest = await runFrontDoor(["run", "--restore", file, "--stats"]);
      expect(rest.status).toBe(0);
      expect(first.stdout + rest.stdout).toBe(whole.stdout);
      const expected = machineStats(whole.stderr, c.backend);
      expect(expected.some((line) => /shadow fills/.test(line)), "the per-level table is there").toBe(true);
      expect(machineStats(rest.stderr, c.backend)).toEqual(expected);
    });
  }
});

/** `pnpm matryoshka run --incoming tcp:127.0.0.1:0 …` in the background: its port once it listens, and how it ends. */
function destination(...extra: string[]) {
  const child = spawn("pnpm", ["matryoshka", "run", "--incoming", "tcp:127.0.0.1:0", ...extra], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("latin1")));
  const port = new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /tcp:127\.0\.0\.1:(\d+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.on("close", () => reject(new Error(`the destination ended before listening: ${stderr}`)));
  });
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
  return { port, done };
}

describe("pnpm matryoshka run --incoming / --migrate-to", () => {
  it("moves the test kernel at depth 1 to another process, which continues its transcript; the source reports rounds, pages and downtime", async () => {
    const disk = join(dir, "migrate.img");
    copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
    const args = ["run", guestPath("kernel"), "--disk", disk, "--virtio-version", "2", "--depth", "1"];
    const whole = await runFrontDoor(args, { input: "hello\n" });
    expect(whole.status).toBe(0);
    copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
    const target = destination();
    const port = await target.port;
    const source = await runFrontDoor([...args, "--migrate-to", `tcp:127.0.0.1:${port}`, "--migrate-at", "6000000"], { input: "hello\n" });
    const arrived = await target.done;
    expect(source.status).toBe(0);
    expect(source.stderr).toMatch(/migrated level 1 to tcp:127\.0\.0\.1:\d+ at \d+ instructions of machine time: \d+ rounds, \d+ pages sent, downtime [\d.]+ ms .* total [\d.]+ ms/);
    expect(arrived.status).toBe(0);
    expect(source.stdout + arrived.stdout).toBe(whole.stdout);
  });

  it("a destination too small refuses (status 2, one line) and the source runs its guest to the end", async () => {
    const args = ["run", guestPath("kernel"), "--depth", "1"];
    const whole = await runFrontDoor(args);
    const target = destination("--max-host-mem", "64");
    const port = await target.port;
    const source = await runFrontDoor([...args, "--migrate-to", `tcp:127.0.0.1:${port}`, "--migrate-at", "1000"]);
    const refused = await target.done;
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(2); // the waiting line, then the refusal
    expect(refused.stderr).toMatch(/refused the incoming VM/);
    expect(source.stderr).toMatch(/the destination refused: .* the guest keeps running here/);
    expect(source.status).toBe(whole.status);
    expect(source.stdout).toBe(whole.stdout);
  });
});
