// The partitioner's interference benchmark, for `pnpm bench`: a VM in a partition of its own
// (one host hart, crc32, on the translator) runs alone, then beside a noisy neighbour, another
// CPU-bound crc32 VM in the other partition, each partition on its own worker thread, in parallel.
// Partitions share no guest hart, memory or device, so whatever the neighbour costs is the host's:
// CPUs (this machine has 2), caches, memory bandwidth and the JS runtime. Interleaved rounds,
// medians, all in this process.
import { loadavg } from "node:os";
import { guestPath } from "@matryoshka/testkit";
import { runPartitions, validatePartitionConfig, type PartitionReport } from "@matryoshka/partition";

export interface PartitionBench {
  /** Guest instructions each measured run executes. */
  instructions: number;
  /** Median guest instructions per wall second of the measured VM: alone, and with its neighbour. */
  alone: number;
  withNeighbour: number;
  /** Median instructions per second of the neighbour itself. */
  neighbour: number;
  rounds: number;
  /** The host's 1-minute load average before the runs: with other work on the CPUs, the neighbour costs more. */
  loadAverage: number;
}

/** 800 ms of guest time is 80 M instructions, short of the 84 M crc32 needs to finish: CPU-bound throughout. */
const DURATION_MS = 800;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchPartition(rounds = 5): Promise<PartitionBench> {
  const crc32 = guestPath("crc32");
  const measured = { name: "measured", guest: crc32, harts: [0], memoryMiB: 16 };
  const neighbour = { name: "neighbour", guest: crc32, harts: [1], memoryMiB: 16 };
  const plan = (vms: object[]) => validatePartitionConfig({ machine: { harts: 2 }, duration: DURATION_MS, vms }, process.cwd());
  const alonePlan = plan([measured]);
  const togetherPlan = plan([measured, neighbour]);
  const speed = (report: PartitionReport, name: string) => report.vms.find((vm) => vm.name === name)!.instructionsPerSecond;
  const alone: number[] = [];
  const together: number[] = [];
  const noisy: number[] = [];
  const loadAverage = loadavg()[0]!;
  let instructions = 0;
  for (let round = 0; round < rounds; round++) {
    const aloneReport = await runPartitions(alonePlan, { engine: "bt" });
    const togetherReport = await runPartitions(togetherPlan, { engine: "bt" });
    alone.push(speed(aloneReport, "measured"));
    together.push(speed(togetherReport, "measured"));
    noisy.push(speed(togetherReport, "neighbour"));
    instructions = aloneReport.vms[0]!.instructions;
  }
  return { instructions, alone: median(alone), withNeighbour: median(together), neighbour: median(noisy), rounds, loadAverage };
}
