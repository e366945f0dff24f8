import { OP_COUNT } from "@matryoshka/isa";
import type { Tlb } from "@matryoshka/mmu";

/** Word 0 of a slot that has not been decoded yet (InternalOp.DECODE in hart.ts). */
const NOT_DECODED = OP_COUNT + 2;
/** Word 0 of the slots past the end of a page (InternalOp.PAGE_END): fetch the next page. */
const PAGE_END = OP_COUNT + 3;

/**
 * Words in a decode page: 2 per halfword slot, plus two guard slots past the end (offsets 4096
 * and 4098) where sequential execution lands after the last instruction of the page.
 */
export const DECODE_PAGE_WORDS = 4096 + 4;

/** A fresh decode page: every slot says "decode me", the guard slots say "next page". */
export function emptyDecodePage(): Int32Array {
  const page = new Int32Array(DECODE_PAGE_WORDS);
  for (let i = 0; i < 4096; i += 2) page[i] = NOT_DECODED;
  page[4096] = PAGE_END;
  page[4098] = PAGE_END;
  return page;
}

/** A page whose every slot says "fetch": where the engine points after leaving a page. */
export function missPage(): Int32Array {
  const page = new Int32Array(DECODE_PAGE_WORDS);
  for (let i = 0; i < DECODE_PAGE_WORDS; i += 2) page[i] = PAGE_END;
  return page;
}

/**
 * Pre-decoded instructions per physical page of RAM, shared by every hart and engine of a machine.
 *
 * A page's entry is an Int32Array of 2 words per halfword slot (2048 slots: compressed code may
 * start at any even address), so the word index of an instruction equals its byte offset in the
 * page. Word 0 packs the operation and registers (see `pack`), word 1 holds the immediate; word 0
 * starts as InternalOp.DECODE, so pages decode lazily as code runs.
 *
 * Writes to a page with decoded code must drop its entry. Rather than test every store, a page
 * that gets decoded is removed from all registered store TLBs: stores to it take the slow path,
 * which calls `invalidatePage`. Device DMA calls `invalidateRange`.
 */
export interface CodeCacheOptions {
  /**
   * Keep no decoded pages: every fetch decodes afresh into one scratch page, and every page counts
   * as holding code, so every store takes the slow path and reports itself through `onWrite`.
   * For a VM's virtual harts, which only ever emulate single instructions while the guest's own
   * stores land in memory behind their back.
   */
  transient?: boolean;
  /** Told of every write that invalidated code (RAM byte offset and length), e.g. to forward it. */
  onWrite?: (ramOffset: number, length: number) => void;
}

/**
 * Told when decoded code stops being valid, so that caches derived from the decode pages (a
 * translator's blocks) drop what they built from it. Only pages that hold decoded code report.
 */
export interface CodeInvalidationListener {
  /** RAM bytes [ramOffset, ramOffset + length) of a page holding code were written. */
  codeWritten(ramOffset: number, length: number): void;
  /** The decode page of RAM page `ramPage` was dropped whole. */
  pageDropped(ramPage: number): void;
  /** Every decode page was dropped (fence.i). */
  cleared(): void;
}

/** Slots the transient scratch page remembers decoding; past that, it is reset whole. */
const SCRATCH_TRACKED_SLOTS = 64;

export class CodeCache {
  readonly pages: (Int32Array | undefined)[];
  private readonly transient: boolean;
  private readonly onWrite: ((ramOffset: number, length: number) => void) | undefined;
  private readonly scratch: Int32Array | undefined;
  /**
   * Transient mode: the slots decoded into the scratch page since `page` last handed it out (see
   * `noteDecode`), so that handing it out again resets just those; `scratchOverflow` when there
   * were more than fit, and the whole page must be reset. `scratchRamPage` is the RAM page the
   * scratch page currently stands for (-1: none).
   */
  private readonly scratchSlots = new Int32Array(SCRATCH_TRACKED_SLOTS);
  private scratchSlotCount = 0;
  private scratchOverflow = false;
  private scratchRamPage = -1;
  /** Store TLBs of every hart sharing this cache. */
  private readonly storeTlbs: Tlb[] = [];
  private readonly listeners: CodeInvalidationListener[] = [];
  /** Bumped when any page is invalidated, so engines holding a page reference re-fetch it. */
  generation = 0;
  private readonly ramBase: number;

  constructor(ramBase: number, ramSize: number, options: CodeCacheOptions = {}) {
    this.ramBase = ramBase;
    this.transient = options.transient ?? false;
    this.onWrite = options.onWrite;
    this.scratch = this.transient ? emptyDecodePage() : undefined;
    this.pages = new Array<Int32Array | undefined>(this.transient ? 0 : ramSize >>> 12).fill(undefined);
  }

  registerStoreTlb(tlb: Tlb): void {
    this.storeTlbs.push(tlb);
  }

  /** Whether this cache keeps no decoded pages (see CodeCacheOptions.transient). */
  get isTransient(): boolean {
    return this.transient;
  }

  addInvalidationListener(listener: CodeInvalidationListener): void {
    this.listeners.push(listener);
  }

  removeInvalidationListener(listener: CodeInvalidationListener): void {
    const index = this.listeners.indexOf(listener);
    if (index >= 0) this.listeners.splice(index, 1);
  }

  /**
   * The decode array of a RAM page (index = (pa - ramBase) >>> 12), created empty on first use.
   * In transient mode, the scratch page, with every slot back to "decode me" (nothing decoded
   * before survives, whatever page it came from).
   */
  page(ramPage: number): Int32Array {
    const scratch = this.scratch;
    if (scratch !== undefined) {
      this.resetScratch(scratch);
      this.scratchRamPage = ramPage;
      return scratch;
    }
    let page = this.pages[ramPage];
    if (page === undefined) {
      page = emptyDecodePage();
      this.pages[ramPage] = page;
      const physicalPage = (this.ramBase >>> 12) + ramPage;
      for (const tlb of this.storeTlbs) tlb.flushFrame(physicalPage);
    }
    return page;
  }

  /**
   * Harts call this before decoding into `page`'s `slot` (slot = byte offset / 2). Only the
   * transient scratch page cares: it records the slot, to reset it when the page is next handed out.
   */
  noteDecode(page: Int32Array, slot: number): void {
    if (page !== this.scratch) return;
    if (this.scratchSlotCount < SCRATCH_TRACKED_SLOTS) this.scratchSlots[this.scratchSlotCount++] = slot;
    else this.scratchOverflow = true;
  }

  /** Puts every slot of the scratch page that may have been decoded back to "decode me". */
  private resetScratch(scratch: Int32Array): void {
    if (this.scratchOverflow) {
      for (let i = 0; i < 4096; i += 2) {
        scratch[i] = NOT_DECODED;
        scratch[i + 1] = 0;
      }
      this.scratchOverflow = false;
    } else {
      const slots = this.scratchSlots;
      for (let i = 0; i < this.scratchSlotCount; i++) {
        const word = slots[i]! * 2;
        scratch[word] = NOT_DECODED;
        scratch[word + 1] = 0;
      }
    }
    this.scratchSlotCount = 0;
  }

  hasCode(ramPage: number): boolean {
    return this.transient || this.pages[ramPage] !== undefined;
  }

  /**
   * A store of `size` bytes at RAM offset `ramOffset` hit a page with decoded code: mark every
   * slot whose instruction could include those bytes (a 4-byte instruction may start 2 bytes
   * before) as not decoded. The page array stays, so an engine running on it sees the change at
   * once: self-modifying code works without leaving the loop, and data that shares a page with
   * code costs only the slow store path.
   */
  invalidateBytes(ramOffset: number, size: number): void {
    if (this.onWrite !== undefined) this.onWrite(ramOffset, size);
    if (this.transient) {
      this.dropScratchIfOverlapping(ramOffset, size);
      return;
    }
    const page = this.pages[ramOffset >>> 12];
    if (page === undefined) return;
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.codeWritten(ramOffset, Math.min(size, 4096 - (ramOffset & 0xfff)));
    const first = Math.max(0, (ramOffset & 0xfff) - 2) & ~1;
    const last = Math.min(4095, (ramOffset & 0xfff) + size - 1);
    for (let slot = first; slot <= last; slot += 2) page[slot] = NOT_DECODED;
    // Bytes spilling into the next page only start instructions there at its offset 0.
    if ((ramOffset & 0xfff) + size > 4096) this.invalidateBytes((ramOffset & ~0xfff) + 4096, (ramOffset & 0xfff) + size - 4096);
  }

  invalidatePage(ramPage: number): void {
    if (this.onWrite !== undefined) this.onWrite(ramPage * 4096, 4096);
    if (this.transient) {
      this.dropScratchIfOverlapping(ramPage * 4096, 4096);
      return;
    }
    if (this.pages[ramPage] !== undefined) {
      this.pages[ramPage] = undefined;
      this.generation++;
      for (const listener of this.listeners) listener.pageDropped(ramPage);
    }
  }

  /** Drops decoded code overlapping [pa, pa + length): for DMA and loaders. */
  invalidateRange(pa: number, length: number): void {
    if (length <= 0) return;
    if (this.transient) {
      this.onWrite?.(pa - this.ramBase, length);
      this.dropScratchIfOverlapping(pa - this.ramBase, length);
      return;
    }
    const first = Math.max(0, Math.floor((pa - this.ramBase) / 4096));
    const last = Math.min(this.pages.length - 1, Math.floor((pa + length - 1 - this.ramBase) / 4096));
    for (let p = first; p <= last; p++) this.invalidatePage(p);
  }

  /** Drops everything (fence.i does this, cheaply: pages re-decode lazily). */
  clear(): void {
    this.pages.fill(undefined);
    if (this.scratch !== undefined) this.resetScratch(this.scratch);
    this.generation++;
    for (const listener of this.listeners) listener.cleared();
  }

  /**
   * Transient mode: a write to RAM bytes [ramOffset, ramOffset + length). If they lie in the page
   * the scratch page stands for, none of its decoded slots may be used again (an engine running on
   * it decodes afresh). Only an engine running several instructions on one fetch can notice:
   * single-instruction emulation gets a reset scratch page on every fetch anyway.
   */
  private dropScratchIfOverlapping(ramOffset: number, length: number): void {
    const start = this.scratchRamPage * 4096;
    if (this.scratchRamPage >= 0 && ramOffset < start + 4096 && ramOffset + length > start) this.resetScratch(this.scratch!);
  }
}

/** Layout of word 0 of a decoded slot. */
export const SLOT_OP_MASK = 0x7f;
export const SLOT_LONG = 0x80; // a 4-byte instruction
export const SLOT_RD_SHIFT = 8;
export const SLOT_RS1_SHIFT = 13;
export const SLOT_RS2_SHIFT = 18;
export const SLOT_AQRL_SHIFT = 23;

export function pack(op: number, length: number, rd: number, rs1: number, rs2: number, aqrl: number): number {
  return (
    op |
    (length === 4 ? SLOT_LONG : 0) |
    (rd << SLOT_RD_SHIFT) |
    (rs1 << SLOT_RS1_SHIFT) |
    (rs2 << SLOT_RS2_SHIFT) |
    (aqrl << SLOT_AQRL_SHIFT)
  );
}
