import { PagedMemory, type Bus, type FrameSource, type FrameTable, type GuestMemory, type GuestPhysicalAddress } from "@matryoshka/memory";
import { PMP_R, PMP_W, PMP_X, type Pmp } from "./pmp.js";
import { Access, leafAllows, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, SATP_MODE_SV32, WalkInfo, walkSv32, type TranslationState } from "./sv32.js";

/**
 * 4 KiB frames for shadow tables: taken from a `FrameSource` (the hypervisor's allocator) as the
 * tables grow, up to `limit`, and kept for reuse; or a fixed list of frames (a vCPU on a worker
 * thread gets its share this way). Frames are addresses in the memory the tables live in, and come
 * back zeroed.
 */
export class FramePool {
  /** Most frames the pool holds at once. */
  readonly limit: number;
  private readonly memory: GuestMemory;
  private readonly source: FrameSource | undefined;
  /** Frames (page numbers) taken and not in use. */
  private readonly free: Int32Array;
  private freeCount = 0;
  private taken = 0;
  /** Every frame held, for accounting (`frames`). */
  private readonly everyFrame = new Set<number>();

  constructor(memory: GuestMemory, frames: FrameSource | ArrayLike<number>, limit: number) {
    if (!Number.isInteger(limit) || limit < 2) throw new RangeError(`a shadow frame pool needs at least 2 frames, got ${limit}`);
    this.memory = memory;
    this.limit = limit;
    this.free = new Int32Array(limit);
    if (isFrameSource(frames)) {
      this.source = frames;
    } else {
      if (frames.length < limit) throw new RangeError(`a shadow frame pool of ${limit} frames was given ${frames.length}`);
      for (let i = limit - 1; i >= 0; i--) {
        const frame = frames[i]!;
        if (!Number.isInteger(frame) || !memory.contains((frame * 4096) as GuestPhysicalAddress, 4096)) {
          throw new RangeError(`shadow frame 0x${(frame * 4096).toString(16)} is not a page of its memory`);
        }
        this.free[this.freeCount++] = frame;
        this.everyFrame.add(frame);
      }
      this.taken = limit;
    }
  }

  /** A pool of the `frames` contiguous frames at `base` (tests, and tables kept in a reserved region). */
  static region(memory: GuestMemory, base: number, frames: number): FramePool {
    if (base % 4096 !== 0 || !memory.contains(base as GuestPhysicalAddress, frames * 4096) || frames < 2) {
      throw new RangeError(`a shadow frame pool of ${frames} frames at 0x${base.toString(16)} does not fit its memory`);
    }
    return new FramePool(memory, Array.from({ length: frames }, (_, i) => base / 4096 + i), frames);
  }

  /** Frames the pool can still hand out (taken and free, plus what it may still take). */
  get available(): number {
    return this.freeCount + (this.source === undefined ? 0 : this.limit - this.taken);
  }

  /** Frames the pool holds now (in use or free for reuse). */
  get held(): number {
    return this.taken;
  }

  /** The frames (page numbers) the pool holds now, in use or free. */
  frames(): number[] {
    return [...this.everyFrame];
  }

  /** A zeroed frame's address, or -1 when the pool is at its limit or its source has none. */
  allocate(): number {
    let frame: number;
    if (this.freeCount > 0) {
      frame = this.free[--this.freeCount]!;
    } else {
      if (this.source === undefined || this.taken >= this.limit) return -1;
      frame = this.source.allocateFrame();
      if (frame < 0) return -1;
      this.taken++;
      this.everyFrame.add(frame);
    }
    const pa = frame * 4096;
    this.memory.fill(pa as GuestPhysicalAddress, 4096, 0);
    return pa;
  }

  release(pa: number): void {
    this.free[this.freeCount++] = pa / 4096;
  }

  /** The frames held, in the order taken, and those free for reuse, in stack order (a snapshot's). */
  saveState(): FramePoolState {
    return { frames: [...this.everyFrame], free: Array.from(this.free.subarray(0, this.freeCount)) };
  }

  /**
   * Holds the frames of a saved pool again: a fresh pool over a source, whose frames the caller
   * already took from that source (`FrameAllocator.claim`), so nothing is counted twice.
   */
  restoreState(state: FramePoolState): void {
    if (this.source === undefined || this.taken !== 0) throw new RangeError("only a fresh pool over a frame source takes saved frames");
    if (state.frames.length > this.limit || state.free.length > state.frames.length) throw new RangeError(`a pool of ${this.limit} frames cannot hold ${state.frames.length}`);
    for (const frame of state.frames) this.everyFrame.add(frame);
    this.taken = state.frames.length;
    state.free.forEach((frame, index) => {
      if (!this.everyFrame.has(frame)) throw new RangeError(`free shadow frame ${frame} is not one of the pool's`);
      this.free[index] = frame;
    });
    this.freeCount = state.free.length;
  }

  /** Gives every frame taken from the source back to it (the VM ended). Nothing may be in use. */
  releaseAll(): void {
    if (this.source === undefined) return;
    for (let i = 0; i < this.freeCount; i++) {
      this.source.releaseFrame(this.free[i]!);
      this.everyFrame.delete(this.free[i]!);
    }
    this.taken -= this.freeCount;
    this.freeCount = 0;
  }
}

/** A pool's frames, as a snapshot keeps them (page numbers of the memory the tables live in). */
export interface FramePoolState {
  frames: number[];
  free: number[];
}

/**
 * Shadow page tables as a snapshot keeps them: the statistics, the pool's frames, and per root (in
 * the order they were created) its key, ASID, table and, per second-level table in use, its
 * frame and its non-zero entries as [index, word] pairs. A restore writes the very same entries
 * back at the same frames, so the restored run faults, fills and counts exactly as the saved one
 * would have: the tables are a cache, but rebuilding it lazily would add fills and exits.
 */
export interface ShadowState {
  stats: ShadowStats;
  pool: FramePoolState;
  roots: { key: number; asid: number; table: number; tables: { vpn1: number; frame: number; megapage: boolean; entries: number[] }[] }[];
}

function isFrameSource(frames: FrameSource | ArrayLike<number>): frames is FrameSource {
  return typeof (frames as FrameSource).allocateFrame === "function";
}

/** One shadow address space: a root table and the second-level tables it points to. */
interface ShadowRoot {
  readonly key: number;
  /** ASID of the guest address space it shadows; -1 for an untranslated (bare) context. */
  readonly asid: number;
  /** Physical address of the root table. */
  readonly table: number;
  /** Frame number (pa / 4096) of the second-level table for each VPN[1], 0 if none. */
  readonly second: Int32Array;
  /** VPN[1] values that have a second-level table, for cheap flushing. */
  readonly used: number[];
  /** 1 for each VPN[1] whose second-level table holds pieces of a guest megapage (one guest leaf). */
  readonly megapage: Uint8Array;
}

/** Statistics of a shadow pager, cheap enough to keep on. */
export interface ShadowStats {
  /** Shadow PTEs written (lazy fills). */
  fills: number;
  /** Single-page invalidations (guest sfence.vma with an address, A/D upgrades). */
  pageFlushes: number;
  /** Whole-address-space invalidations (guest sfence.vma without an address, satp/PMP changes). */
  fullFlushes: number;
  /** Roots created (a root per guest address space and virtual privilege). */
  rootsCreated: number;
  /** Times the frame pool ran dry and every shadow table was dropped. */
  poolResets: number;
  /** Times every entry lost write permission (the dirty log started or was harvested). */
  writeRevocations: number;
}

/** What a shadow context needs to know about the virtual hart. */
export interface ShadowContext extends TranslationState {
  /** False when the guest runs untranslated (satp bare, or virtual M-mode, `priv` 3). */
  translated: boolean;
}

/** Result of `ShadowPageTables.fill`. */
export const Fill = {
  /** A shadow PTE now maps the page: run the guest again. */
  Mapped: 0,
  /** The access cannot run directly (a guest fault, MMIO, PMP, a device page): emulate it. */
  Emulate: 1,
} as const;
export type Fill = (typeof Fill)[keyof typeof Fill];

/**
 * Shadow page tables (the classic VMM technique of Popek–Goldberg-era systems and of VMware and Xen
 * before EPT/NPT): Sv32 tables the hardware walks, composed lazily from the guest's own Sv32 tables
 * (guest-virtual → guest-physical) and the VM's guest-physical map (guest-physical → host
 * physical).
 *
 * - One root per guest address space and virtual privilege (`contextKey`): the guest always runs
 *   in hardware U-mode, so every shadow PTE has U set, and guest user code gets a root that holds
 *   only the guest's user pages: it can never reach guest-kernel pages.
 * - Entries are 4 KiB even for guest megapages, filled on demand from shadow faults.
 * - Accessed and dirty bits: the guest walk sets A on the first access and D on the first store;
 *   a page whose guest PTE is not dirty is mapped read-only, so its first store faults here and
 *   sets D (privileged spec §4.3.1: A/D are the guest's to observe).
 * - Invalidation follows the guest's sfence.vma, by address and by ASID (§4.2.1); roots stay
 *   cached across guest context switches.
 */
export class ShadowPageTables {
  readonly stats: ShadowStats = { fills: 0, pageFlushes: 0, fullFlushes: 0, rootsCreated: 0, poolResets: 0, writeRevocations: 0 };
  /** The platform's memory, where the shadow tables live. */
  private readonly memory: GuestMemory;
  private readonly pool: FramePool;
  private readonly roots = new Map<number, ShadowRoot>();
  private readonly walkInfo = new WalkInfo();
  /** Called after entries were removed or changed: `va` for one page, undefined for everything. */
  private readonly onInvalidate: (va: number | undefined) => void;

  constructor(memory: GuestMemory, pool: FramePool, onInvalidate: (va: number | undefined) => void) {
    this.memory = memory;
    this.pool = pool;
    this.onInvalidate = onInvalidate;
  }

  /**
   * The key of a context's root: translated contexts by satp (root table and ASID), privilege,
   * SUM and MXR; untranslated ones by privilege alone (PMP differs between M and S/U).
   */
  static contextKey(context: ShadowContext): number {
    if (!context.translated) return -1 - context.priv;
    return (context.satp >>> 0) * 16 + context.priv * 4 + (context.sum ? 2 : 0) + (context.mxr ? 1 : 0);
  }

  /** Frames of the platform's memory the tables hold now. */
  get framesHeld(): number {
    return this.pool.held;
  }

  /** Those frames (page numbers of the platform's memory). */
  frames(): number[] {
    return this.pool.frames();
  }

  get rootCount(): number {
    return this.roots.size;
  }

  /** The satp value (Sv32 mode, root PPN) that makes the hardware walk the context's shadow root, or -1 if the pool is empty. */
  rootSatp(key: number, context: ShadowContext): number {
    let root = this.roots.get(key);
    if (root === undefined) {
      let table = this.pool.allocate();
      if (table < 0) {
        this.reset();
        table = this.pool.allocate();
        if (table < 0) return -1;
      }
      root = {
        key,
        asid: context.translated ? (context.satp >>> 22) & 0x1ff : -1,
        table,
        second: new Int32Array(1024),
        used: [],
        megapage: new Uint8Array(1024),
      };
      this.roots.set(key, root);
      this.stats.rootsCreated++;
    }
    return (SATP_MODE_SV32 | (root.table >>> 12)) >>> 0;
  }

  /**
   * Tries to map the page of `va` in the context's root for `access`. The guest walk runs with
   * the guest's memory and PMP (setting A/D as hardware would); the shadow PTE gets the
   * permissions the guest PTE, the virtual privilege and PMP allow, minus W until the page is
   * dirty, and minus W while the VM's memory wants to see the next write (`frames.mapsWritable`: a
   * page shared copy-on-write, a clean page under the dirty log). Returns Fill.Emulate when the
   * access must be emulated instead: the guest takes a fault, or the page is not RAM the VM owns,
   * or PMP does not treat the page uniformly.
   */
  fill(key: number, context: ShadowContext, va: number, access: Access, guest: Bus, pmp: Pmp, frames: FrameTable): Fill {
    let root = this.roots.get(key);
    if (root === undefined) {
      if (this.rootSatp(key, context) < 0) return Fill.Emulate;
      root = this.roots.get(key)!;
    }
    let gpa: number;
    let megapage = false;
    let readable = true;
    let writable = true;
    let executable = true;
    if (context.translated) {
      // Only through plain RAM: a fill that gives up is emulated, and the emulated access walks
      // again; a PTE in a device must be read once, by that walk.
      gpa = walkSv32(guest, pmp, va >>> 0, access, context, this.walkInfo, true);
      if (gpa < 0) return Fill.Emulate;
      const pte = this.walkInfo.pte;
      megapage = this.walkInfo.level === 1;
      readable = leafAllows(pte, Access.Load, context);
      writable = leafAllows(pte, Access.Store, context) && (pte & PTE_D) !== 0;
      executable = leafAllows(pte, Access.Fetch, context);
    } else {
      gpa = va >>> 0;
    }
    const guestPage = Math.floor(gpa / 4096);
    const pmpPerms = pmp.pagePermissions(guestPage * 4096, context.priv);
    if (pmpPerms < 0) return Fill.Emulate;
    readable &&= (pmpPerms & PMP_R) !== 0;
    writable &&= (pmpPerms & PMP_W) !== 0 && readable; // W without R is a reserved PTE encoding
    executable &&= (pmpPerms & PMP_X) !== 0;
    const wanted = access === Access.Fetch ? executable : access === Access.Load ? readable : writable;
    if (!wanted) return Fill.Emulate;
    // The second-level table first: taking a frame for it may make the memory manager swap pages
    // out, which must happen before the page to map is looked up, not between that and the write.
    let second = root.second[va >>> 22]! * 4096;
    if (second === 0) {
      second = this.pool.allocate();
      if (second < 0) {
        // Out of frames: drop every shadow table and let the guest fault its way back in.
        this.reset();
        return this.fill(key, context, va, access, guest, pmp, frames);
      }
      const rootWord = this.entryWord(root.table, va >>> 22);
      if (rootWord < 0) {
        this.pool.release(second);
        return Fill.Emulate;
      }
      root.second[va >>> 22] = second / 4096;
      root.used.push(va >>> 22);
      this.memory.i32[rootWord] = ((second >>> 12) << 10) | PTE_V;
    }
    // A store takes the page for writing (its own frame, marked dirty); a load or fetch leaves W
    // off unless writes need not be seen, so the first store faults here and does that. This is
    // the last step that may take a frame at this level: the frame cannot move before the write.
    const host = frames.platformAddress(guestPage, access === Access.Store);
    if (host < 0) return Fill.Emulate;
    if (access !== Access.Store) writable &&= frames.mapsWritable(guestPage);
    // A guest megapage is shadowed as 4 KiB pieces; a fence anywhere in it must drop them all.
    if (megapage) root.megapage[va >>> 22] = 1;
    // (Looking the table's frame up may back it beneath, which moves nothing at this level.)
    const entry = this.entryWord(second, (va >>> 12) & 0x3ff);
    if (entry < 0) return Fill.Emulate;
    const old = this.memory.i32[entry]!;
    const pte =
      (((host >>> 12) << 10) | PTE_V | PTE_U | PTE_A | PTE_D | (readable ? PTE_R : 0) | (writable ? PTE_W : 0) | (executable ? PTE_X : 0)) | 0;
    this.memory.i32[entry] = pte;
    this.stats.fills++;
    // The hardware may hold the old entry (a read-only one being upgraded) in its TLB.
    if (old !== 0) this.onInvalidate(va);
    return Fill.Mapped;
  }

  /**
   * Index in the memory's `i32` view of entry `index` of the table at `table`, for writing, or -1
   * if the table's page cannot be had. The tables lie in the platform's memory, which in a VM is
   * itself paged: the frame is looked up on every access rather than cached.
   */
  private entryWord(table: number, index: number): number {
    const frame = this.memory.frameOffset(table >>> 12, true);
    return frame < 0 ? -1 : (frame >>> 2) + index;
  }

  /**
   * Takes write permission away from every entry, keeping the mappings: the next store to each
   * page faults and is seen (a dirty log starting or harvested). Cheaper than dropping the tables:
   * reads and fetches keep running at full speed.
   */
  revokeWrites(): void {
    const i32 = this.memory.i32;
    let changed = false;
    for (const root of this.roots.values()) {
      for (const vpn1 of root.used) {
        const base = this.entryWord(root.second[vpn1]! * 4096, 0);
        if (base < 0) continue;
        for (let i = 0; i < 1024; i++) {
          const pte = i32[base + i]!;
          if ((pte & PTE_W) !== 0) {
            i32[base + i] = pte & ~PTE_W;
            changed = true;
          }
        }
      }
    }
    this.stats.writeRevocations++;
    if (changed) this.onInvalidate(undefined);
  }

  /**
   * Drops every entry, in every root, that maps the platform frame `frame` (a page number): the
   * VM's page that was there moved (a copy-on-write break, a page given back). Costs a scan of
   * the tables in use, which is fine for events this rare.
   */
  invalidateFrame(frame: number): void {
    this.invalidateFrames(new Set([frame]));
  }

  /** `invalidateFrame` for many frames, in one pass over the tables. */
  invalidateFrames(frames: ReadonlySet<number>): void {
    this.stats.pageFlushes++;
    const i32 = this.memory.i32;
    let dropped = false;
    for (const root of this.roots.values()) {
      for (const vpn1 of root.used) {
        const base = this.entryWord(root.second[vpn1]! * 4096, 0);
        if (base < 0) continue;
        for (let i = 0; i < 1024; i++) {
          const pte = i32[base + i]!;
          if ((pte & PTE_V) !== 0 && frames.has(pte >>> 10)) {
            i32[base + i] = 0;
            dropped = true;
          }
        }
      }
    }
    if (dropped) this.onInvalidate(undefined);
  }

  /**
   * sfence.vma with an address: drops the page's entries in the roots of that ASID (every
   * translated root when `asid` is undefined). Untranslated roots do not depend on page tables.
   */
  invalidatePage(va: number, asid?: number): void {
    this.stats.pageFlushes++;
    const vpn1 = va >>> 22;
    const offset = ((va >>> 12) & 0x3ff) * 4;
    let wholeMegapage = false;
    for (const root of this.roots.values()) {
      if (root.asid < 0 || (asid !== undefined && root.asid !== asid)) continue;
      const second = root.second[vpn1]! * 4096;
      if (second === 0) continue;
      if (root.megapage[vpn1] !== 0) {
        // sfence.vma with an address covers the leaf that translates it (privileged spec 1.12
        // §4.2.1): for a megapage, all 4 MiB of it.
        const word = this.entryWord(second, 0);
        if (word >= 0) this.memory.i32.fill(0, word, word + 1024);
        root.megapage[vpn1] = 0;
        wholeMegapage = true;
      } else {
        const word = this.entryWord(second, offset >>> 2);
        if (word >= 0) this.memory.i32[word] = 0;
      }
    }
    // The hardware TLB holds a megapage's pieces as separate 4 KiB pages.
    this.onInvalidate(wholeMegapage ? undefined : va);
  }

  /** sfence.vma without an address: empties the roots of that ASID (every translated root when undefined). */
  invalidateAll(asid?: number): void {
    this.stats.fullFlushes++;
    for (const root of this.roots.values()) {
      if (root.asid < 0 || (asid !== undefined && root.asid !== asid)) continue;
      this.empty(root);
    }
    this.onInvalidate(undefined);
  }

  /** Drops every entry of every root, translated or not (PMP changed, or a VM reset). */
  reset(): void {
    this.stats.poolResets++;
    for (const root of this.roots.values()) {
      this.empty(root);
      this.pool.release(root.table);
    }
    this.roots.clear();
    this.onInvalidate(undefined);
  }

  /** Empties the PMP-dependent untranslated roots and every translated one. */
  invalidateEverything(): void {
    this.stats.fullFlushes++;
    for (const root of this.roots.values()) this.empty(root);
    this.onInvalidate(undefined);
  }

  private empty(root: ShadowRoot): void {
    const base = this.entryWord(root.table, 0);
    for (const vpn1 of root.used) {
      this.pool.release(root.second[vpn1]! * 4096);
      root.second[vpn1] = 0;
      root.megapage[vpn1] = 0;
      if (base >= 0) this.memory.i32[base + vpn1] = 0;
    }
    root.used.length = 0;
  }

  /** The tables' state (see ShadowState). */
  saveState(): ShadowState {
    const i32 = this.memory.i32;
    const roots = [...this.roots.values()].map((root) => ({
      key: root.key,
      asid: root.asid,
      table: root.table,
      tables: root.used.map((vpn1) => {
        const frame = root.second[vpn1]!;
        const entries: number[] = [];
        // Peeking, not backing: saving must not change what the memory beneath holds.
        const base = this.memory instanceof PagedMemory ? this.memory.peekOffset(frame) : this.memory.frameOffset(frame, false);
        if (base >= 0) {
          for (let i = 0; i < 1024; i++) {
            const word = i32[(base >>> 2) + i]!;
            if (word !== 0) entries.push(i, word);
          }
        }
        return { vpn1, frame, megapage: root.megapage[vpn1] !== 0, entries };
      }),
    }));
    return { stats: { ...this.stats }, pool: this.pool.saveState(), roots };
  }

  /**
   * Puts saved tables back into a fresh pager whose pool is empty, at the frames they had: the
   * caller took those frames from the source first (and the memory beneath holds them, as the
   * saved one did), so nothing here counts as a fill or a root created. The hardware's TLBs start
   * empty, which changes nothing the guest or the counters see: they refill from these entries.
   */
  restoreState(state: ShadowState): void {
    if (this.roots.size !== 0) throw new RangeError("shadow tables are restored into a fresh pager only");
    this.pool.restoreState(state.pool);
    const i32 = this.memory.i32;
    for (const saved of state.roots) {
      const root: ShadowRoot = { key: saved.key, asid: saved.asid, table: saved.table, second: new Int32Array(1024), used: [], megapage: new Uint8Array(1024) };
      this.roots.set(saved.key, root);
      for (const table of saved.tables) {
        if (!Number.isInteger(table.vpn1) || table.vpn1 < 0 || table.vpn1 >= 1024 || root.second[table.vpn1] !== 0) throw new RangeError(`shadow table for VPN[1] ${table.vpn1} is out of range or repeated`);
        const rootWord = this.entryWord(root.table, table.vpn1);
        const base = this.entryWord(table.frame * 4096, 0);
        if (rootWord < 0 || base < 0) throw new RangeError(`shadow table frame ${table.frame} is not in memory`);
        root.second[table.vpn1] = table.frame;
        root.used.push(table.vpn1);
        root.megapage[table.vpn1] = table.megapage ? 1 : 0;
        i32[rootWord] = ((table.frame << 10) | PTE_V) | 0;
        for (let i = 0; i + 1 < table.entries.length; i += 2) {
          const index = table.entries[i]!;
          if (!Number.isInteger(index) || index < 0 || index >= 1024) throw new RangeError(`shadow entry index ${index} is out of range`);
          i32[base + index] = table.entries[i + 1]! | 0;
        }
      }
    }
    Object.assign(this.stats, state.stats);
  }

  /** Drops every table and gives the pool's frames back to where they came from (the VM ended). */
  destroy(): void {
    this.reset();
    this.pool.releaseAll();
  }
}
