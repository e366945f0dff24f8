import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import Table from "cli-table3";
import { FileBlockBackend } from "@matryoshka/devices";
import { checkPopekGoldberg, ISA_PROFILES, type IsaProfileName } from "@matryoshka/isa";
import { LoadError } from "@matryoshka/machine";
import { ENGINE_NAMES, type EngineName } from "@matryoshka/engines";
import { DepthListError, guestStatus, MAX_DEPTH, parseDepths, runGuest, sweep, sweepJson, type InputSource, type VmBackend, type RunReport, type SweepResult } from "@matryoshka/runner";
import { loadPartitionConfig, PartitionConfigError, runPartitions } from "@matryoshka/partition";
import { qemuAvailability, qemuCommandLine, runOnQemu } from "@matryoshka/qemu-oracle";
import { streamInput } from "./input.js";
import { partitionJson, partitionSummary, partitionTable } from "./partition-view.js";
import { differenceReport, progressReporter, summaryLine, sweepTable } from "./sweep-view.js";

/**
 * Exit statuses of `matryoshka` commands. Users script against them: keep them stable.
 * - 0: the guest passed (test device 0x5555 or HTIF pass)
 * - n: the guest failed with code n (test device `(n << 16) | 0x3333`, HTIF)
 * - 124: the instruction or time limit ran out (as `timeout(1)` does)
 * - 2: bad input (missing file, malformed ELF, out-of-range option); one line on stderr
 * - 3: the guest stopped the machine abnormally
 *
 * `matryoshka sweep` runs a guest at many depths and exits with whether they agree, not with the
 * guest's own status (that is in its table and JSON, mapped as above):
 * - 0: at every depth the console output (byte for byte) and the guest's status equal the first depth's
 * - 1: some depth differs; stderr names the depths, the first differing line of output and/or
 *   the expected and actual status
 * - 2: bad input, as above (also a malformed or out-of-range --depths list, an unwritable --json file)
 *
 * `matryoshka partition` runs several VMs at once and exits with whether any guest failed:
 * - 0: no guest failed (those that finished passed; those still running when time was up count as fine)
 * - 1: some guest failed (test-device failure, or its board stopped abnormally)
 * - 2: the config does not fit or cannot be read (the message names the field), or bad options
 */
export const ExitStatus = {
  pass: 0,
  depthsDiffer: 1,
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

/** Guest options `run` and `sweep` share, as commander parses them. */
export interface GuestFlags {
  bios?: string;
  append?: string;
  initrd?: string;
  disk: string[];
  virtioVersion: number;
  harts: number;
  mem: number;
  pmp: number;
  maxInsns?: number;
  engine?: EngineName;
  backend: VmBackend;
  isaProfile: IsaProfileName;
}

/**
 * Adds the guest options `run` and `sweep` share (the board, its firmware, disks and limits);
 * `diskHelp` says what becomes of a disk file.
 */
export function addGuestOptions(command: Command, diskHelp = "written to, like QEMU"): Command {
  return command
    .option("--bios <file>", "M-mode firmware loaded at the start of RAM (e.g. OpenSBI fw_jump)")
    .option("--append <args>", "kernel command line (device tree /chosen/bootargs)")
    .option("--initrd <file>", "initial ramdisk (device tree /chosen/linux,initrd-*)")
    .option("--disk <file>", `raw disk image for a virtio-blk device (repeat for more; ${diskHelp})`, (value: string, list: string[]) => [...list, value], [] as string[])
    .option("--virtio-version <n>", "virtio-mmio transport: 1 legacy (QEMU's default), 2 modern", integerIn(1, 2), 1)
    .option("--harts <n>", "number of harts, 1..8", integerIn(1, 8), 1)
    .option("--mem <MiB>", "RAM size in MiB, 1..2047", integerIn(1, 2047), 128)
    .option("--pmp <n>", "PMP entries per hart, 0..64 (0: no PMP)", integerIn(0, 64), 16)
    .option("--max-insns <n>", "stop after this many instructions of machine time (status 124)", integerIn(1, Number.MAX_SAFE_INTEGER))
    .addOption(
      new Option(
        "--engine <name>",
        "execution engine of the hardware: interpreter, or bt (binary translation); the same output and counts either way " +
          "(default: bt with --backend bt, else $MATRYOSHKA_ENGINE, else interpreter)",
      ).choices(ENGINE_NAMES),
    )
    .addOption(
      new Option(
        "--backend <name>",
        "how each VM gets its guest's sensitive instructions: they trap (trap-and-emulate), the translator turns them into hypervisor calls (bt), " +
          "or the guest kernel asks (pv: it boots in S-mode with the hypervisor as its SBI firmware)",
      )
        .choices(["trap-and-emulate", "bt", "pv"])
        .default("trap-and-emulate"),
    )
    .addOption(
      new Option("--isa-profile <name>", "how the hardware treats sensitive instructions in U-mode: standard RISC-V, or not classically virtualizable (popf, pushf-popf)")
        .choices(Object.keys(ISA_PROFILES))
        .default("standard"),
    );
}

/**
 * The engine `--engine` names; without it, the translator if the bt backend needs it, else
 * MATRYOSHKA_ENGINE if it names an engine (the test suite runs on both), else the interpreter.
 */
function chooseEngine(flags: GuestFlags): EngineName {
  if (flags.engine !== undefined) return flags.engine;
  if (flags.backend === "bt") return "bt";
  const fromEnvironment = process.env.MATRYOSHKA_ENGINE;
  return ENGINE_NAMES.find((name) => name === fromEnvironment) ?? "interpreter";
}

/** Reads the kernel, firmware and initrd, and checks the disks exist (UsageError otherwise). */
/** The board and limits the shared guest options ask for, as `runGuest` and `sweep` take them. */
function guestBoard(flags: GuestFlags) {
  return {
    append: flags.append,
    harts: flags.harts,
    memoryMiB: flags.mem,
    pmpEntries: flags.pmp,
    maxInstructions: flags.maxInsns,
    engine: chooseEngine(flags),
    backend: flags.backend,
    isaProfile: flags.isaProfile,
    virtioVersion: flags.virtioVersion === 2 ? (2 as const) : (1 as const),
  };
}

export function readGuestFiles(kernelPath: string, flags: GuestFlags): { kernel: Uint8Array; bios?: Uint8Array; initrd?: Uint8Array } {
  const kernel = readInput(kernelPath, "kernel");
  if (flags.disk.length > 8) throw new UsageError("at most 8 disks (the board has 8 virtio-mmio slots)");
  for (const disk of flags.disk) requireFile(disk, "disk image");
  const bios = flags.bios === undefined ? undefined : readInput(flags.bios, "firmware");
  const initrd = flags.initrd === undefined ? undefined : readInput(flags.initrd, "initrd");
  return { kernel, bios, initrd };
}

/** What running a guest throws because of the user's input becomes a UsageError; anything else is a bug. */
export function usageErrorFromRun(error: unknown): unknown {
  if (error instanceof LoadError) return new UsageError(error.message);
  // Only building the stack throws RangeError (a stack too deep for the memory limit).
  if (error instanceof RangeError) return new UsageError(error.message);
  return error;
}

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Raw bytes for stdout (guest output shown by sweep); falls back to `stdout` as Latin-1. */
  write?: (bytes: Uint8Array) => void;
  /** Where sweep draws its progress bar when it is a terminal; otherwise one line per depth goes to `stderr`. */
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  /** True when stdout is a terminal (tables in colour). */
  stdoutIsTTY?: boolean;
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
  12: "instruction page fault", 13: "load page fault", 15: "store/AMO page fault", 22: "virtual instruction",
};
const INTERRUPT_NAMES: Record<number, string> = {
  1: "supervisor software", 3: "machine software", 5: "supervisor timer", 7: "machine timer",
  9: "supervisor external", 11: "machine external",
};

function statsTable(report: RunReport): string {
  const table = new Table({ head: ["statistic", "value"] });
  table.push(["engine", report.engine]);
  table.push(["instructions", report.instructions.toLocaleString("en-US")]);
  table.push(["wall time (ms)", report.wallMilliseconds.toFixed(1)]);
  if (report.resets > 0) table.push(["resets (rebooted)", report.resets.toLocaleString("en-US")]);
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

/** Short names of exit causes for the per-level table's columns. */
const EXIT_COLUMN_NAMES: Record<number, string> = {
  0: "misaligned fetch", 1: "fetch fault", 2: "illegal", 3: "ebreak", 4: "misaligned load", 5: "load fault",
  6: "misaligned store", 7: "store fault", 8: "ecall U", 9: "ecall S", 11: "ecall M",
  12: "fetch PF", 13: "load PF", 15: "store PF", 22: "bt call",
};

const SHORT_INTERRUPT_NAMES: Record<number, string> = { 1: "S soft", 3: "M soft", 5: "S timer", 7: "M timer", 9: "S ext", 11: "M ext" };

/**
 * Per hypervisor level, one row each (level 1 runs on the hardware, the last is the guest's own):
 * exits by cause, budget exits, instructions emulated, exits reflected to the level above, shadow
 * paging and injected interrupts. Rows, not columns, so that 30 levels stay readable.
 */
function levelsTable(report: RunReport): string {
  const levels = report.levels;
  const causes = new Set<number>();
  for (const level of levels) level.exits.byCause.forEach((count, cause) => count && causes.add(cause));
  const exitCauses = [...causes].sort((a, b) => a - b);
  const injected = new Set<number>();
  for (const level of levels) for (const cause of level.injectedInterrupts.keys()) injected.add(cause);
  const injectedCauses = [...injected].sort((a, b) => a - b);
  const table = new Table({
    head: [
      "level",
      ...exitCauses.map((cause) => `exit: ${EXIT_COLUMN_NAMES[cause] ?? `cause ${cause}`}`),
      "exit: budget", "emulated", "SBI calls", "reflected", "shadow fills", "flushes page/all", "roots",
      ...injectedCauses.map((cause) => `injected ${SHORT_INTERRUPT_NAMES[cause] ?? `irq ${cause}`}`),
    ],
    style: { compact: true },
  });
  const number = (value: number) => value.toLocaleString("en-US");
  for (const level of levels) {
    table.push([
      `L${level.level}`,
      ...exitCauses.map((cause) => number(level.exits.byCause[cause]!)),
      number(level.exits.budget),
      number(level.exits.emulated),
      number(level.exits.hypercalls),
      number(level.exits.reflected),
      number(level.shadow.fills),
      `${number(level.shadow.pageFlushes)}/${number(level.shadow.fullFlushes)}`,
      number(level.shadow.rootsCreated),
      ...injectedCauses.map((cause) => number(level.injectedInterrupts.get(cause) ?? 0)),
    ]);
  }
  return table.toString();
}

/** The `--depths` list, as commander parses it. */
function depthList(value: string): number[] {
  try {
    return parseDepths(value, MAX_DEPTH);
  } catch (error) {
    if (error instanceof DepthListError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/** Fails early (before a long sweep) when a file could not be created at `path`. */
function requireWritablePath(path: string, what: string): void {
  const directory = dirname(resolve(path));
  if (!existsSync(directory) || !statSync(directory).isDirectory()) throw new UsageError(`${what}: no such directory: ${directory}`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${what} is a directory: ${path}`);
}

function addSweepCommand(program: Command, io: Io, setStatus: (status: number) => void): void {
  const command = program
    .command("sweep")
    .description("run a guest at many nesting depths and check that its console output and status are the same at every depth")
    .argument("<kernel>", "ELF file, Linux RISC-V Image, or raw binary")
    .addOption(
      new Option("--depths <list>", `depths, ascending, 0..${MAX_DEPTH}: a range A..B, a comma list (0,1,2,5,30) or one number`)
        .argParser(depthList)
        .default(parseDepths("0..30"), "0..30"),
    );
  addGuestOptions(command, "each depth runs on a fresh copy")
    .option("--input <file>", "console input for the guest, the same bytes at every depth (stdin is not read)")
    .option("--json <file>", "also write the results, per depth and per level, as JSON")
    .option("--show-output", "print the first depth's console output before the table")
    .option("--no-warmup", "time the first depth cold (by default it runs once untimed first, so slowdowns are not skewed by start-up)")
    .action(async (kernelPath: string, options: GuestFlags & { depths: number[]; input?: string; json?: string; showOutput?: boolean; warmup: boolean }) => {
      const { kernel, bios, initrd } = readGuestFiles(kernelPath, options);
      const input = options.input === undefined ? undefined : readInput(options.input, "input file");
      if (options.json !== undefined) requireWritablePath(options.json, "--json file");
      const progress = progressReporter(io.progress, io.stderr);
      let result: SweepResult;
      try {
        result = await sweep({
          kernel, bios, initrd, ...guestBoard(options), depths: options.depths,
          // Each depth gets fresh temporary copies of the disks, removed afterwards.
          disks: options.disk,
          input,
          warmup: options.warmup,
          onProgress: progress.update,
        });
      } catch (error) {
        throw usageErrorFromRun(error);
      } finally {
        progress.stop();
      }
      if (options.showOutput) {
        const output = result.depths[0]!.output;
        if (io.write) io.write(output);
        else io.stdout(Buffer.from(output).toString("latin1"));
        if (output.length > 0 && output[output.length - 1] !== 0x0a) io.stdout("\n");
      }
      io.stdout(`${sweepTable(result, { color: io.stdoutIsTTY === true })}\n${summaryLine(result)}\n`);
      if (options.json !== undefined) {
        try {
          writeFileSync(options.json, `${JSON.stringify(sweepJson(result, kernelPath), null, 2)}\n`);
        } catch (error) {
          throw new UsageError(`cannot write --json file: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      if (result.identical) setStatus(ExitStatus.pass);
      else {
        io.stderr(differenceReport(result));
        setStatus(ExitStatus.depthsDiffer);
      }
    });
}

function addPartitionCommand(program: Command, io: Io, setStatus: (status: number) => void): void {
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
    .action(async (configPath: string, options: { engine?: EngineName; baseline?: boolean; json?: string; showOutput?: boolean }) => {
      if (options.json !== undefined) requireWritablePath(options.json, "--json file");
      try {
        const plan = loadPartitionConfig(configPath);
        const report = await runPartitions(plan, { engine: options.engine, baseline: options.baseline, onProgress: (text) => io.stderr(`partition: ${text}\n`) });
        io.stdout(`${partitionTable(report, { color: io.stdoutIsTTY === true })}\n${partitionSummary(report)}\n`);
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

export function buildProgram(io: Io, setStatus: (status: number) => void): Command {
  const program = new Command("matryoshka")
    .description("matryoshka: RISC-V machines and hypervisors, nested as deep as you like")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(false);

  const run = program
    .command("run")
    .description("boot a guest on the virt board (QEMU's -kernel, -bios, -append, -initrd) with its console on stdio")
    .argument("<kernel>", "ELF file, Linux RISC-V Image, or raw binary")
    .option("--depth <n>", `levels of hypervisor beneath the guest, 0..${MAX_DEPTH} (0: bare board)`, integerIn(0, MAX_DEPTH), 0);
  addGuestOptions(run)
    .option("--stats", "print instructions, traps by cause and time on stderr at the end")
    .option(
      "--threads",
      "run the harts in parallel, each on its own worker thread (depth 0), or the VM's vCPUs (depth 1, trap-and-emulate); " +
        "output stays the same, the interleaving of harts no longer deterministic",
    )
    .action(async (kernelPath: string, options: GuestFlags & { depth: number; stats?: boolean; threads?: boolean }) => {
      const { kernel, bios, initrd } = readGuestFiles(kernelPath, options);
      const disks = options.disk.map((path) => new FileBlockBackend(path));
      const input = io.input?.();
      let report: RunReport;
      try {
        report = await runGuest({
          kernel, bios, initrd, ...guestBoard(options), depth: options.depth,
          threads: options.threads,
          disks,
          console: io.console ?? ((byte) => io.stdout(String.fromCharCode(byte))),
          input,
        });
      } catch (error) {
        throw usageErrorFromRun(error);
      } finally {
        input?.close();
        for (const disk of disks) disk.close();
      }
      if (options.stats) io.stderr(`${statsTable(report)}\n`);
      const outcome = report.outcome;
      if (outcome.kind === "limit") io.stderr(`matryoshka: instruction limit of ${options.maxInsns} reached\n`);
      else if (outcome.kind !== "pass" && outcome.kind !== "fail") {
        io.stderr(`matryoshka: the guest stopped the machine abnormally: ${"reason" in outcome ? outcome.reason : outcome.kind}\n`);
      }
      setStatus(guestStatus(outcome));
    });

  addSweepCommand(program, io, setStatus);
  addPartitionCommand(program, io, setStatus);

  program
    .command("popek-goldberg")
    .description("check Popek and Goldberg's virtualization theorems on an ISA profile: 1 (a trap-and-emulate VMM exists) and 3 (a hybrid VMM exists)")
    .addOption(new Option("--isa-profile <name>", "the ISA profile to check").choices(Object.keys(ISA_PROFILES)).default("standard"))
    .option("--no-counters-trap", "the user counters (cycle, time, instret) are readable in U-mode (by default the VMM makes them trap)")
    .action((options: { isaProfile: IsaProfileName; countersTrap: boolean }) => {
      const report = checkPopekGoldberg(ISA_PROFILES[options.isaProfile], { countersTrap: options.countersTrap });
      const table = new Table({ head: ["theorem", "holds", "offending instructions"] });
      table.push(["1: sensitive ⊆ privileged (trap-and-emulate VMM)", report.theorem1.holds ? "yes" : "no", report.theorem1.offending.join(", ") || "-"]);
      table.push(["3: user-sensitive ⊆ privileged (hybrid VMM)", report.theorem3.holds ? "yes" : "no", report.theorem3.offending.join(", ") || "-"]);
      io.stdout(`ISA profile ${options.isaProfile}: ${ISA_PROFILES[options.isaProfile].description}\n${table.toString()}\n`);
      // Status 0: classically virtualizable (theorem 1 holds); 1: it is not.
      setStatus(report.theorem1.holds ? 0 : 1);
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
  write: (bytes) => process.stdout.write(bytes),
  progress: process.stderr,
  stdoutIsTTY: process.stdout.isTTY === true,
  console: bufferedConsole(),
  input: () => streamInput(process.stdin),
};
