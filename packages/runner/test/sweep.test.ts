import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { compareRuns, guestStatus, MAX_DEPTH, parseDepths, sweep, sweepJson, type SweepProgress } from "../src/index.js";

const guests = fileURLToPath(new URL("../../../guests/", import.meta.url));
const read = (path: string) => new Uint8Array(readFileSync(join(guests, path)));
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");
const bytes = (value: string) => new Uint8Array(Buffer.from(value, "latin1"));

describe("sweep", () => {
  it("runs hello at depths 0, 1 and 3: the same output and status, one level per depth, slowdowns against depth 0", async () => {
    const events: SweepProgress[] = [];
    const result = await sweep({ kernel: read("hello/hello.elf"), depths: [0, 1, 3], onProgress: (event) => events.push(event) });
    expect(result.identical).toBe(true);
    expect(result.differing).toEqual([]);
    expect(result.reference).toBe(0);
    expect(result.depths.map((d) => d.depth)).toEqual([0, 1, 3]);
    expect(events.map((e) => `${e.kind} ${e.depth} ${e.index}/${e.total}`)).toEqual(["start 0 0/3", "done 0 0/3", "start 1 1/3", "done 1 1/3", "start 3 2/3", "done 3 2/3"]);
    const [first] = result.depths;
    for (const depth of result.depths) {
      expect(text(depth.output)).toBe("Hello from matryoshka guest on hart 0!\n");
      expect(depth.outcome).toEqual({ kind: "pass" });
      expect(depth.status).toBe(0);
      expect(depth.identical).toBe(true);
      expect(depth.difference).toBeUndefined();
      expect(depth.outputSha256).toBe(first!.outputSha256);
      expect(depth.instructions).toBe(first!.instructions);
      expect(depth.levels).toHaveLength(depth.depth);
      expect(depth.levels.map((level) => level.level)).toEqual(Array.from({ length: depth.depth }, (_, i) => i + 1));
      expect(depth.slowdown).toBeCloseTo(depth.wallMilliseconds / first!.wallMilliseconds, 9);
      // The totals add up the levels; the innermost level's exits are the guest's own hypervisor's.
      expect(depth.totals.exitsHandled).toBe(depth.levels.reduce((sum, l) => sum + l.exitsHandled, 0));
      expect(depth.totals.reflected).toBe(depth.levels.reduce((sum, l) => sum + l.reflected, 0));
      expect(depth.totals.shadowFills).toBe(depth.levels.reduce((sum, l) => sum + l.shadowFills, 0));
      expect(depth.totals.innermostExits).toBe(depth.levels.at(-1)?.exitsHandled ?? 0);
      for (const level of depth.levels) {
        const traps = Object.values(level.byCause).reduce((sum, n) => sum + n, 0);
        expect(level.exitsHandled).toBe(traps + level.budget + level.platform);
      }
    }
    expect(first!.slowdown).toBe(1);
    expect(first!.outputSha256).toMatch(/^[0-9a-f]{64}$/);
    // Nested levels do take exits; a hypervisor under another one passes some up.
    expect(result.depths[1]!.totals.exitsHandled).toBeGreaterThan(0);
    expect(result.depths[2]!.totals.reflected).toBeGreaterThan(0);

    const json = sweepJson(result, "hello.elf");
    expect(json.guest).toBe("hello.elf");
    expect(json.identical).toBe(true);
    expect(json.depths.map((d) => [d.depth, d.status, d.identical, d.levels.length])).toEqual([[0, 0, true, 0], [1, 0, true, 1], [3, 0, true, 3]]);
    expect(JSON.parse(JSON.stringify(json)).depths[2].levels[0]).toMatchObject({ level: 1, exitsHandled: expect.any(Number), byCause: expect.any(Object) });
  });

  it("runs crc32 at depths 0 and 2 with the same checksum and instruction count", async () => {
    const result = await sweep({ kernel: read("crc32/crc32.elf"), depths: [0, 2] });
    expect(result.identical).toBe(true);
    const [zero, two] = result.depths;
    expect(text(zero!.output)).toContain("crc32 check: cbf43926 ok");
    expect(two!.instructions).toBe(zero!.instructions);
    expect(two!.levels).toHaveLength(2);
  });

  it("reports a depth whose output and status differ, with the first differing line", async () => {
    // Each depth copies the disk image when it starts: change the image just before depth 1 does.
    const image = read("kernel/disk.img");
    const pristine = image.slice();
    const result = await sweep({
      kernel: read("kernel/kernel.elf"),
      depths: [0, 1],
      disks: [image],
      input: bytes("hello\n"),
      onProgress: (event) => {
        if (event.kind === "start" && event.depth === 1) image[Buffer.from(image).indexOf("quick brown fox")] = 0x51;
      },
    });
    expect(result.identical).toBe(false);
    expect(result.differing).toEqual([1]);
    const [zero, one] = result.depths;
    expect(zero!.identical).toBe(true);
    expect(text(zero!.output)).toContain("input: hello\n");
    expect(text(zero!.output)).toContain("kernel: all tests passed\n");
    expect(one!.identical).toBe(false);
    const expectedLines = text(zero!.output).split(/(?<=\n)/);
    const line = expectedLines.findIndex((l) => l.startsWith("disk: fox.txt")) + 1;
    expect(one!.difference?.output).toEqual({ line, expected: expectedLines[line - 1], got: expect.stringContaining("FAILED") });
    expect(one!.difference?.status).toEqual({ expected: 0, got: one!.status });
    expect(one!.status).not.toBe(0);
    expect(sweepJson(result, "kernel.elf").identical).toBe(false);
    // The guest ran on copies: the image it was given is as the test left it.
    pristine[Buffer.from(pristine).indexOf("quick brown fox")] = 0x51;
    expect(Buffer.from(image).equals(pristine)).toBe(true);
  });

  describe("disk files", () => {
    const saved = process.env.TMPDIR;
    let scratch: string | undefined;
    afterEach(() => {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it("gives every depth a fresh temporary copy of a disk file, and removes the copies", async () => {
      scratch = mkdtempSync(join(tmpdir(), "sweep-test-"));
      const disk = join(scratch, "disk.img");
      copyFileSync(join(guests, "kernel/disk.img"), disk);
      const temporary = join(scratch, "tmp");
      mkdirSync(temporary);
      process.env.TMPDIR = temporary;
      const copies: string[][] = [];
      const result = await sweep({
        kernel: read("kernel/kernel.elf"),
        depths: [0, 1],
        disks: [disk],
        virtioVersion: 2,
        onProgress: (event) => {
          if (event.kind === "done") copies.push(readdirSync(temporary).flatMap((dir) => readdirSync(join(temporary, dir))));
        },
      });
      expect(result.identical).toBe(true);
      expect(text(result.depths[1]!.output)).toContain("version 2 (modern)");
      expect(text(result.depths[1]!.output)).toContain("disk: fox.txt: 86 bytes");
      // Each depth's copy is gone by the time it reports; at the end so is the folder.
      expect(copies).toEqual([[], []]);
      expect(readdirSync(temporary)).toEqual([]);
      expect(readFileSync(disk).equals(readFileSync(join(guests, "kernel/disk.img")))).toBe(true);
    });
  });

  it("refuses bad depths, and a stack too deep for memory before running anything", async () => {
    const kernel = read("hello/hello.elf");
    await expect(sweep({ kernel, depths: [] })).rejects.toThrow(RangeError);
    await expect(sweep({ kernel, depths: [0, MAX_DEPTH + 1] })).rejects.toThrow(RangeError);
    await expect(sweep({ kernel, depths: [1, 1] })).rejects.toThrow(RangeError);
    const events: SweepProgress[] = [];
    await expect(sweep({ kernel, depths: [0, 1], memoryMiB: 2047, onProgress: (e) => events.push(e) })).rejects.toThrow(/host memory/);
    expect(events).toEqual([]);
  });
});

describe("compareRuns", () => {
  it("finds nothing when output bytes and status are equal", () => {
    expect(compareRuns({ output: bytes("a\nb\n"), status: 0 }, { output: bytes("a\nb\n"), status: 0 })).toBeUndefined();
  });

  it("gives the first differing line, 1-based, with its newline", () => {
    expect(compareRuns({ output: bytes("a\nb\nc\n"), status: 0 }, { output: bytes("a\nB\nc\n"), status: 0 })).toEqual({
      output: { line: 2, expected: "b\n", got: "B\n" },
    });
  });

  it("tells a missing newline and a missing line apart", () => {
    expect(compareRuns({ output: bytes("a\nb\n"), status: 0 }, { output: bytes("a\nb"), status: 0 })?.output).toEqual({ line: 2, expected: "b\n", got: "b" });
    expect(compareRuns({ output: bytes("a\nb\n"), status: 0 }, { output: bytes("a\n"), status: 0 })?.output).toEqual({ line: 2, expected: "b\n", got: undefined });
    expect(compareRuns({ output: bytes(""), status: 0 }, { output: bytes("x"), status: 0 })?.output).toEqual({ line: 1, expected: undefined, got: "x" });
  });

  it("reports a status difference alone, or with the output's", () => {
    expect(compareRuns({ output: bytes("a\n"), status: 0 }, { output: bytes("a\n"), status: 124 })).toEqual({ status: { expected: 0, got: 124 } });
    expect(compareRuns({ output: bytes("a\n"), status: 0 }, { output: bytes("b\n"), status: 3 })).toEqual({
      output: { line: 1, expected: "a\n", got: "b\n" },
      status: { expected: 0, got: 3 },
    });
  });

  it("compares bytes, not text: a non-ASCII byte counts", () => {
    expect(compareRuns({ output: new Uint8Array([0x61, 0xe9, 0x0a]), status: 0 }, { output: new Uint8Array([0x61, 0xe8, 0x0a]), status: 0 })?.output).toEqual({
      line: 1, expected: "a\u00e9\n", got: "a\u00e8\n",
    });
  });
});

describe("parseDepths", () => {
  it.each([
    ["0..30", Array.from({ length: 31 }, (_, i) => i)],
    ["0,1,2,5,30", [0, 1, 2, 5, 30]],
    ["3", [3]],
    ["4..4", [4]],
    [" 0..2, 5 ,30", [0, 1, 2, 5, 30]],
    [`${MAX_DEPTH}`, [MAX_DEPTH]],
  ])("parses %j", (input, depths) => {
    expect(parseDepths(input)).toEqual(depths);
  });

  it.each([
    ["5..2", /not ascending/],
    ["0..99", /out of range 0\.\.64/],
    ["65", /out of range/],
    ["1,1", /twice/],
    ["2,1", /ascending/],
    ["0..3,2", /ascending/],
    ["", /expected depths/],
    ["a", /not a depth/],
    ["1..", /not a depth/],
    ["-1", /not a depth/],
    ["1.5", /not a depth/],
    ["0,,1", /not a depth/],
  ])("rejects %j", (input, message) => {
    expect(() => parseDepths(input)).toThrow(message);
  });
});

describe("guestStatus", () => {
  it("maps outcomes to run's exit statuses", () => {
    expect(guestStatus({ kind: "pass" })).toBe(0);
    expect(guestStatus({ kind: "fail", code: 42 })).toBe(42);
    expect(guestStatus({ kind: "fail", code: 0 })).toBe(3);
    expect(guestStatus({ kind: "fail", code: 256 })).toBe(3);
    expect(guestStatus({ kind: "fail", code: 257 })).toBe(1);
    expect(guestStatus({ kind: "limit" })).toBe(124);
    expect(guestStatus({ kind: "stuck", reason: "loop" })).toBe(3);
    expect(guestStatus({ kind: "idle", reason: "wfi" })).toBe(3);
  });
});
