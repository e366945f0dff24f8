import { parseArgs } from "node:util";
import { ENGINE_NAMES, isEngineName } from "@matryoshka/engines";
import { loadPartitionConfig, PartitionConfigError, runPartitions } from "@matryoshka/partition";

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

const USAGE = `usage: partitioner <config.json> [--engine ${ENGINE_NAMES.join("|")}] [--baseline]`;

/**
 * Runs the VMs of a partition config and prints the report as JSON on stdout (progress on
 * stderr), for scripts and plots. Returns the exit status: 0 no guest failed, 1 some guest failed,
 * 2 the config does not fit or cannot be read, or bad options.
 */
export async function main(argv: string[], io: Io): Promise<number> {
  const usage = (message: string) => {
    io.stderr(`partitioner: ${message}\n${USAGE}\n`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { engine: { type: "string" }, baseline: { type: "boolean", default: false } } });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1) return usage("expected one config file");
  if (values.engine !== undefined && !isEngineName(values.engine)) return usage(`--engine must be one of ${ENGINE_NAMES.join(", ")}`);
  const configPath = positionals[0]!;
  try {
    const plan = loadPartitionConfig(configPath);
    const report = await runPartitions(plan, { engine: values.engine, baseline: values.baseline, onProgress: (text) => io.stderr(`partitioner: ${text}\n`) });
    io.stdout(`${JSON.stringify({ config: configPath, ...report }, null, 2)}\n`);
    return report.status;
  } catch (error) {
    // The config's problems, each naming its field, in the one message.
    if (error instanceof PartitionConfigError) return usage(error.message);
    throw error;
  }
}
