import type { AccessSize, MmioDevice } from "@matryoshka/memory";
import { LINE, type Clock, type InterruptLines } from "./lines.js";

/** Register layout of the SiFive CLINT (ACLINT MSWI + MTIMER) as QEMU `virt` maps it. */
export const CLINT_SIZE = 0x10000;
const MSIP_BASE = 0x0000;
const MTIMECMP_BASE = 0x4000;
const MTIME = 0xbff8;

const TWO32 = 0x1_0000_0000;

/**
 * Where a CLINT keeps its state: per hart msip and mtimecmp (as unsigned 32-bit halves: the
 * 64-bit value does not fit a double exactly), and the ticks by which guest writes to mtime have
 * shifted it from its clock. `ClintRegisters` is the one-thread kind; a board whose harts run on
 * worker threads keeps them in shared words, read and written with Atomics. One accessor per
 * register, so that with `ClintRegisters` every read is one array access after inlining, as
 * when these were the CLINT's own fields.
 */
export interface ClintStorage {
  msip(hart: number): number;
  setMsip(hart: number, value: number): void;
  mtimecmpLow(hart: number): number;
  mtimecmpHigh(hart: number): number;
  setMtimecmpLow(hart: number, value: number): void;
  setMtimecmpHigh(hart: number, value: number): void;
  /** Ticks added to the clock's time by guest writes to mtime. */
  readonly timeOffset: number;
  shiftTime(ticks: number): void;
}

/**
 * The CLINT's state in arrays of its own, for harts that share one thread. QEMU resets
 * mtimecmp to 0, so MTIP is pending until software sets it.
 */
export class ClintRegisters implements ClintStorage {
  private readonly msips: Uint32Array;
  private readonly compareLow: Uint32Array;
  private readonly compareHigh: Uint32Array;
  timeOffset = 0;

  constructor(harts: number) {
    this.msips = new Uint32Array(harts);
    this.compareLow = new Uint32Array(harts);
    this.compareHigh = new Uint32Array(harts);
  }

  msip(hart: number): number {
    return this.msips[hart]!;
  }

  setMsip(hart: number, value: number): void {
    this.msips[hart] = value;
  }

  mtimecmpLow(hart: number): number {
    return this.compareLow[hart]!;
  }

  mtimecmpHigh(hart: number): number {
    return this.compareHigh[hart]!;
  }

  setMtimecmpLow(hart: number, value: number): void {
    this.compareLow[hart] = value;
  }

  setMtimecmpHigh(hart: number, value: number): void {
    this.compareHigh[hart] = value;
  }

  shiftTime(ticks: number): void {
    this.timeOffset += ticks;
  }
}

/** A CLINT's registers as plain data (see `Clint.saveState`); mtime itself is the board clock's. */
export interface ClintState {
  msip: number[];
  mtimecmpLow: number[];
  mtimecmpHigh: number[];
  timeOffset: number;
}

/**
 * The core-local interruptor: per-hart software interrupt (msip) and timer compare (mtimecmp),
 * and the shared mtime. Time comes from a Clock (the board's deterministic instruction clock or
 * wall time); writes to mtime shift it by an offset. The registers live in `storage`: by default
 * its own; on worker threads, words the harts' threads share.
 */
export class Clint implements MmioDevice {
  private readonly harts: InterruptLines[];
  private readonly clock: Clock;
  private readonly storage: ClintStorage;

  constructor(harts: InterruptLines[], clock: Clock, storage: ClintStorage = new ClintRegisters(harts.length)) {
    this.harts = harts;
    this.clock = clock;
    this.storage = storage;
  }

  /**
   * Hart h's mtimecmp as a number of ticks. Values at or above 2^53 (far beyond any reachable
   * mtime) come back as Infinity rather than a rounded number.
   */
  mtimecmp(h: number): number {
    const high = this.storage.mtimecmpHigh(h);
    return high >= 0x20_0000 ? Number.POSITIVE_INFINITY : high * TWO32 + this.storage.mtimecmpLow(h);
  }

  get mtime(): number {
    return this.clock.now() + this.storage.timeOffset;
  }

  /** Per-hart msip and mtimecmp and the mtime offset, as plain data, for a snapshot. */
  saveState(): ClintState {
    const harts = this.harts.length;
    const storage = this.storage;
    return {
      msip: Array.from({ length: harts }, (_, h) => storage.msip(h)),
      mtimecmpLow: Array.from({ length: harts }, (_, h) => storage.mtimecmpLow(h)),
      mtimecmpHigh: Array.from({ length: harts }, (_, h) => storage.mtimecmpHigh(h)),
      timeOffset: storage.timeOffset,
    };
  }

  /** Puts back what `saveState` returned (same number of harts), then drives MSIP and MTIP to match. */
  restoreState(state: ClintState): void {
    const harts = this.harts.length;
    if (state.msip.length !== harts || state.mtimecmpLow.length !== harts || state.mtimecmpHigh.length !== harts) {
      throw new RangeError(`CLINT state for ${state.msip.length} harts does not fit a CLINT of ${harts}`);
    }
    const storage = this.storage;
    for (let h = 0; h < harts; h++) {
      storage.setMsip(h, state.msip[h]! & 1);
      storage.setMtimecmpLow(h, state.mtimecmpLow[h]! >>> 0);
      storage.setMtimecmpHigh(h, state.mtimecmpHigh[h]! >>> 0);
      this.harts[h]!.setInterruptLine(LINE.MSIP, (state.msip[h]! & 1) !== 0);
    }
    storage.shiftTime(state.timeOffset - storage.timeOffset);
    this.update();
  }

  /** Recomputes MTIP for every hart from mtime and mtimecmp. */
  update(): void {
    const now = this.mtime;
    for (let h = 0; h < this.harts.length; h++) this.harts[h]!.setInterruptLine(LINE.MTIP, now >= this.mtimecmp(h));
  }

  /** Ticks until hart `h`'s timer fires (0 if already due). */
  ticksUntilTimer(h: number): number {
    return Math.max(0, this.mtimecmp(h) - this.mtime);
  }

  read(offset: number, size: AccessSize): number | undefined {
    // Only whole words, as on QEMU 7.2 (the ACLINT's mswi and mtimer regions are valid for 4
    // and 8 bytes, and an RV32 hart has no 8-byte access): anything narrower is an access fault.
    if (size !== 4) return undefined;
    if (offset >= MSIP_BASE && offset < MSIP_BASE + 4 * this.harts.length) return this.storage.msip((offset - MSIP_BASE) >> 2);
    if (offset >= MTIMECMP_BASE && offset < MTIMECMP_BASE + 8 * this.harts.length) {
      const hart = (offset - MTIMECMP_BASE) >> 3;
      return (offset & 4) === 0 ? this.storage.mtimecmpLow(hart) : this.storage.mtimecmpHigh(hart);
    }
    if (offset === MTIME) return this.mtime % TWO32 >>> 0;
    if (offset === MTIME + 4) return Math.floor(this.mtime / TWO32) >>> 0;
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (size !== 4) return false;
    if (offset >= MSIP_BASE && offset < MSIP_BASE + 4 * this.harts.length) {
      const hart = (offset - MSIP_BASE) >> 2;
      this.storage.setMsip(hart, value & 1);
      this.harts[hart]!.setInterruptLine(LINE.MSIP, (value & 1) !== 0);
      return true;
    }
    if (offset >= MTIMECMP_BASE && offset < MTIMECMP_BASE + 8 * this.harts.length) {
      const hart = (offset - MTIMECMP_BASE) >> 3;
      if ((offset & 4) === 0) this.storage.setMtimecmpLow(hart, value >>> 0);
      else this.storage.setMtimecmpHigh(hart, value >>> 0);
      this.update();
      return true;
    }
    if (offset === MTIME || offset === MTIME + 4) {
      const current = this.mtime;
      const high = Math.floor(current / TWO32);
      const low = current - high * TWO32;
      const next = offset === MTIME ? high * TWO32 + value : value * TWO32 + low;
      this.storage.shiftTime(next - current);
      this.update();
      return true;
    }
    return true; // reserved space reads as zero and ignores writes
  }
}
