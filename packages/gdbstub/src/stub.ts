import { encodePacket, fromHex, hexToWord, PacketReader, parseHexNumber, toHex, unescapeBinary, wordToHex } from "./packets.js";
import { PC_REGNUM, targetDescription, type DebugTarget } from "./target.js";

/** Where the stub's replies go: a socket, or a test's buffer. */
export interface Connection {
  write(bytes: Uint8Array): void;
  end(): void;
}

/** A load or store the next instruction of a thread will make (for watchpoints). */
export interface PendingAccess {
  address: number;
  size: number;
  load: boolean;
  store: boolean;
}

/** GDB's watchpoint kinds: Z2 write, Z3 read, Z4 access. */
const WATCH_WRITE = 2;
const WATCH_READ = 3;
const WATCH_ACCESS = 4;
const WATCH_NAMES = ["", "", "watch", "rwatch", "awatch"];

interface Watchpoint {
  address: number;
  length: number;
  kind: number;
}

/** Signals in stop replies (GDB's numbering). */
const SIGINT = 2;
const SIGTRAP = 5;

/**
 * The GDB remote protocol over a `DebugTarget`, in all-stop mode: the target runs until a
 * breakpoint, a watchpoint, a single step's end or an interrupt stops every thread, then waits
 * (`paused`) while GDB reads and writes, and runs again on `c`, `s` or `vCont`.
 *
 * The run loop drives it: before each instruction of a thread, while `active`, it asks
 * `beforeInstruction` (breakpoints, interrupts), `watchHit` (the access the instruction will make),
 * and after it `afterInstruction` (single steps, watchpoints). Breakpoints of both kinds (Z0, Z1)
 * are host-side address checks: guest memory is never patched, so the guest cannot see them, and
 * they hold in ROM and in pages shared between address spaces alike (QEMU does the same).
 * While nothing is set and the target runs, `active` is false and the run loop checks nothing.
 *
 * A client that detaches (`D`) or disconnects leaves the target running without breakpoints, as
 * QEMU does; `k` calls `onKill`.
 */
export class GdbStub {
  /** What it debugs; replaced when the machine is rebuilt (a guest's reset). */
  target: DebugTarget;
  /** Breakpoint addresses (software and hardware alike). */
  readonly breakpoints = new Set<number>();
  readonly watchpoints: Watchpoint[] = [];
  /** Called on `k`: the client asked to end the target. */
  onKill: () => void = () => {};

  private connection: Connection | undefined;
  private reader = new PacketReader();
  private noAck = false;
  private stopped = false;
  private stopReply = "S05";
  /** A client sent c/s/vCont and waits for a stop reply. */
  private waiting = false;
  private interruptRequested = false;
  /** The thread being single-stepped (0: none). */
  private stepThread = 0;
  /** Thread → the pc it resumed at: a breakpoint there does not stop it before its first instruction. */
  private readonly resumedAt = new Map<number, number>();
  private generalThread: number;
  private resumeWaiters: (() => void)[] = [];

  constructor(target: DebugTarget, options: { startStopped?: boolean } = {}) {
    this.target = target;
    this.generalThread = target.threads[0] ?? 1;
    if (options.startStopped === true) this.stop(this.generalThread, `T05thread:${threadHex(this.generalThread)};`);
  }

  /** Debugs another target from now on (the machine was rebuilt): same client, same breakpoints. */
  retarget(target: DebugTarget): void {
    this.target = target;
    if (!target.threads.includes(this.generalThread)) this.generalThread = target.threads[0] ?? 1;
  }

  /** The target is stopped: the run loop must not run it (see `waitWhileStopped`). */
  get paused(): boolean {
    return this.stopped;
  }

  /** Whether the run loop must check each instruction (anything set, a step or an interrupt pending). */
  get active(): boolean {
    return this.stopped || this.interruptRequested || this.stepThread !== 0 || this.breakpoints.size > 0 || this.watchpoints.length > 0;
  }

  /** Whether `connection` is the attached client's. */
  isAttached(connection: Connection): boolean {
    return this.connection === connection;
  }

  /** Whether a client is attached. */
  get connected(): boolean {
    return this.connection !== undefined;
  }

  /** Resolves when the target may run again (at once if it is not stopped). */
  waitWhileStopped(): Promise<void> {
    if (!this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.resumeWaiters.push(resolve));
  }

  // ---------------------------------------------------------------------------------------------
  // The run loop's side

  /** Before `thread` executes the instruction at `pc`: true if it must stop there (the stub stopped). */
  beforeInstruction(thread: number, pc: number): boolean {
    if (this.stopped) return true;
    if (this.interruptRequested) {
      this.interruptRequested = false;
      this.stop(thread, `T${hex2(SIGINT)}thread:${threadHex(thread)};`);
      return true;
    }
    const resumed = this.resumedAt.get(thread);
    if (resumed !== undefined) {
      this.resumedAt.delete(thread);
      if (resumed === pc) return false;
    }
    if (this.breakpoints.has(pc >>> 0)) {
      this.stop(thread, `T${hex2(SIGTRAP)}thread:${threadHex(thread)};swbreak:;`);
      return true;
    }
    return false;
  }

  /** The watchpoint the access will hit, as its stop-reply field ("watch:80001000;"), or undefined. */
  watchHit(access: PendingAccess): string | undefined {
    for (const w of this.watchpoints) {
      const overlaps = access.address < w.address + w.length && w.address < access.address + access.size;
      if (!overlaps) continue;
      const kindMatches = w.kind === WATCH_ACCESS || (w.kind === WATCH_WRITE && access.store) || (w.kind === WATCH_READ && access.load);
      if (kindMatches) return `${WATCH_NAMES[w.kind]}:${(Math.max(access.address, w.address) >>> 0).toString(16)};`;
    }
    return undefined;
  }

  /**
   * After `thread` executed one instruction: `watch` is what `watchHit` said of its access (if
   * it completed). True if the thread stopped (a watchpoint, or the end of a single step).
   */
  afterInstruction(thread: number, watch: string | undefined): boolean {
    if (watch !== undefined) {
      this.stepThread = 0;
      this.stop(thread, `T${hex2(SIGTRAP)}thread:${threadHex(thread)};${watch}`);
      return true;
    }
    if (this.stepThread === thread) {
      this.stepThread = 0;
      this.stop(thread, `T${hex2(SIGTRAP)}thread:${threadHex(thread)};`);
      return true;
    }
    return false;
  }

  /** The target ended (the guest exited with `code`): tells the client, as QEMU does. */
  exited(code: number): void {
    this.send(`W${hex2(code & 0xff)}`);
  }

  private stop(thread: number, reply: string): void {
    this.stopped = true;
    this.stopReply = reply;
    this.generalThread = thread;
    if (this.waiting) {
      this.waiting = false;
      this.send(reply);
    }
  }

  private resume(step: number): void {
    this.stepThread = step;
    this.resumedAt.clear();
    for (const thread of this.target.threads) {
      const pc = this.target.readRegister(thread, PC_REGNUM);
      if (pc !== undefined) this.resumedAt.set(thread, pc >>> 0);
    }
    this.stopped = false;
    this.waiting = this.connection !== undefined;
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const wake of waiters) wake();
  }

  // ---------------------------------------------------------------------------------------------
  // The client's side

  /**
   * A client connected. As QEMU does, the target stops (at its next instruction boundary: it is
   * never mid-instruction when this runs) so that the client finds it stopped.
   */
  attach(connection: Connection): boolean {
    if (this.connection !== undefined) return false;
    this.connection = connection;
    this.reader = new PacketReader();
    this.noAck = false;
    this.waiting = false;
    if (!this.stopped) this.stop(this.generalThread, `T${hex2(SIGTRAP)}thread:${threadHex(this.generalThread)};`);
    return true;
  }

  /** The client went away: forget its breakpoints and let the target run, as QEMU does. */
  detach(): void {
    this.connection = undefined;
    this.breakpoints.clear();
    this.watchpoints.length = 0;
    this.interruptRequested = false;
    if (this.stopped) this.resume(0); // with no connection, no stop reply is awaited
  }

  /** Bytes from the client. */
  receive(bytes: Uint8Array): void {
    for (const event of this.reader.feed(bytes)) {
      if (this.connection === undefined) return;
      switch (event.kind) {
        case "packet":
          if (!this.noAck) this.connection.write(Uint8Array.of(0x2b));
          this.handle(event.payload);
          break;
        case "corrupt":
          if (!this.noAck) this.connection.write(Uint8Array.of(0x2d));
          break;
        case "interrupt":
          if (!this.stopped) this.interruptRequested = true;
          break;
        default:
          break; // acks: replies are not kept for resending
      }
    }
  }

  private send(payload: string): void {
    this.connection?.write(encodePacket(payload));
  }

  private handle(packet: string): void {
    const reply = this.reply(packet);
    if (reply !== undefined) this.send(reply);
  }

  /** The reply to one packet; undefined when there is none now (a resume: the stop reply comes later). */
  private reply(packet: string): string | undefined {
    const command = packet[0];
    const rest = packet.slice(1);
    switch (command) {
      case "?":
        return this.stopped ? this.stopReply : "OK";
      case "g":
        return this.readAll();
      case "G":
        return this.writeAll(rest);
      case "p": {
        const regno = parseHexNumber(rest);
        const value = regno === undefined ? undefined : this.target.readRegister(this.generalThread, regno);
        return value === undefined ? "E01" : wordToHex(value);
      }
      case "P": {
        const [regText, valueText] = rest.split("=");
        const regno = parseHexNumber(regText ?? "");
        const value = hexToWord(valueText ?? "");
        if (regno === undefined || value === undefined) return "E01";
        return this.target.writeRegister(this.generalThread, regno, value) ? "OK" : "E01";
      }
      case "m": {
        const range = parseRange(rest);
        if (range === undefined || range.length > 0x4000) return "E01";
        const bytes = this.target.readMemory(this.generalThread, range.address, range.length);
        return bytes === undefined ? "E14" : toHex(bytes);
      }
      case "M": {
        const colon = rest.indexOf(":");
        const range = colon < 0 ? undefined : parseRange(rest.slice(0, colon));
        const bytes = colon < 0 ? undefined : fromHex(rest.slice(colon + 1));
        if (range === undefined || bytes === undefined || bytes.length !== range.length) return "E01";
        return this.target.writeMemory(this.generalThread, range.address, bytes) ? "OK" : "E14";
      }
      case "X": {
        const colon = rest.indexOf(":");
        const range = colon < 0 ? undefined : parseRange(rest.slice(0, colon));
        const bytes = colon < 0 ? undefined : unescapeBinary(rest.slice(colon + 1));
        if (range === undefined || bytes === undefined || bytes.length !== range.length) return "E01";
        if (bytes.length === 0) return "OK"; // GDB probes X support with an empty write
        return this.target.writeMemory(this.generalThread, range.address, bytes) ? "OK" : "E14";
      }
      case "c":
      case "s": {
        if (rest !== "") {
          const address = parseHexNumber(rest);
          if (address === undefined) return "E01";
          this.target.writeRegister(this.generalThread, PC_REGNUM, address);
        }
        this.resume(command === "s" ? this.generalThread : 0);
        return undefined;
      }
      case "v":
        return this.vPacket(packet);
      case "H": {
        const thread = parseThread(rest.slice(1));
        if (thread === undefined) return "E01";
        if (thread > 0) {
          if (!this.target.threads.includes(thread)) return "E01";
          this.generalThread = thread;
        }
        return "OK";
      }
      case "T": {
        const thread = parseThread(rest);
        return thread !== undefined && this.target.threads.includes(thread) ? "OK" : "E01";
      }
      case "Z":
      case "z":
        return this.breakpoint(command === "Z", rest);
      case "D": {
        // The reply goes to the client that asked, before the connection is dropped.
        const connection = this.connection;
        this.send("OK");
        this.detach();
        connection?.end();
        return undefined;
      }
      case "k": {
        const connection = this.connection;
        this.detach();
        connection?.end();
        this.onKill();
        return undefined;
      }
      case "q":
      case "Q":
        return this.query(packet);
      default:
        return "";
    }
  }

  private query(packet: string): string | undefined {
    if (packet.startsWith("qSupported")) {
      return "PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+";
    }
    if (packet === "QStartNoAckMode") {
      this.send("OK");
      this.noAck = true;
      return undefined;
    }
    if (packet.startsWith("qXfer:features:read:")) {
      const [annex, range] = packet.slice("qXfer:features:read:".length).split(":");
      if (annex !== "target.xml") return "E00";
      const [offsetText, lengthText] = (range ?? "").split(",");
      const offset = parseHexNumber(offsetText ?? "");
      const length = parseHexNumber(lengthText ?? "");
      if (offset === undefined || length === undefined) return "E01";
      const xml = targetDescription(this.target.csrs);
      const chunk = xml.slice(offset, offset + length);
      return (offset + length >= xml.length ? "l" : "m") + chunk;
    }
    if (packet === "qAttached") return "1";
    if (packet === "qC") return `QC${threadHex(this.generalThread)}`;
    if (packet === "qfThreadInfo") return `m${this.target.threads.map(threadHex).join(",")}`;
    if (packet === "qsThreadInfo") return "l";
    if (packet.startsWith("qThreadExtraInfo,")) {
      const thread = parseThread(packet.slice("qThreadExtraInfo,".length));
      if (thread === undefined || !this.target.threads.includes(thread)) return "E01";
      return toHex(new TextEncoder().encode(`hart ${thread - 1}`));
    }
    if (packet === "qSymbol::") return "OK";
    return "";
  }

  private vPacket(packet: string): string | undefined {
    if (packet === "vMustReplyEmpty") return "";
    if (packet === "vCont?") return "vCont;c;C;s;S;t";
    if (!packet.startsWith("vCont;")) return "";
    // Actions apply to the first thread they name (or to all, without one). All-stop: a step of
    // one thread with the others continuing stops them all when the step ends.
    let step = 0;
    let resume = false;
    for (const action of packet.slice("vCont;".length).split(";")) {
      const [verb, threadText] = action.split(":");
      const thread = threadText === undefined ? -1 : parseThread(threadText);
      if (thread === undefined) return "E01";
      const kind = (verb ?? "")[0];
      if (kind === "s" || kind === "S") {
        if (step === 0) step = thread > 0 ? thread : this.generalThread;
        resume = true;
      } else if (kind === "c" || kind === "C") {
        resume = true;
      } else if (kind === "t") {
        if (!this.stopped) this.interruptRequested = true;
        return "OK";
      } else {
        return "E01";
      }
    }
    if (!resume) return "E01";
    this.resume(step);
    return undefined;
  }

  private breakpoint(insert: boolean, rest: string): string {
    const [typeText, addressText, kindText] = rest.split(",");
    const type = Number(typeText);
    const address = parseHexNumber(addressText ?? "");
    const size = parseHexNumber((kindText ?? "").split(";")[0] ?? "");
    if (address === undefined || size === undefined || !Number.isInteger(type)) return "E01";
    if (type === 0 || type === 1) {
      if (insert) this.breakpoints.add(address);
      else this.breakpoints.delete(address);
      return "OK";
    }
    if (type >= WATCH_WRITE && type <= WATCH_ACCESS) {
      if (size === 0) return "E01";
      const index = this.watchpoints.findIndex((w) => w.address === address && w.length === size && w.kind === type);
      if (insert && index < 0) this.watchpoints.push({ address, length: size, kind: type });
      if (!insert && index >= 0) this.watchpoints.splice(index, 1);
      return "OK";
    }
    return "";
  }

  private readAll(): string {
    let out = "";
    for (let regno = 0; regno <= PC_REGNUM; regno++) {
      const value = this.target.readRegister(this.generalThread, regno);
      out += value === undefined ? "xxxxxxxx" : wordToHex(value);
    }
    return out;
  }

  private writeAll(hex: string): string {
    if (hex.length !== (PC_REGNUM + 1) * 8) return "E01";
    const values: number[] = [];
    for (let regno = 0; regno <= PC_REGNUM; regno++) {
      const value = hexToWord(hex.slice(regno * 8, regno * 8 + 8));
      if (value === undefined) return "E01";
      values.push(value);
    }
    values.forEach((value, regno) => this.target.writeRegister(this.generalThread, regno, value));
    return "OK";
  }

}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function threadHex(thread: number): string {
  return thread.toString(16).padStart(2, "0");
}

/** A thread id: hex, "-1" (all) or "0" (any): -1 and 0 come back as themselves. */
function parseThread(text: string): number | undefined {
  if (text === "-1") return -1;
  const value = parseHexNumber(text);
  return value;
}

function parseRange(text: string): { address: number; length: number } | undefined {
  const [a, l] = text.split(",");
  const address = parseHexNumber(a ?? "");
  const length = parseHexNumber(l ?? "");
  return address === undefined || length === undefined ? undefined : { address, length };
}
