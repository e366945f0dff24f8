import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { FileBlockBackend } from "@matryoshka/devices";
import type { EngineName } from "@matryoshka/engines";
import { ENGINE_NAMES } from "@matryoshka/engines";
import type { IsaProfileName } from "@matryoshka/isa";
import { guestStatus, MAX_DEPTH, runGuest, type RunOptions, type RunReport } from "@matryoshka/runner";
import { loadRun, saveRun, SnapshotError, type LoadedRun } from "@matryoshka/snapshot";
import { integerIn, requireFile, requireWritablePath } from "../arguments.js";
import { UsageError, usageErrorFromRun } from "../exit-status.js";
import { addGuestOptions, guestBoard, readGuestFiles, type DiskFlag, type GuestFlags } from "../guest-options.js";
import type { Io, SetStatus } from "../io.js";
import { statsTable } from "../run-view.js";

type RunFlags = GuestFlags & {
  depth: number;
  stats?: boolean;
  threads?: boolean;
  snapshot?: string;
  snapshotAt?: number;
  restore?: string;
};

/** Options of `run` that describe the machine: a restore takes them from the snapshot instead. */
const MACHINE_FLAGS = ["bios", "append", "initrd", "depth", "harts", "mem", "pmp", "virtioVersion", "backend", "isaProfile"] as const;

/** `matryoshka run <kernel>`: one guest, console on stdio, under `--depth` hypervisors; exits with the guest's status. */
export function addRunCommand(program: Command, io: Io, setStatus: SetStatus): void {
  const run = program
    .command("run")
    .description("boot a guest on the virt board (QEMU's -kernel, -bios, -append, -initrd) with its console on stdio")
    .argument("[kernel]", "ELF file, Linux RISC-V Image, or raw binary (none with --restore)")
    .option("--depth <n>", `levels of hypervisor beneath the guest, 0..${MAX_DEPTH} (0: bare board)`, integerIn(0, MAX_DEPTH), 0);
  addGuestOptions(run)
    .option("--stats", "print instructions, traps by cause and time on stderr at the end")
    .option(
      "--threads",
      "run the harts in parallel, each on its own worker thread (depth 0), or the VM's vCPUs (depth 1, trap-and-emulate); " +
        "output stays the same, the interleaving of harts no longer deterministic",
    )
    .option("--snapshot <file>", "with --snapshot-at: save the whole machine (every level) to this file and exit 0")
    .option("--snapshot-at <n>", "machine time (instructions, as --max-insns counts them) at which --snapshot saves", integerIn(0, Number.MAX_SAFE_INTEGER))
    .option("--restore <file>", "continue the run a --snapshot file holds (the machine options come from it; --engine may differ)")
    .action(async (kernelPath: string | undefined, options: RunFlags, command: Command) => {
      const explicit = (name: string) => command.getOptionValueSource(name) === "cli";
      if (options.restore !== undefined) {
        if (kernelPath !== undefined) throw new UsageError("--restore continues the snapshot's own kernel: give no kernel");
        const given = MACHINE_FLAGS.filter(explicit);
        if (given.length > 0 || options.disk.length > 0) {
          throw new UsageError(`--restore takes the machine from the snapshot: drop ${[...given.map(flagName), ...(options.disk.length > 0 ? ["--disk"] : [])].join(", ")}`);
        }
        if (options.snapshot !== undefined || options.snapshotAt !== undefined) throw new UsageError("--restore and --snapshot do not go together (yet): restore, then snapshot the new run");
      } else if (kernelPath === undefined) {
        throw new UsageError("missing the kernel to run (or --restore FILE)");
      }
      if ((options.snapshot === undefined) !== (options.snapshotAt === undefined)) throw new UsageError("--snapshot FILE and --snapshot-at N go together");
      if (options.snapshot !== undefined && options.threads === true) throw new UsageError("--snapshot needs the deterministic run: drop --threads");
      if (options.snapshot !== undefined) requireWritablePath(options.snapshot, "snapshot file");
      if (options.restore !== undefined && options.threads === true) throw new UsageError("--restore runs deterministically: drop --threads");

      const loaded = options.restore === undefined ? undefined : readSnapshot(options.restore);
      const setup = loaded === undefined ? freshRun(kernelPath!, options) : restoredRun(loaded, options, explicit("engine"));
      const disks = setup.diskFlags.map(({ path, slot }) => ({ backend: new FileBlockBackend(path), slot }));
      const input = io.input?.();
      let report: RunReport;
      try {
        report = await runGuest({
          ...setup.options,
          threads: options.threads,
          disks,
          console: io.console ?? ((byte) => io.stdout(String.fromCharCode(byte))),
          input,
          pauseAt: options.snapshotAt,
          resume: loaded === undefined ? undefined : (stack) => loaded.restore(stack),
        });
      } catch (error) {
        if (error instanceof SnapshotError) throw new UsageError(`${options.restore}: ${error.message}`);
        throw usageErrorFromRun(error);
      } finally {
        input?.close();
        for (const disk of disks) disk.backend.close();
      }
      if (report.paused !== undefined) {
        let saved;
        try {
          saved = saveRun(report.paused, {
            ...setup.options,
            engine: report.engine,
            disks: setup.diskFlags,
          });
        } catch (error) {
          throw usageErrorFromRun(error);
        }
        writeFileSync(options.snapshot!, saved.bytes);
        io.stderr(
          `matryoshka: snapshot written to ${options.snapshot} at ${report.paused.machineTime} instructions of machine time ` +
            `(depth ${saved.config.depth}, ${saved.pages} RAM pages, ${saved.bytes.length} bytes)\n`,
        );
        if (options.stats) io.stderr(`${statsTable(report)}\n`);
        setStatus(0);
        return;
      }
      if (options.stats) io.stderr(`${statsTable(report)}\n`);
      const outcome = report.outcome;
      if (outcome.kind === "limit") io.stderr(`matryoshka: instruction limit of ${options.maxInsns} reached\n`);
      else if (outcome.kind !== "pass" && outcome.kind !== "fail") {
        io.stderr(`matryoshka: the guest stopped the machine abnormally: ${"reason" in outcome ? outcome.reason : outcome.kind}\n`);
      }
      setStatus(guestStatus(outcome));
    });
}

/** "virtioVersion" → "--virtio-version". */
function flagName(name: string): string {
  return `--${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

type RunSetup = { options: Omit<RunOptions, "console">; diskFlags: DiskFlag[] };

/** A run booted from the command line's kernel and options. */
function freshRun(kernelPath: string, options: RunFlags): RunSetup {
  const { kernel, bios, initrd } = readGuestFiles(kernelPath, options);
  return { options: { kernel, bios, initrd, ...guestBoard(options), depth: options.depth }, diskFlags: options.disk };
}

/** Reads and checks a snapshot file: anything wrong with it is one line and status 2. */
function readSnapshot(path: string): LoadedRun {
  requireFile(path, "snapshot file");
  try {
    return loadRun(new Uint8Array(readFileSync(path)));
  } catch (error) {
    if (error instanceof SnapshotError || error instanceof RangeError) throw new UsageError(`${path}: ${error.message}`);
    throw error;
  }
}

/** A run continued from a snapshot: the machine as the snapshot describes it, limits and engine from the command line. */
function restoredRun(loaded: LoadedRun, options: RunFlags, engineGiven: boolean): RunSetup {
  const config = loaded.config;
  const savedEngine = ENGINE_NAMES.find((name) => name === config.engine);
  if (savedEngine === undefined && !engineGiven) throw new UsageError(`the snapshot names engine "${config.engine}", which this build lacks: choose one with --engine`);
  const engine: EngineName = engineGiven ? options.engine! : savedEngine!;
  return {
    options: {
      kernel: loaded.kernel,
      bios: loaded.bios,
      initrd: loaded.initrd,
      append: config.append ?? undefined,
      depth: config.depth,
      engine,
      backend: config.backend,
      isaProfile: config.isaProfile as IsaProfileName,
      harts: config.harts,
      memoryMiB: config.memoryMiB,
      pmpEntries: config.pmpEntries,
      virtioVersion: config.virtioVersion,
      maxInstructions: options.maxInsns,
    },
    diskFlags: config.disks.map((disk) => ({ path: disk.path, slot: disk.slot ?? undefined })),
  };
}
