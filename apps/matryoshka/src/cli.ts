import { existsSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { qemuAvailability, qemuCommandLine, runOnQemu } from "@matryoshka/testkit";

/**
 * Exit statuses of `matryoshka` commands. Users script against them: keep them stable.
 * - 0: the guest passed (test device 0x5555 or HTIF pass)
 * - n: the guest failed with code n (test device `(n << 16) | 0x3333`, HTIF)
 * - 124: the instruction or time limit ran out (as `timeout(1)` does)
 * - 2: bad input (missing file, malformed ELF, out-of-range option); one line on stderr
 * - 3: the guest stopped the machine abnormally
 */
export const ExitStatus = {
  pass: 0,
  badInput: 2,
  abnormal: 3,
  limit: 124,
} as const;

/** A failure the user caused: printed as one line, exit status 2. */
export class UsageError extends Error {}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError("expected a positive integer");
  return parsed;
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
}

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export function buildProgram(io: Io, setStatus: (status: number) => void): Command {
  const program = new Command("matryoshka")
    .description("matryoshka: RISC-V machines and hypervisors, nested as deep as you like")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(false);

  program
    .command("oracle")
    .description("run a guest ELF on QEMU's riscv32 virt machine (the reference our machine is tested against)")
    .argument("<elf>", "guest ELF file")
    .option("--timeout <ms>", "wall-clock limit in milliseconds", positiveInteger, 20_000)
    .option("--smp <harts>", "number of harts", positiveInteger)
    .option("--print-command", "print the QEMU command line on stderr first")
    .action(async (elf: string, options: { timeout: number; smp?: number; printCommand?: boolean }) => {
      requireFile(elf, "guest ELF");
      const qemu = qemuAvailability();
      if (!qemu.available) throw new UsageError(qemu.reason);
      const extraArgs = options.smp ? ["-smp", String(options.smp)] : [];
      if (options.printCommand) io.stderr(`${qemuCommandLine(elf, { extraArgs }).join(" ")}\n`);
      const result = await runOnQemu(elf, { timeoutMs: options.timeout, extraArgs });
      io.stdout(result.output);
      if (result.timedOut) {
        io.stderr(`matryoshka: time limit of ${options.timeout} ms ran out\n`);
        setStatus(ExitStatus.limit);
      } else {
        setStatus(result.status ?? ExitStatus.abnormal);
      }
    });

  return program;
}

/** Runs the command line and returns the exit status; never throws for user errors. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
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

const defaultIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};
