// `pnpm bench`: speed measured as ratios within one run (the machines are shared and noisy, so
// absolute numbers mean little). Targets are printed beside the results; nothing here fails a
// build on speed.
import { availableParallelism } from "node:os";
import Table from "cli-table3";
import { qemuAvailability } from "@matryoshka/testkit";
import { benchBackends, OPERATIONS } from "./backends.js";
import { benchEngines } from "./engines.js";
import { benchSmp } from "./smp.js";
import { benchMigration, benchSnapshots } from "./migration.js";
import { benchPartition } from "./partition.js";
import { benchNet, printNetTable } from "./net.js";
import { benchBalloon, benchIdleTax, benchSharing } from "./memory.js";
import { exitCount, measureAll, workload, type Configuration, type Measurement, type Workload } from "./nested.js";

const qemu = qemuAvailability();
if (!qemu.available) console.log(`QEMU comparison skipped: ${qemu.reason}`);

const engines = await benchEngines(["crc32", "kernel"]);
const mips = (instructions: number, ms: number) => (instructions / ms / 1000).toFixed(0);
const engineTable = new Table({
  head: ["guest", "instructions", "interpreter MIPS", "bt MIPS", "QEMU MIPS", "bt / interpreter", "bt time / QEMU time"],
});
for (const row of engines) {
  engineTable.push([
    row.guest,
    row.instructions.toLocaleString("en-US"),
    mips(row.instructions, row.interpreter),
    mips(row.instructions, row.bt),
    row.qemu === undefined ? "n/a" : mips(row.instructions, row.qemu),
    `${(row.interpreter / row.bt).toFixed(2)}×`,
    row.qemu === undefined ? "n/a" : `${(row.bt / row.qemu).toFixed(2)}×`,
  ]);
}
console.log("Execution engines, one hart, depth 0 (medians of interleaved runs; QEMU: best run minus its start-up)");
console.log(engineTable.toString());
console.log("(the kernel waits 50 timer ticks for console input, which QEMU spends in wall-clock time and we skip in instruction time: its QEMU column measures that wait, not speed)");
const crc = engines.find((row) => row.guest === "crc32")!;
const speedup = crc.interpreter / crc.bt;
console.log(`crc32 targets: bt ≥ 5× the interpreter: ${speedup.toFixed(2)}× ${speedup >= 5 ? "(holds)" : "(MISSED)"}` +
  (crc.qemu === undefined ? "" : `; bt time ≤ 2× QEMU's: ${(crc.bt / crc.qemu).toFixed(2)}× ${crc.bt <= 2 * crc.qemu ? "(holds)" : "(MISSED)"}`));

// ---------------------------------------------------------------------------------------------
// SMP: two harts of one board on one thread (deterministic) against two worker threads.
const smp = await benchSmp();
const smpTable = new Table({ head: ["depth", "engine", "instructions", "1 thread ms", "2 workers ms", "speed-up", "worker start-up ms"] });
for (const row of smp) {
  smpTable.push([row.depth, row.engine, row.instructions.toLocaleString("en-US"), row.oneThread.toFixed(0), row.twoThreads.toFixed(0), `${(row.oneThread / row.twoThreads).toFixed(2)}×`, row.startup.toFixed(0)]);
}
console.log("\nSMP compute guest (guests/smp-compute), 2 harts (depth 0) or a VM's 2 vCPUs (depth 1): one thread against two worker threads (medians of interleaved runs; start-up not in the time)");
console.log(smpTable.toString());
console.log(`(this host has ${availableParallelism()} hardware threads; the speed-up cannot exceed that)`);

// ---------------------------------------------------------------------------------------------
// Virtualization backends per operation (guests/kernel-ops and kernel-ops-pv, the translator as
// the hardware's engine for all of them).
const backends = benchBackends();
const backendTable = new Table({
  head: ["operation", ...backends.map((b) => `${b.configuration.label}: exits / op`), ...backends.map((b) => `${b.configuration.label}: µs / op (× native)`)],
});
const native = backends[0]!;
OPERATIONS.forEach((operation, p) => {
  backendTable.push([
    `${operation.name} (×${operation.count})`,
    ...backends.map((b) => (b.phases[p]!.exits / operation.count).toFixed(2)),
    ...backends.map((b) => {
      const micros = (1000 * b.phases[p]!.milliseconds) / operation.count;
      return `${micros.toFixed(1)} (${(b.phases[p]!.milliseconds / native.phases[p]!.milliseconds).toFixed(2)}×)`;
    }),
  ]);
});
console.log("\nVirtualization backends per operation, depth 1 against the bare board (exits: deterministic counts; time: medians of interleaved runs)");
console.log(backendTable.toString());

// ---------------------------------------------------------------------------------------------
// The partitioner: a partitioned VM's throughput alone and beside a noisy neighbour in the other
// partition (both on worker threads, in parallel).
const partition = await benchPartition();
const partitionTable = new Table({ head: ["measured VM (crc32, 1 hart, bt)", "alone MIPS", "with noisy neighbour MIPS", "neighbour MIPS", "with ÷ alone"] });
partitionTable.push([
  `${partition.instructions.toLocaleString("en-US")} instructions`,
  (partition.alone / 1e6).toFixed(0),
  (partition.withNeighbour / 1e6).toFixed(0),
  (partition.neighbour / 1e6).toFixed(0),
  `${(partition.withNeighbour / partition.alone).toFixed(2)}×`,
]);
console.log(
  `\nPartitions: interference from a CPU-bound neighbour in the other partition (medians of ${partition.rounds} interleaved rounds; ` +
    `${availableParallelism()} host CPUs, load average ${partition.loadAverage.toFixed(1)} before; informational, no target)`,
);
console.log(partitionTable.toString());

// ---------------------------------------------------------------------------------------------
// Memory resource management, beside Waldspurger's ESX figures (OSDI'02).
const mib = (pages: number) => (pages / 256).toFixed(1);
const sharingTable = new Table({ head: ["identical VMs (memhog, 16 MiB each)", "resident MiB", "shared MiB", "shared / resident", "frames MiB", "saved"] });
for (const row of benchSharing()) {
  sharingTable.push([row.vms, mib(row.resident), mib(row.shared), `${((100 * row.shared) / row.resident).toFixed(1)}%`, mib(row.frames), `${(100 * (1 - row.frames / row.resident)).toFixed(1)}%`]);
}
console.log("\nContent-based page sharing among identical VMs (deterministic; ESX: up to 67% of memory shared in homogeneous tests, its Figure 4)");
console.log(sharingTable.toString());
console.log("(our VMs are identical down to their data, which ESX's Linux VMs were not: nearly everything shares, and N VMs take about one VM's frames)");

const balloon = benchBalloon();
const balloonTable = new Table({ head: ["VM", "guest instructions", "wall ms (median)", "vs native"] });
balloonTable.push(["24 MiB, natively", balloon.nativeInstructions.toLocaleString("en-US"), balloon.native.toFixed(0), "1.00×"]);
balloonTable.push([`32 MiB, ballooned by ${mib(balloon.balloonedPages)} MiB`, balloon.balloonedInstructions.toLocaleString("en-US"), balloon.ballooned.toFixed(0), `${(balloon.ballooned / balloon.native).toFixed(3)}×`]);
console.log(`\nBallooning's cost: memhog (12 MiB filled, 4 MiB worked on) in a VM natively that small and in a larger VM ballooned down (medians of ${balloon.rounds} interleaved runs; ESX: 1.4% to 4.4% slower, its Figure 3)`);
console.log(balloonTable.toString());

const taxTable = new Table({ head: ["idle tax τ", "active VM target MiB", "idle VM target MiB", "active VM resident MiB", "idle VM resident MiB", "estimated active fraction (active / idle)"] });
for (const row of benchIdleTax()) {
  taxTable.push([row.tax, row.activeTarget.toFixed(2), row.idleTarget.toFixed(2), row.activeResident.toFixed(2), row.idleResident.toFixed(2), `${row.activeFraction.toFixed(2)} / ${row.idleFraction.toFixed(2)}`]);
}
console.log("\nThe idle memory tax: two 32 MiB VMs with equal shares in 24 MiB, one working on its 6 MiB, one idle (deterministic; ESX's Figure 5: with τ = 0.75 the idle VM's memory moves to the active one)");
console.log(taxTable.toString());

// ---------------------------------------------------------------------------------------------
// Nested virtualization: one level against the bare board, then the cost of depth.
const crc32 = workload("crc32");
const kernel = workload("kernel");
const exits = workload("exits");
const EXIT_DEPTHS = [1, 2, 5, 10, 20, 30];
const configurations: Configuration[] = [
  { workload: crc32, depth: 0 },
  { workload: crc32, depth: 1 },
  { workload: crc32, depth: 30 },
  { workload: kernel, depth: 0 },
  { workload: kernel, depth: 1 },
  { workload: exits, depth: 0 },
  // The exit-heavy guest's deep runs warm up on its first quarter: the code paths are the same.
  ...EXIT_DEPTHS.map((depth) => ({ workload: exits, depth, warmupInstructions: depth >= 5 ? 300_000 : undefined })),
];
const ROUNDS = 5;
const measured = await measureAll(configurations, ROUNDS, (text) => process.stderr.write(`nested benchmarks: ${text}\n`));
const find = (guest: Workload, depth: number): Measurement => measured.find((m) => m.configuration.workload === guest && m.configuration.depth === depth)!;
const ms = (value: number) => value.toFixed(0);
const ratio = (value: number) => `${value.toFixed(2)}×`;
const perMillion = (count: number, instructions: number) => (count / (instructions / 1e6)).toFixed(1);

const depthOne = new Table({
  head: ["guest", "instructions", "depth 0 (ms)", "depth 1 (ms)", "slowdown", "L1 exits / M insns", "L1 emulated / M insns"],
});
for (const guest of [crc32, kernel]) {
  const bare = find(guest, 0);
  const nested = find(guest, 1);
  const level = nested.report.levels[0]!;
  const instructions = nested.report.instructions;
  depthOne.push([
    guest.name,
    instructions.toLocaleString("en-US"),
    ms(bare.wall),
    ms(nested.wall),
    ratio(nested.wall / bare.wall),
    perMillion(exitCount(level), instructions),
    perMillion(level.exits.emulated, instructions),
  ]);
}
console.log(`\nDepth 1 vs depth 0: wall-time slowdown of one hypervisor level, and its exit rate (medians of ${ROUNDS} runs; informational, no target)`);
console.log(depthOne.toString());

const crcDeep = find(crc32, 30).wall / find(crc32, 1).wall;
const deep = new Table({ head: ["guest", "depth 1 (ms)", "depth 30 (ms)", "depth 30 / depth 1", "target", "holds"] });
deep.push(["crc32", ms(find(crc32, 1).wall), ms(find(crc32, 30).wall), ratio(crcDeep), "≤ 1.50×", crcDeep <= 1.5 ? "yes" : "NO"]);
console.log(`\nCost with depth: CPU-bound guest at depth 30 vs depth 1 (medians of ${ROUNDS} runs)`);
console.log(deep.toString());

const exitsBare = find(exits, 0).wall;
const costPerExit = (depth: number) => {
  const run = find(exits, depth);
  return (run.wall - exitsBare) / exitCount(run.report.levels[depth - 1]!);
};
const costAtOne = costPerExit(1);
const perExit = new Table({
  head: ["depth", "wall (ms)", "exits at guest's level", "µs / exit", "vs depth 1", "÷ (depth × depth 1)", "target", "holds", "µs / exit / added level"],
});
let linear = true;
let previous = 0;
for (const depth of EXIT_DEPTHS) {
  const run = find(exits, depth);
  const cost = costPerExit(depth);
  // The slope since the previous depth: constant when every level costs the same.
  const added = (run.wall - find(exits, previous).wall) / ((depth - previous) * exitCount(run.report.levels[depth - 1]!));
  previous = depth;
  const normalized = cost / (depth * costAtOne);
  linear &&= normalized <= 1;
  perExit.push([
    depth,
    ms(run.wall),
    exitCount(run.report.levels[depth - 1]!).toLocaleString("en-US"),
    (cost * 1000).toFixed(2),
    ratio(cost / costAtOne),
    normalized.toFixed(2),
    "≤ 1",
    normalized <= 1 ? "yes" : "NO",
    (added * 1000).toFixed(2),
  ]);
}
console.log(`\nCost with depth: cost per exit of the exit-heavy guest (guests/exits), (wall(d) − wall(0)) / exits, wall(0) = ${ms(exitsBare)} ms (medians of ${ROUNDS} runs)`);
console.log(perExit.toString());
console.log(`cost per exit grows at most linearly with depth: ${linear ? "yes" : "NO"}`);

// ---------------------------------------------------------------------------------------------
// Snapshots and live migration (issue 20).
const snapshots = await benchSnapshots();
const snapshotTable = new Table({ head: ["guest", "depth", "file bytes", "save ms", "restore ms", "restore target"] });
for (const row of snapshots) {
  snapshotTable.push([row.guest, row.depth, row.bytes.toLocaleString("en-US"), row.save.toFixed(1), row.restore.toFixed(1), "Firecracker ≈ 8 ms; goal < 5 ms"]);
}
console.log("\nSnapshots (bt engine; medians): save = saveRun on a paused run; restore = reading the file and putting it into a built stack");
console.log(snapshotTable.toString());
console.log("(a save at depth 0 reads all of the board's RAM to skip its zero pages: the host's first touch of untouched shared memory dominates it; a VM's memory knows which pages it has)");
const migrations = await benchMigration();
const migrationTable = new Table({ head: ["pages dirtied / M instructions", "rounds", "pages sent", "downtime ms", "total ms", "vs Clark et al. 60 ms", "destination passed"] });
for (const row of migrations) {
  migrationTable.push([row.pagesPerMillion.toFixed(0), row.rounds, row.pagesSent.toLocaleString("en-US"), row.downtime.toFixed(1), row.total.toFixed(1), `${(row.downtime / 60).toFixed(2)}×`, row.passed ? "yes" : "NO"]);
}
console.log("\nLive migration, depth 1, bt engine, over loopback in one process: a guest storing to one page of a 16 MiB working set per loop, spinning between stores");
console.log(migrationTable.toString());

// ---------------------------------------------------------------------------------------------
// Networking: net-ping (bulk mode) and net-echo on one learning switch, each under depth 1 and
// depth 5, and the same pair in two QEMU processes (bench/net.ts; alone: pnpm bench:net).
printNetTable(await benchNet([1, 5], "bt", 3, qemu.available));

