import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { guestPath, guestVariants, listGuests, qemuArgsFor, qemuAvailability, repoRoot, runOnQemu, type GuestVariant } from "@matryoshka/testkit";

const qemu = qemuAvailability();
if (!qemu.available) console.log(`[skip] differential tests against QEMU: ${qemu.reason}`);

/** Nesting depths every guest must behave identically at (issues 4, 5 and 6). */
const DEPTHS = [0, 1, 2, 5, 30];

const scratch = mkdtempSync(join(tmpdir(), "matryoshka-differential-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let disks = 0;

/** Runs `pnpm matryoshka run` from the repository root, as a user would, with the variant's options. */
function matryoshkaRun(name: string, variant: GuestVariant, depth: number): Promise<{ output: string; status: number | null; stderr: string }> {
  const args = ["matryoshka", "run", guestPath(name), "--depth", String(depth), "--harts", String(variant.harts), "--virtio-version", String(variant.virtio)];
  if (variant.disk) {
    // The CLI writes to its disk like QEMU without snapshot=on: give it a copy.
    const copy = join(scratch, `disk${disks++}.img`);
    copyFileSync(variant.disk, copy);
    args.push("--disk", copy);
  }
  if (variant.bios) args.push("--bios", variant.bios);
  if (variant.append !== undefined) args.push("--append", variant.append);
  if (variant.initrd) args.push("--initrd", variant.initrd);
  if (variant.paravirtual) args.push("--backend", "pv");
  return new Promise((resolve, reject) => {
    const child = spawn("pnpm", args, { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    child.on("close", (status) => resolve({ output: Buffer.concat(out).toString("latin1"), status, stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.end(variant.input === undefined ? undefined : Buffer.from(variant.input, "latin1"));
  });
}

/**
 * Guests mark with "[spec-only]" the lines whose content depends on where QEMU 7.2 departs from
 * the RISC-V specification (see each guest's README). Those lines are compared against the
 * specification instead: our machine must report no spec-only mismatch at all.
 */
const SPEC_ONLY = "[spec-only] ";
const agreedLines = (output: string) => output.split("\n").filter((line) => !line.startsWith(SPEC_ONLY)).join("\n");

const cases = listGuests().flatMap((name) => guestVariants(name).map((variant) => [name, variant.label, variant] as const));

describe.skipIf(!qemu.available)("every guest behaves as on QEMU, on `pnpm matryoshka run` at every depth", () => {
  it.each(cases)(
    "%s (%s)",
    async (name, _label, variant) => {
      // A paravirtual guest has no QEMU run of its own: QEMU runs the native build, whose
      // transcript, minus its M-mode firmware's lines, is the paravirtual one's.
      const pv = variant.paravirtual;
      const reference = await runOnQemu(guestPath(pv?.reference ?? name), { timeoutMs: 60_000, extraArgs: qemuArgsFor(variant), input: variant.input });
      expect(reference.timedOut).toBe(false);
      if (pv) reference.output = reference.output.split("\n").filter((line) => !line.startsWith(pv.firmwarePrefix)).join("\n");
      let depthZero: string | undefined;
      // A paravirtual guest needs a hypervisor: depth 1 and up.
      for (const depth of pv ? DEPTHS.filter((d) => d > 0) : DEPTHS) {
        const ours = await matryoshkaRun(name, variant, depth);
        expect({ depth, stderr: ours.stderr }).toEqual({ depth, stderr: "" });
        expect({ depth, output: agreedLines(ours.output) }).toEqual({ depth, output: agreedLines(reference.output) });
        expect({ depth, status: ours.status }).toEqual({ depth, status: reference.status });
        for (const summary of ours.output.matchAll(/^\[spec-only\] \S+: (\d+) spec-only mismatches$/gm)) {
          expect(Number(summary[1])).toBe(0);
        }
        // The spec-only lines too are the same at every depth: only QEMU differs there.
        depthZero ??= ours.output;
        expect({ depth, output: ours.output }).toEqual({ depth, output: depthZero });
      }
    },
    600_000,
  );
});
