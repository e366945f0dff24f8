import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { FileBlockBackend } from "@matryoshka/devices";
import { parseTrace, runGuest, TRACE_CATEGORIES, TraceSpecError, type RunOptions, type RunReport, type TraceCategory } from "../src/index.js";

const guests = fileURLToPath(new URL("../../../guests/", import.meta.url));
const guest = (name: string) => new Uint8Array(readFileSync(join(guests, `${name}/${name}.elf`)));
const scratch = mkdtempSync(join(tmpdir(), "matryoshka-trace-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let disks = 0;

/** A run with `--trace categories`: its report, console output and trace lines. */
async function traced(kernel: Uint8Array, categories: TraceCategory[] | undefined, options: Partial<RunOptions> = {}, level?: number) {
  const lines: string[] = [];
  let output = "";
  const report: RunReport = await runGuest({
    kernel,
    ...options,
    console: (byte) => (output += String.fromCharCode(byte)),
    trace: categories === undefined ? undefined : { categories: new Set(categories), level, write: (line) => lines.push(line) },
  });
  return { report, output, lines };
}

describe("parseTrace", () => {
  it("takes QEMU's -d list and a level", () => {
    expect(parseTrace("in_asm,int")).toEqual({ categories: new Set(["in_asm", "int"]), level: undefined });
    expect(parseTrace("exits,level=2")).toEqual({ categories: new Set(["exits"]), level: 2 });
  });

  it("names the valid categories when one is unknown", () => {
    expect(() => parseTrace("int,cpu")).toThrow(TraceSpecError);
    expect(() => parseTrace("int,cpu")).toThrow(TRACE_CATEGORIES.join(", "));
    expect(() => parseTrace("level=1")).toThrow("no trace category");
    expect(() => parseTrace("int,level=x")).toThrow("level=");
  });
});

describe("--trace", () => {
  it("exec and in_asm: every instruction's pc, each instruction disassembled once; the run is unchanged", async () => {
    const plain = await traced(guest("hello"), undefined);
    const { report, output, lines } = await traced(guest("hello"), ["exec", "in_asm"]);
    expect(output).toBe(plain.output);
    expect(report.instructions).toBe(plain.report.instructions);
    const exec = lines.filter((line) => line.startsWith("exec: "));
    const asm = lines.filter((line) => line.startsWith("in_asm: "));
    // At depth 0 every instruction the hart starts is the guest's, and each shows once in exec.
    expect(exec).toHaveLength(report.instructions);
    expect(exec[0]).toBe("exec: hart 0 M 00001000\n");
    expect(asm[0]).toMatch(/^in_asm: hart 0 M 00001000: auipc\s+t0,0x0\n$/);
    expect(new Set(asm).size).toBe(asm.length);
    expect(asm.length).toBeLessThan(exec.length); // loops run instructions more than once
  });

  it("int: every trap with cause, epc, tval and privileges; the same run traces the same", async () => {
    const first = await traced(guest("traps"), ["int"]);
    const second = await traced(guest("traps"), ["int"]);
    expect(first.lines.length).toBeGreaterThan(0);
    expect(first.lines).toEqual(second.lines);
    const traps = [...first.report.exceptions.values(), ...first.report.interrupts.values()].reduce((sum, count) => sum + count, 0);
    expect(first.lines).toHaveLength(traps);
    for (const line of first.lines) expect(line).toMatch(/^int: L0 hart \d (exception|interrupt) \d+ \([^)]+\) epc [0-9a-f]{8} tval [0-9a-f]{8} [USM]->[USM] vector [0-9a-f]{8}\n$/);
  });

  it("exits and mmu at a level: its VM's exits, shadow fills and its harts' walks", async () => {
    const { report, lines } = await traced(guest("paging"), ["exits", "mmu"], { depth: 2 }, 1);
    const exits = lines.filter((line) => line.startsWith("exits: L1 "));
    const level = report.levels[0]!;
    const counted = level.exits.byCause.reduce((sum, count) => sum + count, 0) + level.exits.budget + level.exits.platform;
    expect(exits).toHaveLength(counted);
    expect(lines.filter((line) => / shadow fill /.test(line))).toHaveLength(level.shadow.fills);
    expect(lines.every((line) => line.includes(" L1 "))).toBe(true);
  });

  it("exec gives the same trace on either engine", async () => {
    const interpreter = await traced(guest("paging"), ["exec"], { depth: 1, engine: "interpreter" });
    const bt = await traced(guest("paging"), ["exec"], { depth: 1, engine: "bt" });
    expect(bt.lines).toEqual(interpreter.lines);
    expect(bt.report.instructions).toBe(interpreter.report.instructions);
  });

  it("virtio: each queue notification and the requests it served", async () => {
    const copy = join(scratch, `disk${disks++}.img`);
    copyFileSync(join(guests, "kernel/disk.img"), copy);
    const disk = new FileBlockBackend(copy);
    try {
      const { lines } = await traced(guest("kernel"), ["virtio"], { disks: [disk], maxInstructions: 30_000_000 });
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).toMatch(/^virtio: L0 virtio7 queue 0 notified, \d+ buffers served\n$/);
      expect(lines.some((line) => / [1-9]\d* buffers served/.test(line))).toBe(true);
    } finally {
      disk.close();
    }
  });

  it("refuses a level deeper than the stack", async () => {
    await expect(traced(guest("hello"), ["int"], { depth: 1 }, 2)).rejects.toThrow("deeper than the stack");
  });
});
