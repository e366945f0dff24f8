import type { Engine, Hart } from "@matryoshka/cpu";
import type { VirtMachine } from "@matryoshka/machine";
import { ContextHart } from "./context-hart.js";
import type { Platform } from "./platform.js";

/**
 * One hardware hart as a platform hart, on its own: what a hypervisor running a vCPU on a worker
 * thread makes of the hart that thread stands for (see threaded.ts). `flushTlb` is the platform's
 * `flushTlbs` for that hart alone.
 */
export function bareMetalHart(hart: Hart, engine: Engine): ContextHart {
  return new ContextHart(hart, (h, budget) => engine.run(h, budget), true);
}

/**
 * The hardware as a Platform (DESIGN.md §3): the machine's RAM is the hypervisor's memory, and its
 * harts enter guest contexts in U-mode with traps intercepted, which is what an M-mode hypervisor
 * on real RISC-V hardware does with its trap vector. The machine's own devices are left alone:
 * every VM has its own.
 */
export function bareMetal(machine: VirtMachine): Platform {
  const harts = machine.harts.map((hart) => bareMetalHart(hart, machine.engine));
  return {
    name: "bare metal",
    level: 0,
    memory: machine.ram,
    harts,
    // Only a translating engine can keep sensitive instructions from executing natively.
    sensitiveCalls: machine.engine.name === "bt",
    flushTlbs: (va) => {
      for (const hart of harts) hart.flushTlb(va);
    },
    memoryWritten: (pa, length) => machine.codeCache.invalidateRange(pa, length),
  };
}
