import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { stripVTControlCharacters } from "node:util";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { guestPath, qemuAvailability, repoRoot, runFrontDoor } from "@matryoshka/testkit";

// Run the front door exactly as users do, through pnpm from the repository root.
function matryoshka(...args: string[]) {
  return runFrontDoor(args);
}

function matryoshkaWithInput(input: string | undefined, ...args: string[]) {
  return runFrontDoor(args, { input });
}

/** As matryoshkaWithInput, without blocking the test worker (long runs starve vitest's RPC otherwise). */
function matryoshkaAsync(input: string | undefined, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("pnpm", ["matryoshka", ...args], { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("latin1")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

const qemu = qemuAvailability();
if (!qemu.available) console.log(`[skip] matryoshka oracle command: ${qemu.reason}`);

describe("pnpm matryoshka", () => {
  it("reports a missing guest file in one line with status 2", async () => {
    const { status, stdout, stderr } = await matryoshka("oracle", join(repoRoot, "no-such-guest.elf"));
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("not found");
  });

  it("rejects an out-of-range option with status 2", async () => {
    const { status, stderr } = await matryoshka("oracle", guestPath("hello"), "--timeout", "-5");
    expect(status).toBe(2);
    expect(stderr).toContain("--timeout");
  });

  it("rejects an unknown command with status 2", async () => {
    expect((await matryoshka("frobnicate")).status).toBe(2);
  });

  it("runs a guest on our board with only its console on stdout, and status 0 for a pass", async () => {
    const { status, stdout, stderr } = await matryoshka("run", guestPath("hello"));
    expect(stdout).toBe("Hello from matryoshka guest on hart 0!\n");
    expect(stderr).toBe("");
    expect(status).toBe(0);
  });

  it("exits with the guest's failure code", async () => {
    const { status, stdout } = await matryoshka("run", guestPath("fail"));
    expect(stdout).toBe("failing on purpose with code 42\n");
    expect(status).toBe(42);
  });

  it("exits with 124 when --max-insns runs out", async () => {
    const { status, stderr } = await matryoshka("run", guestPath("crc32"), "--max-insns", "100000");
    expect(status).toBe(124);
    expect(stderr).toContain("instruction limit");
  });

  it("exits with 3 and a reason when the guest wrecks the machine", async () => {
    // A C source file is a valid raw kernel to QEMU too: it executes garbage and ends in a loop
    // of faults at an unmapped trap vector.
    const { status, stderr } = await matryoshka("run", join(repoRoot, "guests/hello/hello.c"));
    expect(status).toBe(3);
    expect(stderr).toMatch(/trapped 1000\+ times in a row/);
  });

  it.each([
    [["--harts", "0"], "--harts"],
    [["--mem", "4096"], "--mem"],
    [["--pmp", "65"], "--pmp"],
    [["--max-insns", "-1"], "--max-insns"],
    [["--bios", "/no/such/firmware"], "firmware not found"],
    [["--mem", "1"], "too small"],
  ])("rejects %j with status 2 and one line", async (options, message) => {
    const { status, stderr } = await matryoshka("run", guestPath("hello"), ...options);
    expect(status).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(message);
  });

  it("rejects a malformed ELF, and a directory given as a file, with status 2 and one line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "matryoshka-cli-"));
    const truncated = join(dir, "truncated.elf");
    writeFileSync(truncated, readFileSync(guestPath("hello")).subarray(0, 40));
    const elf = await matryoshka("run", truncated);
    expect(elf.status).toBe(2);
    expect(elf.stderr.trim().split("\n")).toHaveLength(1);
    expect(elf.stderr).toContain("not an ELF file");
    const directory = await matryoshka("run", guestPath("hello"), "--initrd", dir);
    expect(directory.status).toBe(2);
    expect(directory.stderr).toContain("not a file");
    rmSync(dir, { recursive: true });
  });

  it("boots the test kernel with a virtio disk and console input from stdin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "matryoshka-disk-"));
    const disk = join(dir, "disk.img");
    const original = readFileSync(join(repoRoot, "guests/kernel/disk.img"));
    writeFileSync(disk, original);
    const { status, stdout } = await matryoshkaWithInput("hello\n", "run", guestPath("kernel"), "--disk", disk, "--virtio-version", "2");
    expect(stdout).toContain("disk: fox.txt: 86 bytes");
    expect(stdout).toContain("version 2 (modern)");
    expect(stdout).toContain("input: hello\n");
    expect(stdout).toContain("kernel: all tests passed\n");
    expect(status).toBe(0);
    // The kernel writes a scratch sector and restores it: the file ends as it began.
    expect(readFileSync(disk).equals(original)).toBe(true);
    rmSync(dir, { recursive: true });
  });

  it("puts a disk in the virtio-mmio slot --disk FILE,slot=N asks for (QEMU's bus=virtio-mmio-bus.N), at depth 0 and 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "matryoshka-disk-"));
    const disk = join(dir, "disk,with,commas.img");
    writeFileSync(disk, readFileSync(join(repoRoot, "guests/kernel/disk.img")));
    for (const depth of ["0", "1"]) {
      const { status, stdout } = await matryoshkaAsync("hello\n", "run", guestPath("kernel"), "--disk", `${disk},slot=0`, "--depth", depth);
      // The kernel probes every slot; xv6 expects its disk in slot 0 (PLIC source 1).
      expect(stdout).toContain("block device in slot 0 at 0x10001000 (irq 1)");
      expect(stdout).toContain("kernel: all tests passed\n");
      expect(status).toBe(0);
    }
    // A comma not followed by an option is part of the file name; without a slot, the highest free one.
    const plain = await matryoshkaAsync("hello\n", "run", guestPath("kernel"), "--disk", disk);
    expect(plain.stdout).toContain("block device in slot 7 at 0x10008000 (irq 8)");
    rmSync(dir, { recursive: true });
  });

  it.each([
    [["--disk", "disk.img,slot=8"], 'slot must be an integer from 0 to 7 (virtio-mmio slots), got "8"'],
    [["--disk", "disk.img,slot=-1"], 'got "-1"'],
    [["--disk", "disk.img,slot=one"], 'got "one"'],
    [["--disk", "a.img,slot=3", "--disk", "b.img,slot=3"], "slot 3 is already taken by a.img"],
    [["--disk", "disk.img,bus=3"], 'unknown disk option "bus"'],
  ])("rejects %j with status 2 and one line, on run and sweep", async (options, message) => {
    for (const command of ["run", "sweep"]) {
      const { status, stdout, stderr } = await matryoshkaAsync(undefined, command, guestPath("hello"), ...options);
      expect({ command, status, stdout }).toEqual({ command, status: 2, stdout: "" });
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain(message);
    }
  });

  it("prints its version with --version (status 0), and colours tables only on a terminal unless FORCE_COLOR asks (NO_COLOR is honoured)", async () => {
    const version = await matryoshka("--version");
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/^matryoshka \d+\.\d+\.\d+ \(Node v\d+/);
    const plain: NodeJS.ProcessEnv = { ...process.env };
    delete plain.FORCE_COLOR;
    delete plain.NO_COLOR;
    const ESCAPE = "\x1b[";
    const piped = await runFrontDoor(["run", guestPath("hello"), "--stats"], { env: plain });
    expect(piped.status).toBe(0);
    expect(piped.stderr).toContain("statistic");
    expect(piped.stderr).not.toContain(ESCAPE);
    const forced = await runFrontDoor(["run", guestPath("hello"), "--stats"], { env: { ...plain, FORCE_COLOR: "1" } });
    expect(forced.stderr).toContain(ESCAPE);
    expect(forced.stdout).not.toContain(ESCAPE); // the guest's console is the guest's
  });

  it("gives the guest's VM a balloon with --balloon MiB: the test kernel inflates to it and back, and --stats shows it per level; depth 0 is status 2", async () => {
    const { status, stdout, stderr } = await matryoshkaWithInput("", "run", guestPath("kernel"), "--disk", join(repoRoot, "guests/kernel/disk.img"), "--depth", "2", "--balloon", "2", "--stats");
    expect(status).toBe(0);
    expect(stdout).toContain("virtio-balloon: slot 6, version 1; the host asks for 512 pages");
    expect(stdout).toContain("virtio-balloon: inflated to 512 pages, actual 512\n");
    expect(stdout).toContain("virtio-balloon: deflated back to 0 pages\n");
    const stats = stripVTControlCharacters(stderr);
    expect(stats).toContain("balloon held/target");
    // Level 1's VM has no balloon; the guest's VM (level 2) was asked for 512 pages and holds none at the end.
    expect(stats).toMatch(/L1 [^\n]*│ -\s+│/);
    expect(stats).toMatch(/L2 [^\n]*│ 0\/512\s+│/);
    const bare = await matryoshka("run", guestPath("hello"), "--balloon", "2");
    expect(bare.status).toBe(2);
    expect(bare.stderr.trim().split("\n")).toEqual(["matryoshka: --balloon needs --depth 1 or more: the balloon gives memory back to a hypervisor"]);
  });

  it("runs the two-hart kernel's harts on worker threads (--threads), at depth 0 and its vCPUs at depth 1, with the deterministic output", async () => {
    const dir = mkdtempSync(join(tmpdir(), "matryoshka-disk-"));
    const disk = join(dir, "disk.img");
    writeFileSync(disk, readFileSync(join(repoRoot, "guests/kernel/disk.img")));
    const args = ["run", guestPath("kernel-smp"), "--harts", "2", "--disk", disk, "--virtio-version", "2"];
    const reference = await matryoshkaWithInput("hello\n", ...args);
    expect(reference.status).toBe(0);
    expect(reference.stdout).toContain("smp: lr/sc spinlock: 2 harts x 50000 increments = 100000: ok\n");
    for (const depth of ["0", "1"]) {
      const threaded = await matryoshkaWithInput("hello\n", ...args, "--depth", depth, "--threads");
      expect({ depth, status: threaded.status, stdout: threaded.stdout }).toEqual({ depth, status: 0, stdout: reference.stdout });
    }
    rmSync(dir, { recursive: true });
    const deeper = await matryoshka("run", guestPath("hello"), "--depth", "2", "--threads");
    expect(deeper.status).toBe(2);
    expect(deeper.stderr).toContain("--threads runs harts on worker threads at depth 0, or a VM's vCPUs at depth 1");
  });

  it("prints statistics on stderr with --stats, the same on every run", async () => {
    const first = await matryoshka("run", guestPath("hello"), "--stats");
    const second = await matryoshka("run", guestPath("hello"), "--stats");
    expect(first.stdout).toBe("Hello from matryoshka guest on hart 0!\n");
    const instructions = (text: string) => /instructions\D+([\d,]+)/.exec(text)?.[1];
    expect(instructions(first.stderr)).toBeDefined();
    expect(instructions(first.stderr)).toBe(instructions(second.stderr));
  });

  it("runs a guest the same on both engines (--engine), at depth 0 and nested, and names the engine in --stats", async () => {
    const instructions = (text: string) => /instructions\D+([\d,]+)/.exec(text)?.[1];
    // eslint-disable-next-line no-control-regex -- the table's colour codes
    const engineOf = (text: string) => /engine\W+(\w+)/.exec(text.replace(/\x1b\[\d+m/g, ""))?.[1];
    for (const depth of ["0", "2"]) {
      const interpreted = await matryoshka("run", guestPath("crc32"), "--depth", depth, "--stats", "--engine", "interpreter");
      const translated = await matryoshka("run", guestPath("crc32"), "--depth", depth, "--stats", "--engine", "bt");
      expect(translated.status).toBe(0);
      expect(translated.stdout).toBe(interpreted.stdout);
      expect(translated.stdout).toContain("crc32 check: cbf43926 ok");
      expect(instructions(translated.stderr)).toBe(instructions(interpreted.stderr));
      expect([engineOf(interpreted.stderr), engineOf(translated.stderr)]).toEqual(["interpreter", "bt"]);
    }
  });

  it("runs a VM with the bt backend (which brings the translating engine), and refuses it over the interpreter", async () => {
    const translated = await matryoshka("run", guestPath("hello"), "--depth", "2", "--backend", "bt", "--isa-profile", "pushf-popf");
    expect(translated.stdout).toBe("Hello from matryoshka guest on hart 0!\n");
    expect(translated.status).toBe(0);
    const refused = await matryoshka("run", guestPath("hello"), "--depth", "1", "--backend", "bt", "--engine", "interpreter");
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("translating engine");
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("checks Popek and Goldberg's theorems on an ISA profile: status 0 if classically virtualizable, 1 if not", async () => {
    const standard = await matryoshka("popek-goldberg");
    expect(standard.status).toBe(0);
    expect(standard.stdout).not.toContain("csrr sstatus");
    const leaky = await matryoshka("popek-goldberg", "--isa-profile", "pushf-popf");
    expect(leaky.status).toBe(1);
    expect(leaky.stdout).toContain("csrr sstatus");
    expect((await matryoshka("popek-goldberg", "--isa-profile", "x86")).status).toBe(2);
  });

  it("rejects an unknown engine with status 2, naming the choices", async () => {
    const { status, stderr } = await matryoshka("run", guestPath("hello"), "--engine", "jit");
    expect(status).toBe(2);
    expect(stderr).toContain("interpreter, bt");
  });

  it.skipIf(!qemu.available)("runs hello on QEMU with only the guest's console on stdout", async () => {
    const { status, stdout } = await matryoshka("oracle", guestPath("hello"));
    expect(stdout).toBe("Hello from matryoshka guest on hart 0!\n");
    expect(status).toBe(0);
  });
});

describe("colourFor", () => {
  it("colours a terminal only, NO_COLOR forbids, FORCE_COLOR (not 0 or false) forces and wins", async () => {
    const { colourFor } = await import("../src/io.js");
    expect([colourFor(true, {}), colourFor(false, {})]).toEqual([true, false]);
    expect([colourFor(true, { NO_COLOR: "1" }), colourFor(true, { NO_COLOR: "" })]).toEqual([false, true]);
    expect([colourFor(false, { FORCE_COLOR: "1" }), colourFor(false, { FORCE_COLOR: "" }), colourFor(true, { FORCE_COLOR: "0" }), colourFor(true, { FORCE_COLOR: "false" })]).toEqual([true, true, false, false]);
    expect(colourFor(false, { FORCE_COLOR: "3", NO_COLOR: "1" })).toBe(true);
  });
});
