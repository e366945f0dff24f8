import { writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { ENGINE_NAMES, type EngineName } from "@matryoshka/engines";
import { loadPartitionConfig, PartitionConfigError, runPartitions } from "@matryoshka/partition";
import { optionalUserPath, requireWritablePath, userPath } from "../arguments.js";
import { UsageError } from "../exit-status.js";
import type { Io, SetStatus } from "../io.js";
import { partitionJson, partitionSummary, partitionTable } from "../partition-view.js";

/** `matryoshka partition <config>`: VMs on partitions and a shared pool; exits with whether a guest failed. */
export function addPartitionCommand(program: Command, io: Io, setStatus: SetStatus): void {
  program
    .command("partition")
    .description(
      "split a machine's harts among VMs: partitions (harts of their own) run in parallel on worker threads, shared VMs are time-sliced on the rest by a scheduler; " +
        "reports per VM its progress, hart time received against promised, and its speed against running alone",
    )
    .argument("<config>", "JSON file: machine harts, scheduler, duration (ms of guest time) and VMs (see apps/partitioner/README.md)")
    .addOption(new Option("--engine <name>", "execution engine of every host board (default: $MATRYOSHKA_ENGINE, else interpreter)").choices(ENGINE_NAMES))
    .option("--baseline", "first run each VM alone, one at a time, to measure how much slower it runs beside the others")
    .option("--json <file>", "also write the report, per VM, as JSON")
    .option("--show-output", "print each VM's console output after the table")
    .action(async (givenConfigPath: string, options: { engine?: EngineName; baseline?: boolean; json?: string; showOutput?: boolean }) => {
      // The config's own paths are relative to the config file (@matryoshka/partition).
      const configPath = userPath(givenConfigPath);
      options.json = optionalUserPath(options.json);
      if (options.json !== undefined) requireWritablePath(options.json, "--json file");
      try {
        const plan = loadPartitionConfig(configPath);
        const report = await runPartitions(plan, { engine: options.engine, baseline: options.baseline, onProgress: (text) => io.stderr(`partition: ${text}\n`) });
        io.stdout(`${partitionTable(report, { color: io.stdoutColour === true })}\n${partitionSummary(report)}\n`);
        if (options.showOutput) {
          for (const vm of report.vms) io.stdout(`--- ${vm.name} ---\n${vm.output}${vm.output.endsWith("\n") || vm.output === "" ? "" : "\n"}`);
        }
        if (options.json !== undefined) {
          try {
            writeFileSync(options.json, `${JSON.stringify(partitionJson(report, configPath), null, 2)}\n`);
          } catch (error) {
            throw new UsageError(`cannot write --json file: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
        setStatus(report.status);
      } catch (error) {
        if (error instanceof PartitionConfigError) throw new UsageError(error.message);
        throw error;
      }
    });
}
