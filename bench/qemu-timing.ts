import { spawnSync } from "node:child_process";
import { qemuCommandLine } from "@matryoshka/testkit";

/** Wall time of one QEMU run of an ELF, in milliseconds (start-up included). */
function timeQemuOnce(elf: string, extraArgs: string[] = []): number {
  const [binary, ...args] = qemuCommandLine(elf, { extraArgs });
  const started = performance.now();
  const result = spawnSync(binary!, args, { stdio: ["ignore", "ignore", "ignore"], timeout: 60_000 });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`QEMU run of ${elf} failed with status ${result.status}`);
  return elapsed;
}

/**
 * QEMU's time for the guest's own work: the best of `repeats` runs of the guest, minus the best of
 * `repeats` runs of the baseline guest (which measures QEMU's start-up and exit).
 */
export function qemuComputeMilliseconds(elf: string, baselineElf: string, repeats = 5, extraArgs: string[] = []): number {
  let guest = Number.POSITIVE_INFINITY;
  let baseline = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    baseline = Math.min(baseline, timeQemuOnce(baselineElf));
    guest = Math.min(guest, timeQemuOnce(elf, extraArgs));
  }
  return Math.max(guest - baseline, 0.001);
}
