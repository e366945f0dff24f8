import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Cause } from "@matryoshka/cpu";
import { FileBlockBackend } from "@matryoshka/devices";
import { runGuest, type RunOptions, type RunReport } from "../src/index.js";

const guests = fileURLToPath(new URL("../../../guests/", import.meta.url));
const kernel = new Uint8Array(readFileSync(join(guests, "kernel/kernel.elf")));
const kernelPv = new Uint8Array(readFileSync(join(guests, "kernel-pv/kernel-pv.elf")));
const scratch = mkdtempSync(join(tmpdir(), "matryoshka-backends-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let disks = 0;

/** The test kernel (user tasks, system calls, timer interrupts, a virtio disk) on some stack. */
async function runKernel(options: Omit<RunOptions, "console"> | Omit<RunOptions, "kernel" | "console">): Promise<{ report: RunReport; output: string }> {
  const copy = join(scratch, `disk${disks++}.img`);
  copyFileSync(join(guests, "kernel/disk.img"), copy);
  const disk = new FileBlockBackend(copy);
  let output = "";
  try {
    const report = await runGuest({ kernel, ...options, disks: [disk], console: (byte) => (output += String.fromCharCode(byte)) });
    return { report, output };
  } finally {
    disk.close();
  }
}

const VIRTUAL_INSTRUCTION = Cause.VirtualInstruction;
const ILLEGAL_INSTRUCTION = Cause.IllegalInstruction;

describe("virtualization backends on an ISA that is not classically virtualizable", () => {
  it("trap-and-emulate cannot keep the real sstatus from a guest on the pushf-popf profile; binary translation can, at depths 1 and 2", async () => {
    // The reference: the kernel on the pushf-popf hardware itself. Its user task 6 reads sstatus
    // in U-mode, which on this profile does not trap: it gets the value and exits with it.
    const native = await runKernel({ depth: 0, isaProfile: "pushf-popf" });
    expect(native.output).toContain("[task 6] executing a supervisor instruction (csrr sstatus)");

    // Under trap-and-emulate the read never reaches the hypervisor: the task sees the real
    // machine's sstatus instead of its virtual machine's, and the guest's output differs.
    const trapped = await runKernel({ depth: 1, engine: "bt", backend: "trap-and-emulate", isaProfile: "pushf-popf" });
    expect(trapped.output).not.toBe(native.output);
    expect(trapped.report.levels[0]!.exits.byCause[VIRTUAL_INSTRUCTION]).toBe(0);

    // With the bt backend every sensitive instruction is a call to the hypervisor: the guest
    // cannot tell it from the hardware, whatever the depth, down to the instruction count.
    for (const depth of [1, 2]) {
      const translated = await runKernel({ depth, engine: "bt", backend: "bt", isaProfile: "pushf-popf" });
      expect(translated.output).toBe(native.output);
      expect(translated.report.instructions).toBe(native.report.instructions);
      expect(translated.report.outcome).toEqual(native.report.outcome);
      for (const level of translated.report.levels) expect(level.exits.byCause[VIRTUAL_INSTRUCTION]).toBeGreaterThan(1000);
    }
  });

  it("on the standard profile the bt backend behaves as trap-and-emulate, with calls in place of most traps", async () => {
    const trapped = await runKernel({ depth: 1, engine: "bt", backend: "trap-and-emulate" });
    const translated = await runKernel({ depth: 1, engine: "bt", backend: "bt" });
    expect(trapped.report.outcome).toEqual({ kind: "pass" });
    expect(translated.output).toBe(trapped.output);
    expect(translated.report.instructions).toBe(trapped.report.instructions);
    const [trapLevel, btLevel] = [trapped.report.levels[0]!, translated.report.levels[0]!];
    expect(btLevel.exits.byCause[VIRTUAL_INSTRUCTION]).toBeGreaterThan(0);
    expect(btLevel.exits.byCause[ILLEGAL_INSTRUCTION]).toBeLessThan(trapLevel.exits.byCause[ILLEGAL_INSTRUCTION]! / 10);
  });

  it("refuses the bt backend without a translating engine beneath", async () => {
    await expect(runKernel({ depth: 1, engine: "interpreter", backend: "bt" })).rejects.toThrow(/translating engine/);
  });
});

/** Every exit a level took: traps by cause and deadline exits. */
const exitsOf = (report: RunReport) => report.levels.reduce((sum, level) => sum + level.exits.byCause.reduce((a, b) => a + b, 0) + level.exits.budget, 0);

describe("the paravirtual backend", () => {
  it("runs the paravirtual kernel with the native transcript, minus its firmware's lines, at depths 1, 2 and 5, with fewer exits", async () => {
    const native = await runKernel({ depth: 0 });
    const expected = native.output.split("\n").filter((line) => !line.startsWith("m: ")).join("\n");
    expect(expected).toContain("kernel: all tests passed");
    const trapped = await runKernel({ depth: 1 });
    for (const depth of [1, 2, 5]) {
      const pv = await runKernel({ kernel: kernelPv, depth, backend: "pv" });
      expect({ depth, output: pv.output }).toEqual({ depth, output: expected });
      expect(pv.report.outcome).toEqual({ kind: "pass" });
      const guestLevel = pv.report.levels.at(-1)!;
      expect(guestLevel.exits.hypercalls).toBeGreaterThan(50);
      // Beneath the guest's own VM the levels trap and emulate (they run hypervisors, not the guest).
      for (const level of pv.report.levels.slice(0, -1)) expect(level.exits.hypercalls).toBe(0);
      if (depth === 1) {
        expect(exitsOf(pv.report)).toBeLessThan(exitsOf(trapped.report));
        // Direct paging: once its tables are pinned, the guest's own VM shadows nothing; only the
        // boot code before that (untranslated, a few pages) needs shadow entries.
        const trappedFills = trapped.report.levels[0]!.shadow.fills;
        expect(guestLevel.shadow.fills).toBeLessThan(trappedFills / 4);
      }
    }
  });

  it("needs a hypervisor: the pv backend at depth 0 is refused, since the hypervisor is the guest's firmware", async () => {
    await expect(runKernel({ kernel: kernelPv, depth: 0, backend: "pv" })).rejects.toThrow(/depth 1 or more/);
  });
});
