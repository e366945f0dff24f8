// `pnpm bench`: speed measured as ratios within one run (the machines are shared and noisy, so
// absolute numbers mean little). Targets are printed beside the results; nothing here fails a
// build on speed.
import Table from "cli-table3";
import { qemuAvailability } from "@matryoshka/testkit";
import { benchInterpreter } from "./interpreter.js";

const qemu = qemuAvailability();
if (!qemu.available) console.log(`QEMU comparison skipped: ${qemu.reason}`);

const interpreter = benchInterpreter();
const table = new Table({ head: ["engine", "guest", "instructions", "time (ms)", "MIPS", "vs QEMU"] });
table.push([
  "interpreter",
  interpreter.ours.guest,
  interpreter.ours.instructions.toLocaleString("en-US"),
  interpreter.ours.milliseconds.toFixed(0),
  interpreter.ours.mips.toFixed(0),
  interpreter.ratio === undefined ? "n/a" : `${interpreter.ratio.toFixed(3)}×`,
]);
if (interpreter.qemu) {
  table.push(["qemu (TCG)", interpreter.ours.guest, "same", interpreter.qemu.milliseconds.toFixed(0), interpreter.qemu.mips.toFixed(0), "1×"]);
}
console.log("CPU-bound guest, one hart, depth 0 (target: interpreter ≥ 150 MIPS)");
console.log(table.toString());
