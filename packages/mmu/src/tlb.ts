/**
 * A direct-mapped software TLB for one access kind and one effective privilege. Each entry maps a
 * virtual page number to the byte offset of its frame inside RAM, so a hit costs one compare and
 * one typed-array read. Pages that are not plain RAM (MMIO, pages split by PMP, pages holding
 * translated code for the store TLB) are never entered: the hart takes its slow path for them.
 *
 * The arrays are public on purpose: engines inline the lookup in their hot loops. They are read
 * there, never written: entries are made only by `fill` and emptied by the flush methods, which
 * keep a list of the entries in use so that a flush costs as much as there are entries to empty
 * (nothing, for a TLB nobody filled since its last flush), not the size of the TLB.
 */
export const TLB_ENTRIES = 256;
export const TLB_MASK = TLB_ENTRIES - 1;

export class Tlb {
  /** Virtual page number held by each entry, or -1 when empty. */
  readonly tag = new Int32Array(TLB_ENTRIES).fill(-1);
  /** RAM byte offset of the frame for each entry. */
  readonly frameOffset = new Int32Array(TLB_ENTRIES);
  /** Physical page number (pa >>> 12) of each entry, for invalidation by frame. */
  readonly framePage = new Int32Array(TLB_ENTRIES);
  /**
   * Indices of the entries filled since the last `flush`, each listed once (`listed` says which):
   * every entry whose tag is not -1 is among them.
   */
  private readonly used = new Uint16Array(TLB_ENTRIES);
  private readonly listed = new Uint8Array(TLB_ENTRIES);
  private usedCount = 0;

  /** Empties every entry. */
  flush(): void {
    const count = this.usedCount;
    if (count === 0) return;
    const tag = this.tag;
    const used = this.used;
    const listed = this.listed;
    for (let i = 0; i < count; i++) {
      const index = used[i]!;
      tag[index] = -1;
      listed[index] = 0;
    }
    this.usedCount = 0;
  }

  /** Empties the entry of one virtual page, if present. */
  flushPage(va: number): void {
    const vpn = va >>> 12;
    const index = vpn & TLB_MASK;
    if (this.tag[index] === vpn) this.tag[index] = -1;
  }

  /** Empties every entry that maps a given physical page (e.g. a page that now holds code). */
  flushFrame(physicalPage: number): void {
    const tag = this.tag;
    const used = this.used;
    for (let i = 0; i < this.usedCount; i++) {
      const index = used[i]!;
      if (tag[index] !== -1 && this.framePage[index] === physicalPage) tag[index] = -1;
    }
  }

  fill(va: number, ramOffsetOfFrame: number, physicalPage: number): void {
    const vpn = va >>> 12;
    const index = vpn & TLB_MASK;
    this.tag[index] = vpn;
    this.frameOffset[index] = ramOffsetOfFrame;
    this.framePage[index] = physicalPage;
    if (this.listed[index] === 0) {
      this.listed[index] = 1;
      this.used[this.usedCount++] = index;
    }
  }
}
