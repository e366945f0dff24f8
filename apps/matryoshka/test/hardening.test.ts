import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { guestPath, qemuAvailability, repoRoot, runFrontDoor } from "@matryoshka/testkit";

const scratch = mkdtempSync(join(tmpdir(), "matryoshka-hardening-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A sparse file of `bytes` bytes (3 GiB costs nothing on disk, and is more than Node reads at once). */
function sparseFile(name: string, bytes: number): string {
  const path = join(scratch, name);
  writeFileSync(path, "");
  truncateSync(path, bytes);
  return path;
}

/**
 * A raw kernel (loaded at 0x80000000, entered in M-mode) that fails with `code` through the test
 * device: sw ((code << 16) | 0x3333) to 0x100000, then loops.
 */
function failingKernel(code: number): string {
  const value = ((code << 16) | 0x3333) >>> 0;
  const upper = (value + 0x800) & 0xfffff000; // lui's part, rounded for addi's sign-extended low 12 bits
  const lower = (value - upper) & 0xfff;
  const words = [
    0x001002b7, // lui t0, 0x100
    (upper | (6 << 7) | 0x37) >>> 0, // lui t1, upper
    ((lower << 20) | (6 << 15) | (6 << 7) | 0x13) >>> 0, // addi t1, t1, lower
    0x0062a023, // sw t1, 0(t0)
    0x0000006f, // j .
  ];
  const path = join(scratch, `fail-${code}.bin`);
  writeFileSync(path, new Uint8Array(new Uint32Array(words).buffer));
  return path;
}

const THREE_GIB = 3 * 1024 ** 3;

function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr.trim().split("\n")).toHaveLength(1);
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("every hostile input ends with a status and one line", () => {
  it.each([
    ["kernel", (big: string) => ["run", big]],
    ["firmware", (big: string) => ["run", guestPath("hello"), "--bios", big]],
    ["initrd", (big: string) => ["run", guestPath("hello"), "--initrd", big]],
    ["input file", (big: string) => ["sweep", guestPath("hello"), "--depths", "0", "--input", big]],
  ])("refuses a %s over 2 GiB with status 2 and one line, without reading it", async (what, args) => {
    const big = sparseFile(`big-${what.replace(" ", "-")}.bin`, THREE_GIB);
    const { status, stdout, stderr } = await runFrontDoor(args(big));
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expectOneLine(stderr, new RegExp(`${what} .*big.* is ${THREE_GIB} bytes, larger than`));
  });

  it("refuses a partition guest and disk over 2 GiB with status 2, naming the fields", async () => {
    const big = sparseFile("big-partition.bin", THREE_GIB);
    const config = join(scratch, "partition.json");
    writeFileSync(config, JSON.stringify({ machine: { harts: 1 }, duration: 1, vms: [{ name: "a", guest: big, disk: big, harts: [0] }] }));
    const { status, stderr } = await runFrontDoor(["partition", config]);
    expect(status).toBe(2);
    expect(stderr).toContain(`vms[0].guest: ${big} is ${THREE_GIB} bytes`);
    expect(stderr).toContain(`vms[0].disk: ${big} is ${THREE_GIB} bytes`);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("runs with a disk over 2 GiB (read at offsets, never whole)", async () => {
    const big = sparseFile("big-disk.img", THREE_GIB);
    const { status, stderr } = await runFrontDoor(["run", guestPath("hello"), "--disk", big]);
    expect(stderr).toBe("");
    expect(status).toBe(0);
  });

  it("ends quietly with status 0 when the reader of stdout goes away (run … | head -1)", async () => {
    const result = await new Promise<{ status: number | null; stderr: string; firstLine: string }>((resolve, reject) => {
      const child = spawn("pnpm", ["matryoshka", "run", guestPath("kernel")], { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
      let stderr = "";
      let firstLine = "";
      child.stdout.on("data", (chunk: Buffer) => {
        if (firstLine === "") {
          firstLine = chunk.toString("latin1").split("\n")[0]!;
          // As `head -1` does: read one line, close the pipe.
          child.stdout.destroy();
        }
      });
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      child.on("error", reject);
      child.on("close", (status) => resolve({ status, stderr, firstLine }));
      child.stdin.end();
    });
    expect(result.firstLine).toMatch(/hart 0 started/);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it.each([
    [124, 124],
    [2, 2],
    [3, 3],
    [70, 70],
    [380, 124],
  ])("names a guest failure code of %i on stderr: its status %i reads as one of the CLI's own", async (code, status) => {
    const run = await runFrontDoor(["run", failingKernel(code)]);
    expect(run.status).toBe(status);
    expectOneLine(run.stderr, new RegExp(`the guest failed with code ${code} \\(exit status ${status}\\)`));
  });

  it.skipIf(!qemuAvailability().available)("names a colliding failure code on QEMU too (oracle)", async () => {
    const run = await runFrontDoor(["oracle", failingKernel(124)]);
    expect(run.status).toBe(124);
    expectOneLine(run.stderr, /the guest failed with code 124 \(exit status 124\)/);
  });

  it("says nothing more for a failure code that is its own status", async () => {
    const run = await runFrontDoor(["run", failingKernel(42)]);
    expect(run.status).toBe(42);
    expect(run.stderr).toBe("");
  });
});
