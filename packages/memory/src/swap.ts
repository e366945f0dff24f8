import { PAGE_SIZE } from "./address.js";

/**
 * Where a hypervisor puts pages it swaps out when it runs out of frames (the last resort of
 * Waldspurger's memory manager): slots of one page each. Synchronous, because a page is swapped in
 * while the access that needs it waits. A Node file implementation lives in `@matryoshka/runner`
 * (the core packages touch no file system); `MemorySwapStore` keeps pages in host memory.
 */
export interface SwapStore {
  /** Stores one page (4096 bytes) in a free slot and returns the slot. */
  write(page: Uint8Array): number;
  /** Copies slot `slot`'s page into `into` (4096 bytes). */
  read(slot: number, into: Uint8Array): void;
  /** The slot is free again. */
  free(slot: number): void;
  /** Slots in use. */
  readonly used: number;
}

/** A swap store in host memory (tests, and a browser with no files). */
export class MemorySwapStore implements SwapStore {
  private readonly slots: (Uint8Array | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private count = 0;

  get used(): number {
    return this.count;
  }

  write(page: Uint8Array): number {
    const slot = this.freeSlots.pop() ?? this.slots.length;
    this.slots[slot] = page.slice(0, PAGE_SIZE);
    this.count++;
    return slot;
  }

  read(slot: number, into: Uint8Array): void {
    const page = this.slots[slot];
    if (page === undefined) throw new RangeError(`swap slot ${slot} is empty`);
    into.set(page);
  }

  free(slot: number): void {
    if (this.slots[slot] === undefined) return;
    this.slots[slot] = undefined;
    this.freeSlots.push(slot);
    this.count--;
  }
}
