import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { InvalidArgumentError, type Command } from "commander";
import { FileBlockBackend, PcapDump, SocketNetBackend, parseMac, seededEntropy, type NetBackend } from "@matryoshka/devices";
import type { EngineName } from "@matryoshka/engines";
import { ENGINE_NAMES } from "@matryoshka/engines";
import type { IsaProfileName } from "@matryoshka/isa";
import { guestDeviceTree, guestStatus, MAX_DEPTH, parseTrace, runGuest, TraceSpecError, type RunOptions, type RunReport, type TraceCategory } from "@matryoshka/runner";
import { loadRun, MigrationError, MigrationSource, parseTcpAddress, receiveMigration, saveRun, SnapshotError, type LoadedRun } from "@matryoshka/snapshot";
import { integerIn, optionalUserPath, requireFile, requireWritablePath } from "../arguments.js";
import { ExitStatus, failureCodeNote, UsageError, usageErrorFromRun } from "../exit-status.js";
import { ConsoleEscapes } from "../escapes.js";
import { GdbSession } from "../gdb.js";
import { addGuestOptions, guestBoard, readGuestFiles, resolveGuestPaths, type DiskFlag, type GuestFlags } from "../guest-options.js";
import type { Io, SetStatus } from "../io.js";
import { RunMonitor } from "../monitor.js";
import { runJson, statsTable } from "../run-view.js";

type RunFlags = GuestFlags & {
  depth: number;
  balloon?: number;
  stats?: boolean;
  threads?: boolean;
  snapshot?: string;
  snapshotAt?: number;
  restore?: string;
  incoming?: string;
  maxHostMem?: number;
  migrateTo?: string;
  migrateAt?: number;
  migrateLevel?: number;
  migrateDisks?: boolean;
  net?: NetFlag;
  netDump?: string;
  rng?: boolean;
  rngSeed?: number;
  virtioConsole?: string;
  gdb?: string;
  gdbWait?: boolean;
  gdbLevel?: number;
  dumpDtb?: string;
  json?: string;
  trace?: { categories: Set<TraceCategory>; level?: number };
  traceFile?: string;
};

/** Parses `--trace`: an unknown category is the user's input (status 2, the valid ones listed). */
function traceFlag(value: string): { categories: Set<TraceCategory>; level?: number } {
  try {
    return parseTrace(value);
  } catch (error) {
    if (error instanceof TraceSpecError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/**
 * Where trace lines go: a file descriptor, written in chunks (a line per write would be a system
 * call per instruction with `exec`), flushed when full and at the end of the run.
 */
class TraceWriter {
  private chunks: string[] = [];
  private length = 0;

  constructor(private readonly fd: number) {}

  write = (line: string): void => {
    this.chunks.push(line);
    this.length += line.length;
    if (this.length >= 65536) this.flush();
  };

  flush(): void {
    if (this.chunks.length === 0) return;
    const text = this.chunks.join("");
    this.chunks = [];
    this.length = 0;
    writeSync(this.fd, text);
  }
}

/** Exit statuses after a signal, as a shell reports a process the signal killed (128 + its number). */
const SIGNAL_STATUS = { SIGINT: ExitStatus.sigint, SIGTERM: ExitStatus.sigterm } as const;

/** A `--net` flag: a socket to listen on or connect to (QEMU's -netdev stream), and the card's MAC. */
export interface NetFlag {
  mode: "listen" | "connect";
  host: string;
  port: number;
  mac?: Uint8Array;
}

/** Parses `socket,listen=HOST:PORT` or `socket,connect=HOST:PORT`, with an optional `,mac=52:54:…`. */
export function netFlag(value: string): NetFlag {
  const [kind, ...parts] = value.split(",");
  if (kind !== "socket") throw new InvalidArgumentError(`unknown network backend "${kind}" (expected socket,listen=HOST:PORT or socket,connect=HOST:PORT)`);
  let endpoint: Pick<NetFlag, "mode" | "host" | "port"> | undefined;
  let mac: Uint8Array | undefined;
  for (const part of parts) {
    const equals = part.indexOf("=");
    const key = part.slice(0, equals);
    const text = part.slice(equals + 1);
    if (equals > 0 && (key === "listen" || key === "connect")) {
      if (endpoint !== undefined) throw new InvalidArgumentError("give one of listen= and connect=");
      const colon = text.lastIndexOf(":");
      const port = Number(text.slice(colon + 1));
      if (colon <= 0 || !/^\d+$/.test(text.slice(colon + 1)) || port > 65535) throw new InvalidArgumentError(`${key}= takes HOST:PORT (a port 0..65535), got "${text}"`);
      endpoint = { mode: key, host: text.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port };
    } else if (equals > 0 && key === "mac") {
      try {
        mac = parseMac(text);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    } else {
      throw new InvalidArgumentError(`unknown socket option "${part}" (expected listen=HOST:PORT, connect=HOST:PORT or mac=…)`);
    }
  }
  if (endpoint === undefined) throw new InvalidArgumentError("socket needs listen=HOST:PORT or connect=HOST:PORT");
  return { ...endpoint, mac };
}

/** A disk image opened for the guest to read and write; a file that cannot be is the user's input. */
function openDisk(path: string): FileBlockBackend {
  try {
    return new FileBlockBackend(path);
  } catch (error) {
    throw new UsageError(`cannot open disk image ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Options of `run` that describe the machine: a restore takes them from the snapshot instead. */
const MACHINE_FLAGS = ["bios", "append", "initrd", "depth", "harts", "mem", "pmp", "virtioVersion", "backend", "isaProfile"] as const;

/** `matryoshka run <kernel>`: one guest, console on stdio, under `--depth` hypervisors; exits with the guest's status. */
export function addRunCommand(program: Command, io: Io, setStatus: SetStatus): void {
  const run = program
    .command("run")
    .description("boot a guest on the virt board (QEMU's -kernel, -bios, -append, -initrd) with its console on stdio")
    .argument("[kernel]", "ELF file, Linux RISC-V Image, raw binary, or a bundled guest's name (hello, crc32, …; none with --restore)")
    .option("--depth <n>", `levels of hypervisor beneath the guest, 0..${MAX_DEPTH} (0: bare board)`, integerIn(0, MAX_DEPTH), 0);
  addGuestOptions(run)
    .option(
      "--balloon <MiB>",
      "give the guest's VM a virtio-balloon device (QEMU's -device virtio-balloon-device) asking the guest to give this much memory back (needs --depth 1 or more)",
      integerIn(0, 2047),
    )
    .option(
      "--net <socket,listen=HOST:PORT|socket,connect=HOST:PORT[,mac=MAC]>",
      "a virtio-net card on a TCP link to another matryoshka (or QEMU -netdev stream): each frame sent as a 4-byte big-endian length and the frame",
      netFlag,
    )
    .option("--net-dump <file>", "write every frame the card sends or receives to a pcap file (Wireshark, tcpdump)")
    .option("--rng", "a virtio-rng device fed by the host's cryptographic RNG")
    .option("--rng-seed <n>", "a virtio-rng device fed by a deterministic generator seeded with n (runs repeat exactly)", integerIn(0, 0xffff_ffff))
    .option("--virtio-console <file>", "a virtio-console port (Linux's hvc0) whose output is written to file")
    .option("--stats", "print instructions, traps by cause and time on stderr at the end (also after SIGINT or SIGTERM, then status 130 or 143)")
    .option("--json <file>", "write the --stats numbers to this file as JSON (schema in the CLI README), at the end or after SIGINT or SIGTERM")
    .option(
      "--trace <list>",
      "trace categories, comma-separated, as QEMU's -d: in_asm, exec, int, mmu, exits, virtio; level=K picks the level traced (default: the guest's own)",
      traceFlag,
    )
    .option("--trace-file <file>", "write the trace to this file instead of stderr (QEMU's -D)")
    .option("--dump-dtb <file>", "write the flattened device tree the guest would boot with (the innermost VM's at --depth > 0) to file and exit 0 without running (QEMU's -machine dumpdtb=file)")
    .option(
      "--threads",
      "run the harts in parallel, each on its own worker thread (depth 0), or the VM's vCPUs (depth 1, trap-and-emulate); " +
        "output stays the same, the interleaving of harts no longer deterministic",
    )
    .option("--snapshot <file>", "with --snapshot-at: save the whole machine (every level) to this file and exit 0")
    .option("--snapshot-at <n>", "machine time (instructions, as --max-insns counts them) at which --snapshot saves", integerIn(0, Number.MAX_SAFE_INTEGER))
    .option("--restore <file>", "continue the run a --snapshot file holds (the machine options come from it; --engine may differ)")
    .option("--incoming <tcp:HOST:PORT>", "wait for a live migration there (port 0: any free port, printed on stderr), then run the guest it brings")
    .option("--max-host-mem <MiB>", "with --incoming: refuse a VM whose stack would need more host memory than this", integerIn(1, 2047))
    .option("--migrate-to <tcp:HOST:PORT>", "with --migrate-at: live-migrate the VM to a destination started with --incoming, then exit 0")
    .option("--migrate-at <n>", "machine time (instructions) at which pre-copy starts", integerIn(0, Number.MAX_SAFE_INTEGER))
    .option("--migrate-level <k>", "the level whose VM moves, with everything nested inside it (default 1)", integerIn(1, MAX_DEPTH))
    .option("--migrate-disks", "copy the disk images too (default: shared storage, checked by content hash)")
    .option("--gdb <tcp:HOST:PORT>", "serve the GDB remote protocol there (QEMU's -gdb; port 0: any free port, printed on stderr)")
    .option("--gdb-wait", "with --gdb: do not run the guest until gdb continues it (QEMU's -S)")
    .option("--gdb-level <k>", "with --gdb: debug the harts of level k (0: the machine) instead of the guest's own (level --depth)", integerIn(0, MAX_DEPTH))
    .action(async (givenKernelPath: string | undefined, options: RunFlags, command: Command) => {
      // Paths are the user's, from the folder they ran `pnpm matryoshka` in (the kernel's too:
      // `kernelFile` resolves it, or takes it as a bundled guest's name).
      const kernelPath = givenKernelPath;
      resolveGuestPaths(options);
      for (const key of ["snapshot", "restore", "netDump", "virtioConsole", "dumpDtb", "json", "traceFile"] as const) options[key] = optionalUserPath(options[key]);
      const explicit = (name: string) => command.getOptionValueSource(name) === "cli";
      const arriving = options.restore !== undefined ? "--restore" : options.incoming !== undefined ? "--incoming" : undefined;
      if (options.restore !== undefined && options.incoming !== undefined) throw new UsageError("--restore and --incoming do not go together");
      if (arriving !== undefined) {
        if (kernelPath !== undefined) throw new UsageError(`${arriving} continues the guest it brings: give no kernel`);
        const given = MACHINE_FLAGS.filter(explicit);
        if (given.length > 0 || (options.disk.length > 0 && options.incoming === undefined)) {
          throw new UsageError(`${arriving} takes the machine from what it brings: drop ${[...given.map(flagName), ...(options.disk.length > 0 ? ["--disk"] : [])].join(", ")}`);
        }
        if (options.snapshot !== undefined || options.migrateTo !== undefined) throw new UsageError(`${arriving} does not go with --snapshot or --migrate-to (yet): continue the guest, then save or move the new run`);
        if (options.threads === true) throw new UsageError(`${arriving} runs deterministically: drop --threads`);
      } else if (kernelPath === undefined) {
        throw new UsageError("missing the kernel to run (or --restore FILE, or --incoming tcp:HOST:PORT)");
      }
      if (options.maxHostMem !== undefined && options.incoming === undefined) throw new UsageError("--max-host-mem is for --incoming");
      if ((options.migrateTo === undefined) !== (options.migrateAt === undefined)) throw new UsageError("--migrate-to tcp:HOST:PORT and --migrate-at N go together");
      if (options.migrateTo === undefined && (options.migrateLevel !== undefined || options.migrateDisks === true)) throw new UsageError("--migrate-level and --migrate-disks need --migrate-to");
      const target = options.migrateTo === undefined ? undefined : tcpAddress(options.migrateTo);
      if (target !== undefined) {
        if (options.depth < 1) throw new UsageError("live migration moves a VM: run the guest with --depth 1 or more");
        if ((options.migrateLevel ?? 1) > options.depth) throw new UsageError(`--migrate-level ${options.migrateLevel} is deeper than --depth ${options.depth}`);
        if (options.threads === true || options.snapshot !== undefined) throw new UsageError("--migrate-to does not go with --threads or --snapshot");
      }
      if ((options.snapshot === undefined) !== (options.snapshotAt === undefined)) throw new UsageError("--snapshot FILE and --snapshot-at N go together");
      if (options.snapshot !== undefined && options.threads === true) throw new UsageError("--snapshot needs the deterministic run: drop --threads");
      if (options.snapshot !== undefined) requireWritablePath(options.snapshot, "snapshot file");
      if (options.restore !== undefined && options.threads === true) throw new UsageError("--restore runs deterministically: drop --threads");
      if (options.balloon !== undefined && (options.snapshot !== undefined || target !== undefined)) {
        throw new UsageError("--balloon does not go with --snapshot or --migrate-to (yet): a snapshot does not hold the balloon's state");
      }
      const extras = options.net !== undefined || options.rng === true || options.rngSeed !== undefined || options.virtioConsole !== undefined;
      if (extras && (arriving !== undefined || options.snapshot !== undefined || target !== undefined)) {
        throw new UsageError("--net, --rng and --virtio-console do not go with snapshots or migration (yet): a snapshot does not hold their state");
      }
      if (options.netDump !== undefined && options.net === undefined) throw new UsageError("--net-dump records a network card's frames: give --net too");
      if (options.gdb === undefined && (options.gdbWait === true || options.gdbLevel !== undefined)) throw new UsageError("--gdb-wait and --gdb-level need --gdb tcp:HOST:PORT");
      const gdbAddress = options.gdb === undefined ? undefined : tcpAddress(options.gdb);
      if (gdbAddress !== undefined) {
        if (options.threads === true) throw new UsageError("--gdb needs the deterministic run: drop --threads");
        if (arriving !== undefined || options.snapshot !== undefined || target !== undefined) throw new UsageError("--gdb does not go with snapshots or migration (yet)");
        if (options.gdbLevel !== undefined && options.gdbLevel > options.depth) throw new UsageError(`--gdb-level ${options.gdbLevel} is deeper than --depth ${options.depth}`);
      }
      if (options.json !== undefined) requireWritablePath(options.json, "--json file");
      if (options.traceFile !== undefined && options.trace === undefined) throw new UsageError("--trace-file says where --trace writes: give --trace too");
      if (options.trace !== undefined && options.threads === true) throw new UsageError("--trace needs the deterministic run: drop --threads");
      if (options.trace?.level !== undefined && options.trace.level > options.depth) throw new UsageError(`--trace level=${options.trace.level} is deeper than --depth ${options.depth}`);
      if (options.trace?.categories.has("exits") && (options.trace.level ?? options.depth) === 0) throw new UsageError("--trace exits traces a VM's exits: give --depth 1 or more (and a level of 1 or more)");
      if (options.dumpDtb !== undefined) {
        if (arriving !== undefined) throw new UsageError(`--dump-dtb describes the board a kernel boots on: drop ${arriving}`);
        requireWritablePath(options.dumpDtb, "--dump-dtb file");
        dumpDeviceTree(kernelPath!, options);
        setStatus(0);
        return;
      }

      const loaded = options.restore !== undefined ? readSnapshot(options.restore) : options.incoming !== undefined ? await incoming(options, io) : undefined;
      const setup = loaded === undefined ? freshRun(kernelPath!, options) : restoredRun(loaded, options, explicit("engine"));
      const disks: { backend: FileBlockBackend; slot?: number }[] = [];
      try {
        for (const { path, slot } of setup.diskFlags) disks.push({ backend: openDisk(path), slot });
      } catch (error) {
        for (const disk of disks) disk.backend.close();
        throw error;
      }
      const rng = options.rngSeed !== undefined ? { entropy: seededEntropy(options.rngSeed) } : options.rng ? {} : undefined;
      let consoleFile: number | undefined;
      if (options.virtioConsole !== undefined) {
        try {
          consoleFile = openSync(options.virtioConsole, "w");
        } catch (error) {
          throw new UsageError(`--virtio-console: ${(error as Error).message}`);
        }
      }
      const fileDescriptor = consoleFile;
      const virtioConsole = fileDescriptor === undefined ? undefined : { output: (bytes: Uint8Array) => void writeSync(fileDescriptor, bytes) };
      let socket: SocketNetBackend | undefined;
      let dump: PcapDump | undefined;
      let nic: NetBackend | undefined;
      if (options.net !== undefined) {
        socket = new SocketNetBackend({ mode: options.net.mode, host: options.net.host, port: options.net.port });
        try {
          const address = await socket.ready;
          if (options.net.mode === "listen") io.stderr(`matryoshka: listening for a network peer on ${address.host}:${address.port}\n`);
        } catch (error) {
          socket.close();
          for (const disk of disks) disk.backend.close();
          throw new UsageError(`--net: ${(error as Error).message}`);
        }
        nic = socket;
        if (options.netDump !== undefined) nic = dump = new PcapDump(socket, options.netDump);
      }
      const source = target === undefined ? undefined : new MigrationSource({
        ...setup.options,
        ...target,
        engine: setup.options.engine ?? "interpreter",
        at: options.migrateAt!,
        level: options.migrateLevel,
        copyDisks: options.migrateDisks === true,
        disks: setup.diskFlags,
        log: (line) => io.stderr(`matryoshka: ${line}\n`),
      });
      let gdb: GdbSession | undefined;
      if (gdbAddress !== undefined) {
        try {
          gdb = await GdbSession.listen(gdbAddress.host, gdbAddress.port, { wait: options.gdbWait === true, level: options.gdbLevel });
        } catch (error) {
          socket?.close();
          for (const disk of disks) disk.backend.close();
          throw new UsageError(`--gdb: ${(error as Error).message}`);
        }
        io.stderr(`gdb: waiting on tcp:${gdb.host}:${gdb.port}\n`);
      }
      // Ctrl-A escapes on a terminal (QEMU's -nographic), its monitor, and the signals that end the
      // run with a summary: each ends the run at the next slice boundary, where its state is whole.
      const monitor = new RunMonitor((text) => io.stderr(text), (partial) => statsTable(partial, { color: io.stderrColour === true, width: io.stderrColumns }));
      const escapes = new ConsoleEscapes({
        quit: () => {
          monitor.end("quit");
          input?.interrupt();
        },
        print: (text) => io.stderr(text),
        command: (line) => {
          monitor.command(line);
          if (monitor.endedBy !== undefined) input?.interrupt();
        },
      });
      const input = io.input?.({ escapes: (bytes) => escapes.filter(bytes) });
      let traceFd: number | undefined;
      if (options.traceFile !== undefined) {
        try {
          traceFd = openSync(options.traceFile, "w");
        } catch (error) {
          input?.close();
          throw new UsageError(`--trace-file: ${(error as Error).message}`);
        }
      }
      const tracer = options.trace === undefined ? undefined : new TraceWriter(traceFd ?? 2);
      const summaryOnSignal = options.stats === true || options.json !== undefined;
      const onSignal = (signal: keyof typeof SIGNAL_STATUS) => {
        if (options.threads === true) {
          // Worker threads run to the end of the guest without slice boundaries: no summary to stop at.
          io.stderr(`matryoshka: interrupted by ${signal} (no summary with --threads)\n`);
          process.exit(SIGNAL_STATUS[signal]);
        }
        monitor.end(signal);
        input?.interrupt();
      };
      const onSigint = () => onSignal("SIGINT");
      const onSigterm = () => onSignal("SIGTERM");
      if (summaryOnSignal) {
        process.on("SIGINT", onSigint);
        process.on("SIGTERM", onSigterm);
      }
      let report: RunReport;
      try {
        report = await runGuest({
          ...setup.options,
          threads: options.threads,
          balloonMiB: options.balloon,
          disks,
          net: nic === undefined ? undefined : [{ backend: nic, mac: options.net?.mac }],
          rng,
          virtioConsole,
          console: io.console ?? ((byte) => io.stdout(String.fromCharCode(byte))),
          input,
          pauseAt: options.snapshotAt,
          resume: loaded === undefined ? undefined : (stack) => loaded.restore(stack),
          trace: tracer === undefined ? undefined : { ...options.trace!, write: tracer.write },
          afterSlice: async (run) =>
            (await monitor.between(run)) || (gdb !== undefined && (await gdb.afterSlice())) || (source !== undefined && (await source.afterSlice(run))),
          onStack: gdb?.onStack,
          // Pre-copy rounds go between slices: shorter ones, so that each round has less to send.
          // A guest of several harts keeps the run's own slices: their boundaries cut rounds of the
          // harts' interleaving short, and the destination continues with the default ones.
          sliceInstructions: gdb !== undefined ? GdbSession.SLICE : source === undefined || (setup.options.harts ?? 1) > 1 ? undefined : MIGRATION_SLICE,
        });
        gdb?.ended(report.outcome);
      } catch (error) {
        if (error instanceof SnapshotError) throw new UsageError(`${options.restore}: ${error.message}`);
        throw usageErrorFromRun(error);
      } finally {
        await gdb?.close();
        tracer?.flush();
        if (traceFd !== undefined) closeSync(traceFd);
        process.off("SIGINT", onSigint);
        process.off("SIGTERM", onSigterm);
        input?.close();
        for (const disk of disks) disk.backend.close();
        dump?.close();
        await socket?.end();
        if (consoleFile !== undefined) closeSync(consoleFile);
      }
      const table = () => statsTable(report, { color: io.stderrColour === true, width: io.stderrColumns });
      const writeJson = (status: number, interrupted?: string) => {
        if (options.json === undefined) return;
        try {
          writeFileSync(options.json, `${JSON.stringify(runJson(report, { backend: setup.options.backend ?? "trap-and-emulate", status, interrupted }), null, 2)}\n`);
        } catch (error) {
          throw new UsageError(`cannot write --json file: ${error instanceof Error ? error.message : String(error)}`);
        }
      };
      if (monitor.endedBy !== undefined) {
        // Ended by Ctrl-A x (status 0, as QEMU's own C-a x) or by a signal (128 + its number, as a shell shows it).
        const signal = monitor.endedBy as keyof typeof SIGNAL_STATUS;
        const status = signal in SIGNAL_STATUS ? SIGNAL_STATUS[signal] : 0;
        io.stderr(status === 0 ? "matryoshka: terminated\n" : `matryoshka: interrupted by ${signal}\n`);
        if (options.stats) io.stderr(`${table()}\n`);
        writeJson(status, monitor.endedBy);
        setStatus(status);
        return;
      }
      if (report.paused !== undefined && source?.report !== undefined) {
        const moved = source.report;
        const speed = report.instructions / Math.max(report.wallMilliseconds, 0.001);
        io.stderr(
          `matryoshka: migrated level ${options.migrateLevel ?? 1} to ${options.migrateTo} at ${moved.stoppedAt} instructions of machine time: ` +
            `${moved.rounds} rounds, ${moved.pagesSent} pages sent, downtime ${moved.downtimeMilliseconds.toFixed(1)} ms ` +
            `(about ${Math.round(moved.downtimeMilliseconds * speed)} guest instructions at this run's speed; machine time stood still), total ${moved.totalMilliseconds.toFixed(1)} ms\n`,
        );
        if (options.stats) io.stderr(`${table()}\n`);
        writeJson(0);
        setStatus(0);
        return;
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
        if (options.stats) io.stderr(`${table()}\n`);
        writeJson(0);
        setStatus(0);
        return;
      }
      if (source !== undefined && !source.began) io.stderr(`matryoshka: the guest ended before --migrate-at ${options.migrateAt}: nothing was migrated\n`);
      if (options.stats) io.stderr(`${table()}\n`);
      const outcome = report.outcome;
      if (outcome.kind === "limit") io.stderr(`matryoshka: instruction limit of ${options.maxInsns} reached\n`);
      else if (outcome.kind !== "pass" && outcome.kind !== "fail") {
        io.stderr(`matryoshka: the guest stopped the machine abnormally: ${"reason" in outcome ? outcome.reason : outcome.kind}\n`);
      }
      const status = guestStatus(outcome);
      if (outcome.kind === "fail") {
        const note = failureCodeNote(outcome.code, status);
        if (note !== undefined) io.stderr(note);
      }
      writeJson(status);
      setStatus(status);
    });
}

/** `--dump-dtb`: the guest's device tree, written without running anything. */
function dumpDeviceTree(kernelPath: string, options: RunFlags): void {
  const { options: run } = freshRun(kernelPath, options);
  let fdt: Uint8Array;
  try {
    fdt = guestDeviceTree({ ...run, balloonMiB: options.balloon, console: () => {} });
  } catch (error) {
    throw usageErrorFromRun(error);
  }
  try {
    writeFileSync(options.dumpDtb!, fdt);
  } catch (error) {
    throw new UsageError(`cannot write --dump-dtb file: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Instructions between pre-copy rounds. */
const MIGRATION_SLICE = 200_000;

function tcpAddress(text: string): { host: string; port: number } {
  try {
    return parseTcpAddress(text);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** `--incoming`: waits for one migration, says where on stderr, and returns what it brought. */
async function incoming(options: RunFlags, io: Io): Promise<LoadedRun> {
  const { host, port } = tcpAddress(options.incoming!);
  for (const disk of options.disk) requireWritablePath(disk.path, "disk image");
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new UsageError(`cannot listen on ${host}:${port}: ${error.message}`)));
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  io.stderr(`matryoshka: waiting for an incoming migration on tcp:${host}:${address.port}\n`);
  const socket = await new Promise<Socket>((resolve) => server.once("connection", resolve));
  server.close();
  try {
    return await receiveMigration(socket, { maxHostMemoryMiB: options.maxHostMem, diskPaths: options.disk.map((disk) => disk.path) });
  } catch (error) {
    socket.destroy();
    if (error instanceof MigrationError || error instanceof SnapshotError || error instanceof RangeError) throw new UsageError(`incoming migration: ${error.message}`);
    throw error;
  }
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
