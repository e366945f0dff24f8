// Wires the commands, each in commands/, into one program, and turns what they throw into exit
// statuses (exit-status.ts).
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { addOracleCommand } from "./commands/oracle.js";
import { addPartitionCommand } from "./commands/partition.js";
import { addPopekGoldbergCommand } from "./commands/popek-goldberg.js";
import { addRunCommand } from "./commands/run.js";
import { addSweepCommand } from "./commands/sweep.js";
import { ExitStatus, UsageError } from "./exit-status.js";
import { processIo, type Io, type SetStatus } from "./io.js";

/** This package's version (src/ and dist/ both sit one folder below package.json). */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return `matryoshka ${manifest.version} (Node ${process.version})`;
}

export function buildProgram(io: Io, setStatus: SetStatus): Command {
  const program = new Command("matryoshka")
    .description("matryoshka: RISC-V machines and hypervisors, nested as deep as you like")
    .version(version(), "-V, --version", "print the version and exit")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(false);
  // In this order in `--help`.
  addRunCommand(program, io, setStatus);
  addSweepCommand(program, io, setStatus);
  addPartitionCommand(program, io, setStatus);
  addPopekGoldbergCommand(program, io, setStatus);
  addOracleCommand(program, io, setStatus);
  return program;
}

/** Runs the command line and returns the exit status; never throws for user errors. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let status: number = ExitStatus.pass;
  const program = buildProgram(io, (value) => {
    status = value;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version requests are not errors; commander already printed its message.
      return error.exitCode === 0 ? ExitStatus.pass : ExitStatus.badInput;
    }
    if (error instanceof UsageError) {
      io.stderr(`matryoshka: ${error.message}\n`);
      return ExitStatus.badInput;
    }
    throw error;
  }
}
