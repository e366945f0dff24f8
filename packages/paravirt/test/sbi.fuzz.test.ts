import { describe, expect, it } from "vitest";
import { VirtMachine } from "@matryoshka/machine";
import { MATRYOSHKA_EXTENSION, SbiExtension, SbiFirmware } from "@matryoshka/paravirt";
import { fuzz, fuzzBudgetMs, fuzzSeed, type Random } from "@matryoshka/testkit";
import { bareMetal, Hypervisor } from "@matryoshka/vmm";
import { hostChangedOutside, Program } from "./program.js";

// SBI calls with random extensions, functions and arguments from a pv guest: every run ends in an
// outcome (never a host exception), in bounded time, and the host's memory outside what the VM
// owns stays as it was.

const RAM_BASE = 0x8000_0000;
const VM_MIB = 8;
const EXTENSIONS = [...Object.values(SbiExtension), MATRYOSHKA_EXTENSION];

function argument(random: Random): number {
  switch (random.below(5)) {
    case 0: return RAM_BASE + random.below(VM_MIB * 1048576); // somewhere in the VM's RAM
    case 1: return (RAM_BASE + 4096 * random.below(VM_MIB * 256)) >>> 0; // a page of it
    case 2: return random.below(4);
    default: return random.interesting();
  }
}

describe("fuzzing the SBI firmware", () => {
  it("answers random calls without a host exception, and the host outside the VM is untouched", () => {
    const cases = fuzz(fuzzSeed(0x5b1), fuzzBudgetMs(3000), (random) => {
      const program = new Program(RAM_BASE + 0x10000);
      const calls = random.between(5, 40);
      for (let i = 0; i < calls; i++) {
        // Shutdown (SRST) only rarely: it would end the run.
        let extension = random.chance(0.1) ? random.u32() : random.pick(EXTENSIONS);
        if (extension === SbiExtension.SRST && random.chance(0.8)) extension = SbiExtension.BASE;
        program.call(extension, random.chance(0.8) ? random.below(10) : random.u32(), ...Array.from({ length: 6 }, () => argument(random)));
      }
      program.call(SbiExtension.SRST, 0, 0, 0);
      const host = new VirtMachine({ memoryMiB: 32 });
      for (let i = 0; i < host.ram.i32.length; i++) host.ram.i32[i] = Math.imul(i, 0x9e3779b1);
      const before = host.ram.i32.slice();
      const vm = new Hypervisor(bareMetal(host), { frameOrder: "interleaved" }).createVm({ memoryMiB: VM_MIB, harts: 2, backend: new SbiFirmware(), console: () => {} });
      vm.boot({ kernel: program.bytes() });
      const start = performance.now();
      const outcome = vm.run(500_000);
      expect(performance.now() - start).toBeLessThan(10_000);
      expect(["pass", "fail", "limit", "idle", "stuck", "stopped", "reset"]).toContain(outcome.kind);
      expect(hostChangedOutside(vm, before)).toBe(0);
    }, 3);
    expect(cases).toBeGreaterThanOrEqual(3);
  });
});
