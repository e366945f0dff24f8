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
    if (error instanceof UsageError || hostFileError(error)) {
      io.stderr(reportFailure(error).message);
      return ExitStatus.badInput;
    }
    throw error;
  }
}

/** Codes of Node's file-system errors the user's environment causes (a file unreadable, a disk full). */
const HOST_FILE_ERRORS = new Set(["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "EROFS", "ENOSPC", "EDQUOT", "EFBIG", "EMFILE", "ENFILE", "ELOOP", "ENAMETOOLONG", "ERR_FS_FILE_TOO_LARGE"]);

function errorCode(error: unknown): unknown {
  return typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
}

/** A file the user named (or a copy of it) could not be read or written: their input, not our bug. */
function hostFileError(error: unknown): error is Error {
  return error instanceof Error && HOST_FILE_ERRORS.has(String(errorCode(error)));
}

/** A write to a pipe whose reader has gone. */
export function closedPipe(error: unknown): boolean {
  return errorCode(error) === "EPIPE" || errorCode(error) === "ERR_STREAM_DESTROYED";
}

/**
 * What a failure prints and the status it exits with: the user's errors one line and status 2;
 * anything else is a bug in matryoshka, and says so (with the stack, for the report).
 */
export function reportFailure(error: unknown): { status: number; message: string } {
  if (error instanceof UsageError || hostFileError(error)) {
    return { status: ExitStatus.badInput, message: `matryoshka: ${error.message.replace(/\s*\n\s*/g, " ")}\n` };
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { status: ExitStatus.internalError, message: `matryoshka: internal error (a bug in matryoshka, please report it): ${stack}\n` };
}
