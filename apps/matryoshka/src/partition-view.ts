import Table from "cli-table3";
import type { PartitionReport, VmReport } from "@matryoshka/partition";

const number = (value: number) => Math.round(value).toLocaleString("en-US");
const mips = (instructionsPerSecond: number) => (instructionsPerSecond / 1e6).toFixed(1);
const mib = (value: number) => value.toFixed(2);
const harts = (ids: readonly number[]) => (ids.length === 1 ? `hart ${ids[0]}` : `harts ${ids.join(",")}`);

function placement(vm: VmReport): string {
  if (vm.placement === "partition") return `partition: ${harts(vm.harts)}`;
  return `shared (${harts(vm.harts)}): weight ${vm.weight}${vm.cap ? `, cap ${vm.cap}%` : ""}`;
}

function guestState(vm: VmReport): string {
  const at = vm.finishedAtMs === undefined ? "" : ` at ${vm.finishedAtMs.toFixed(1)} ms`;
  switch (vm.state) {
    case "running":
      return "running (time up)";
    case "fail":
      return `FAIL code ${vm.failCode}${at}`;
    case "pass":
      return `pass${at}`;
    default:
      return `${vm.failed ? vm.state.toUpperCase() : vm.state}${at}`;
  }
}

/** The per-VM table `matryoshka partition` prints. */
export function partitionTable(report: PartitionReport, options: { color: boolean }): string {
  const table = new Table({
    head: ["VM", "placement", "vCPUs", "guest", "instructions", "hart-ms received / promised", "MIPS", "MIPS alone", "vs alone", "MiB resident / shared / ballooned / swapped"],
    ...(options.color ? {} : { style: { head: [], border: [] } }),
  });
  for (const vm of report.vms) {
    table.push([
      vm.name,
      placement(vm),
      vm.vcpus,
      guestState(vm),
      number(vm.instructions),
      `${vm.receivedHartMs.toFixed(1)} / ${vm.promisedHartMs.toFixed(1)} (${(100 * vm.receivedVsPromised).toFixed(1)}%)`,
      mips(vm.instructionsPerSecond),
      vm.aloneInstructionsPerSecond === undefined ? "-" : mips(vm.aloneInstructionsPerSecond),
      vm.throughputVsAlone === undefined ? "-" : `${vm.throughputVsAlone.toFixed(2)}×`,
      `${mib(vm.memory.residentMiB)} / ${mib(vm.memory.sharedMiB)} / ${mib(vm.memory.balloonedMiB)} / ${mib(vm.memory.swappedMiB)} of ${vm.memoryMiB}`,
    ]);
  }
  return table.toString();
}

/** What ran where, on how many threads, and how long it took. */
export function partitionSummary(report: PartitionReport): string {
  const pool = report.poolHarts.length === 0 ? "no shared pool" : `shared pool ${harts(report.poolHarts)} (${report.scheduler})`;
  const lines = [
    `${report.machineHarts} host harts, ${pool}; ${report.durationMs} ms of guest time on ${report.threads} thread${report.threads === 1 ? "" : "s"} ` +
      `(${report.hostCpus} host CPUs), engine ${report.engine}; wall ${report.wallMilliseconds.toFixed(0)} ms`,
  ];
  if (report.memory !== undefined || report.machineMemoryMiB !== undefined) {
    const shared = report.vms.filter((vm) => vm.placement === "shared");
    const wanted = shared.reduce((sum, vm) => sum + vm.memoryMiB, 0);
    const policy = report.memory;
    const mechanisms = policy === undefined ? "" : [policy.sharing ? "page sharing" : "", policy.balloon ? "ballooning" : "", `idle tax ${policy.idleTax}`, policy.swap ? "swapping" : ""].filter(Boolean).join(", ");
    lines.push(
      `memory: ${report.machineMemoryMiB === undefined ? "" : `machine ${report.machineMemoryMiB} MiB, `}shared pool ${report.poolMemoryMiB} MiB for ${wanted} MiB of shared VMs` +
        `${wanted > report.poolMemoryMiB ? ` (overcommitted ${(wanted / Math.max(1, report.poolMemoryMiB)).toFixed(2)}×)` : ""}${mechanisms === "" ? "" : `; ${mechanisms}`}`,
    );
  }
  if (report.threads > report.hostCpus) lines.push(`note: more threads than host CPUs, so partitions also compete for the host's CPUs`);
  if (report.vms.every((vm) => vm.throughputVsAlone === undefined)) lines.push("(--baseline runs each VM alone first and fills in the interference columns)");
  return lines.join("\n");
}

/** The report as `--json` writes it. */
export function partitionJson(report: PartitionReport, configPath: string): object {
  return { config: configPath, ...report };
}
