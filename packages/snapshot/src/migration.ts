import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";
import { PagedMemory } from "@matryoshka/memory";
import type { PausedRun, Stack } from "@matryoshka/runner";
import { vmFootprintBytes } from "@matryoshka/vmm";
import { decodeSnapshot, encodeSnapshot, requireSection, SNAPSHOT_VERSION, SnapshotError, type Section } from "./format.js";
import { PAGE_BYTES, encodeRam } from "./ram.js";
import { checkSnapshotConfig, loadRun, snapshotConfig, stateSections, type LoadedRun, type SaveRunOptions, type SnapshotConfig } from "./run.js";

/*
 * Live migration over TCP, pre-copy as Clark et al. (NSDI'05) describe it: the source copies the
 * guest's memory while the guest keeps running, then copies what the guest dirtied meanwhile, in
 * rounds read from its VM's dirty log (`PagedMemory.startDirtyLog`/`harvestDirtyLog`), and stops
 * the guest only for the last, small round and the machine state.
 *
 * The stream is a sequence of messages: tag (4 ASCII bytes), payload length (u32 LE), CRC-32 of
 * the tag, length and payload (u32 LE), payload.
 *
 *   source → destination  HELO  JSON { version, config, level }: what would move
 *   destination → source  OKAY  (it fits and the disks are there) or NOPE, JSON { reason }
 *   source → destination  PAGE  a RAM section (see ram.ts), deflated: one pre-copy round
 *   source → destination  STAT  a snapshot container (format.ts): CONF, MACH, the last round's
 *                                RAM, the boot images, and with --migrate-disks DSK0.. (the images)
 *   destination → source  ACK   it read and checked everything: the source may exit
 *
 * A connection that drops, or a destination that refuses, before ACK leaves the source running
 * its guest: its state never left its own process. A destination that gets a truncated or corrupt
 * stream reports it and runs nothing.
 */

/** A migration stream that is truncated, corrupt, refused or of another version. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

/** `tcp:HOST:PORT` (QEMU's syntax) as host and port. */
export function parseTcpAddress(text: string): { host: string; port: number } {
  const match = /^tcp:(.*):(\d+)$/.exec(text);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`expected tcp:HOST:PORT, got "${text}"`);
  return { host: match[1] === "" ? "127.0.0.1" : match[1]!, port };
}

const MESSAGE_HEADER = 12;
/** A message longer than this is taken for a corrupt length. */
const MAX_MESSAGE = 1 << 30;

function frame(tag: string, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.alloc(MESSAGE_HEADER + payload.length);
  out.write(tag, 0, 4, "latin1");
  out.writeUInt32LE(payload.length, 4);
  out.set(payload, MESSAGE_HEADER);
  out.writeUInt32LE(crc32(out.subarray(MESSAGE_HEADER), crc32(out.subarray(0, 8))), 8);
  return out;
}

/** Messages read off a socket as they arrive. */
export class MessageReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended: string | undefined;
  private wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.wake?.();
    });
    const end = (why: string) => {
      this.ended ??= why;
      this.wake?.();
    };
    socket.on("end", () => end("the connection closed"));
    socket.on("close", () => end("the connection closed"));
    socket.on("error", (error) => end(`the connection failed: ${error.message}`));
  }

  private take(length: number): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks.length = 0;
    if (all.length > length) this.chunks.push(all.subarray(length));
    this.buffered = all.length - length;
    return all.subarray(0, length);
  }

  private async need(length: number, what: string): Promise<void> {
    while (this.buffered < length) {
      if (this.ended !== undefined) throw new MigrationError(`truncated stream: ${this.ended} in the middle of ${what}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** The next message; a MigrationError if the stream ends first or the message is corrupt. */
  async next(): Promise<{ tag: string; payload: Buffer }> {
    if (this.buffered === 0) {
      while (this.buffered === 0 && this.ended === undefined) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
      if (this.buffered === 0) throw new MigrationError(`the stream ended: ${this.ended}`);
    }
    await this.need(MESSAGE_HEADER, "a message header");
    const header = this.take(MESSAGE_HEADER);
    const tag = header.toString("latin1", 0, 4);
    const length = header.readUInt32LE(4);
    if (!/^[\x20-\x7e]{4}$/.test(tag) || length > MAX_MESSAGE) throw new MigrationError("corrupt stream: a message header is garbled");
    await this.need(length, `message "${tag}"`);
    const payload = Buffer.from(this.take(length));
    if (crc32(payload, crc32(header.subarray(0, 8))) !== header.readUInt32LE(8)) throw new MigrationError(`corrupt stream: message "${tag}" fails its checksum`);
    return { tag, payload };
  }
}

function json(payload: Buffer, what: string): unknown {
  try {
    return JSON.parse(payload.toString("utf8"));
  } catch {
    throw new MigrationError(`corrupt stream: ${what} is not valid JSON`);
  }
}

/** Host memory (MiB) a stack `depth` deep around a guest of `guestMiB` needs (as `buildStack` sizes it). */
export function hostMemoryMiB(depth: number, guestMiB: number): number {
  let size = guestMiB;
  for (let level = 0; level < depth; level++) size = Math.ceil(vmFootprintBytes(size) / (1024 * 1024));
  return size;
}

/** How a migration went, for the source's one line. */
export interface MigrationReport {
  rounds: number;
  pagesSent: number;
  /** From stopping the guest to the destination's ACK. */
  downtimeMilliseconds: number;
  /** From the first byte sent to the ACK. */
  totalMilliseconds: number;
  /** Machine time (instructions) at which the guest stopped here. */
  stoppedAt: number;
}

export interface MigrationSourceOptions extends SaveRunOptions {
  host: string;
  port: number;
  /** Machine time (instructions) at which pre-copy starts. */
  at: number;
  /** The level whose VM moves, with everything inside it (default 1). */
  level?: number;
  /** Copy the disk images too (default: shared storage, checked by hash at the destination). */
  copyDisks?: boolean;
  /** Pre-copy stops when a round would send at most this many pages (default 64). */
  smallDirtySet?: number;
  /** ... or after this many rounds (default 8). */
  maxRounds?: number;
  /** One line about a failure: the guest keeps running here. */
  log: (line: string) => void;
}

/**
 * The source side, as `RunOptions.afterSlice`: at `at` it connects and offers the VM, then copies
 * pages round after round between slices of the guest's own running, and finally stops it, sends
 * its state and resolves true once the destination has it. On any failure it logs one line, stops
 * the dirty log and resolves false for good: the guest goes on here.
 */
export class MigrationSource {
  report: MigrationReport | undefined;
  private phase: "waiting" | "copying" | "failed" | "done" = "waiting";
  private socket: Socket | undefined;
  private reader: MessageReader | undefined;
  private stack: Stack | undefined;
  private memory: PagedMemory | undefined;
  private rounds = 0;
  private pagesSent = 0;
  private started = 0;
  private readonly options: MigrationSourceOptions;

  constructor(options: MigrationSourceOptions) {
    this.options = options;
  }

  /** Whether pre-copy ever began (the guest may end before `at`). */
  get began(): boolean {
    return this.phase !== "waiting";
  }

  /** For `RunOptions.afterSlice`. */
  readonly afterSlice = async (run: PausedRun): Promise<boolean> => {
    if (this.phase === "failed" || this.phase === "done") return false;
    if (this.phase === "waiting" && run.machineTime < this.options.at) return false;
    try {
      if (this.phase === "waiting") {
        await this.offer(run);
        return false;
      }
      if (run.stack !== this.stack) throw new MigrationError("the guest reset its machine during pre-copy");
      return await this.round(run);
    } catch (error) {
      this.fail(error);
      return false;
    }
  };

  private fail(error: unknown): void {
    this.phase = "failed";
    this.memory?.stopDirtyLog();
    this.socket?.destroy();
    this.options.log(`migration failed: ${error instanceof Error ? error.message : String(error)}; the guest keeps running here`);
  }

  private async send(tag: string, payload?: Uint8Array): Promise<void> {
    const socket = this.socket!;
    if (socket.destroyed) throw new MigrationError("the connection closed");
    await new Promise<void>((resolve, reject) => socket.write(frame(tag, payload), (error) => (error ? reject(error) : resolve())));
  }

  private async offer(run: PausedRun): Promise<void> {
    const { host, port } = this.options;
    const level = this.options.level ?? 1;
    const depth = run.stack.vms.length;
    if (level < 1 || level > depth) throw new MigrationError(`level ${level} has no VM to move at depth ${depth}`);
    this.started = performance.now();
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(s));
      s.once("error", reject);
    });
    socket.on("error", () => {}); // the reader reports it
    this.socket = socket;
    this.reader = new MessageReader(socket);
    this.stack = run.stack;
    const config = this.config(run, level);
    await this.send("HELO", Buffer.from(JSON.stringify({ version: SNAPSHOT_VERSION, config, copyDisks: this.options.copyDisks === true })));
    const reply = await this.reader.next();
    if (reply.tag === "NOPE") throw new MigrationError(`the destination refused: ${(json(reply.payload, "the refusal") as { reason?: string }).reason ?? "no reason given"}`);
    if (reply.tag !== "OKAY") throw new MigrationError(`the destination answered "${reply.tag}"`);
    this.phase = "copying";
    // The guest's own VM's memory: its dirty log says what changed since a page was sent.
    const memory = run.stack.guest.ram;
    if (!(memory instanceof PagedMemory)) throw new MigrationError("the guest's memory keeps no dirty log");
    this.memory = memory;
    memory.startDirtyLog();
    const first = encodeRam(memory);
    await this.sendPages(first.data, first.stored);
  }

  private config(run: PausedRun, level: number): SnapshotConfig {
    return { ...snapshotConfig(run, this.options), fromLevel: level };
  }

  private async sendPages(data: Uint8Array, count: number): Promise<void> {
    await this.send("PAGE", deflateRawSync(data));
    this.rounds++;
    this.pagesSent += count;
  }

  private dirtyPages(): number[] {
    const bitmap = this.memory!.harvestDirtyLog();
    const pages: number[] = [];
    for (let word = 0; word < bitmap.length; word++) {
      let bits = bitmap[word]!;
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits & -bits);
        pages.push(word * 32 + bit);
        bits &= bits - 1;
      }
    }
    return pages;
  }

  private async round(run: PausedRun): Promise<boolean> {
    const memory = this.memory!;
    const pages = this.dirtyPages();
    const last = pages.length <= (this.options.smallDirtySet ?? 64) || this.rounds >= (this.options.maxRounds ?? 8);
    if (!last) {
      // Zero pages too: a page the guest cleared must be cleared at the destination.
      const round = encodeRam(memory, pages, true);
      await this.sendPages(round.data, round.stored);
      return false;
    }
    // Stop and copy: the guest does not run again here until this resolves.
    const stopped = performance.now();
    const final = encodeRam(memory, pages, true);
    const sections: Section[] = stateSections(run, this.options, this.config(run, this.options.level ?? 1), final.data);
    if (this.options.copyDisks) this.options.disks?.forEach((disk, index) => sections.push({ tag: `DSK${index}`, data: readFileSync(disk.path) }));
    await this.send("STAT", encodeSnapshot(sections));
    this.rounds++;
    this.pagesSent += final.stored;
    const reply = await this.reader!.next();
    if (reply.tag !== "ACK ") throw new MigrationError(`the destination answered "${reply.tag}" instead of taking the guest`);
    memory.stopDirtyLog();
    const now = performance.now();
    this.report = { rounds: this.rounds, pagesSent: this.pagesSent, downtimeMilliseconds: now - stopped, totalMilliseconds: now - this.started, stoppedAt: run.machineTime };
    this.phase = "done";
    this.socket!.end();
    return true;
  }
}

export interface IncomingOptions {
  /** Host memory the destination may give the stack, in MiB (default 2047, `buildStack`'s limit). */
  maxHostMemoryMiB?: number;
  /** Where copied disks go (--migrate-disks), in the source's order; without them, the source's paths are used. */
  diskPaths?: string[];
}

/**
 * The destination side, on an accepted connection: checks the offer (refusing, with its reason,
 * what does not fit or whose disks are missing, before the source stops its guest), gathers the
 * pre-copy rounds, then the final state, and answers ACK once it all reads back as one valid
 * snapshot. Returns it, to run with `RunOptions.resume`. Anything wrong is a MigrationError, or a
 * SnapshotError for a bad final image.
 */
export async function receiveMigration(socket: Socket, options: IncomingOptions = {}): Promise<LoadedRun> {
  const reader = new MessageReader(socket);
  const reply = (tag: string, payload?: Uint8Array) => new Promise<void>((resolve) => socket.write(frame(tag, payload), () => resolve()));
  const hello = await reader.next();
  if (hello.tag !== "HELO") throw new MigrationError(`corrupt stream: expected an offer, got "${hello.tag}"`);
  const offer = json(hello.payload, "the offer") as { version?: number; config?: SnapshotConfig; copyDisks?: boolean };
  const refuse = async (reason: string): Promise<never> => {
    await reply("NOPE", Buffer.from(JSON.stringify({ reason })));
    socket.end();
    throw new MigrationError(`refused the incoming VM: ${reason}`);
  };
  if (offer.version !== SNAPSHOT_VERSION) await refuse(`stream version ${String(offer.version)} is not supported (this build reads version ${SNAPSHOT_VERSION})`);
  let config: SnapshotConfig;
  try {
    config = checkSnapshotConfig(offer.config as SnapshotConfig);
  } catch (error) {
    return refuse(error instanceof Error ? error.message : String(error));
  }
  const needed = hostMemoryMiB(config.depth, config.memoryMiB);
  const limit = Math.min(options.maxHostMemoryMiB ?? 2047, 2047);
  if (needed > limit) await refuse(`the VM needs ${needed} MiB of host memory at depth ${config.depth}, this host gives at most ${limit} MiB`);
  if (offer.copyDisks) {
    if ((options.diskPaths?.length ?? 0) !== config.disks.length) await refuse(`the source copies ${config.disks.length} disk(s): give as many --disk files to write them to`);
  } else {
    for (const disk of config.disks) {
      if (!existsSync(disk.path)) await refuse(`disk ${disk.path} is not here (shared storage expected; or migrate with --migrate-disks)`);
    }
  }
  await reply("OKAY");
  const pages = new Map<number, Uint8Array>();
  let ramHeader: { base: number; size: number } | undefined;
  const absorb = (data: Uint8Array) => {
    if (data.length < 12) throw new MigrationError("corrupt stream: a page round is too short");
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const base = view.getUint32(0, true);
    const size = view.getUint32(4, true);
    const count = view.getUint32(8, true);
    if (data.length !== 12 + count * (4 + PAGE_BYTES) || size !== config.memoryMiB * 1024 * 1024) throw new MigrationError("corrupt stream: a page round does not hold what it says");
    ramHeader = { base, size };
    for (let index = 0; index < count; index++) {
      const page = view.getUint32(12 + 4 * index, true);
      if (page >= size / PAGE_BYTES) throw new MigrationError(`corrupt stream: page ${page} is out of range`);
      const at = 12 + 4 * count + index * PAGE_BYTES;
      pages.set(page, data.subarray(at, at + PAGE_BYTES));
    }
  };
  for (;;) {
    const message = await reader.next();
    if (message.tag === "PAGE") {
      let data: Uint8Array;
      try {
        data = new Uint8Array(inflateRawSync(message.payload));
      } catch {
        throw new MigrationError("corrupt stream: a page round does not decompress");
      }
      absorb(data);
      continue;
    }
    if (message.tag !== "STAT") throw new MigrationError(`corrupt stream: unexpected message "${message.tag}"`);
    let sections: Map<string, Uint8Array>;
    try {
      sections = decodeSnapshot(message.payload);
    } catch (error) {
      throw new MigrationError(`corrupt stream: the final state: ${error instanceof Error ? error.message : String(error)}`);
    }
    absorb(requireSection(sections, "RAM "));
    if (offer.copyDisks) {
      config.disks.forEach((_, index) => {
        const image = sections.get(`DSK${index}`);
        if (image === undefined) throw new MigrationError(`corrupt stream: disk ${index} is missing`);
        writeFileSync(options.diskPaths![index]!, image);
      });
    }
    // The gathered pages as one RAM section, and everything as one snapshot: read back through
    // the same checks as a file (checksums, version, disks by hash), before the source is told.
    const nonZero = [...pages.entries()].filter(([, bytes]) => bytes.some((byte) => byte !== 0)).sort((a, b) => a[0] - b[0]);
    const ram = new Uint8Array(12 + nonZero.length * (4 + PAGE_BYTES));
    const view = new DataView(ram.buffer);
    view.setUint32(0, ramHeader!.base, true);
    view.setUint32(4, ramHeader!.size, true);
    view.setUint32(8, nonZero.length, true);
    nonZero.forEach(([page, bytes], index) => {
      view.setUint32(12 + 4 * index, page, true);
      ram.set(bytes, 12 + 4 * nonZero.length + index * PAGE_BYTES);
    });
    const rest: Section[] = [];
    for (const [tag, data] of sections) {
      if (tag === "RAM " || tag.startsWith("DSK")) continue;
      rest.push({ tag, data, compress: false });
    }
    if (offer.copyDisks) {
      // The disks now live at the destination's paths: the final image names those.
      const finalConfig = JSON.parse(Buffer.from(requireSection(sections, "CONF")).toString("utf8")) as SnapshotConfig;
      finalConfig.disks = finalConfig.disks.map((disk, index) => ({ ...disk, path: options.diskPaths![index]! }));
      const at = rest.findIndex((section) => section.tag === "CONF");
      rest[at] = { tag: "CONF", data: Buffer.from(JSON.stringify(finalConfig)) };
    }
    let loaded: LoadedRun;
    try {
      loaded = loadRun(encodeSnapshot([...rest, { tag: "RAM ", data: ram, compress: false }]));
    } catch (error) {
      if (error instanceof SnapshotError) throw error;
      throw new MigrationError(error instanceof Error ? error.message : String(error));
    }
    await reply("ACK ");
    socket.end();
    return loaded;
  }
}
