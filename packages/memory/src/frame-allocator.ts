import { PAGE_SHIFT, PAGE_SIZE, type GuestPhysicalAddress, type PlatformPhysicalAddress } from "./address.js";
import type { GuestMemory } from "./guest-memory.js";

/**
 * In which order free frames are handed out. "ascending" is the natural one; the others exist to
 * prove that nothing depends on a VM's frames being contiguous or in order: "descending" gives a
 * VM its pages back to front, "interleaved" gives every other frame first (so two VMs touching
 * pages in turn end up interleaved frame by frame).
 */
export type FrameOrder = "ascending" | "descending" | "interleaved";

/** Where a `PagedMemory` gets frames: its hypervisor's allocator. Frames are page numbers of the platform's memory. */
export interface FrameSource {
  /** A zeroed frame with one reference, or -1 when none is free. */
  allocateFrame(): number;
  /** One more mapping refers to `frame` (copy-on-write sharing). */
  retainFrame(frame: number): void;
  /** One mapping fewer refers to `frame`; the last one frees it. */
  releaseFrame(frame: number): void;
  /** Mappings referring to `frame` (0 when free). */
  references(frame: number): number;
}

export interface FrameAllocatorOptions {
  order?: FrameOrder;
  /**
   * Told after a frame that was used before is zeroed for a new owner, with its platform-physical
   * address: a hypervisor tells its platform that code may have changed there, so no engine runs
   * what the frame's previous owner left decoded.
   */
  onRecycled?: (address: PlatformPhysicalAddress, length: number) => void;
}

/**
 * A hypervisor's frames: every page of its platform's memory, handed out one at a time as VMs
 * touch pages (and shadow tables need room), reference-counted so a frame can be shared copy-on-
 * write, and taken back when the last reference goes. Frames are zeroed before they are handed
 * out, so no VM ever sees what another left behind.
 */
export class FrameAllocator implements FrameSource {
  readonly memory: GuestMemory;
  /** Frames the allocator manages (every page of the platform's memory). */
  readonly totalFrames: number;
  private readonly firstFrame: number;
  private readonly freeList: Int32Array;
  private freeCount: number;
  private readonly refs: Int32Array;
  /** 1 for frames handed out before: they hold a previous owner's data until zeroed. */
  private readonly used: Uint8Array;
  private readonly onRecycled: ((address: PlatformPhysicalAddress, length: number) => void) | undefined;

  constructor(memory: GuestMemory, options: FrameAllocatorOptions = {}) {
    this.memory = memory;
    this.totalFrames = memory.size >>> PAGE_SHIFT;
    this.firstFrame = memory.base >>> PAGE_SHIFT;
    this.refs = new Int32Array(this.totalFrames);
    this.used = new Uint8Array(this.totalFrames);
    this.onRecycled = options.onRecycled;
    // A stack: the frame to hand out first is on top.
    const order = frameOrder(this.totalFrames, options.order ?? "ascending");
    this.freeList = new Int32Array(this.totalFrames);
    for (let i = 0; i < this.totalFrames; i++) this.freeList[i] = order[this.totalFrames - 1 - i]!;
    this.freeCount = this.totalFrames;
  }

  get freeFrames(): number {
    return this.freeCount;
  }

  get usedFrames(): number {
    return this.totalFrames - this.freeCount;
  }

  /**
   * Called when no frame is free, to free some (a memory manager swapping a page out, say); the
   * allocation is tried again once if it returns true.
   */
  reclaim: (() => boolean) | undefined = undefined;

  allocateFrame(): number {
    if (this.freeCount === 0 && !(this.reclaim?.() === true && this.freeCount > 0)) return -1;
    const index = this.freeList[--this.freeCount]!;
    const frame = this.firstFrame + index;
    this.refs[index] = 1;
    // Zeroing a page of a VM's memory that was never touched costs nothing (it reads as zero
    // and stays unbacked); hardware RAM is cleared whatever it held before the hypervisor came.
    const address = frame * PAGE_SIZE;
    this.memory.fill(address as GuestPhysicalAddress, PAGE_SIZE, 0);
    if (this.used[index] === 1) this.onRecycled?.(address as PlatformPhysicalAddress, PAGE_SIZE);
    this.used[index] = 1;
    return frame;
  }

  retainFrame(frame: number): void {
    const index = this.indexOf(frame);
    if (this.refs[index]! <= 0) throw new Error(`frame 0x${frame.toString(16)} is free: it cannot be shared`);
    this.refs[index]!++;
  }

  releaseFrame(frame: number): void {
    const index = this.indexOf(frame);
    if (this.refs[index]! <= 0) throw new Error(`frame 0x${frame.toString(16)} released twice`);
    if (--this.refs[index]! === 0) this.freeList[this.freeCount++] = index;
  }

  /**
   * Takes the given frames out of the free list with the given reference counts (a snapshot's
   * restore puts a VM's pages back at the frames they had). The other free frames keep their
   * order. Throws a RangeError for a frame that is not free or not of this memory.
   */
  claim(frames: ReadonlyMap<number, number>): void {
    for (const [frame, refs] of frames) {
      const index = this.indexOf(frame);
      if (this.refs[index] !== 0) throw new RangeError(`frame 0x${frame.toString(16)} is not free`);
      if (!Number.isInteger(refs) || refs < 1) throw new RangeError(`frame 0x${frame.toString(16)} cannot have ${refs} references`);
      this.refs[index] = refs;
      this.used[index] = 1;
    }
    // One pass keeps the rest of the free list in order (claimed frames now have references).
    let kept = 0;
    for (let i = 0; i < this.freeCount; i++) {
      const index = this.freeList[i]!;
      if (this.refs[index] === 0) this.freeList[kept++] = index;
    }
    this.freeCount = kept;
  }

  references(frame: number): number {
    const index = frame - this.firstFrame;
    return index >= 0 && index < this.totalFrames ? this.refs[index]! : 0;
  }

  private indexOf(frame: number): number {
    const index = frame - this.firstFrame;
    if (!Number.isInteger(index) || index < 0 || index >= this.totalFrames) {
      throw new RangeError(`frame 0x${frame.toString(16)} is not a page of this allocator's memory`);
    }
    return index;
  }
}

/** Frame indices 0..count-1 in the order they are handed out. */
function frameOrder(count: number, order: FrameOrder): Int32Array {
  const out = new Int32Array(count);
  if (order === "ascending") for (let i = 0; i < count; i++) out[i] = i;
  else if (order === "descending") for (let i = 0; i < count; i++) out[i] = count - 1 - i;
  else {
    let at = 0;
    for (let i = 0; i < count; i += 2) out[at++] = i;
    for (let i = 1; i < count; i += 2) out[at++] = i;
  }
  return out;
}
