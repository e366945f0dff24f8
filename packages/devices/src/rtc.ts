import type { AccessSize, MmioDevice } from "@matryoshka/memory";

/** Bytes of the goldfish RTC's region on `virt` (at 0x101000, IRQ 11). */
export const GOLDFISH_RTC_SIZE = 0x1000;

/** Register offsets of the goldfish RTC. */
export const GoldfishRtcRegister = {
  TimeLow: 0x00,
  TimeHigh: 0x04,
  AlarmLow: 0x08,
  AlarmHigh: 0x0c,
  IrqEnabled: 0x10,
  ClearAlarm: 0x14,
  AlarmStatus: 0x18,
  ClearInterrupt: 0x1c,
} as const;

const R = GoldfishRtcRegister;
const U32 = 0xffff_ffffn;

/** Replaces the 32 bits of `word` at bit `shift` (0 or 32) with `value`. */
function deposit(word: bigint, shift: bigint, value: number): bigint {
  return (word & ~(U32 << shift)) | (BigInt(value >>> 0) << shift);
}

/**
 * A goldfish RTC's state as plain data (see `GoldfishRtc.saveState`): the guest-visible time rather
 * than the offset from the board's clock, so a board restored with another clock base still reads
 * the time the guest saw. 64-bit values are decimal strings.
 */
export interface GoldfishRtcState {
  time: string;
  timeHigh: number;
  alarm: string;
  alarmRunning: boolean;
  irqPending: boolean;
  irqEnabled: boolean;
  irqLevel: boolean;
}

/**
 * The goldfish real-time clock as QEMU's `virt` board has it: a 64-bit count of nanoseconds since
 * the Unix epoch, one alarm, and a level interrupt (pending alarm AND IRQ_ENABLED).
 *
 * - Reading TIME_LOW returns the low word and latches the high word, which TIME_HIGH then returns,
 *   so a driver reads low then high and gets one consistent value.
 * - Writing TIME_LOW or TIME_HIGH sets that half of the time (kept as an offset from the clock).
 * - Writing ALARM_LOW arms the alarm at (ALARM_HIGH << 32 | value); an alarm already due fires at
 *   once. ALARM_STATUS reads 1 while an alarm is armed; CLEAR_ALARM disarms it; CLEAR_INTERRUPT
 *   clears a fired alarm's pending interrupt.
 *
 * Time comes from `clock()` (nanoseconds since the epoch as a bigint), which the board supplies, e.g.
 * as a function of machine time so runs are deterministic. The alarm is checked whenever a register is
 * accessed and whenever the board calls `update()`. Registers are 32-bit: other access sizes read 0
 * and writes are ignored.
 */
export class GoldfishRtc implements MmioDevice {
  private readonly clock: () => bigint;
  private readonly irq: (level: boolean) => void;
  /** Added to the clock: what the guest's writes to TIME_LOW/TIME_HIGH set. */
  private offset = 0n;
  private timeHigh = 0;
  private alarm = 0n;
  private alarmRunning = false;
  private irqPending = false;
  private irqEnabled = false;
  private irqLevel = false;

  constructor(clock: () => bigint, irq: (level: boolean) => void = () => {}) {
    this.clock = clock;
    this.irq = irq;
  }

  /** The guest-visible time, in nanoseconds since the epoch. */
  now(): bigint {
    return BigInt.asUintN(64, this.clock() + this.offset);
  }

  /** The armed alarm's time (guest-visible nanoseconds), or undefined; lets a board sleep until it. */
  get nextAlarm(): bigint | undefined {
    return this.alarmRunning ? this.alarm : undefined;
  }

  /** True while the interrupt line is high. */
  get interruptLevel(): boolean {
    return this.irqLevel;
  }

  saveState(): GoldfishRtcState {
    return {
      time: this.now().toString(), timeHigh: this.timeHigh, alarm: this.alarm.toString(), alarmRunning: this.alarmRunning,
      irqPending: this.irqPending, irqEnabled: this.irqEnabled, irqLevel: this.irqLevel,
    };
  }

  /**
   * Puts back what `saveState` returned. Call it after the board's clock is restored: the offset is
   * recomputed so that `now()` reads the saved time at this point of machine time.
   */
  restoreState(state: GoldfishRtcState): void {
    this.offset = BigInt.asUintN(64, BigInt(state.time) - this.clock());
    this.timeHigh = state.timeHigh;
    this.alarm = BigInt(state.alarm);
    this.alarmRunning = state.alarmRunning;
    this.irqPending = state.irqPending;
    this.irqEnabled = state.irqEnabled;
    this.irqLevel = state.irqLevel;
    this.irq(state.irqLevel);
  }

  /** Fires the alarm if its time has come. The board calls this as time advances. */
  update(): void {
    if (this.alarmRunning && this.now() >= this.alarm) {
      this.alarmRunning = false;
      this.irqPending = true;
    }
    this.updateIrq();
  }

  read(offset: number, size: AccessSize): number | undefined {
    if (offset < 0 || offset + size > GOLDFISH_RTC_SIZE) return undefined;
    // Only whole words, as on QEMU 7.2 (goldfish_rtc's region is valid for 4 bytes): anything
    // narrower is an access fault, and has no side effect (reading TIME_LOW latches TIME_HIGH).
    if (size !== 4) return undefined;
    this.update();
    switch (offset) {
      case R.TimeLow: {
        const now = this.now();
        this.timeHigh = Number(now >> 32n);
        return Number(now & U32);
      }
      case R.TimeHigh: return this.timeHigh;
      case R.AlarmLow: return Number(this.alarm & U32);
      case R.AlarmHigh: return Number(this.alarm >> 32n);
      case R.IrqEnabled: return this.irqEnabled ? 1 : 0;
      case R.AlarmStatus: return this.alarmRunning ? 1 : 0;
      default: return 0;
    }
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (offset < 0 || offset + size > GOLDFISH_RTC_SIZE) return false;
    if (size !== 4) return false;
    switch (offset) {
      case R.TimeLow:
      case R.TimeHigh: {
        const now = this.now();
        const wanted = deposit(now, offset === R.TimeLow ? 0n : 32n, value);
        this.offset = BigInt.asUintN(64, this.offset + wanted - now);
        break;
      }
      case R.AlarmLow:
        this.alarm = deposit(this.alarm, 0n, value);
        this.alarmRunning = true; // an alarm already due fires in update() below
        break;
      case R.AlarmHigh: this.alarm = deposit(this.alarm, 32n, value); break;
      case R.IrqEnabled: this.irqEnabled = (value & 1) !== 0; break;
      case R.ClearAlarm: this.alarmRunning = false; break;
      case R.ClearInterrupt: this.irqPending = false; break;
      default: break;
    }
    this.update();
    return true;
  }

  private updateIrq(): void {
    const level = this.irqPending && this.irqEnabled;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }
}
