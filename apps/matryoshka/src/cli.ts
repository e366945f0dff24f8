import { existsSync, readFileSync, statSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import Table from "cli-table3";
import { FileBlockBackend } from "@matryoshka/devices";
import { LoadError } from "@matryoshka/machine";
import { MAX_DEPTH, runGuest, type InputSource, type RunReport } from "@matryoshka/nested";
import { qemuAvailability, qemuCommandLine, runOnQemu } from "@matryoshka/testkit";
import { streamInput } from "./input.js";

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

function integerIn(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return parsed;
  };
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
  if (!statSync(path).isFile()) throw new UsageError(`${what} is not a file: ${path}`);
}

function readInput(path: string, what: string): Uint8Array {
  requireFile(path, what);
  return new Uint8Array(readFileSync(path));
}

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Raw console bytes from the guest. */
  console?: (byte: number) => void;
  /** Console input for the guest; none means the guest sees no input. */
  input?: () => InputSource & { close(): void };
}

/** Names of exception and interrupt causes (privileged spec 1.12, table 3.6). */
const EXCEPTION_NAMES: Record<number, string> = {
  0: "instruction address misaligned", 1: "instruction access fault", 2: "illegal instruction",
  3: "breakpoint", 4: "load address misaligned", 5: "load access fault", 6: "store/AMO address misaligned",
  7: "store/AMO access fault", 8: "ecall from U", 9: "ecall from S", 11: "ecall from M",
  12: "instruction page fault", 13: "load page fault", 15: "store/AMO page fault",
};
const INTERRUPT_NAMES: Record<number, string> = {
  1: "supervisor software", 3: "machine software", 5: "supervisor timer", 7: "machine timer",
  9: "supervisor external", 11: "machine external",
};

function statsTable(report: RunReport): string {
  const table = new Table({ head: ["statistic", "value"] });
  table.push(["instructions", report.instructions.toLocaleString("en-US")]);
  table.push(["wall time (ms)", report.wallMilliseconds.toFixed(1)]);
  table.push(["MIPS", (report.instructions / Math.max(report.wallMilliseconds, 0.001) / 1000).toFixed(1)]);
  for (const [cause, count] of [...report.exceptions].sort((a, b) => a[0] - b[0])) {
    table.push([`exception ${cause}: ${EXCEPTION_NAMES[cause] ?? "reserved"}`, count.toLocaleString("en-US")]);
  }
  for (const [cause, count] of [...report.interrupts].sort((a, b) => a[0] - b[0])) {
    table.push([`interrupt ${cause}: ${INTERRUPT_NAMES[cause] ?? "platform"}`, count.toLocaleString("en-US")]);
  }
  let text = table.toString();
  if (report.levels.length > 0) text += `\n${levelsTable(report)}`;
  return text;
}

/** Per hypervisor level: exits by reason, shadow paging and injected interrupts (level 1 runs on the hardware). */
function levelsTable(report: RunReport): string {
  const levels = report.levels;
  const table = new Table({ head: ["per level", ...levels.map((l) => `L${l.level}`)] });
  const row = (name: string, values: number[]) => table.push([name, ...values.map((v) => v.toLocaleString("en-US"))]);
  const causes = new Set<number>();
  for (const level of levels) level.exits.byCause.forEach((count, cause) => count && causes.add(cause));
  for (const cause of [...causes].sort((a, b) => a - b)) {
    row(`exit: ${EXCEPTION_NAMES[cause] ?? `cause ${cause}`}`, levels.map((l) => l.exits.byCause[cause]!));
  }
  row("exit: budget (deadline)", levels.map((l) => l.exits.budget));
  row("instructions emulated", levels.map((l) => l.exits.emulated));
  row("shadow fills", levels.map((l) => l.shadow.fills));
  row("shadow page flushes", levels.map((l) => l.shadow.pageFlushes));
  row("shadow full flushes", levels.map((l) => l.shadow.fullFlushes));
  row("shadow roots created", levels.map((l) => l.shadow.rootsCreated));
  const interrupts = new Set<number>();
  for (const level of levels) for (const cause of level.injectedInterrupts.keys()) interrupts.add(cause);
  for (const cause of [...interrupts].sort((a, b) => a - b)) {
    row(`injected: ${INTERRUPT_NAMES[cause] ?? `interrupt ${cause}`}`, levels.map((l) => l.injectedInterrupts.get(cause) ?? 0));
  }
  return table.toString();
}

export function buildProgram(io: Io, setStatus: (status: number) => void): Command {
  const program = new Command("matryoshka")
    .description("matryoshka: RISC-V machines and hypervisors, nested as deep as you like")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(false);

  program
    .command("run")
    .description("boot a guest on the virt board (QEMU's -kernel, -bios, -append, -initrd) with its console on stdio")
    .argument("<kernel>", "ELF file, Linux RISC-V Image, or raw binary")
    .option("--depth <n>", `levels of hypervisor beneath the guest, 0..${MAX_DEPTH} (0: bare board)`, integerIn(0, MAX_DEPTH), 0)
    .option("--bios <file>", "M-mode firmware loaded at the start of RAM (e.g. OpenSBI fw_jump)")
    .option("--append <args>", "kernel command line (device tree /chosen/bootargs)")
    .option("--initrd <file>", "initial ramdisk (device tree /chosen/linux,initrd-*)")
    .option("--disk <file>", "raw disk image for a virtio-blk device (repeat for more; written to, like QEMU)", (value: string, list: string[]) => [...list, value], [] as string[])
    .option("--virtio-version <n>", "virtio-mmio transport: 1 legacy (QEMU's default), 2 modern", integerIn(1, 2), 1)
    .option("--harts <n>", "number of harts, 1..8", integerIn(1, 8), 1)
    .option("--mem <MiB>", "RAM size in MiB, 1..2047", integerIn(1, 2047), 128)
    .option("--pmp <n>", "PMP entries per hart, 0..64 (0: no PMP)", integerIn(0, 64), 16)
    .option("--max-insns <n>", "stop after this many instructions of machine time (status 124)", integerIn(1, Number.MAX_SAFE_INTEGER))
    .option("--stats", "print instructions, traps by cause and time on stderr at the end")
    .action(async (kernelPath: string, options: { depth: number; bios?: string; append?: string; initrd?: string; disk: string[]; virtioVersion: number; harts: number; mem: number; pmp: number; maxInsns?: number; stats?: boolean }) => {
      const kernel = readInput(kernelPath, "kernel");
      if (options.disk.length > 8) throw new UsageError("at most 8 disks (the board has 8 virtio-mmio slots)");
      for (const disk of options.disk) requireFile(disk, "disk image");
      const disks = options.disk.map((path) => new FileBlockBackend(path));
      const bios = options.bios === undefined ? undefined : readInput(options.bios, "firmware");
      const initrd = options.initrd === undefined ? undefined : readInput(options.initrd, "initrd");
      const input = io.input?.();
      let report: RunReport;
      try {
        report = await runGuest({
          kernel, bios, initrd, append: options.append, depth: options.depth,
          harts: options.harts, memoryMiB: options.mem, pmpEntries: options.pmp,
          maxInstructions: options.maxInsns,
          disks,
          virtioVersion: options.virtioVersion === 2 ? 2 : 1,
          console: io.console ?? ((byte) => io.stdout(String.fromCharCode(byte))),
          input,
        });
      } catch (error) {
        if (error instanceof LoadError) throw new UsageError(error.message);
        // Only building the stack throws RangeError (a stack too deep for the memory limit).
        if (error instanceof RangeError) throw new UsageError(error.message);
        throw error;
      } finally {
        input?.close();
        for (const disk of disks) disk.close();
      }
      if (options.stats) io.stderr(`${statsTable(report)}\n`);
      const outcome = report.outcome;
      switch (outcome.kind) {
        case "pass": setStatus(ExitStatus.pass); break;
        case "fail": setStatus(outcome.code === 0 ? ExitStatus.abnormal : outcome.code & 0xff || ExitStatus.abnormal); break;
        case "limit":
          io.stderr(`matryoshka: instruction limit of ${options.maxInsns} reached\n`);
          setStatus(ExitStatus.limit);
          break;
        default:
          io.stderr(`matryoshka: the guest stopped the machine abnormally: ${"reason" in outcome ? outcome.reason : outcome.kind}\n`);
          setStatus(ExitStatus.abnormal);
      }
    });

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

/** Guest console bytes go to stdout in chunks, not one write per byte. */
function bufferedConsole(): (byte: number) => void {
  const buffer = Buffer.alloc(4096);
  let length = 0;
  const flush = () => {
    if (length > 0) process.stdout.write(Buffer.from(buffer.subarray(0, length)));
    length = 0;
  };
  process.on("exit", flush);
  let scheduled = false;
  return (byte) => {
    buffer[length++] = byte;
    if (length === buffer.length || byte === 0x0a) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        flush();
      });
    }
  };
}

const defaultIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  console: bufferedConsole(),
  input: () => streamInput(process.stdin),
};
