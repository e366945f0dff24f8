import { guestPhysical, type AccessSize, type GuestMemory, type MmioDevice } from "@matryoshka/memory";

/** Bytes of each HTIF register (`tohost`, `fromhost`): one 64-bit word. */
export const HTIF_REGISTER_SIZE = 8;

/** Proxied system calls understood (riscv-pk / spike numbering). */
const SYS_WRITE = 64;
const SYS_EXIT = 93;
const ENOSYS = 38;
const EFAULT = 14;
const U64 = (1n << 64n) - 1n;
const PAYLOAD_MASK = (1n << 48n) - 1n;

/**
 * Answers waiting for the guest to collect from `fromhost`. Target code waits for each answer
 * before its next command; a guest that never collects them gets no more commands taken (its
 * `tohost` stays set, as with a busy host) instead of a host queue that grows without bound.
 */
export const HTIF_MAX_PENDING_ANSWERS = 16;
/** Bytes one proxied write takes at most: write(2) may write fewer, and says how many. */
export const HTIF_MAX_WRITE_BYTES = 65536;

export interface HtifOptions {
  /** The guest asked to exit: `code` 0 is a pass, anything else a failure (riscv-tests: the failing test number). */
  onExit: (code: number) => void;
  /** Console output (device 1 command 1, and proxied writes to fd 1 and 2). */
  output?: (byte: number) => void;
  /** Guest memory for proxied system calls (device 0, even payload); without it they are ignored. */
  memory?: GuestMemory;
  /**
   * Answer a console write in `fromhost` with (1 << 56 | 1 << 48 | 0x100 | byte), as older spike
   * front ends (riscv-fesvr) did. Current spike sends no answer. Default false.
   */
  acknowledgeConsole?: boolean;
}

/**
 * Spike's host-target interface: two 64-bit words in guest memory, `tohost` and `fromhost`, found
 * through the ELF symbols of those names. A command in `tohost` is (device << 56) | (command << 48) |
 * payload (48 bits):
 *
 * - device 0, command 0, payload odd: exit with code payload >> 1 (riscv-tests write 1 for a pass,
 *   (n << 1) | 1 when test n fails);
 * - device 0, command 0, payload even: a proxied system call; payload is the address of eight
 *   64-bit words {number, arg0, arg1, …}; the result goes into the first word and fromhost becomes
 *   1. Only write (64, to fd 1 or 2) and exit (93) are implemented; others return -ENOSYS;
 * - device 1, command 1: console write of the payload's low byte.
 *
 * Like spike's host, the device clears `tohost` when it takes a command (target code waits for
 * that) and only places an answer in `fromhost` while `fromhost` is zero, queueing the rest. Both
 * words otherwise read back what was last written, like the RAM they replace.
 *
 * When is a command taken? An RV32 guest writes the 64-bit word as two 32-bit stores, in either
 * order. The command is taken when the second half is written (low then high, or high then low).
 * riscv-tests (`write_tohost: sw TESTNUM, tohost; sw zero, tohost+4; j write_tohost`) thus exit on
 * the high-word store. Older test environments store only the low word, either in a loop (the
 * repeated low-word store is taken as an exit) or once before spinning (taken by `poll()`, see
 * there). A lone low-word store is never taken at once, because a console write stored low word
 * first would look like an exit until its high word arrives.
 */
export class Htif implements MmioDevice {
  /** The `tohost` word as an 8-byte device, for mapping at the `tohost` symbol. */
  readonly tohostDevice: MmioDevice;
  /** The `fromhost` word as an 8-byte device, for mapping at the `fromhost` symbol. */
  readonly fromhostDevice: MmioDevice;
  private readonly options: HtifOptions;
  private readonly tohostBytes = new Uint8Array(HTIF_REGISTER_SIZE);
  private readonly fromhostBytes = new Uint8Array(HTIF_REGISTER_SIZE);
  private readonly responses: bigint[] = [];
  /** Halves of `tohost` written since the last command was taken. */
  private lowWritten = false;
  private highWritten = false;
  /** `poll()` calls seen while a lone low-word exit waits. */
  private pollsWaiting = 0;
  private exitCode: number | undefined;
  /** A command left in `tohost` because HTIF_MAX_PENDING_ANSWERS answers wait: taken when one is collected. */
  private stalled = false;

  constructor(options: HtifOptions) {
    this.options = options;
    const word = (base: number): MmioDevice => {
      const inside = (offset: number, size: number) => offset >= 0 && offset + size <= HTIF_REGISTER_SIZE;
      return {
        read: (offset, size) => (inside(offset, size) ? this.read(base + offset, size) : undefined),
        write: (offset, size, value) => inside(offset, size) && this.write(base + offset, size, value),
      };
    };
    this.tohostDevice = word(0);
    this.fromhostDevice = word(HTIF_REGISTER_SIZE);
  }

  /** The exit code, once the guest has exited. Later commands are ignored. */
  get exited(): number | undefined {
    return this.exitCode;
  }

  get tohost(): bigint {
    return readWord(this.tohostBytes);
  }

  get fromhost(): bigint {
    return readWord(this.fromhostBytes);
  }

  /**
   * Takes a lone low-word exit (an odd value in `tohost` whose high word was not written) that has
   * survived two calls. The board calls this once per scheduling quantum, like spike's host polling
   * between instruction batches: a console write's high-word store follows its low-word store at
   * once, so a low word still alone after a whole quantum really is the guest's last word.
   */
  poll(): void {
    if (!this.lowWritten || this.highWritten || (this.tohostBytes[0]! & 1) === 0) return;
    if (++this.pollsWaiting >= 2) this.take();
  }

  /**
   * MMIO access to a 16-byte window: `tohost` at offset 0, `fromhost` at offset 8 (use
   * `tohostDevice` and `fromhostDevice` when the symbols are not adjacent, as in riscv-tests).
   */
  read(offset: number, size: AccessSize): number | undefined {
    if (offset < 0 || offset + size > 2 * HTIF_REGISTER_SIZE) return undefined;
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.byteAt(offset + i) << (8 * i);
    return value >>> 0;
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (offset < 0 || offset + size > 2 * HTIF_REGISTER_SIZE) return false;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const byte = (value >>> (8 * i)) & 0xff;
      if (at < HTIF_REGISTER_SIZE) this.tohostBytes[at] = byte;
      else this.fromhostBytes[at - HTIF_REGISTER_SIZE] = byte;
    }
    if (offset < HTIF_REGISTER_SIZE) {
      this.tohostWritten(offset < 4, offset + size > 4);
    } else if (this.fromhost === 0n) {
      this.deliver(); // the guest consumed the last answer
    }
    return true;
  }

  private byteAt(at: number): number {
    return at < HTIF_REGISTER_SIZE ? this.tohostBytes[at]! : this.fromhostBytes[at - HTIF_REGISTER_SIZE]!;
  }

  private tohostWritten(low: boolean, high: boolean): void {
    const lowAgain = low && this.lowWritten && !this.highWritten;
    if (low) this.lowWritten = true;
    if (high) this.highWritten = true;
    if (this.lowWritten && this.highWritten) {
      this.take();
    } else if (lowAgain && (this.tohostBytes[0]! & 1) !== 0) {
      this.take(); // old riscv-tests: `write_tohost: sw TESTNUM, tohost; j write_tohost`
    } else if (low) {
      this.pollsWaiting = 0;
    }
  }

  /** Answers queued for `fromhost` (at most HTIF_MAX_PENDING_ANSWERS, plus the one in it). */
  get pendingAnswers(): number {
    return this.responses.length;
  }

  /** Takes the command in `tohost` and clears it, as spike's host does. */
  private take(): void {
    const command = this.tohost;
    if (command !== 0n && this.exitCode === undefined && this.responses.length >= HTIF_MAX_PENDING_ANSWERS && this.answered(command)) {
      this.stalled = true;
      return;
    }
    this.stalled = false;
    this.tohostBytes.fill(0);
    this.lowWritten = false;
    this.highWritten = false;
    this.pollsWaiting = 0;
    if (command === 0n || this.exitCode !== undefined) return;
    const device = Number(command >> 56n);
    const cmd = Number((command >> 48n) & 0xffn);
    const payload = command & PAYLOAD_MASK;
    if (device === 0 && cmd === 0) {
      if ((payload & 1n) !== 0n) this.exit(Number(payload >> 1n));
      else this.syscall(Number(payload));
    } else if (device === 1 && cmd === 1) {
      const byte = Number(payload & 0xffn);
      this.options.output?.(byte);
      if (this.options.acknowledgeConsole) this.respond(command, 0x100n | BigInt(byte));
    }
    // Other devices and commands (console read, block device, identify) are not modelled.
  }

  /** Whether taking `command` queues an answer (a proxied system call, an acknowledged console write). */
  private answered(command: bigint): boolean {
    const device = command >> 56n;
    const cmd = (command >> 48n) & 0xffn;
    if (device === 0n && cmd === 0n) return (command & 1n) === 0n;
    return device === 1n && cmd === 1n && this.options.acknowledgeConsole === true;
  }

  private exit(code: number): void {
    this.exitCode = code;
    this.options.onExit(code);
  }

  /** A proxied system call (spike's syscall device): magic memory of eight u64 at `address`. */
  private syscall(address: number): void {
    const memory = this.options.memory;
    if (memory === undefined) return;
    const magic = memory.read(guestPhysical(address), 64);
    if (magic === undefined) return; // spike would abort: leave the guest waiting
    const view = new DataView(magic.buffer, magic.byteOffset, 64);
    const number = view.getBigUint64(0, true);
    const arg = (i: number) => view.getBigUint64(8 * (i + 1), true);
    let result: bigint;
    if (number === BigInt(SYS_EXIT)) {
      this.exit(Number(BigInt.asIntN(32, arg(0))));
      return;
    } else if (number === BigInt(SYS_WRITE)) {
      result = this.sysWrite(memory, arg(0), arg(1), arg(2));
    } else {
      result = BigInt(-ENOSYS);
    }
    const answer = new Uint8Array(8);
    new DataView(answer.buffer).setBigUint64(0, result & U64, true);
    memory.write(guestPhysical(address), answer);
    this.respond(0n, 1n);
  }

  private sysWrite(memory: GuestMemory, fd: bigint, buffer: bigint, length: bigint): bigint {
    if (fd !== 1n && fd !== 2n) return BigInt(-9); // EBADF
    if (length > 0x1_0000_0000n || buffer > 0xffff_ffffn) return BigInt(-EFAULT);
    const count = Math.min(Number(length), HTIF_MAX_WRITE_BYTES);
    const bytes = memory.read(guestPhysical(Number(buffer)), count);
    if (bytes === undefined) return BigInt(-EFAULT);
    for (const byte of bytes) this.options.output?.(byte);
    return BigInt(count);
  }

  /** Queues an answer for `fromhost`: the command's device and command bytes with a 48-bit response. */
  private respond(command: bigint, response: bigint): void {
    this.responses.push(((command >> 48n) << 48n) | (response & PAYLOAD_MASK));
    this.deliver();
  }

  /** Moves the next queued answer into `fromhost` if the guest has consumed the previous one. */
  private deliver(): void {
    if (this.responses.length === 0 || this.fromhost !== 0n) return;
    const answer = this.responses.shift()!;
    new DataView(this.fromhostBytes.buffer).setBigUint64(0, answer, true);
    if (this.stalled) this.take(); // room for the answer of the command that waited
  }
}

function readWord(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}
