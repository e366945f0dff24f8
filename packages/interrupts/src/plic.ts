import type { AccessSize, MmioDevice } from "@matryoshka/memory";
import { LINE, type InterruptLines } from "./lines.js";

/** Register layout of the SiFive PLIC as QEMU `virt` configures it ("MS" contexts per hart). */
/** Sources 1..96 (QEMU virt advertises riscv,ndev = 96); source 0 does not exist. */
export const PLIC_SOURCES = 97;
export const PLIC_PRIORITY_BITS = 3;
const PENDING_BASE = 0x1000;
const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x20_0000;
const CONTEXT_STRIDE = 0x1000;

export function plicSize(harts: number): number {
  return CONTEXT_BASE + 2 * harts * CONTEXT_STRIDE;
}

/** A PLIC's state as plain data (see `Plic.saveState`). */
export interface PlicState {
  contexts: number;
  priority: number[];
  level: number[];
  pending: number[];
  claimed: number[];
  enable: number[];
  threshold: number[];
}

/**
 * The platform-level interrupt controller: level-triggered sources with priorities, per-context
 * enables and thresholds, claim/complete. Context 2h is hart h's M-mode (MEIP), 2h+1 its S-mode
 * (SEIP).
 */
export class Plic implements MmioDevice {
  private readonly harts: InterruptLines[];
  private readonly contexts: number;
  readonly priority = new Uint32Array(PLIC_SOURCES);
  /** Current level of each source's input line. */
  private readonly level = new Uint8Array(PLIC_SOURCES);
  private readonly pending = new Uint8Array(PLIC_SOURCES);
  private readonly claimed = new Uint8Array(PLIC_SOURCES);
  private readonly enable: Uint32Array;
  private readonly threshold: Uint32Array;
  private readonly words = Math.ceil(PLIC_SOURCES / 32);

  constructor(harts: InterruptLines[]) {
    this.harts = harts;
    this.contexts = 2 * harts.length;
    this.enable = new Uint32Array(this.contexts * this.words);
    this.threshold = new Uint32Array(this.contexts);
  }

  /** Priorities, line levels, pending and claimed sources, enables and thresholds, for a snapshot. */
  saveState(): PlicState {
    return {
      contexts: this.contexts,
      priority: Array.from(this.priority),
      level: Array.from(this.level),
      pending: Array.from(this.pending),
      claimed: Array.from(this.claimed),
      enable: Array.from(this.enable),
      threshold: Array.from(this.threshold),
    };
  }

  /** Puts back what `saveState` returned (same number of harts), then drives MEIP and SEIP to match. */
  restoreState(state: PlicState): void {
    if (state.contexts !== this.contexts || state.enable.length !== this.enable.length || state.priority.length !== PLIC_SOURCES) {
      throw new RangeError(`PLIC state of ${state.contexts} contexts does not fit a PLIC of ${this.contexts}`);
    }
    this.priority.set(state.priority);
    this.level.set(state.level);
    this.pending.set(state.pending);
    this.claimed.set(state.claimed);
    this.enable.set(state.enable);
    this.threshold.set(state.threshold);
    this.update();
  }

  /** A device drives its interrupt line. */
  setLevel(source: number, high: boolean): void {
    if (source <= 0 || source >= PLIC_SOURCES) return;
    this.level[source] = high ? 1 : 0;
    // Level-triggered: a high line is pending unless it is being serviced.
    this.pending[source] = high && !this.claimed[source] ? 1 : 0;
    this.update();
  }

  private enabled(context: number, source: number): boolean {
    return ((this.enable[context * this.words + (source >>> 5)]! >>> (source & 31)) & 1) !== 0;
  }

  /** The highest-priority pending, enabled source above the context's threshold (lowest id wins ties). */
  private best(context: number): number {
    let best = 0;
    let bestPriority = this.threshold[context]!;
    for (let source = 1; source < PLIC_SOURCES; source++) {
      if (!this.pending[source] || !this.enabled(context, source)) continue;
      const p = this.priority[source]!;
      if (p > bestPriority) {
        best = source;
        bestPriority = p;
      }
    }
    return best;
  }

  private update(): void {
    for (let context = 0; context < this.contexts; context++) {
      const hart = this.harts[context >> 1]!;
      hart.setInterruptLine((context & 1) === 0 ? LINE.MEIP : LINE.SEIP, this.best(context) !== 0);
    }
  }

  read(offset: number, size: AccessSize): number | undefined {
    // Only whole words, as on QEMU 7.2 (sifive_plic's region is valid for 4 bytes): anything
    // narrower is an access fault, and has no side effect (reading a claim register claims).
    if (size !== 4) return undefined;
    if ((offset & 3) !== 0) return 0;
    if (offset < PENDING_BASE) {
      const source = offset >> 2;
      return source < PLIC_SOURCES ? this.priority[source]! : 0;
    }
    if (offset < ENABLE_BASE) {
      const word = (offset - PENDING_BASE) >> 2;
      if (word >= this.words) return 0;
      let value = 0;
      for (let bit = 0; bit < 32; bit++) if (this.pending[word * 32 + bit]) value |= 1 << bit;
      return value >>> 0;
    }
    if (offset < CONTEXT_BASE) {
      const context = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const word = ((offset - ENABLE_BASE) % ENABLE_STRIDE) >> 2;
      if (context >= this.contexts || word >= this.words) return 0;
      return this.enable[context * this.words + word]!;
    }
    const context = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
    const register = (offset - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (context >= this.contexts) return 0;
    if (register === 0) return this.threshold[context]!;
    if (register === 4) return this.claim(context);
    return 0;
  }

  private claim(context: number): number {
    const source = this.best(context);
    if (source !== 0) {
      this.pending[source] = 0;
      this.claimed[source] = 1;
      this.update();
    }
    return source;
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (size !== 4) return false;
    if ((offset & 3) !== 0) return true;
    const mask = (1 << PLIC_PRIORITY_BITS) - 1;
    if (offset < PENDING_BASE) {
      const source = offset >> 2;
      if (source > 0 && source < PLIC_SOURCES) this.priority[source] = value & mask;
    } else if (offset < ENABLE_BASE) {
      // Pending bits are read-only.
    } else if (offset < CONTEXT_BASE) {
      const context = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const word = ((offset - ENABLE_BASE) % ENABLE_STRIDE) >> 2;
      if (context < this.contexts && word < this.words) {
        this.enable[context * this.words + word] = word === 0 ? value & ~1 : value; // source 0 does not exist
      }
    } else {
      const context = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
      const register = (offset - CONTEXT_BASE) % CONTEXT_STRIDE;
      if (context >= this.contexts) return true;
      if (register === 0) this.threshold[context] = value & mask;
      else if (register === 4) this.complete(context, value);
    }
    this.update();
    return true;
  }

  private complete(context: number, source: number): void {
    if (source <= 0 || source >= PLIC_SOURCES || !this.claimed[source] || !this.enabled(context, source)) return;
    this.claimed[source] = 0;
    // A level-triggered source whose line is still high is pending again.
    if (this.level[source]) this.pending[source] = 1;
  }
}
