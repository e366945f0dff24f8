import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { guestPath, guestVariants, type GuestVariant } from "@matryoshka/testkit";
import { runThreaded, VirtMachine, type RunOutcome } from "../src/index.js";

/**
 * Threaded mode (issue 8): harts of one board on worker threads. The two-hart test kernel (IPIs
 * through CLINT msip, an LR/SC spinlock, virtio, UART input) must print exactly what the
 * deterministic single-thread mode prints, on whichever engine the test project uses (the
 * workers build the board's engine: the "bt" project runs them on the translator).
 */

interface Transcript {
  outcome: RunOutcome;
  output: string;
  steps: number[];
}

function board(name: string, variant: GuestVariant, console: (byte: number) => void): VirtMachine {
  const machine = new VirtMachine({
    harts: variant.harts,
    virtioVersion: variant.virtio,
    // A private copy of the disk: the kernel writes its scratch sector.
    disks: variant.disk ? [new MemoryBlockBackend(new Uint8Array(readFileSync(variant.disk)))] : [],
    console,
    rtcEpochMilliseconds: 0,
  });
  machine.boot({ kernel: new Uint8Array(readFileSync(guestPath(name))) });
  if (variant.input !== undefined) machine.uart.receive(Buffer.from(variant.input, "latin1"));
  return machine;
}

function deterministic(name: string, variant: GuestVariant): Transcript {
  let output = "";
  const machine = board(name, variant, (byte) => (output += String.fromCharCode(byte)));
  const outcome = machine.run(2_000_000_000);
  return { outcome, output, steps: machine.harts.map((hart) => hart.steps) };
}

async function threaded(name: string, variant: GuestVariant): Promise<Transcript & { proxied: number; engine: string }> {
  let output = "";
  const machine = board(name, variant, (byte) => (output += String.fromCharCode(byte)));
  const report = await runThreaded(machine, { maxInstructions: 2_000_000_000 });
  return { outcome: report.outcome, output, steps: machine.harts.map((hart) => hart.steps), proxied: report.proxiedAccesses, engine: report.engine };
}

describe("threaded mode: each hart on its own worker thread", () => {
  const variants = guestVariants("kernel-smp");

  it.each(variants.map((variant) => [variant.label, variant] as const))(
    "kernel-smp (%s) prints the deterministic mode's transcript",
    async (_label, variant) => {
      const reference = deterministic("kernel-smp", variant);
      expect(reference.outcome).toEqual({ kind: "pass" });
      expect(reference.output).toContain("smp: lr/sc spinlock: 2 harts x 50000 increments = 100000: ok\n");

      const ours = await threaded("kernel-smp", variant);
      expect(ours.output).toBe(reference.output);
      expect(ours.outcome).toEqual({ kind: "pass" });
      // The workers ran the board's own engine, and devices were reached through the main thread.
      expect(ours.engine).toBe(new VirtMachine().engine.name);
      expect(ours.proxied).toBeGreaterThan(1000);
      // The harts' state came back to the board: both ran (hart 1 took the IPIs and the lock).
      expect(ours.steps[0]).toBeGreaterThan(1_000_000);
      expect(ours.steps[1]).toBeGreaterThan(500_000); // its share of the 100000 lock increments, at least
    },
  );

  it("smp-compute: AMOs and LR/SC across threads give the deterministic mode's sums", async () => {
    const variant: GuestVariant = { harts: 2, virtio: 1, label: "2 harts" };
    const reference = deterministic("smp-compute", variant);
    expect(reference.outcome).toEqual({ kind: "pass" });
    const ours = await threaded("smp-compute", variant);
    expect(ours.output).toBe(reference.output);
    expect(ours.output).toMatch(/total under lr\/sc lock ([0-9a-f]{8}), total by amoadd \1: ok\n$/);
    expect(ours.outcome).toEqual({ kind: "pass" });
  });

  it("a board that already finished reports its outcome without starting workers", async () => {
    const variant: GuestVariant = { harts: 2, virtio: 1, label: "2 harts" };
    const machine = board("smp-compute", variant, () => {});
    expect(machine.run()).toEqual({ kind: "pass" });
    const steps = machine.harts.map((hart) => hart.steps);
    const report = await runThreaded(machine);
    expect(report.outcome).toEqual({ kind: "pass" });
    expect(report.proxiedAccesses).toBe(0);
    expect(machine.harts.map((hart) => hart.steps)).toEqual(steps);
  });

  it("stops at the instruction limit with the harts' progress handed back", async () => {
    const variant: GuestVariant = { harts: 2, virtio: 1, label: "2 harts" };
    const machine = board("smp-compute", variant, () => {});
    const report = await runThreaded(machine, { maxInstructions: 2_000_000 });
    expect(report.outcome).toEqual({ kind: "limit" });
    // Machine time is the shared clock: it stopped at the limit, give or take one slice.
    expect(machine.clock.elapsed).toBeGreaterThanOrEqual(2_000_000);
    expect(machine.clock.elapsed).toBeLessThan(2_000_000 + 2 * machine.quantum);
    // Each hart's progress came back; machine time follows the furthest one (how far the other
    // got depends on how the host scheduled the threads).
    for (const hart of machine.harts) expect(hart.steps).toBeGreaterThan(0);
    expect(Math.max(...machine.harts.map((hart) => hart.steps))).toBeGreaterThan(2_000_000 - 2 * machine.quantum);
    // The deterministic mode can take over from there and finish the run.
    expect(machine.run()).toEqual({ kind: "pass" });
  });
});
