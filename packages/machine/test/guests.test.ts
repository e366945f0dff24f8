import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { VirtMachine, type RunOutcome } from "@matryoshka/machine";
import { guestPath, guestVariants, listGuests, qemuArgsFor, qemuAvailability, runOnQemu, type GuestVariant } from "@matryoshka/testkit";

const qemu = qemuAvailability();
if (!qemu.available) console.log(`[skip] differential tests against QEMU: ${qemu.reason}`);

/** Runs a guest on our board and returns its console and QEMU-style exit status. */
export function runOnMatryoshka(
  name: string,
  variant: GuestVariant = { harts: 1, virtio: 1, label: "default" },
  maxInstructions = 2_000_000_000,
): { output: string; status: number | null; outcome: RunOutcome } {
  const bytes: number[] = [];
  const machine = new VirtMachine({
    console: (b) => bytes.push(b),
    harts: variant.harts,
    virtioVersion: variant.virtio,
    // A copy of the image in memory: like QEMU's snapshot=on, the file never changes.
    disks: variant.disk ? [new MemoryBlockBackend(new Uint8Array(readFileSync(variant.disk)))] : [],
  });
  machine.boot({
    kernel: new Uint8Array(readFileSync(guestPath(name))),
    bios: variant.bios ? new Uint8Array(readFileSync(variant.bios)) : undefined,
    append: variant.append,
    initrd: variant.initrd ? new Uint8Array(readFileSync(variant.initrd)) : undefined,
  });
  if (variant.input !== undefined) machine.uart.receive(Buffer.from(variant.input, "latin1"));
  const outcome = machine.run(maxInstructions);
  const status = outcome.kind === "pass" ? 0 : outcome.kind === "fail" ? outcome.code : null;
  return { output: Buffer.from(bytes).toString("latin1"), status, outcome };
}

/**
 * Guests mark with "[spec-only]" the lines whose content depends on where QEMU 7.2 departs from
 * the RISC-V specification (see each guest's README). Those lines are compared against the
 * specification instead: our machine must report no spec-only mismatch at all.
 */
const SPEC_ONLY = "[spec-only] ";
const agreedLines = (output: string) => output.split("\n").filter((line) => !line.startsWith(SPEC_ONLY)).join("\n");

const cases = listGuests().flatMap((name) => guestVariants(name).map((variant) => [name, variant.label, variant] as const));

describe.skipIf(!qemu.available)("every guest behaves as on QEMU", () => {
  it.each(cases)("%s (%s): same console output and exit status", async (name, _label, variant) => {
    const reference = await runOnQemu(guestPath(name), { timeoutMs: 30_000, extraArgs: qemuArgsFor(variant), input: variant.input });
    const ours = runOnMatryoshka(name, variant);
    expect(reference.timedOut).toBe(false);
    expect(ours.outcome.kind).not.toBe("limit");
    expect(agreedLines(ours.output)).toBe(agreedLines(reference.output));
    expect(ours.status).toBe(reference.status);
    for (const summary of ours.output.matchAll(/^\[spec-only\] \S+: (\d+) spec-only mismatches$/gm)) {
      expect(Number(summary[1])).toBe(0);
    }
  });
});
