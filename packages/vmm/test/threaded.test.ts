import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createDefaultEngine } from "@matryoshka/cpu";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { guestPath, guestVariants, type GuestVariant } from "@matryoshka/testkit";
import { VirtMachine } from "@matryoshka/machine";
import { bareMetal, buildStack, Hypervisor, runVmThreaded, TrapAndEmulateBackend, type VM } from "../src/index.js";

/**
 * vCPUs on worker threads (issue 8, depth 1): the two-hart test kernel in a VM whose two vCPUs
 * run in parallel, each on a worker standing for one hart of the hardware, must print what the
 * deterministic mode prints. The hardware's engine is the test project's (interpreter or bt).
 */
function vmFor(variant: GuestVariant, console: (byte: number) => void): VM {
  const stack = buildStack(1, {
    harts: variant.harts,
    virtioVersion: variant.virtio,
    disks: variant.disk ? [new MemoryBlockBackend(new Uint8Array(readFileSync(variant.disk)))] : [],
    console,
    rtcEpochMilliseconds: 0,
  });
  const vm = stack.vms[0]!;
  vm.boot({ kernel: new Uint8Array(readFileSync(guestPath("kernel-smp"))) });
  if (variant.input !== undefined) vm.board.uart.receive(Buffer.from(variant.input, "latin1"));
  return vm;
}

describe("a VM's vCPUs on worker threads", () => {
  it.each(guestVariants("kernel-smp").map((variant) => [variant.label, variant] as const))(
    "kernel-smp at depth 1 (%s) prints the deterministic mode's transcript",
    async (_label, variant) => {
      let reference = "";
      const deterministic = vmFor(variant, (byte) => (reference += String.fromCharCode(byte)));
      expect(deterministic.run(3_000_000_000)).toEqual({ kind: "pass" });
      expect(reference).toContain("smp: lr/sc spinlock: 2 harts x 50000 increments = 100000: ok\n");

      let output = "";
      const threaded = vmFor(variant, (byte) => (output += String.fromCharCode(byte)));
      const engine = createDefaultEngine().name;
      const report = await runVmThreaded(threaded, { engine, maxInstructions: 3_000_000_000 });
      expect(output).toBe(reference);
      expect(report.outcome).toEqual({ kind: "pass" });
      expect(report.engine).toBe(`trap-and-emulate on ${engine}`);
      expect(report.proxiedAccesses).toBeGreaterThan(1000);
      // Both vCPUs did their share of the work (hart 1: half the lock increments, at least).
      for (const vhart of threaded.board.harts) expect(vhart.steps).toBeGreaterThan(500_000);
      // The workers' exits and shadow fills came back into the VM's statistics (--stats).
      const stats = threaded.stats;
      expect(stats.exits.emulated).toBeGreaterThan(1000);
      expect(stats.shadow.fills).toBeGreaterThan(0);
      expect(stats.shadow.poolResets).toBe(0);
    },
  );

  it("refuses what it cannot run: a VM of a VM, and the pv backend", async () => {
    const nested = buildStack(2, {}).vms[1]!;
    await expect(runVmThreaded(nested, { engine: "interpreter" })).rejects.toThrow(/level 1/);
    // A paravirtual backend (a stand-in: only its name matters here).
    const firmware = new (class extends TrapAndEmulateBackend {
      override readonly name = "pv" as const;
    })();
    const pv = new Hypervisor(bareMetal(new VirtMachine({ memoryMiB: 32 }))).createVm({ memoryMiB: 8, backend: firmware });
    await expect(runVmThreaded(pv, { engine: "interpreter" })).rejects.toThrow(/trap-and-emulate backend only/);
  });
});
