import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { guestPath, repoRoot, runFrontDoor } from "@matryoshka/testkit";
import type { DepthResult, RunReport, SweepJson, SweepResult } from "@matryoshka/runner";
import { differenceReport, escapeLine, formatDepths, summaryLine, sweepTable } from "../src/sweep-view.js";

const scratch = mkdtempSync(join(tmpdir(), "matryoshka-sweep-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Run the front door exactly as users do, through pnpm from the repository root.
function matryoshka(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return runFrontDoor(args, { env });
}

const HELLO = "Hello from matryoshka guest on hart 0!\n";
const sha256 = (text: string) => createHash("sha256").update(text, "latin1").digest("hex");

describe("pnpm matryoshka sweep", () => {
  it("runs hello at depths 0,1,2: a table on stdout, progress lines on stderr, JSON, status 0", async () => {
    const json = join(scratch, "hello.json");
    const { status, stdout, stderr } = await matryoshka(["sweep", "guests/hello/hello.elf", "--depths", "0,1,2", "--json", json]);
    expect(stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^matryoshka sweep: 1\/3 depth 0: pass \(status 0\), [\d.]+ ms, 1\.00×, reference$/),
      expect.stringMatching(/^matryoshka sweep: 2\/3 depth 1: pass \(status 0\), .* same$/),
      expect.stringMatching(/^matryoshka sweep: 3\/3 depth 2: pass \(status 0\), .* same$/),
    ]);
    expect(status).toBe(0);
    // The guest's console is captured, not printed.
    expect(stdout).not.toContain("Hello from");
    for (const column of ["depth", "status", "wall ms", "slowdown", "instructions", "exits", "reflected", "guest's hv exits", "shadow fills", "vs depth 0"]) {
      expect(stdout).toContain(column);
    }
    const rows = stdout.split("\n").filter((line) => /^│\s+\d+ │/.test(line));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^│\s+0 │ pass \(0\)\s+│.*│ reference\s+│$/);
    expect(rows[1]).toMatch(/^│\s+1 │ pass \(0\)\s+│.*│ same\s+│$/);
    expect(rows[2]).toMatch(/^│\s+2 │ pass \(0\)\s+│.*│ same\s+│$/);
    // No colour codes when stdout is not a terminal.
    expect(stdout).not.toContain("\u001b[");
    expect(stdout.trim().split("\n").at(-1)).toMatch(/^identical at all 3 depths \(0\.\.2\): 39 bytes of output .*pass \(status 0\)/);

    const report = JSON.parse(readFileSync(json, "utf8")) as SweepJson;
    expect(report.guest).toBe("guests/hello/hello.elf");
    expect(report.identical).toBe(true);
    expect(report.depths.map((d) => d.depth)).toEqual([0, 1, 2]);
    for (const depth of report.depths) {
      expect(depth).toMatchObject({ status: 0, identical: true, outputSha256: sha256(HELLO), instructions: report.depths[0]!.instructions });
      expect(depth.wallMilliseconds).toBeGreaterThan(0);
      expect(depth.slowdown).toBeCloseTo(depth.wallMilliseconds / report.depths[0]!.wallMilliseconds, 6);
      expect(depth.levels.map((level) => level.level)).toEqual(Array.from({ length: depth.depth }, (_, i) => i + 1));
      for (const level of depth.levels) {
        expect(Object.keys(level).sort()).toEqual(
          ["budget", "byCause", "emulated", "exitsHandled", "injectedInterrupts", "level", "platform", "poolResets", "reflected", "rootsCreated", "shadowFills", "shadowFlushes"].sort(),
        );
      }
    }
    expect(report.depths[0]!.slowdown).toBe(1);
    expect(report.depths[2]!.levels[1]!.exitsHandled).toBeGreaterThan(0);
  });

  it("prints the first depth's output before the table with --show-output", async () => {
    const { status, stdout } = await matryoshka(["sweep", guestPath("hello"), "--depths", "1", "--show-output"]);
    expect(status).toBe(0);
    expect(stdout.startsWith(`${HELLO}┌`)).toBe(true);
    expect(stdout).toContain("identical at all 1 depth (1)");
  });

  it("sweeps the test kernel with its disk (a fresh copy per depth, removed afterwards) and console input from a file", async () => {
    const disk = join(scratch, "disk.img");
    copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
    const input = join(scratch, "input.txt");
    writeFileSync(input, "hello\n");
    const temporary = join(scratch, "tmp");
    mkdirSync(temporary);
    const json = join(scratch, "kernel.json");
    const { status, stdout, stderr } = await matryoshka(
      ["sweep", guestPath("kernel"), "--disk", disk, "--input", input, "--virtio-version", "2", "--depths", "0,1", "--show-output", "--json", json],
      { ...process.env, TMPDIR: temporary },
    );
    expect(stderr).not.toContain("differ");
    expect(status).toBe(0);
    expect(stdout).toContain("disk: fox.txt: 86 bytes");
    expect(stdout).toContain("version 2 (modern)");
    expect(stdout).toContain("input: hello\n");
    expect(stdout).toContain("kernel: all tests passed\n");
    expect((JSON.parse(readFileSync(json, "utf8")) as SweepJson).identical).toBe(true);
    // (tsx keeps its cache there too.)
    expect(readdirSync(temporary).filter((name) => name.startsWith("matryoshka-sweep-"))).toEqual([]);
    expect(readFileSync(disk).equals(readFileSync(join(repoRoot, "guests/kernel/disk.img")))).toBe(true);
  });

  it("sweeps with a disk in a chosen slot (--disk FILE,slot=N): the same slot at every depth", async () => {
    const disk = join(scratch, "slot-disk.img");
    copyFileSync(join(repoRoot, "guests/kernel/disk.img"), disk);
    const input = join(scratch, "slot-input.txt");
    writeFileSync(input, "hello\n");
    const { status, stdout } = await matryoshka(["sweep", guestPath("kernel"), "--disk", `${disk},slot=2`, "--input", input, "--depths", "0,1", "--show-output"]);
    expect(status).toBe(0);
    expect(stdout).toContain("block device in slot 2 at 0x10003000 (irq 3)");
    expect(stdout).toContain("identical at all 2 depths");
  });

  it.each([
    [["--depths", "5..2"], "not ascending"],
    [["--depths", "0..99"], "out of range 0..64"],
    [["--depths", "1,1"], "twice"],
    [["--depths", "zero"], "not a depth"],
    [["--harts", "0"], "--harts"],
    [["--input", "/no/such/input"], "input file not found"],
    [["--disk", "/no/such/disk.img"], "disk image not found"],
    [["--json", "/no/such/directory/out.json"], "no such directory"],
    [["--mem", "2047", "--depths", "0,1"], "host memory"],
  ])("rejects %j with status 2 and one line on stderr", async (options, message) => {
    const { status, stdout, stderr } = await matryoshka(["sweep", guestPath("hello"), ...options]);
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(message);
  });

  it("rejects a missing kernel and a malformed ELF with status 2 and one line", async () => {
    const missing = await matryoshka(["sweep", join(repoRoot, "no-such-guest.elf"), "--depths", "0,1"]);
    expect(missing.status).toBe(2);
    expect(missing.stdout).toBe("");
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toContain("not found");
    const truncated = join(scratch, "truncated.elf");
    writeFileSync(truncated, readFileSync(guestPath("hello")).subarray(0, 40));
    const malformed = await matryoshka(["sweep", truncated, "--depths", "0,1"]);
    expect(malformed.status).toBe(2);
    expect(malformed.stdout).toBe("");
    expect(malformed.stderr.trim().split("\n")).toHaveLength(1);
    expect(malformed.stderr).toContain("not an ELF file");
  });
});

/** A finished depth with made-up numbers: only what the views read. */
function depthResult(depth: number, output: string, status: number, difference?: DepthResult["difference"]): DepthResult {
  return {
    depth,
    outcome: status === 0 ? { kind: "pass" } : { kind: "fail", code: status },
    status,
    output: new Uint8Array(Buffer.from(output, "latin1")),
    outputSha256: sha256(output),
    wallMilliseconds: 10 * (depth + 1),
    slowdown: depth + 1,
    instructions: 1000,
    levels: [],
    totals: { exitsHandled: 5 * depth, reflected: depth, innermostExits: depth ? 5 : 0, shadowFills: 2 * depth },
    identical: difference === undefined,
    ...(difference ? { difference } : {}),
    report: {} as RunReport,
  };
}

describe("sweep views", () => {
  const differing: SweepResult = {
    reference: 0,
    depths: [
      depthResult(0, "a\nb\n", 0),
      depthResult(1, "a\nb\n", 0),
      depthResult(2, "a\nB\té\n", 0, { output: { line: 2, expected: "b\n", got: "B\té\n" } }),
      depthResult(5, "a\n", 42, { output: { line: 2, expected: "b\n", got: undefined }, status: { expected: 0, got: 42 } }),
    ],
    identical: false,
    differing: [2, 5],
  };

  it("names the differing depths, the first differing line escaped, and the statuses", async () => {
    expect(differenceReport(differing).split("\n")).toEqual([
      "matryoshka: depths 2, 5 differ from depth 0",
      '  depth 2: output differs at line 2: expected "b\\n", got "B\\t\\xe9\\n"',
      '  depth 5: output differs at line 2: expected "b\\n", got (end of output)',
      "  depth 5: status differs: expected 0 (pass), got 42 (fail 42)",
      "",
    ]);
  });

  it("cuts long differing lines to a window around the first differing column", async () => {
    const long = "x".repeat(500);
    const result: SweepResult = {
      ...differing,
      depths: [depthResult(0, `${long}A\n`, 0), depthResult(1, `${long}B\n`, 0, { output: { line: 1, expected: `${long}A\n`, got: `${long}B\n` } })],
      differing: [1],
    };
    const line = differenceReport(result).split("\n")[1]!;
    expect(line).toContain("depth 1: output differs at line 1, column 501:");
    expect(line).toContain('A\\n"');
    expect(line).toContain('B\\n"');
    expect(line.length).toBeLessThan(400);
  });

  it("marks differing depths in the table and the summary", async () => {
    const table = sweepTable(differing, { color: false });
    const rows = table.split("\n").filter((line) => /^│\s+\d+ │/.test(line));
    expect(rows.map((row) => row.split("│").at(-2)!.trim())).toEqual(["reference", "same", "DIFFERS", "DIFFERS"]);
    expect(rows[3]).toContain("fail 42 (42)");
    expect(rows[0]).toMatch(/│\s+- │/); // no hypervisor of the guest's own at depth 0
    expect(summaryLine(differing)).toBe("2 of 4 depths (0..2,5) differ from depth 0: 2,5 (details on stderr)");
  });

  it("escapes guest bytes and writes depth lists as ranges", async () => {
    expect(escapeLine('say "hi"\\\r\n\u0000\u007f')).toBe('"say \\"hi\\"\\\\\\r\\n\\x00\\x7f"');
    expect(escapeLine(undefined)).toBe("(end of output)");
    expect(formatDepths([0, 1, 2, 3, 5, 7, 8, 30])).toBe("0..3,5,7,8,30");
    expect(formatDepths([4])).toBe("4");
  });
});
