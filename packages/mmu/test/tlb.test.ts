import { describe, expect, it } from "vitest";
import { Tlb, TLB_ENTRIES, TLB_MASK } from "@matryoshka/mmu";

/** The obvious TLB: flushes look at every entry. */
class ReferenceTlb {
  readonly tag = new Int32Array(TLB_ENTRIES).fill(-1);
  readonly frameOffset = new Int32Array(TLB_ENTRIES);
  readonly framePage = new Int32Array(TLB_ENTRIES);
  flush(): void {
    this.tag.fill(-1);
  }
  flushPage(va: number): void {
    const vpn = va >>> 12;
    if (this.tag[vpn & TLB_MASK] === vpn) this.tag[vpn & TLB_MASK] = -1;
  }
  flushFrame(physicalPage: number): void {
    for (let i = 0; i < TLB_ENTRIES; i++) if (this.tag[i] !== -1 && this.framePage[i] === physicalPage) this.tag[i] = -1;
  }
  fill(va: number, ramOffsetOfFrame: number, physicalPage: number): void {
    const index = (va >>> 12) & TLB_MASK;
    this.tag[index] = va >>> 12;
    this.frameOffset[index] = ramOffsetOfFrame;
    this.framePage[index] = physicalPage;
  }
}

/** xorshift32: a reproducible sequence. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

describe("Tlb flushes (cost proportional to the entries in use)", () => {
  it("empties every entry filled since the last flush, including refilled and page-flushed ones", () => {
    const tlb = new Tlb();
    tlb.flush(); // nothing to do
    for (let page = 0; page < 3 * TLB_ENTRIES; page += 7) tlb.fill(page * 4096, page * 4096, 0x80000 + page);
    tlb.fill(0x0000_5000, 0, 0x80005); // the same entry again
    tlb.flushPage(0x0000_5000);
    tlb.fill(0x0000_5000, 0, 0x80005);
    tlb.flush();
    expect(Array.from(tlb.tag).every((tag) => tag === -1)).toBe(true);
    tlb.fill(0x1234_5000, 0x5000, 0x80005);
    expect(tlb.tag[0x12345 & TLB_MASK]).toBe(0x12345);
    tlb.flush();
    expect(tlb.tag[0x12345 & TLB_MASK]).toBe(-1);
  });

  it("behaves exactly like a TLB that scans all its entries, over random fills and flushes", () => {
    const next = random(0x2545f491);
    const tlb = new Tlb();
    const reference = new ReferenceTlb();
    for (let step = 0; step < 50_000; step++) {
      const choice = next() % 100;
      // A small set of pages and frames, so that entries collide and frames repeat.
      const va = ((next() % 2048) * 4096 + (next() & 0xfff)) >>> 0;
      const frame = 0x80000 + (next() % 64);
      if (choice < 70) {
        tlb.fill(va, (frame - 0x80000) * 4096, frame);
        reference.fill(va, (frame - 0x80000) * 4096, frame);
      } else if (choice < 85) {
        tlb.flushPage(va);
        reference.flushPage(va);
      } else if (choice < 97) {
        tlb.flushFrame(frame);
        reference.flushFrame(frame);
      } else {
        tlb.flush();
        reference.flush();
      }
      if (step % 97 === 0 || choice >= 97) {
        expect(tlb.tag).toEqual(reference.tag);
        for (let i = 0; i < TLB_ENTRIES; i++) {
          if (tlb.tag[i] === -1) continue;
          expect(tlb.frameOffset[i]).toBe(reference.frameOffset[i]);
          expect(tlb.framePage[i]).toBe(reference.framePage[i]);
        }
      }
    }
    expect(tlb.tag).toEqual(reference.tag);
  });
});
