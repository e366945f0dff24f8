import { InvalidArgumentError, type Command } from "commander";
import { closeSync, openSync, writeSync } from "node:fs";
import { FileBlockBackend, PcapDump, SocketNetBackend, parseMac, seededEntropy, type NetBackend } from "@matryoshka/devices";
import { guestStatus, MAX_DEPTH, runGuest, type RunReport } from "@matryoshka/runner";
import { integerIn } from "../arguments.js";
import { UsageError, usageErrorFromRun } from "../exit-status.js";
import { addGuestOptions, guestBoard, readGuestFiles, type GuestFlags } from "../guest-options.js";
import type { Io, SetStatus } from "../io.js";
import { statsTable } from "../run-view.js";

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

/** `matryoshka run <kernel>`: one guest, console on stdio, under `--depth` hypervisors; exits with the guest's status. */
export function addRunCommand(program: Command, io: Io, setStatus: SetStatus): void {
  const run = program
    .command("run")
    .description("boot a guest on the virt board (QEMU's -kernel, -bios, -append, -initrd) with its console on stdio")
    .argument("<kernel>", "ELF file, Linux RISC-V Image, or raw binary")
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
    .option("--stats", "print instructions, traps by cause and time on stderr at the end")
    .option(
      "--threads",
      "run the harts in parallel, each on its own worker thread (depth 0), or the VM's vCPUs (depth 1, trap-and-emulate); " +
        "output stays the same, the interleaving of harts no longer deterministic",
    )
    .action(async (kernelPath: string, options: GuestFlags & { depth: number; balloon?: number; stats?: boolean; threads?: boolean; net?: NetFlag; netDump?: string; rng?: boolean; rngSeed?: number; virtioConsole?: string }) => {
      const { kernel, bios, initrd } = readGuestFiles(kernelPath, options);
      if (options.netDump !== undefined && options.net === undefined) throw new UsageError("--net-dump records a network card's frames: give --net too");
      const disks = options.disk.map(({ path, slot }) => ({ backend: new FileBlockBackend(path), slot }));
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
      const input = io.input?.();
      let report: RunReport;
      try {
        report = await runGuest({
          kernel, bios, initrd, ...guestBoard(options), depth: options.depth,
          threads: options.threads,
          balloonMiB: options.balloon,
          disks,
          net: nic === undefined ? undefined : [{ backend: nic, mac: options.net?.mac }],
          rng,
          virtioConsole,
          console: io.console ?? ((byte) => io.stdout(String.fromCharCode(byte))),
          input,
        });
      } catch (error) {
        throw usageErrorFromRun(error);
      } finally {
        input?.close();
        for (const disk of disks) disk.backend.close();
        dump?.close();
        await socket?.end();
        if (consoleFile !== undefined) closeSync(consoleFile);
      }
      if (options.stats) io.stderr(`${statsTable(report, { color: io.stderrColour === true })}\n`);
      const outcome = report.outcome;
      if (outcome.kind === "limit") io.stderr(`matryoshka: instruction limit of ${options.maxInsns} reached\n`);
      else if (outcome.kind !== "pass" && outcome.kind !== "fail") {
        io.stderr(`matryoshka: the guest stopped the machine abnormally: ${"reason" in outcome ? outcome.reason : outcome.kind}\n`);
      }
      setStatus(guestStatus(outcome));
    });
}
