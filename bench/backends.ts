// The virtualization backends per operation, for `pnpm bench`: the benchmark kernel (guests/kernel-ops,
// and its paravirtual build kernel-ops-pv, with its page tables shadowed or walked directly) runs four phases, each one operation many times (system
// calls, context switches, page faults, timer interrupts). This runs it on the bare board and in a
// VM under each backend, on the same engine (the translator), watches which phase the kernel is in
// (its `ops_phase` variable, found from the ELF's symbols), and reports exits and wall time per
// operation, as ratios to the bare board from runs made in this process.
import { readFileSync } from "node:fs";
import { parseElf } from "@matryoshka/machine";
import { SbiFirmware } from "@matryoshka/paravirt";
import { guestPath } from "@matryoshka/testkit";
import { buildStack, type VmBackend } from "@matryoshka/vmm";
import { createEngine } from "@matryoshka/engines";
import { guestPhysical } from "@matryoshka/memory";

export const OPERATIONS = [
  { phase: 1, name: "system call", count: 2000 },
  { phase: 2, name: "context switch", count: 2000 },
  { phase: 3, name: "page fault", count: 400 },
  { phase: 4, name: "timer interrupt", count: 200 },
] as const;

export interface BackendConfiguration {
  label: string;
  guest: "kernel-ops" | "kernel-ops-pv";
  depth: number;
  backend?: VmBackend;
  /** pv only: whether the hypervisor offers direct paging (default) or shadows the kernel's tables. */
  directPaging?: boolean;
}

export const BACKEND_CONFIGURATIONS: BackendConfiguration[] = [
  { label: "native (depth 0)", guest: "kernel-ops", depth: 0 },
  { label: "trap-and-emulate", guest: "kernel-ops", depth: 1, backend: "trap-and-emulate" },
  { label: "binary translation", guest: "kernel-ops", depth: 1, backend: "bt" },
  { label: "paravirtual, shadow paging", guest: "kernel-ops-pv", depth: 1, backend: "pv", directPaging: false },
  { label: "paravirtual, direct paging", guest: "kernel-ops-pv", depth: 1, backend: "pv" },
];

export interface PhaseMeasurement {
  /** Exits the VM's hypervisor took (traps, deadline exits, SBI calls) during the phase. */
  exits: number;
  milliseconds: number;
}

/** Instructions of machine time between looks at the kernel's phase. */
const SLICE = 20_000;

/** One run of a configuration: per phase, the exits and the wall time it took. */
export function measureBackend(configuration: BackendConfiguration): PhaseMeasurement[] {
  const kernel = new Uint8Array(readFileSync(guestPath(configuration.guest)));
  const phaseSymbol = parseElf(kernel).symbols.get("ops_phase");
  if (phaseSymbol === undefined) throw new Error(`${configuration.guest} has no ops_phase symbol`);
  const stack = buildStack(configuration.depth, {
    engine: createEngine("bt"),
    backend: configuration.backend,
    paravirtualFirmware: () => new SbiFirmware({ directPaging: configuration.directPaging ?? true }),
  });
  const vm = stack.vms.at(-1);
  (vm ?? stack.guest).boot({ kernel });
  const ram = stack.guest.ram;
  const phaseAddress = guestPhysical(phaseSymbol.value);
  const exits = () => {
    if (vm === undefined) return 0;
    const stats = vm.stats.exits;
    return stats.byCause.reduce((sum, n) => sum + n, 0) + stats.budget;
  };
  const marks = new Map<number, { exits: number; at: number }>();
  let phase = 0;
  for (;;) {
    const outcome = stack.guest.run(SLICE);
    const now = ram.readU32(phaseAddress)!;
    if (now !== phase) {
      phase = now;
      marks.set(phase, { exits: exits(), at: performance.now() });
    }
    if (outcome.kind === "pass") break;
    if (outcome.kind !== "limit") throw new Error(`${configuration.label}: ${JSON.stringify(outcome)}`);
  }
  return OPERATIONS.map(({ phase: p }) => {
    const start = marks.get(p);
    const end = marks.get(p + 1);
    if (start === undefined || end === undefined) throw new Error(`${configuration.label}: phase ${p} was not seen`);
    return { exits: end.exits - start.exits, milliseconds: end.at - start.at };
  });
}

/** Every configuration, `rounds` times interleaved after a warm-up; the median time of each phase. */
export function benchBackends(rounds = 5): { configuration: BackendConfiguration; phases: PhaseMeasurement[] }[] {
  for (const configuration of BACKEND_CONFIGURATIONS) measureBackend(configuration);
  const runs = BACKEND_CONFIGURATIONS.map(() => [] as PhaseMeasurement[][]);
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`backend benchmarks: round ${round + 1}/${rounds}\n`);
    BACKEND_CONFIGURATIONS.forEach((configuration, i) => runs[i]!.push(measureBackend(configuration)));
  }
  return BACKEND_CONFIGURATIONS.map((configuration, i) => ({
    configuration,
    phases: OPERATIONS.map((_, p) => {
      const times = runs[i]!.map((run) => run[p]!.milliseconds).sort((a, b) => a - b);
      return { exits: runs[i]![0]![p]!.exits, milliseconds: times[times.length >> 1]! };
    }),
  }));
}
