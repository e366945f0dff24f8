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
