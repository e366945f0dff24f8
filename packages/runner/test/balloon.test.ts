import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { guestPath, qemuAvailability, repoRoot, runOnQemu } from "@matryoshka/testkit";
import { runGuest, type RunReport } from "../src/index.js";

// The test kernel's balloon driver (guests/kernel, devices.c) against `run --depth N --balloon MiB`:
// it gives the host the pages asked for, reports them, and takes them back; without a balloon it
// prints nothing, so its transcript is QEMU's either way.

const DISK = `${repoRoot}/guests/kernel/disk.img`;
const BALLOON_LINE = /^virtio-balloon: .*\n/gm;

async function runKernel(depth: number, balloonMiB: number | undefined): Promise<{ report: RunReport; output: string }> {
  let output = "";
  const report = await runGuest({
    kernel: new Uint8Array(readFileSync(guestPath("kernel"))),
    depth,
    balloonMiB,
    disks: [new MemoryBlockBackend(new Uint8Array(readFileSync(DISK)))],
    console: (byte) => (output += String.fromCharCode(byte)),
  });
  return { report, output };
}

/** The balloon device's counters in the guest's VM (the virtio group that has them). */
function deviceCounters(report: RunReport): Record<string, unknown> {
  const level = report.metrics.levels.at(-1)!;
  const group = Object.values(level).find((counters) => "inflated" in counters);
  expect(group).toBeDefined();
  return group!;
}

describe.each([1, 2])("the test kernel's balloon driver at depth %i", (depth) => {
  it("inflates to the target the hypervisor set, reports it, deflates back, and otherwise prints what it prints without a balloon", async () => {
    const plain = await runKernel(depth, undefined);
    const ballooned = await runKernel(depth, 1);
    expect(ballooned.report.outcome).toEqual({ kind: "pass" });
    expect(ballooned.output).toContain("virtio-balloon: slot 6, version 1; the host asks for 256 pages, the kernel can spare");
    expect(ballooned.output).toContain("virtio-balloon: inflated to 256 pages, actual 256\n");
    expect(ballooned.output).toContain("virtio-balloon: deflated back to 0 pages\n");
    expect(ballooned.output.replace(BALLOON_LINE, "")).toBe(plain.output);
    expect(plain.output).not.toMatch(BALLOON_LINE);
    // The VM's side: 256 pages went to the hypervisor and came back; nothing was refused.
    const balloon = ballooned.report.metrics.levels.at(-1)!.balloon!;
    expect(balloon).toEqual({ targetPages: 256, heldPages: 0, refused: 0 });
    const device = deviceCounters(ballooned.report);
    expect(device).toMatchObject({ targetPages: 256, actualPages: 0, inflated: 256, deflated: 256, refused: 0 });
  });
});

const qemu = qemuAvailability();
if (!qemu.available) console.log(`[skip] the balloon driver against QEMU: ${qemu.reason}`);

describe.skipIf(!qemu.available)("the test kernel with a balloon, on QEMU and here", () => {
  it("prints the same transcript with QEMU's -device virtio-balloon-device as with run --depth 1 --balloon 0", async () => {
    const reference = await runOnQemu(guestPath("kernel"), {
      timeoutMs: 60_000,
      extraArgs: ["-drive", `file=${DISK},format=raw,if=none,id=hd0,snapshot=on`, "-device", "virtio-blk-device,drive=hd0", "-device", "virtio-balloon-device"],
    });
    expect(reference.timedOut).toBe(false);
    const ours = await runKernel(1, 0);
    expect(reference.output).toMatch(BALLOON_LINE);
    expect(ours.output).toBe(reference.output);
  });
});
