// Networking benchmark for `pnpm bench`: net-ping and net-echo (guests/net-ping/README.md) on one
// learning switch in this process, each under `depth` hypervisors, run in turns of 20,000
// instructions; and, where QEMU is installed, the same two guests in two QEMU processes joined by
// `-netdev socket` (a TCP link), so that each figure has a QEMU ratio from the same run.
//
// Two measurements, both with net-ping's bulk mode (its `params` symbol, patched into the ELF):
// - throughput: a stream of full-size frames (1514 bytes), 8 unanswered at most (the receive
//   rings' size), each echoed back; Mbit/s counts the frames' bits one way (the echo carries as
//   many back);
// - round trip: the same stream with one frame in flight and 60-byte frames.
// Our time is host wall time of the whole exchange (boot and the first ping included: a few
// thousand instructions); QEMU's is the guest's own: mtime ticks (10 MHz of host time on QEMU's
// virt board) around the stream, so QEMU's start-up is not in it. Medians of interleaved rounds.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import Table from "cli-table3";
import { join } from "node:path";
import { NetSwitch, defaultMac } from "@matryoshka/devices";
import { createEngine, type EngineName } from "@matryoshka/engines";
import { parseElf } from "@matryoshka/machine";
import { buildStack } from "@matryoshka/runner";
import { guestPath, qemuAvailability, qemuCommandLine } from "@matryoshka/testkit";

const SLICE = 20_000;
/** QEMU virt's timebase (its device tree's timebase-frequency). */
const QEMU_TIMER_HZ = 10_000_000;

/** What net-ping streams: `frames` frames of `frameBytes`, at most `window` unanswered. */
export interface NetStream {
  frames: number;
  window: number;
  frameBytes: number;
}

/** Full-size frames, as many in flight as the rings hold. */
export const THROUGHPUT: NetStream = { frames: 256, window: 8, frameBytes: 1514 };
/** Small frames, one at a time. */
export const ROUND_TRIP: NetStream = { frames: 64, window: 1, frameBytes: 60 };

/** net-ping's ELF with its `params` (bulk_frames, window, frame_bytes) set to `stream`. */
export function netPingWith(stream: NetStream): Uint8Array {
  const elf = new Uint8Array(readFileSync(guestPath("net-ping")));
  const image = parseElf(elf);
  const params = image.symbols.get("params");
  if (params === undefined) throw new Error("net-ping has no params symbol");
  const segment = image.segments.find((s) => params.value >= s.vaddr && params.value + 12 <= s.vaddr + s.data.length);
  if (segment === undefined) throw new Error("net-ping's params are not in a loaded segment's file bytes");
  const view = new DataView(segment.data.buffer, segment.data.byteOffset + (params.value - segment.vaddr), 12);
  [stream.frames, stream.window, stream.frameBytes].forEach((word, i) => view.setUint32(4 * i, word, true));
  return elf;
}

/** The line net-ping prints after the stream, and the timer ticks in it. */
function streamTicks(output: string, stream: NetStream, where: string): number {
  const match = /net-ping: bulk: (\d+)\/(\d+) frames of (\d+) bytes echoed, window (\d+), (\d+) timer ticks/.exec(output);
  if (match === null || Number(match[1]) !== stream.frames) throw new Error(`net bench (${where}): the stream did not finish: ${output}`);
  return Number(match[5]);
}

/** Wall milliseconds of one exchange of the two guests at `depth` on one switch in this process. */
function exchange(depth: number, engine: EngineName, stream: NetStream): number {
  const lan = new NetSwitch("bench");
  let output = "";
  const kernels = [new Uint8Array(readFileSync(guestPath("net-echo"))), netPingWith(stream)];
  const stacks = kernels.map((kernel, i) => {
    const stack = buildStack(depth, {
      memoryMiB: 16,
      engine: createEngine(engine),
      console: (b) => (output += String.fromCharCode(b)),
      net: [{ backend: lan.port(), mac: defaultMac(i) }],
    });
    (stack.vms.at(-1) ?? stack.guest).boot({ kernel });
    return stack;
  });
  const started = performance.now();
  const done = [false, false];
  while (!done[0] || !done[1]) {
    stacks.forEach((stack, i) => {
      if (done[i]) return;
      const outcome = stack.guest.run(SLICE);
      if (outcome.kind === "pass") done[i] = true;
      else if (outcome.kind !== "limit") throw new Error(`net bench: ${i === 0 ? "net-echo" : "net-ping"} at depth ${depth} ended ${JSON.stringify(outcome)}: ${output}`);
    });
  }
  const wall = performance.now() - started;
  streamTicks(output, stream, `depth ${depth}`);
  return wall;
}

/** A TCP port nobody listens on now (QEMU's listener takes it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface QemuRun {
  status: number | null;
  output: string;
  stderr: string;
}

function runQemu(args: string[], onStart?: (kill: () => void) => void): Promise<QemuRun> {
  return new Promise((resolve, reject) => {
    const [binary, ...rest] = args;
    const child = spawn(binary!, rest, { stdio: ["ignore", "pipe", "pipe"] });
    onStart?.(() => child.kill("SIGKILL"));
    let output = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output, stderr });
    });
  });
}

/**
 * Milliseconds the stream takes between two QEMU processes: net-echo listening on a TCP port
 * (`-netdev socket,listen=`), net-ping connecting to it; the time is net-ping's own measurement.
 */
async function qemuExchange(stream: NetStream, scratch: string): Promise<number> {
  const pingPath = join(scratch, `net-ping-${stream.frames}-${stream.window}-${stream.frameBytes}.elf`);
  writeFileSync(pingPath, netPingWith(stream));
  const port = await freePort();
  const nic = (netdev: string, mac: string) => ["-netdev", `socket,id=n0,${netdev}`, "-device", `virtio-net-device,netdev=n0,mac=${mac}`];
  let killEcho = () => {};
  const echo = runQemu(qemuCommandLine(guestPath("net-echo"), { memoryMiB: 16, extraArgs: nic(`listen=127.0.0.1:${port}`, "52:54:00:12:34:56") }), (kill) => (killEcho = kill));
  // The listener may not be up yet: connect again while QEMU says the connection was refused.
  for (let attempt = 0; ; attempt++) {
    const ping = await runQemu(qemuCommandLine(pingPath, { memoryMiB: 16, extraArgs: nic(`connect=127.0.0.1:${port}`, "52:54:00:12:34:57") }));
    if (ping.status !== 0 && /refused/i.test(ping.stderr) && attempt < 50) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    // net-ping's "MTRYBYE!" can be lost: QEMU exits at once, and closing a TCP socket with
    // unread data resets the connection. The time is net-ping's, so a lingering echo is killed.
    const lingering = setTimeout(killEcho, ping.status === 0 ? 5_000 : 0);
    const echoed = await echo;
    clearTimeout(lingering);
    if (ping.status !== 0) throw new Error(`net bench (QEMU): net-ping ${ping.status}, net-echo ${echoed.status}: ${ping.output}${ping.stderr}${echoed.output}${echoed.stderr}`);
    return (streamTicks(ping.output, stream, "QEMU") / QEMU_TIMER_HZ) * 1000;
  }
}

/**
 * qemuExchange, tried again when it fails: on a loaded machine a QEMU pair now and then misses
 * the first ping's replies altogether (seen once in a few dozen runs; not with matryoshka's pair).
 */
async function qemuExchangeRetried(stream: NetStream, scratch: string, attempts = 3): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await qemuExchange(stream, scratch);
    } catch (error) {
      if (attempt >= attempts) throw error;
      console.log(`(QEMU pair failed, trying again: ${(error as Error).message.split("\n")[0]})`);
    }
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export interface NetBenchRow {
  /** Depth of each VM; undefined for the QEMU pair. */
  depth: number | undefined;
  engine: EngineName | "QEMU";
  /** Median wall milliseconds of the full-size stream, and its Mbit/s one way. */
  throughputMs: number;
  mbits: number;
  /** Median wall microseconds per round trip of a 60-byte frame (one in flight). */
  roundTripMicros: number;
}

const mbitsOf = (ms: number) => (THROUGHPUT.frames * THROUGHPUT.frameBytes * 8) / (ms / 1000) / 1e6;
const microsPerTrip = (ms: number) => (ms * 1000) / ROUND_TRIP.frames;

export async function benchNet(depths: readonly number[] = [1, 5], engine: EngineName = "bt", rounds = 3, withQemu = qemuAvailability().available): Promise<NetBenchRow[]> {
  for (const depth of depths) exchange(depth, engine, ROUND_TRIP); // warm-up
  const streams = [THROUGHPUT, ROUND_TRIP];
  const times = [...depths.map(() => streams.map(() => [] as number[]))];
  const qemuTimes = streams.map(() => [] as number[]);
  const scratch = mkdtempSync(join(tmpdir(), "matryoshka-bench-net-"));
  try {
    for (let round = 0; round < rounds; round++) {
      depths.forEach((depth, d) => streams.forEach((stream, s) => times[d]![s]!.push(exchange(depth, engine, stream))));
      if (withQemu) for (const [s, stream] of streams.entries()) qemuTimes[s]!.push(await qemuExchangeRetried(stream, scratch));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const rows: NetBenchRow[] = depths.map((depth, d) => {
    const [bulk, trips] = times[d]!.map(median) as [number, number];
    return { depth, engine, throughputMs: bulk, mbits: mbitsOf(bulk), roundTripMicros: microsPerTrip(trips) };
  });
  if (withQemu) {
    const [bulk, trips] = qemuTimes.map(median) as [number, number];
    rows.push({ depth: undefined, engine: "QEMU", throughputMs: bulk, mbits: mbitsOf(bulk), roundTripMicros: microsPerTrip(trips) });
  }
  return rows;
}

export function printNetTable(rows: NetBenchRow[]): void {
  const qemuRow = rows.find((row) => row.engine === "QEMU");
  const table = new Table({
    head: ["VMs", "stream ms", "Mbit/s one way (1514-byte frames, 8 in flight)", "× QEMU", "µs / round trip (60-byte frames)", "× QEMU"],
  });
  for (const row of rows) {
    const ratio = (ours: number, theirs: number | undefined) => (theirs === undefined || row === qemuRow ? "" : `${(ours / theirs).toFixed(2)}×`);
    table.push([
      row.depth === undefined ? "QEMU, two processes (-netdev socket)" : `depth ${row.depth} each (${row.engine})`,
      row.throughputMs.toFixed(0),
      row.mbits.toFixed(2),
      ratio(row.mbits, qemuRow?.mbits),
      row.roundTripMicros.toFixed(0),
      ratio(row.roundTripMicros, qemuRow?.roundTripMicros),
    ]);
  }
  console.log(
    `\nNetworking between two VMs: guests/net-ping (bulk mode) and net-echo on a NetSwitch in one process, ${THROUGHPUT.frames} full-size frames ` +
      `each echoed back, then ${ROUND_TRIP.frames} small ones one at a time (medians of interleaved rounds; QEMU timed by the guest, start-up excluded)`,
  );
  console.log(table.toString());
  if (qemuRow === undefined) console.log("(QEMU pair skipped: qemu-system-riscv32 not available)");
}

// `pnpm bench:net` (node --conditions=source --import tsx bench/net.ts): this benchmark alone.
if (process.argv[1]?.endsWith("net.ts")) printNetTable(await benchNet());
