import type { Tlb } from "@matryoshka/mmu";

/**
 * Pre-decoded instructions per physical page of RAM, shared by every hart and engine of a machine.
 *
 * A page's entry is an Int32Array of 2 words per halfword slot (2048 slots: compressed code may
 * start at any even address). Word 0 packs the operation and registers (see `pack`), word 1 holds
 * the immediate; a zero word 0 means "not decoded yet", so pages decode lazily as code runs.
 *
 * Writes to a page with decoded code must drop its entry. Rather than test every store, a page
 * that gets decoded is removed from all registered store TLBs: stores to it take the slow path,
 * which calls `invalidatePage`. Device DMA calls `invalidateRange`.
 */
export class CodeCache {
  readonly pages: (Int32Array | undefined)[];
  /** Store TLBs of every hart sharing this cache. */
  private readonly storeTlbs: Tlb[] = [];
  /** Bumped when any page is invalidated, so engines holding a page reference re-fetch it. */
  generation = 0;
  private readonly ramBase: number;

  constructor(ramBase: number, ramSize: number) {
    this.ramBase = ramBase;
    this.pages = new Array<Int32Array | undefined>(ramSize >>> 12).fill(undefined);
  }

  registerStoreTlb(tlb: Tlb): void {
    this.storeTlbs.push(tlb);
  }

  /** The decode array of a RAM page (index = (pa - ramBase) >>> 12), created empty on first use. */
  page(ramPage: number): Int32Array {
    let page = this.pages[ramPage];
    if (page === undefined) {
      page = new Int32Array(4096);
      this.pages[ramPage] = page;
      const physicalPage = (this.ramBase >>> 12) + ramPage;
      for (const tlb of this.storeTlbs) tlb.flushFrame(physicalPage);
    }
    return page;
  }

  hasCode(ramPage: number): boolean {
    return this.pages[ramPage] !== undefined;
  }

  invalidatePage(ramPage: number): void {
    if (this.pages[ramPage] !== undefined) {
      this.pages[ramPage] = undefined;
      this.generation++;
    }
  }

  /** Drops decoded code overlapping [pa, pa + length): for DMA and loaders. */
  invalidateRange(pa: number, length: number): void {
    if (length <= 0) return;
    const first = Math.max(0, Math.floor((pa - this.ramBase) / 4096));
    const last = Math.min(this.pages.length - 1, Math.floor((pa + length - 1 - this.ramBase) / 4096));
    for (let p = first; p <= last; p++) this.invalidatePage(p);
  }

  /** Drops everything (fence.i does this, cheaply: pages re-decode lazily). */
  clear(): void {
    this.pages.fill(undefined);
    this.generation++;
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
