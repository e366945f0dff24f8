import { readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { ENGINE_NAMES, isEngineName } from "@matryoshka/engines";
import { LoadError } from "@matryoshka/machine";
import { describeOutcome, guestStatus, MAX_DEPTH, runGuest, summarizeLevel, type RunReport } from "@matryoshka/runner";

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

const USAGE = `usage: nested <kernel> [--depth N (0..${MAX_DEPTH}, default 1)] [--engine ${ENGINE_NAMES.join("|")}]`;

/** The report after the guest's console: the run, then what each hypervisor level did. */
export function levelReport(report: RunReport): string {
  const number = (value: number) => value.toLocaleString("en-US");
  const lines = [
    `nested: ${describeOutcome(report.outcome)} at depth ${report.depth} on ${report.engine}: ` +
      `${number(report.instructions)} instructions in ${report.wallMilliseconds.toFixed(1)} ms`,
  ];
  for (const level of report.levels.map(summarizeLevel)) {
    lines.push(`  L${level.level}: ${number(level.exitsHandled)} exits handled, ${number(level.reflected)} reflected, ${number(level.shadowFills)} shadow fills`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Runs a guest under `--depth` nested hypervisors with its console on stdout, then prints per
 * level the exits it handled and passed up. Returns the exit status: the guest's, as
 * `guestStatus` maps it, or 2 for bad input.
 */
export async function main(argv: string[], io: Io): Promise<number> {
  const usage = (message: string) => {
    io.stderr(`nested: ${message}\n${USAGE}\n`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { depth: { type: "string", default: "1" }, engine: { type: "string" } } });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1) return usage("expected one kernel file");
  const depth = Number(values.depth);
  if (!Number.isSafeInteger(depth) || depth < 0 || depth > MAX_DEPTH) return usage(`--depth must be an integer from 0 to ${MAX_DEPTH}`);
  if (values.engine !== undefined && !isEngineName(values.engine)) return usage(`--engine must be one of ${ENGINE_NAMES.join(", ")}`);
  const path = positionals[0]!;
  if (!statSync(path, { throwIfNoEntry: false })?.isFile()) return usage(`no kernel file ${path}`);
  let report: RunReport;
  try {
    report = await runGuest({
      kernel: new Uint8Array(readFileSync(path)),
      depth,
      engine: values.engine,
      console: (byte) => io.stdout(String.fromCharCode(byte)),
    });
  } catch (error) {
    if (error instanceof LoadError || error instanceof RangeError) return usage(error.message);
    throw error;
  }
  io.stderr(levelReport(report));
  return guestStatus(report.outcome);
}
