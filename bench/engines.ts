// Execution engines on the bare board: the interpreter, the binary translator and QEMU's TCG on
// the same ELF, as MIPS from runs made in this process (interleaved rounds, medians), and the ratios
// the binary-translation issue sets targets for.
import { qemuAvailability, guestPath, guestVariants, qemuArgsFor } from "@matryoshka/testkit";
import { measureAll, type Configuration, type Workload } from "./nested.js";
import { qemuComputeMilliseconds } from "./qemu-timing.js";
import { readFileSync } from "node:fs";

export interface EngineRow {
  guest: string;
  instructions: number;
  /** Median wall time (ms) of the interpreter and of the translator. */
  interpreter: number;
  bt: number;
  /** QEMU's time for the same guest's work (ms), start-up subtracted; absent without QEMU. */
  qemu?: number;
}

/** A guest in its first configuration (no console input: QEMU's stdin is not connected). */
function plainWorkload(name: string): Workload {
  const variant = guestVariants(name)[0]!;
  return { name, kernel: new Uint8Array(readFileSync(guestPath(name))), disk: variant.disk, virtio: variant.virtio };
}

export async function benchEngines(guests: string[], rounds = 5): Promise<EngineRow[]> {
  const workloads = guests.map(plainWorkload);
  const configurations: Configuration[] = workloads.flatMap((workload) => [
    { workload, depth: 0, engine: "interpreter" as const },
    { workload, depth: 0, engine: "bt" as const },
  ]);
  const measured = await measureAll(configurations, rounds, (text) => process.stderr.write(`engine benchmarks: ${text}\n`));
  const withQemu = qemuAvailability().available;
  return workloads.map((workload) => {
    const find = (engine: string) => measured.find((m) => m.configuration.workload === workload && m.configuration.engine === engine)!;
    const interpreted = find("interpreter");
    const translated = find("bt");
    if (interpreted.report.instructions !== translated.report.instructions) {
      throw new Error(`${workload.name}: the engines disagree on the instruction count`);
    }
    const variant = guestVariants(workload.name)[0]!;
    return {
      guest: workload.name,
      instructions: translated.report.instructions,
      interpreter: interpreted.wall,
      bt: translated.wall,
      qemu: withQemu ? qemuComputeMilliseconds(guestPath(workload.name), guestPath("hello"), 5, qemuArgsFor(variant)) : undefined,
    };
  });
}
