import { PAGE_SHIFT, PAGE_SIZE, type GuestPhysicalAddress, type PlatformPhysicalAddress } from "./address.js";
import type { FrameSource } from "./frame-allocator.js";
import type { SwapStore } from "./swap.js";
import { GuestMemoryBase, type GuestMemory, type RemapCounter } from "./guest-memory.js";

/**
 * Where a VM's guest pages live in its platform's memory, as shadow paging and direct paging need
 * it: they map guest pages to platform frames in tables the hardware walks.
 */
export interface FrameTable {
  /**
   * Platform-physical address of the frame holding guest page `page` (address >>> 12), backing it
   * on first touch; for a write, a private frame (sharing broken) marked dirty. -1 when the page is
   * not RAM of the VM or no frame can be had.
   */
  platformAddress(page: number, write: boolean): PlatformPhysicalAddress | -1;
  /**
   * Whether a mapping of the page may let writes through without telling anyone: false for a
   * page shared copy-on-write, and for a clean page while the dirty log is on.
   */
  mapsWritable(page: number): boolean;
}

/** Page flags. */
const SHARED = 1;
/** The page's frame was handed to the guest (direct paging): it must never move. */
const PINNED = 2;
/** The page is in the swap store (its slot in `swapSlots`), with no frame. */
const SWAPPED = 4;
/** Being sampled for activity: its mappings were dropped, and its next access sets TOUCHED. */
const SAMPLED = 8;
const TOUCHED = 16;

/** A frame table's state in shared memory, so that worker threads can read the same table. */
export interface PagedMemoryState {
  /** Platform frame of each page, or -1 while the page has no frame. */
  readonly table: Int32Array;
  readonly flags: Uint8Array;
  /** Dirty log, one bit per page (Atomics, since worker threads mark it too). */
  readonly dirty: Int32Array;
  /** [0]: 1 while the dirty log is on. */
  readonly control: Int32Array;
}

/** How many of a VM's pages are where. */
export interface PagedMemoryStats {
  /** Pages with a frame of their own or a shared one. */
  resident: number;
  /** Of those, pages mapped to a frame shared copy-on-write. */
  shared: number;
  /** Copy-on-write breaks so far (a write to a shared page). */
  copies: number;
  /** Pages in the swap store now, and pages swapped out and in so far. */
  swapped: number;
  swapOuts: number;
  swapIns: number;
  /** Times a page needed a frame and none was free. */
  exhausted: number;
}

/**
 * A VM's guest memory: a page-granular frame table over the platform's memory. Each guest page is
 * backed by a frame of its own, by nothing yet (a frame comes from the hypervisor's `FrameSource`
 * on first touch), or by a read-only frame shared with other pages (copied on the first write).
 * Consecutive pages need not be consecutive frames.
 *
 * Harts reach a page through `frameOffset`, which composes this table with the platform's own
 * (`platform.frameOffset`), down to the one buffer at the bottom: every level of a stack touches
 * the same bytes without copies.
 *
 * The dirty log records every page written since the last harvest by any path: harts (their TLBs
 * and the shadow tables get write permission only through `frameOffset(page, true)` or
 * `platformAddress(page, true)`, which mark the page), DMA, loaders and firmware calls (through
 * `write`/`fill`). Starting the log or harvesting it calls `onWriteProtect`, whose job is to
 * revoke every write permission granted before.
 */
export class PagedMemory extends GuestMemoryBase implements FrameTable {
  readonly base: GuestPhysicalAddress;
  readonly size: number;
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly remaps: RemapCounter;
  /** The memory beneath: frame numbers in the table are its pages. */
  readonly platform: GuestMemory;
  readonly pages: number;
  readonly state: PagedMemoryState;
  readonly stats: PagedMemoryStats = { resident: 0, shared: 0, copies: 0, swapped: 0, swapOuts: 0, swapIns: 0, exhausted: 0 };
  /** Where swapped-out pages go (set by the hypervisor's memory manager). */
  swapStore: SwapStore | undefined = undefined;

  /**
   * Every mapping of the platform frame `oldFrame` must go: page `page` moved to another frame, or
   * (activity sampling) its next access must be seen.
   */
  onRemap: ((page: number, oldFrame: number) => void) | undefined = undefined;
  /** As `onRemap` for many frames at once (one pass over the shadow tables instead of one each). */
  onRemapFrames: ((frames: ReadonlySet<number>) => void) | undefined = undefined;
  /** Write permissions granted so far must be revoked (the dirty log started or was harvested). */
  onWriteProtect: (() => void) | undefined = undefined;
  /** A page needed a frame and none was free (the access fails; a VM stops its guest). */
  onExhausted: ((page: number) => void) | undefined = undefined;

  private readonly frames: FrameSource | undefined;
  private readonly firstPage: number;
  /** The swap slot of each swapped-out page. */
  private swapSlots: Int32Array | undefined;
  private readonly table: Int32Array;
  private readonly flags: Uint8Array;
  private readonly dirty: Int32Array;
  private readonly control: Int32Array;
  /** Platform frame → guest page, for pinned pages only (direct paging's machine-to-physical table). */
  private readonly pinnedFrames = new Map<number, number>();

  /**
   * `frames` is where new frames come from; without it (a worker thread's view of a table the
   * main thread populated), a page with no frame is simply not accessible. `state` shares an
   * existing table's arrays instead of making new ones.
   */
  constructor(platform: GuestMemory, base: number, size: number, frames: FrameSource | undefined, state?: PagedMemoryState) {
    super();
    if (!Number.isInteger(base) || base < 0 || base % PAGE_SIZE !== 0 || !Number.isInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || base + size > 0x1_0000_0000) {
      throw new RangeError(`guest RAM at 0x${base.toString(16)} of ${size} bytes must be whole 4 KiB pages below 4 GiB`);
    }
    this.platform = platform;
    this.base = base as GuestPhysicalAddress;
    this.size = size;
    this.buffer = platform.buffer;
    this.u8 = platform.u8;
    this.u16 = platform.u16;
    this.i32 = platform.i32;
    this.remaps = platform.remaps;
    this.frames = frames;
    this.firstPage = base >>> PAGE_SHIFT;
    this.pages = size >>> PAGE_SHIFT;
    this.state = state ?? {
      table: new Int32Array(new SharedArrayBuffer(4 * this.pages)).fill(-1),
      flags: new Uint8Array(new SharedArrayBuffer(this.pages)),
      dirty: new Int32Array(new SharedArrayBuffer(4 * Math.ceil(this.pages / 32))),
      control: new Int32Array(new SharedArrayBuffer(4)),
    };
    if (this.state.table.length !== this.pages) throw new RangeError(`a frame table of ${this.state.table.length} pages cannot describe ${this.pages}`);
    this.table = this.state.table;
    this.flags = this.state.flags;
    this.dirty = this.state.dirty;
    this.control = this.state.control;
    if (state !== undefined) this.recount();
  }

  frameOffset(page: number, write: boolean): number {
    const frame = this.frameOf(page - this.firstPage, write);
    return frame < 0 ? -1 : this.platform.frameOffset(frame, write);
  }

  platformAddress(page: number, write: boolean): PlatformPhysicalAddress | -1 {
    const frame = this.frameOf(page - this.firstPage, write);
    return frame < 0 ? -1 : ((frame * PAGE_SIZE) as PlatformPhysicalAddress);
  }

  mapsWritable(page: number): boolean {
    const index = page - this.firstPage;
    if (index < 0 || index >= this.pages || (this.flags[index]! & SHARED) !== 0) return false;
    return this.control[0] === 0 || (this.dirty[index >>> 5]! & (1 << (index & 31))) !== 0;
  }

  /** The platform frame of guest page `page` as it is now (no backing, no side effects), or -1. */
  currentFrame(page: number): number {
    const index = page - this.firstPage;
    return index >= 0 && index < this.pages ? this.table[index]! : -1;
  }

  /**
   * Where guest page `page`'s frame lies in the views now, or -1 if it has none: a look that
   * backs nothing, breaks no sharing and is not an access of the guest's (activity sampling does
   * not count it). For a hypervisor reading pages (the sharing scanner, a snapshot). Nor does it
   * back anything in the memories beneath: a frame that is an untouched page of a VM below has
   * no bytes yet (it reads as zero), and is -1 here too.
   */
  peekOffset(page: number): number {
    const frame = this.currentFrame(page);
    if (frame < 0) return -1;
    return this.platform instanceof PagedMemory ? this.platform.peekOffset(frame) : this.platform.frameOffset(frame, false);
  }

  /** Whether guest page `page` is pinned to its frame (direct paging). */
  isPinned(page: number): boolean {
    const index = page - this.firstPage;
    return index >= 0 && index < this.pages && (this.flags[index]! & PINNED) !== 0;
  }

  /** Whether guest page `page` is mapped to a frame shared copy-on-write. */
  isShared(page: number): boolean {
    const index = page - this.firstPage;
    return index >= 0 && index < this.pages && (this.flags[index]! & SHARED) !== 0;
  }

  /**
   * The frame for page index `index` (0-based), backing or un-sharing it as `write` needs, or -1.
   * The hot part of every path: a typed-array read when the page is already what is needed.
   */
  private frameOf(index: number, write: boolean): number {
    if (index < 0 || index >= this.pages) return -1;
    if ((this.flags[index]! & SAMPLED) !== 0) this.flags[index] = (this.flags[index]! & ~SAMPLED) | TOUCHED;
    let frame = this.table[index]!;
    if (frame < 0) {
      frame = this.back(index);
      if (frame < 0) return -1;
    }
    if (write) {
      if ((this.flags[index]! & SHARED) !== 0) {
        frame = this.breakSharing(index, frame);
        if (frame < 0) return -1;
      }
      if (this.control[0] !== 0) {
        const bit = 1 << (index & 31);
        if ((this.dirty[index >>> 5]! & bit) === 0) Atomics.or(this.dirty, index >>> 5, bit);
      }
    }
    return frame;
  }

  private back(index: number): number {
    const frame = this.frames === undefined ? -1 : this.frames.allocateFrame();
    if (frame < 0) {
      this.stats.exhausted++;
      this.onExhausted?.(this.firstPage + index);
      return -1;
    }
    if ((this.flags[index]! & SWAPPED) !== 0) {
      // Swapped out: the page's bytes come back from the store into its new frame.
      const offset = this.platform.frameOffset(frame, true);
      const slot = this.swapSlots![index]!;
      if (offset < 0 || this.swapStore === undefined) {
        this.frames!.releaseFrame(frame);
        return -1;
      }
      this.swapStore.read(slot, this.u8.subarray(offset, offset + PAGE_SIZE));
      this.swapStore.free(slot);
      this.flags[index] &= ~SWAPPED;
      this.stats.swapped--;
      this.stats.swapIns++;
    }
    this.table[index] = frame;
    this.stats.resident++;
    return frame;
  }

  /**
   * Swaps guest page `page` out to the swap store: its bytes go to a slot, its frame back to the
   * hypervisor, and its next access brings it back (hypervisor swapping, the memory manager's last
   * resort). Refused (false) for a page with no frame of its own (none, or shared), a pinned page,
   * or with no swap store.
   */
  swapOut(page: number): boolean {
    const index = page - this.firstPage;
    if (index < 0 || index >= this.pages || this.swapStore === undefined || this.frames === undefined) return false;
    const frame = this.table[index]!;
    if (frame < 0 || (this.flags[index]! & (SHARED | PINNED)) !== 0) return false;
    const offset = this.platform.frameOffset(frame, false);
    if (offset < 0) return false;
    this.swapSlots ??= new Int32Array(this.pages);
    this.swapSlots[index] = this.swapStore.write(this.u8.subarray(offset, offset + PAGE_SIZE));
    this.table[index] = -1;
    this.flags[index] = (this.flags[index]! & ~(SAMPLED | TOUCHED)) | SWAPPED;
    this.stats.resident--;
    this.stats.swapped++;
    this.stats.swapOuts++;
    this.frames.releaseFrame(frame);
    this.remapped(index, frame);
    return true;
  }

  /** Whether guest page `page` is in the swap store. */
  isSwapped(page: number): boolean {
    const index = page - this.firstPage;
    return index >= 0 && index < this.pages && (this.flags[index]! & SWAPPED) !== 0;
  }

  // ---- Activity sampling (Waldspurger §5.2) ------------------------------------------------------

  /**
   * Starts watching `pages` (guest page numbers with a frame): their mappings are dropped, so the
   * guest's next access to each is seen (`sampledTouched` counts them). Pages without a frame are
   * skipped. Returns how many are watched.
   */
  startSampling(pages: Iterable<number>): number {
    const frames = new Set<number>();
    for (const page of pages) {
      const index = page - this.firstPage;
      if (index < 0 || index >= this.pages) continue;
      const frame = this.table[index]!;
      if (frame < 0) continue;
      this.flags[index] = (this.flags[index]! & ~TOUCHED) | SAMPLED;
      frames.add(frame);
    }
    if (frames.size > 0) {
      this.remaps.count++;
      if (this.onRemapFrames !== undefined) this.onRemapFrames(frames);
      else for (const frame of frames) this.onRemap?.(-1, frame);
    }
    return frames.size;
  }

  /** Ends sampling: how many of the watched pages the guest touched since `startSampling`. */
  endSampling(): { watched: number; touched: number } {
    let watched = 0;
    let touched = 0;
    for (let index = 0; index < this.pages; index++) {
      const flags = this.flags[index]!;
      if ((flags & (SAMPLED | TOUCHED)) === 0) continue;
      watched++;
      if ((flags & TOUCHED) !== 0) touched++;
      this.flags[index] = flags & ~(SAMPLED | TOUCHED);
    }
    return { watched, touched };
  }

  /** Copy on write: the page gets a private copy of the shared frame it was reading. */
  private breakSharing(index: number, shared: number): number {
    const frames = this.frames;
    if (frames !== undefined && frames.references(shared) === 1) {
      // Everyone else copied already: the frame is this page's alone, no copy needed.
      this.flags[index] &= ~SHARED;
      this.stats.shared--;
      return shared;
    }
    const fresh = frames === undefined ? -1 : frames.allocateFrame();
    if (fresh < 0) {
      this.stats.exhausted++;
      this.onExhausted?.(this.firstPage + index);
      return -1;
    }
    const from = this.platform.frameOffset(shared, false);
    const to = this.platform.frameOffset(fresh, true);
    if (from < 0 || to < 0) {
      frames!.releaseFrame(fresh);
      return -1;
    }
    this.u8.copyWithin(to, from, from + PAGE_SIZE);
    this.table[index] = fresh;
    this.flags[index] &= ~SHARED;
    this.stats.shared--;
    this.stats.copies++;
    frames!.releaseFrame(shared);
    this.remapped(index, shared);
    return fresh;
  }

  private remapped(index: number, oldFrame: number): void {
    this.remaps.count++;
    this.onRemap?.(this.firstPage + index, oldFrame);
  }

  /**
   * Maps guest page `page` read-only to `frame`, a frame of the platform that another page (of
   * this VM or another) holds: both read the same bytes until one of them writes, which gives the
   * writer a private copy. The page's own frame, if any, is released. Refused (false) for a page
   * whose frame was handed to the guest (direct paging) or outside RAM.
   */
  share(page: number, frame: number): boolean {
    const index = page - this.firstPage;
    if (index < 0 || index >= this.pages || (this.flags[index]! & PINNED) !== 0 || this.frames === undefined) return false;
    const old = this.table[index]!;
    if (old === frame) return true;
    this.frames.retainFrame(frame);
    this.table[index] = frame;
    if ((this.flags[index]! & SHARED) === 0) this.stats.shared++;
    this.flags[index] |= SHARED;
    if (old >= 0) {
      this.frames.releaseFrame(old);
      this.remapped(index, old);
    } else {
      this.stats.resident++;
    }
    return true;
  }

  /**
   * Makes guest page `page`'s own frame read-only shared (copy on write), so that other pages can
   * `share` it; returns the frame, or -1 if the page has none or is pinned. Write permissions
   * granted before (TLBs, shadow entries) are revoked through `onRemap`.
   */
  makeShared(page: number): number {
    const index = page - this.firstPage;
    if (index < 0 || index >= this.pages || (this.flags[index]! & PINNED) !== 0) return -1;
    const frame = this.table[index]!;
    if (frame < 0) return -1;
    if ((this.flags[index]! & SHARED) === 0) {
      this.flags[index] |= SHARED;
      this.stats.shared++;
      this.remapped(index, frame);
    }
    return frame;
  }

  /**
   * Gives the frame of guest page `page` back (a balloon inflating over it): the page reads as zero
   * and gets a fresh frame when next touched. Refused (false) for pinned pages or outside RAM.
   */
  discard(page: number): boolean {
    return this.discardPages([page]) === 1;
  }

  /**
   * `discard` for many pages (a balloon's buffer): the mappings of all their frames go in one pass.
   * Returns how many were discarded (the others are pinned or outside RAM).
   */
  discardPages(pages: ArrayLike<number>): number {
    const frames = new Set<number>();
    let done = 0;
    for (let i = 0; i < pages.length; i++) {
      const index = pages[i]! - this.firstPage;
      if (index < 0 || index >= this.pages || (this.flags[index]! & PINNED) !== 0) continue;
      done++;
      const old = this.table[index]!;
      if (old < 0) {
        this.forgetSwapped(index);
        continue;
      }
      this.table[index] = -1;
      this.stats.resident--;
      if ((this.flags[index]! & SHARED) !== 0) this.stats.shared--;
      this.flags[index] = 0;
      this.frames?.releaseFrame(old);
      frames.add(old);
    }
    if (frames.size > 0) {
      this.remaps.count++;
      if (this.onRemapFrames !== undefined) this.onRemapFrames(frames);
      else for (const frame of frames) this.onRemap?.(-1, frame);
    }
    return done;
  }

  /** A swapped-out page's bytes are not needed any more: its slot is freed. */
  private forgetSwapped(index: number): void {
    if ((this.flags[index]! & SWAPPED) === 0) return;
    this.swapStore?.free(this.swapSlots![index]!);
    this.flags[index] &= ~SWAPPED;
    this.stats.swapped--;
  }

  /**
   * Pins guest page `page` to its frame (backing it first) and returns the frame: direct paging
   * hands the frame number to the guest, so it must never move or be shared. -1 if it cannot be
   * backed.
   */
  pin(page: number): number {
    const frame = this.frameOf(page - this.firstPage, true);
    if (frame < 0) return -1;
    const index = page - this.firstPage;
    if ((this.flags[index]! & PINNED) === 0) {
      this.flags[index] |= PINNED;
      this.pinnedFrames.set(frame, page);
    }
    return frame;
  }

  /** The guest page pinned to platform frame `frame`, or -1 (direct paging's machine-to-physical lookup). */
  pinnedPage(frame: number): number {
    return this.pinnedFrames.get(frame) ?? -1;
  }

  /**
   * Backs every page not backed yet and makes every page private (worker threads cannot allocate:
   * a VM's vCPUs on threads run over a table populated here). Returns false if frames ran out.
   */
  populate(): boolean {
    for (let index = 0; index < this.pages; index++) if (this.frameOf(index, true) < 0) return false;
    return true;
  }

  /** Gives every frame back (the VM ended). Mappings elsewhere must already be gone. */
  release(): void {
    for (let index = 0; index < this.pages; index++) {
      const frame = this.table[index]!;
      this.forgetSwapped(index);
      if (frame < 0) continue;
      this.table[index] = -1;
      this.flags[index] = 0;
      this.frames?.releaseFrame(frame);
    }
    this.pinnedFrames.clear();
    this.stats.resident = 0;
    this.stats.shared = 0;
    this.remaps.count++;
  }

  // ---- The dirty log -----------------------------------------------------------------------------

  get dirtyLogging(): boolean {
    return this.control[0] !== 0;
  }

  /** Starts logging writes: from now on, every page written is marked, whoever writes it. */
  startDirtyLog(): void {
    this.dirty.fill(0);
    Atomics.store(this.control, 0, 1);
    this.writeProtect();
  }

  /** Stops logging (pages already marked stay marked until the next start). */
  stopDirtyLog(): void {
    Atomics.store(this.control, 0, 0);
  }

  /**
   * The pages written since logging started or since the last harvest, as a bitmap (bit i of
   * word i >> 5 for page index i, page `base >>> 12` being index 0); the log starts afresh.
   * Pinned pages are always in it.
   */
  harvestDirtyLog(): Uint32Array {
    const out = new Uint32Array(this.dirty.length);
    for (let i = 0; i < out.length; i++) out[i] = Atomics.exchange(this.dirty, i, 0) >>> 0;
    // A pinned page is reached through the guest's own tables (direct paging), which no write
    // permission of ours guards: it may have been written at any time, so it always counts.
    for (const page of this.pinnedFrames.values()) {
      const index = page - this.firstPage;
      out[index >>> 5]! |= 1 << (index & 31);
    }
    if (this.dirtyLogging) this.writeProtect();
    return out;
  }

  /** Whether guest page `page` was written since the last harvest (while logging). */
  isDirty(page: number): boolean {
    const index = page - this.firstPage;
    return index >= 0 && index < this.pages && (Atomics.load(this.dirty, index >>> 5) & (1 << (index & 31))) !== 0;
  }

  private writeProtect(): void {
    // Harts' TLBs hold write permissions as frame offsets: the counter tells them to forget.
    this.remaps.count++;
    this.onWriteProtect?.();
  }

  // ---- Bulk access ---------------------------------------------------------------------------------

  /** Zeroing a page that has no frame is free: it reads as zero already. */
  override fill(address: GuestPhysicalAddress, length: number, value: number): boolean {
    if (value !== 0 || !this.contains(address, length)) return super.fill(address, length, value);
    let at = address as number;
    const end = address + length;
    while (at < end) {
      const pageEnd = Math.min(end, ((at >>> PAGE_SHIFT) + 1) * PAGE_SIZE);
      const index = (at >>> PAGE_SHIFT) - this.firstPage;
      if (this.table[index]! >= 0 && !super.fill(at as GuestPhysicalAddress, pageEnd - at, 0)) return false;
      at = pageEnd;
    }
    return true;
  }

  /** Recomputes the counts from a table shared with another thread. */
  private recount(): void {
    let resident = 0;
    let shared = 0;
    for (let index = 0; index < this.pages; index++) {
      if (this.table[index]! < 0) continue;
      resident++;
      if ((this.flags[index]! & SHARED) !== 0) shared++;
    }
    this.stats.resident = resident;
    this.stats.shared = shared;
  }
}

/**
 * Content-based page sharing, one pair at a time (Waldspurger, OSDI'02 §4): if page `pageA` of
 * `a` and page `pageB` of `b` (the same memory or two VMs of one hypervisor) hold the same bytes,
 * compared in full, both are mapped to one read-only frame, and the first write to either gives
 * the writer a private copy again. Returns whether they were merged.
 */
export function mergeIdenticalPages(a: PagedMemory, pageA: number, b: PagedMemory, pageB: number): boolean {
  if (a.platform !== b.platform) throw new RangeError("pages can only be merged within one hypervisor's memory");
  const from = a.peekOffset(pageA);
  const to = b.peekOffset(pageB);
  if (from < 0 || to < 0) return false;
  const bytesA = a.u8.subarray(from, from + PAGE_SIZE);
  const bytesB = b.u8.subarray(to, to + PAGE_SIZE);
  for (let i = 0; i < PAGE_SIZE; i++) if (bytesA[i] !== bytesB[i]) return false;
  const frame = a.makeShared(pageA);
  return frame >= 0 && b.share(pageB, frame);
}
