import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MemoryBlockBackend } from "@matryoshka/devices";
import type { FrameOrder } from "@matryoshka/memory";
import { guestPath, guestVariants, listGuests, type GuestVariant } from "@matryoshka/testkit";
import { runGuest, type InputSource, type RunReport } from "../src/index.js";

// A VM's frames need not be contiguous (issue 17): every bundled guest, run with every level's
// hypervisor handing out frames top down ("descending") or every other one first ("interleaved"),
// prints what it prints with frames in order, at depths 1, 2 and 5, down to the instruction count.

/** Guests long enough that running them six extra times would dominate the suite: interleaved frames only at depth 2. */
const CPU_BOUND = new Set(["crc32", "smp-compute"]);

/** Console input handed over once, as if typed before the guest started. */
function typed(text: string | undefined): InputSource | undefined {
  if (text === undefined) return undefined;
  let bytes: Uint8Array | undefined = new Uint8Array(Buffer.from(text, "latin1"));
  return {
    next: async () => undefined,
    drain: () => {
      const out = bytes;
      bytes = undefined;
      return out;
    },
  };
}

async function run(name: string, variant: GuestVariant, depth: number, frameOrder: FrameOrder): Promise<{ report: RunReport; output: string }> {
  let output = "";
  const report = await runGuest({
    kernel: new Uint8Array(readFileSync(guestPath(name))),
    depth,
    frameOrder,
    backend: variant.paravirtual === undefined ? undefined : "pv",
    bios: variant.bios === undefined ? undefined : new Uint8Array(readFileSync(variant.bios)),
    append: variant.append,
    initrd: variant.initrd === undefined ? undefined : new Uint8Array(readFileSync(variant.initrd)),
    harts: variant.harts,
    virtioVersion: variant.virtio,
    // A fresh copy of the disk for every run: the kernel writes to it.
    disks: variant.disk === undefined ? undefined : [new MemoryBlockBackend(new Uint8Array(readFileSync(variant.disk)))],
    input: typed(variant.input),
    console: (byte) => (output += String.fromCharCode(byte)),
  });
  return { report, output };
}

const guests = listGuests().filter((name) => guestVariants(name).length > 0);

describe("every bundled guest runs identically on scattered frames", () => {
  it("covers every guest that has a way to run", () => {
    expect(guests.length).toBeGreaterThanOrEqual(15);
    expect(guests).toContain("kernel");
    expect(guests).toContain("kernel-pv");
  });

  it.each(guests)("%s at depths 1, 2 and 5, frames descending and interleaved", async (name) => {
    const variant = guestVariants(name)[0]!;
    // The reference: the bare board, or for a paravirtual guest (which needs a hypervisor) depth 1
    // with frames in order.
    const reference = await run(name, variant, variant.paravirtual === undefined ? 0 : 1, "ascending");
    expect(reference.output.length).toBeGreaterThan(0);
    // A paravirtual guest is told its machine frames (direct paging), and its own bookkeeping of
    // them (a hash from machine to guest frame) may take more or fewer instructions: what it
    // prints may not change. Any other guest cannot tell at all, down to the instruction count.
    const countsInstructions = variant.paravirtual === undefined;
    const counted = (report: RunReport) => (countsInstructions ? report.instructions : "not compared");
    const expected = { outcome: reference.report.outcome, output: reference.output, instructions: counted(reference.report), resets: reference.report.resets };
    for (const depth of [1, 2, 5]) {
      for (const frameOrder of ["descending", "interleaved"] as const) {
        if (frameOrder === "interleaved" && CPU_BOUND.has(name) && depth !== 2) continue;
        const { report, output } = await run(name, variant, depth, frameOrder);
        expect({ name, depth, frameOrder, outcome: report.outcome, output, instructions: counted(report), resets: report.resets }).toEqual({
          name,
          depth,
          frameOrder,
          ...expected,
        });
      }
    }
  });
});
