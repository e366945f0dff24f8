/*
 * Sdtrig: the debug trigger module as a native debugger (one running on the hart itself, with
 * action 0, "raise a breakpoint exception") sees it. RISC-V Debug Specification 1.0, chapter 5
 * ("Sdtrig"), and 0.13.2 chapter 5, whose mcontrol (type 2) layout is the same on RV32:
 *
 *   31:28 type (2)  27 dmode  26:21 maskmax  20 hit  19 select  18 timing  17:16 sizelo
 *   15:12 action    11 chain  10:7 match  6 m  5 (0)  4 s  3 u  2 execute  1 store  0 load
 *
 * What this hart implements (every other field is WARL with one legal value, 0):
 * - `TRIGGER_COUNT` mcontrol triggers, as QEMU 7.2's two; tselect ignores writes of a larger index.
 * - match 0 (equal), 2 (address ≥ tdata2) and 3 (address < tdata2); any other value reads back 0.
 * - execute, load and store address matches, before the instruction or access (timing 0).
 * - action 0 only: a breakpoint exception (cause 3) with xtval = the matching address (priv.
 *   spec 1.12 §3.1.16). There is no Debug Mode, so dmode is read-only 0 and action 1 reads 0.
 * - m, s, u select the privilege modes it fires in. In M-mode a trigger fires only while
 *   mstatus.MIE is 1: without tcontrol, this is how Sdtrig 1.0 §5.4 ("native triggers") keeps an
 *   M-mode trap handler from hitting its own trigger over and over. riscv-tests' breakpoint test
 *   sets MIE for that reason.
 * - hit is set when the trigger fires, and is writable.
 * - tdata3 reads 0 and ignores writes (no textra); tinfo says type 2 only.
 * - A write of tdata1 with another type disables the trigger (it reads back as type 2 with no
 *   mode or access bits): type is WARL and 2 is its only legal value here.
 */

/** How many triggers a hart has unless told otherwise (QEMU 7.2 has two). */
export const TRIGGER_COUNT = 2;

const TYPE_MCONTROL = 2;
const TYPE_SHIFT = 28;
const HIT = 1 << 20;
const MATCH_SHIFT = 7;
const MATCH_MASK = 0xf << MATCH_SHIFT;
export const MCONTROL = {
  M: 1 << 6,
  S: 1 << 4,
  U: 1 << 3,
  EXECUTE: 1 << 2,
  STORE: 1 << 1,
  LOAD: 1 << 0,
} as const;
/** The bits a write keeps, besides type and match (checked on their own). */
const WRITABLE = HIT | MCONTROL.M | MCONTROL.S | MCONTROL.U | MCONTROL.EXECUTE | MCONTROL.STORE | MCONTROL.LOAD;
/** Privilege mode → its enable bit in mcontrol (U 0, S 1, M 3). */
const MODE_BIT = [MCONTROL.U, MCONTROL.S, 0, MCONTROL.M] as const;
const DISABLED = (TYPE_MCONTROL << TYPE_SHIFT) >>> 0;

/** What an access asks of the triggers: the access bit it matches on. */
export const TriggerAccess = { Execute: MCONTROL.EXECUTE, Store: MCONTROL.STORE, Load: MCONTROL.LOAD } as const;

/**
 * The trigger registers of one hart. `executeArmed` and `dataArmed` are what the engines look
 * at: while both are false, nothing on any path checks a trigger.
 */
export class Triggers {
  readonly count: number;
  readonly tdata1: Uint32Array;
  readonly tdata2: Uint32Array;
  tselect = 0;
  /** Some trigger matches instruction fetches (in some mode). */
  executeArmed = false;
  /** Some trigger matches loads or stores (in some mode). */
  dataArmed = false;

  constructor(count = TRIGGER_COUNT) {
    if (!Number.isInteger(count) || count < 0 || count > 16) throw new RangeError(`triggers must be 0..16, got ${count}`);
    this.count = count;
    this.tdata1 = new Uint32Array(count).fill(DISABLED);
    this.tdata2 = new Uint32Array(count);
  }

  reset(): void {
    this.tdata1.fill(DISABLED);
    this.tdata2.fill(0);
    this.tselect = 0;
    this.rearm();
  }

  /** tinfo: bit N says type N is supported. */
  get tinfo(): number {
    return 1 << TYPE_MCONTROL;
  }

  writeTselect(value: number): void {
    if (value >>> 0 < this.count) this.tselect = value >>> 0;
  }

  writeTdata1(value: number): void {
    const index = this.tselect;
    if (value >>> TYPE_SHIFT !== TYPE_MCONTROL) {
      this.tdata1[index] = DISABLED;
    } else {
      const match = (value & MATCH_MASK) >>> MATCH_SHIFT;
      const legalMatch = match === 0 || match === 2 || match === 3 ? match : 0;
      this.tdata1[index] = (DISABLED | (value & WRITABLE) | (legalMatch << MATCH_SHIFT)) >>> 0;
    }
    this.rearm();
  }

  writeTdata2(value: number): void {
    this.tdata2[this.tselect] = value >>> 0;
  }

  /**
   * Lends these triggers (a platform hart's, about to run a guest's context in U-mode) to a
   * guest's: trigger i matches what the guest's trigger i matches in the guest's mode `priv`
   * (with mstatus.MIE `mie`), in U-mode, where the context runs. The platform hart then stops the
   * context wherever the guest's trigger may fire, and the hypervisor decides by emulating that
   * instruction with the guest's own triggers.
   */
  lend(guest: Triggers, priv: number, mie: boolean): void {
    const modeBit = priv === 3 && !mie ? 0 : MODE_BIT[priv & 3]!;
    const kept = ~(MCONTROL.M | MCONTROL.S | MCONTROL.U | HIT);
    for (let i = 0; i < this.count; i++) {
      const t = i < guest.count ? guest.tdata1[i]! : DISABLED;
      this.tdata1[i] = (t & modeBit) !== 0 ? ((t & kept) | MCONTROL.U) >>> 0 : DISABLED;
      this.tdata2[i] = i < guest.count ? guest.tdata2[i]! : 0;
    }
    this.rearm();
  }

  private rearm(): void {
    let execute = false;
    let data = false;
    const modes = MCONTROL.M | MCONTROL.S | MCONTROL.U;
    for (let i = 0; i < this.count; i++) {
      const t = this.tdata1[i]!;
      if ((t & modes) === 0) continue;
      if (t & MCONTROL.EXECUTE) execute = true;
      if (t & (MCONTROL.LOAD | MCONTROL.STORE)) data = true;
    }
    this.executeArmed = execute;
    this.dataArmed = data;
  }

  /**
   * The trigger that fires for an access (`TriggerAccess`) at `address` in privilege `priv`, or
   * -1. `mie` is mstatus.MIE (see the M-mode rule above). Sets the trigger's hit bit.
   */
  match(access: number, address: number, priv: number, mie: boolean): number {
    if (priv === 3 && !mie) return -1;
    const modeBit = MODE_BIT[priv & 3]!;
    const a = address >>> 0;
    for (let i = 0; i < this.count; i++) {
      const t = this.tdata1[i]!;
      if ((t & access) === 0 || (t & modeBit) === 0) continue;
      const value = this.tdata2[i]!;
      const match = (t & MATCH_MASK) >>> MATCH_SHIFT;
      const hit = match === 0 ? a === value : match === 2 ? a >= value : a < value;
      if (hit) {
        this.tdata1[i] = (t | HIT) >>> 0;
        return i;
      }
    }
    return -1;
  }
}
