// SMP on worker threads (issue 8): guests/smp-compute, two harts that each checksum half a buffer
// and meet at an AMO barrier, run deterministically on one thread (the harts interleaved) and on
// two worker threads, on each engine: at depth 0 the board's harts (`runThreaded`), at depth 1 a
// VM's two vCPUs under trap-and-emulate (`runVmThreaded`). The threaded time starts once both
// workers are ready (their start-up, loading modules, is reported apart).
import { readFileSync } from "node:fs";
import { createEngine, ENGINE_NAMES } from "@matryoshka/engines";
import { parseElf, runThreaded, type ThreadedRunReport } from "@matryoshka/machine";
import { guestPath } from "@matryoshka/testkit";
import { buildStack, runVmThreaded } from "@matryoshka/vmm";
import { guestPhysical } from "@matryoshka/memory";

export interface SmpRow {
  engine: string;
  depth: number;
  /** Instructions of both harts together (deterministic run). */
  instructions: number;
  /** Median wall times (ms): one thread, and two workers without their start-up. */
  oneThread: number;
  twoThreads: number;
  /** Median time from starting the workers to their being ready (ms). */
  startup: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchSmp(repeats = 3): Promise<SmpRow[]> {
  const kernel = new Uint8Array(readFileSync(guestPath("smp-compute")));
  const rounds = parseElf(kernel).symbols.get("rounds");
  if (rounds === undefined) throw new Error("smp-compute has no rounds symbol");
  const rows: SmpRow[] = [];
  for (const depth of [0, 1]) {
    for (const name of ENGINE_NAMES) {
      const one: number[] = [];
      const two: number[] = [];
      const startup: number[] = [];
      let instructions = 0;
      const boot = (console: (byte: number) => void) => {
        const stack = buildStack(depth, { harts: 2, engine: createEngine(name), console });
        (stack.vms[0] ?? stack.guest).boot({ kernel });
        // Four times the tests' work: long enough that the workers' start (a fresh JIT in each,
        // and for the translator its blocks) is small beside it.
        const ram = stack.guest.ram;
        ram.writeU32(guestPhysical(rounds.value), 4 * ram.readU32(guestPhysical(rounds.value))!);
        return stack;
      };
      // Interleaved rounds, so drift in the machine's load hits both modes alike.
      for (let round = 0; round < repeats; round++) {
        let expected = "";
        const single = boot((byte) => (expected += String.fromCharCode(byte)));
        const started = performance.now();
        const outcome = single.guest.run();
        one.push(performance.now() - started);
        if (outcome.kind !== "pass") throw new Error(`smp-compute at depth ${depth} on one thread (${name}): ${JSON.stringify(outcome)}`);
        instructions = single.guest.instructions;

        let output = "";
        const parallel = boot((byte) => (output += String.fromCharCode(byte)));
        const begun = performance.now();
        const vm = parallel.vms[0];
        const report: ThreadedRunReport = vm === undefined ? await runThreaded(parallel.guest) : await runVmThreaded(vm, { engine: name });
        if (report.outcome.kind !== "pass" || output !== expected) {
          throw new Error(`smp-compute at depth ${depth} on two threads (${name}): ${JSON.stringify(report.outcome)}, output ${JSON.stringify(output)}`);
        }
        two.push(report.wallMilliseconds);
        startup.push(performance.now() - begun - report.wallMilliseconds);
        process.stderr.write(`smp benchmark: depth ${depth}, ${name}, round ${round + 1}/${repeats}\n`);
      }
      rows.push({ engine: name, depth, instructions, oneThread: median(one), twoThreads: median(two), startup: median(startup) });
    }
  }
  return rows;
}
