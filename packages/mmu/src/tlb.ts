/**
 * A direct-mapped software TLB for one access kind and one effective privilege. Each entry maps a
 * virtual page number to the byte offset of its frame inside RAM, so a hit costs one compare and
 * one typed-array read. Pages that are not plain RAM (MMIO, pages split by PMP, pages holding
 * translated code for the store TLB) are never entered: the hart takes its slow path for them.
 *
 * The arrays are public on purpose: engines inline the lookup in their hot loops.
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

  /** Empties every entry. */
  flush(): void {
    this.tag.fill(-1);
  }

  /** Empties the entry of one virtual page, if present. */
  flushPage(va: number): void {
    const vpn = va >>> 12;
    const index = vpn & TLB_MASK;
    if (this.tag[index] === vpn) this.tag[index] = -1;
  }

  /** Empties every entry that maps a given physical page (e.g. a page that now holds code). */
  flushFrame(physicalPage: number): void {
    for (let i = 0; i < TLB_ENTRIES; i++) if (this.tag[i] !== -1 && this.framePage[i] === physicalPage) this.tag[i] = -1;
  }

  fill(va: number, ramOffsetOfFrame: number, physicalPage: number): void {
    const vpn = va >>> 12;
    const index = vpn & TLB_MASK;
    this.tag[index] = vpn;
    this.frameOffset[index] = ramOffsetOfFrame;
    this.framePage[index] = physicalPage;
  }
}
