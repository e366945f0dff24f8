import { readFileSync } from "node:fs";
import { VirtMachine } from "@matryoshka/machine";
import { guestPath, qemuAvailability } from "@matryoshka/testkit";
import { qemuComputeMilliseconds } from "./qemu-timing.js";

export interface EngineMeasurement {
  guest: string;
  instructions: number;
  /** Best wall time of the timed runs, in milliseconds. */
  milliseconds: number;
  mips: number;
}

/** Runs a guest to completion on a fresh board `repeats` times after a warm-up; keeps the best. */
export function measureGuest(name: string, repeats = 3): EngineMeasurement {
  const kernel = new Uint8Array(readFileSync(guestPath(name)));
  let best = Number.POSITIVE_INFINITY;
  let instructions = 0;
  for (let r = 0; r <= repeats; r++) {
    const machine = new VirtMachine();
    machine.boot({ kernel });
    const started = performance.now();
    const outcome = machine.run(5_000_000_000);
    const elapsed = performance.now() - started;
    if (outcome.kind !== "pass") throw new Error(`${name} did not pass: ${JSON.stringify(outcome)}`);
    instructions = machine.instructions;
    if (r > 0) best = Math.min(best, elapsed); // run 0 warms up the JIT
  }
  return { guest: name, instructions, milliseconds: best, mips: instructions / best / 1000 };
}

export interface InterpreterReport {
  ours: EngineMeasurement;
  qemu?: { milliseconds: number; mips: number };
  /** Our MIPS divided by QEMU's, from the same run. */
  ratio?: number;
}

export function benchInterpreter(): InterpreterReport {
  const ours = measureGuest("crc32");
  if (!qemuAvailability().available) return { ours };
  const milliseconds = qemuComputeMilliseconds(guestPath("crc32"), guestPath("hello"));
  const mips = ours.instructions / milliseconds / 1000;
  return { ours, qemu: { milliseconds, mips }, ratio: ours.mips / mips };
}
