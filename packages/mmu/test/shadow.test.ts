import { beforeEach, describe, expect, it } from "vitest";
import { Bus, guestPhysical as gpa, Ram, type FrameTable, type PlatformPhysicalAddress } from "@matryoshka/memory";
import {
  Access, Fill, FramePool, Pmp, PMP_R, PMP_W, PMP_X, PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X,
  SATP_MODE_SV32, ShadowPageTables, WALK_PAGE_FAULT, WalkInfo, walkSv32, type ShadowContext,
} from "@matryoshka/mmu";
import { Priv } from "@matryoshka/isa";

// Guest-physical memory: 16 MiB of guest RAM holding the guest's own Sv32 tables.
const GUEST_RAM = 0x8000_0000;
const GUEST_RAM_SIZE = 0x100_0000;
const G_ROOT = 0x8000_0000; // guest level-1 table of address space A
const G_L0 = 0x8000_1000; // guest level-0 table for va 0x4000_0000..0x403f_ffff
const G_L0_HIGH = 0x8000_2000; // guest level-0 table for va 0xffc0_0000..0xffff_ffff
const G_ROOT_B = 0x8000_3000; // guest level-1 table of address space B
const G_L0_B = 0x8000_4000;
const DATA = 0x8001_0000; // guest data pages start here

// Host memory: the shadow tables live here, in a pool that does not start at the RAM's base.
const HOST_RAM = 0x4000_0000;
const POOL = HOST_RAM + 0x2000;
/** Host frames backing guest RAM: scrambled, so an identity or off-by-one mapping cannot pass. */
const HOST_FRAMES = 0xe000_0000;
const hostOf = (gpa: number) => HOST_FRAMES + (((gpa - GUEST_RAM) >>> 12) ^ 0x2a5) * 4096;

const NO_PMP = new Pmp(0);
const RWX = PTE_R | PTE_W | PTE_X;
const AD = PTE_A | PTE_D;

let guestRam: Ram;
let guestBus: Bus;
let hostRam: Ram;
let hostBus: Bus;
let pool: FramePool;
let shadow: ShadowPageTables;
/** Arguments of every onInvalidate call, in order. */
let flushed: (number | undefined)[];
/** Guest-physical pages the frame table was asked about. */
let mapped: number[];
/** Of those, the ones asked for writing (a store, which takes the page for writing). */
let mappedForWrite: number[];
/** Guest pages in RAM that are not plain RAM (an HTIF-style overlay): they must always trap. */
let devicePages: Set<number>;
/** Guest pages the VM's memory wants to see the next write to (shared copy-on-write, or clean under a dirty log). */
let watchedPages: Set<number>;
const map: FrameTable = {
  platformAddress: (guestPage: number, write: boolean) => {
    mapped.push(guestPage);
    if (write) mappedForWrite.push(guestPage);
    const address = guestPage * 4096;
    if (address < GUEST_RAM || address >= GUEST_RAM + GUEST_RAM_SIZE || devicePages.has(guestPage)) return -1;
    return hostOf(address) as PlatformPhysicalAddress;
  },
  mapsWritable: (guestPage: number) => !watchedPages.has(guestPage),
};

const pte = (pa: number, flags: number) => (((pa >>> 12) << 10) | flags) >>> 0;
const setPte = (table: number, index: number, value: number) => guestBus.store(table + 4 * index, 4, value);
const guestPte = (table: number, index: number) => guestBus.load(table + 4 * index, 4);
const satpOf = (root: number, asid = 0) => (SATP_MODE_SV32 | (asid << 22) | (root >>> 12)) >>> 0;

const ctx = (priv: number, extra: Partial<ShadowContext> = {}): ShadowContext => ({
  translated: true,
  satp: satpOf(G_ROOT, 1),
  priv,
  sum: false,
  mxr: false,
  ...extra,
});
const S = (extra: Partial<ShadowContext> = {}) => ctx(Priv.S, extra);
const U = (extra: Partial<ShadowContext> = {}) => ctx(Priv.U, extra);
const bare = (priv: number): ShadowContext => ({ translated: false, satp: 0, priv, sum: false, mxr: false });

const key = (c: ShadowContext) => ShadowPageTables.contextKey(c);
const fill = (c: ShadowContext, va: number, access: Access, pmp: Pmp = NO_PMP) =>
  shadow.fill(key(c), c, va, access, guestBus, pmp, map);

const hwInfo = new WalkInfo();
/** What the hardware (guest always in U-mode, no SUM/MXR, no PMP of its own) finds in the context's shadow root. */
const hw = (c: ShadowContext, va: number, access: Access) =>
  walkSv32(hostBus, NO_PMP, va, access, { satp: shadow.rootSatp(key(c), c), priv: Priv.U, sum: false, mxr: false }, hwInfo);
/** The raw 4 KiB shadow leaf for `va` in the root at `satp`, 0 if there is none (reads only). */
const shadowLeaf = (satp: number, va: number): number => {
  const root = (satp & 0x3f_ffff) * 4096;
  const l1 = hostRam.i32[(root - HOST_RAM + (va >>> 22) * 4) >>> 2]! >>> 0;
  if ((l1 & PTE_V) === 0) return 0;
  expect(l1 & RWX).toBe(0); // shadow roots only ever point to second-level tables
  return hostRam.i32[((l1 >>> 10) * 4096 - HOST_RAM + ((va >>> 12) & 0x3ff) * 4) >>> 2]! >>> 0;
};
const leafOf = (c: ShadowContext, va: number) => shadowLeaf(shadow.rootSatp(key(c), c), va);

/** Builds a shadow pager over a host RAM with a pool of `frames` frames. */
function makeShadow(frames: number): void {
  hostRam = new Ram(HOST_RAM, POOL - HOST_RAM + frames * 4096 + 0x2000);
  // Garbage everywhere, so frames that were not zeroed on allocation show up as bogus mappings.
  hostRam.i32.fill(0x7fff_ffff);
  hostBus = new Bus(hostRam);
  pool = FramePool.region(hostRam, POOL, frames);
  flushed = [];
  shadow = new ShadowPageTables(hostRam, pool, (va) => flushed.push(va));
}

beforeEach(() => {
  guestRam = new Ram(GUEST_RAM, GUEST_RAM_SIZE);
  guestBus = new Bus(guestRam);
  mapped = [];
  mappedForWrite = [];
  devicePages = new Set();
  watchedPages = new Set();
  makeShadow(64);
  // Address space A: va 0x4000_0000 → G_L0, va 0xffc0_0000 → G_L0_HIGH.
  setPte(G_ROOT, 0x100, pte(G_L0, PTE_V));
  setPte(G_ROOT, 0x3ff, pte(G_L0_HIGH, PTE_V));
  // Address space B: va 0x4000_0000 → G_L0_B.
  setPte(G_ROOT_B, 0x100, pte(G_L0_B, PTE_V));
});

describe("FramePool", () => {
  it("rejects pools that are misaligned, outside their memory or smaller than two frames", () => {
    const ram = new Ram(HOST_RAM, 0x10_000);
    expect(() => FramePool.region(ram, HOST_RAM + 0x800, 4)).toThrow(RangeError);
    expect(() => FramePool.region(ram, HOST_RAM - 0x1000, 4)).toThrow(RangeError);
    expect(() => FramePool.region(ram, HOST_RAM + 0xe000, 3)).toThrow(RangeError);
    expect(() => FramePool.region(ram, HOST_RAM, 1)).toThrow(RangeError);
    expect(() => FramePool.region(ram, HOST_RAM + 0xe000, 2)).not.toThrow();
    expect(() => new FramePool(ram, [HOST_RAM / 4096, 0x1234], 2)).toThrow(/not a page/);
  });

  it("hands out distinct zeroed frames of its region until empty, and takes them back", () => {
    const ram = new Ram(HOST_RAM, 0x10_000);
    ram.i32.fill(-1);
    const frames = FramePool.region(ram, HOST_RAM + 0x3000, 4);
    expect(frames.available).toBe(4);
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push(frames.allocate());
    expect(new Set(got).size).toBe(4);
    for (const pa of got) {
      expect(pa % 4096).toBe(0);
      expect(pa).toBeGreaterThanOrEqual(HOST_RAM + 0x3000);
      expect(pa).toBeLessThan(HOST_RAM + 0x7000);
      expect(ram.read(gpa(pa), 4096)!.every((b) => b === 0)).toBe(true);
    }
    // The pool zeroes only its frames.
    expect(ram.i32[(0x2ffc) >>> 2]).toBe(-1);
    expect(ram.i32[0x7000 >>> 2]).toBe(-1);
    expect(frames.available).toBe(0);
    expect(frames.allocate()).toBe(-1);

    ram.i32.fill(-1, (got[2]! - HOST_RAM) >>> 2, (got[2]! - HOST_RAM + 4096) >>> 2);
    frames.release(got[2]!);
    expect(frames.available).toBe(1);
    expect(frames.allocate()).toBe(got[2]);
    expect(ram.read(gpa(got[2]!), 4096)!.every((b) => b === 0)).toBe(true);
    expect(frames.allocate()).toBe(-1);
  });
});

describe("ShadowPageTables: filling from the guest's tables", () => {
  it("maps a 4 KiB guest page to the host frame of its guest-physical page, for the hardware walker", () => {
    setPte(G_L0, 5, pte(DATA + 0x7000, PTE_V | RWX | AD));
    const c = S();
    expect(fill(c, 0x4000_5abc, Access.Load)).toBe(Fill.Mapped);
    expect(mapped).toEqual([(DATA + 0x7000) / 4096]);
    const host = hostOf(DATA + 0x7000);
    expect(hw(c, 0x4000_5abc, Access.Load)).toBe(host + 0xabc);
    expect(hw(c, 0x4000_5000, Access.Store)).toBe(host);
    expect(hw(c, 0x4000_5ffc, Access.Fetch)).toBe(host + 0xffc);
    expect(hwInfo.level).toBe(0);
    // The shadow leaf is a user page (the guest runs in hardware U-mode), valid, accessed, dirty.
    const leaf = leafOf(c, 0x4000_5000);
    expect(leaf & (PTE_V | PTE_U | PTE_A | PTE_D)).toBe(PTE_V | PTE_U | PTE_A | PTE_D);
    expect(leaf >>> 10).toBe(host >>> 12);
    expect(shadow.stats.fills).toBe(1);
    // Only that page: its neighbours are not mapped.
    expect(hw(c, 0x4000_4000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(c, 0x4000_6000, Access.Load)).toBe(WALK_PAGE_FAULT);
    // A fresh entry needs no TLB flush.
    expect(flushed).toEqual([]);
  });

  it("handles addresses with bit 31 set, both virtual and host-physical", () => {
    setPte(G_L0_HIGH, 0x3ff, pte(DATA + 0x3000, PTE_V | PTE_R | PTE_W | AD));
    const c = S();
    expect(fill(c, 0xffff_f123, Access.Store)).toBe(Fill.Mapped);
    expect(hw(c, 0xffff_f123, Access.Store)).toBe(hostOf(DATA + 0x3000) + 0x123);
    expect(hw(c, 0xfffe_f123, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(c, 0x7fff_f123, Access.Load)).toBe(WALK_PAGE_FAULT);
  });

  it.each([
    ["R", PTE_R, Access.Load],
    ["RW", PTE_R | PTE_W, Access.Store],
    ["X", PTE_X, Access.Fetch],
    ["RX", PTE_R | PTE_X, Access.Fetch],
    ["RWX", RWX, Access.Load],
  ])("grants exactly the guest PTE's permissions for a dirty %s page, in S and in U", (_name, perms, access) => {
    for (const [c, user] of [[S(), 0], [U(), PTE_U]] as const) {
      const va = user ? 0x4000_9000 : 0x4000_8000;
      const gpa = user ? DATA + 0x9000 : DATA + 0x8000;
      setPte(G_L0, (va >>> 12) & 0x3ff, pte(gpa, PTE_V | perms | user | AD));
      expect(fill(c, va + 0x10, access)).toBe(Fill.Mapped);
      expect(leafOf(c, va) & RWX).toBe(perms);
      for (const a of [Access.Fetch, Access.Load, Access.Store]) {
        const allowed = (perms & [PTE_X, PTE_R, PTE_W][a]!) !== 0;
        expect(hw(c, va + 0x10, a)).toBe(allowed ? hostOf(gpa) + 0x10 : WALK_PAGE_FAULT);
      }
    }
  });

  it("refuses the access the guest PTE does not allow, and maps nothing", () => {
    setPte(G_L0, 5, pte(DATA, PTE_V | PTE_R | AD));
    setPte(G_L0, 6, pte(DATA + 0x1000, PTE_V | PTE_X | AD));
    const c = S();
    expect(fill(c, 0x4000_5000, Access.Store)).toBe(Fill.Emulate);
    expect(fill(c, 0x4000_5000, Access.Fetch)).toBe(Fill.Emulate);
    expect(fill(c, 0x4000_6000, Access.Load)).toBe(Fill.Emulate);
    expect(fill(c, 0x4000_7000, Access.Load)).toBe(Fill.Emulate); // no PTE at all
    expect(leafOf(c, 0x4000_5000)).toBe(0);
    expect(leafOf(c, 0x4000_6000)).toBe(0);
    expect(shadow.stats.fills).toBe(0);
    expect(mapped).toEqual([]);
  });

  it("gives Emulate for guest pages that are not plain RAM of the VM (devices, overlays)", () => {
    setPte(G_L0, 1, pte(0x1000_0000, PTE_V | PTE_R | PTE_W | AD)); // a UART, outside guest RAM
    setPte(G_L0, 2, pte(DATA + 0x2000, PTE_V | PTE_R | PTE_W | AD)); // RAM with a device overlay
    devicePages.add((DATA + 0x2000) / 4096);
    const c = S();
    expect(fill(c, 0x4000_1000, Access.Load)).toBe(Fill.Emulate);
    expect(fill(c, 0x4000_2004, Access.Store)).toBe(Fill.Emulate);
    expect(mapped).toEqual([0x1_0000, (DATA + 0x2000) / 4096]);
    expect(hw(c, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(c, 0x4000_2000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(shadow.stats.fills).toBe(0);
  });

  it("maps untranslated contexts one to one from guest-physical addresses", () => {
    for (const c of [bare(Priv.M), bare(Priv.S)]) {
      expect(fill(c, DATA + 0x4321, Access.Store)).toBe(Fill.Mapped);
      expect(hw(c, DATA + 0x4321, Access.Fetch)).toBe(hostOf(DATA + 0x4000) + 0x321);
      expect(hw(c, DATA + 0x4321, Access.Store)).toBe(hostOf(DATA + 0x4000) + 0x321);
      expect(fill(c, 0x1000_0000, Access.Load)).toBe(Fill.Emulate); // MMIO
    }
    // The guest's tables are not consulted: nothing there maps DATA + 0x4000.
    expect(guestPte(G_ROOT, DATA >>> 22)).toBe(0);
  });
});

describe("ShadowPageTables: accessed and dirty bits", () => {
  it("sets A on a read and maps a clean page read-only, then sets D and maps it writable on the first store", () => {
    setPte(G_L0, 5, pte(DATA + 0x5000, PTE_V | PTE_R | PTE_W));
    const c = S();
    expect(fill(c, 0x4000_5010, Access.Load)).toBe(Fill.Mapped);
    expect(guestPte(G_L0, 5) & AD).toBe(PTE_A);
    expect(leafOf(c, 0x4000_5000) & RWX).toBe(PTE_R);
    expect(hw(c, 0x4000_5010, Access.Load)).toBe(hostOf(DATA + 0x5000) + 0x10);
    expect(hw(c, 0x4000_5010, Access.Store)).toBe(WALK_PAGE_FAULT);
    expect(flushed).toEqual([]);

    // The hardware store faults; the pager's fill for it marks the guest PTE dirty and upgrades.
    expect(fill(c, 0x4000_5010, Access.Store)).toBe(Fill.Mapped);
    expect(guestPte(G_L0, 5) & AD).toBe(AD);
    expect(leafOf(c, 0x4000_5000) & RWX).toBe(PTE_R | PTE_W);
    expect(hw(c, 0x4000_5010, Access.Store)).toBe(hostOf(DATA + 0x5000) + 0x10);
    // The read-only entry may sit in the hardware TLB: it is flushed.
    expect(flushed).toEqual([0x4000_5010]);
    expect(shadow.stats.fills).toBe(2);
  });

  it("sets A (and not D) on fetches too, and keeps a clean executable page unwritable", () => {
    setPte(G_L0, 7, pte(DATA + 0x7000, PTE_V | RWX));
    const c = S();
    expect(fill(c, 0x4000_7000, Access.Fetch)).toBe(Fill.Mapped);
    expect(guestPte(G_L0, 7) & AD).toBe(PTE_A);
    expect(leafOf(c, 0x4000_7000) & RWX).toBe(PTE_R | PTE_X);
  });

  it("maps a page writable at once when its guest PTE is already dirty", () => {
    setPte(G_L0, 5, pte(DATA + 0x5000, PTE_V | PTE_R | PTE_W | PTE_D));
    const c = S();
    expect(fill(c, 0x4000_5000, Access.Load)).toBe(Fill.Mapped);
    expect(guestPte(G_L0, 5) & AD).toBe(AD);
    expect(hw(c, 0x4000_5000, Access.Store)).toBe(hostOf(DATA + 0x5000));
  });

  it("sets A and D in a guest megapage PTE", () => {
    setPte(G_ROOT, 0x101, pte(0x8040_0000, PTE_V | PTE_R | PTE_W));
    const c = S();
    expect(fill(c, 0x4040_1000, Access.Load)).toBe(Fill.Mapped);
    expect(guestPte(G_ROOT, 0x101) & AD).toBe(PTE_A);
    expect(hw(c, 0x4040_1000, Access.Store)).toBe(WALK_PAGE_FAULT);
    expect(fill(c, 0x4040_1000, Access.Store)).toBe(Fill.Mapped);
    expect(guestPte(G_ROOT, 0x101) & AD).toBe(AD);
    expect(hw(c, 0x4040_1000, Access.Store)).toBe(hostOf(0x8040_1000));
  });
});

describe("ShadowPageTables: what the VM's memory wants to see", () => {
  it("keeps W off a page the memory watches (copy-on-write, dirty log) until a store takes it for writing", () => {
    setPte(G_L0, 5, pte(DATA + 0x5000, PTE_V | PTE_R | PTE_W | PTE_D));
    watchedPages.add((DATA + 0x5000) / 4096);
    const c = S();
    expect(fill(c, 0x4000_5000, Access.Load)).toBe(Fill.Mapped);
    expect(mappedForWrite).toEqual([]);
    expect(leafOf(c, 0x4000_5000) & RWX).toBe(PTE_R);
    expect(hw(c, 0x4000_5000, Access.Store)).toBe(WALK_PAGE_FAULT);
    // The store's fill asks the memory for the page for writing (it breaks sharing, logs the page).
    watchedPages.clear();
    expect(fill(c, 0x4000_5000, Access.Store)).toBe(Fill.Mapped);
    expect(mappedForWrite).toEqual([(DATA + 0x5000) / 4096]);
    expect(hw(c, 0x4000_5000, Access.Store)).toBe(hostOf(DATA + 0x5000));
  });

  it("asks for writing only when the guest lets the store happen", () => {
    setPte(G_L0, 5, pte(DATA + 0x5000, PTE_V | PTE_R | AD));
    expect(fill(S(), 0x4000_5000, Access.Store)).toBe(Fill.Emulate);
    expect(mapped).toEqual([]);
  });

  it("invalidateFrame drops every entry mapping a frame, in every root and at every address, and flushes", () => {
    // Two virtual addresses and two address spaces reach the same guest page.
    setPte(G_L0, 5, pte(DATA + 0x5000, PTE_V | PTE_R | AD));
    setPte(G_L0, 6, pte(DATA + 0x5000, PTE_V | PTE_R | AD));
    setPte(G_L0, 7, pte(DATA + 0x7000, PTE_V | PTE_R | AD));
    setPte(G_L0_B, 9, pte(DATA + 0x5000, PTE_V | PTE_R | AD));
    const a = S();
    const b = S({ satp: satpOf(G_ROOT_B, 2) });
    for (const [c, va] of [[a, 0x4000_5000], [a, 0x4000_6000], [a, 0x4000_7000], [b, 0x4000_9000]] as const) {
      expect(fill(c, va, Access.Load)).toBe(Fill.Mapped);
    }
    flushed.length = 0;
    shadow.invalidateFrame(hostOf(DATA + 0x5000) / 4096);
    expect(leafOf(a, 0x4000_5000)).toBe(0);
    expect(leafOf(a, 0x4000_6000)).toBe(0);
    expect(leafOf(b, 0x4000_9000)).toBe(0);
    expect(leafOf(a, 0x4000_7000)).not.toBe(0);
    expect(flushed).toEqual([undefined]);
    // A frame nothing maps: no flush.
    shadow.invalidateFrame(hostOf(DATA + 0x9000) / 4096);
    expect(flushed).toEqual([undefined]);
  });
});

describe("FramePool over a frame source", () => {
  it("takes frames from its source as tables grow, up to its limit, and gives them all back", () => {
    const ram = new Ram(HOST_RAM, 16 * 4096);
    ram.i32.fill(-1);
    const free = [HOST_RAM / 4096 + 9, HOST_RAM / 4096 + 3, HOST_RAM / 4096 + 12];
    const released: number[] = [];
    const source = {
      allocateFrame: () => free.shift() ?? -1,
      retainFrame: () => {},
      releaseFrame: (frame: number) => released.push(frame),
      references: () => 1,
    };
    const pool = new FramePool(ram, source, 2);
    expect(pool.held).toBe(0);
    expect(pool.available).toBe(2);
    const first = pool.allocate();
    const second = pool.allocate();
    expect([first, second]).toEqual([HOST_RAM + 9 * 4096, HOST_RAM + 3 * 4096]);
    expect(ram.read(gpa(first), 4096)!.every((b) => b === 0)).toBe(true);
    expect(pool.allocate()).toBe(-1); // at its limit, though the source has more
    expect(pool.held).toBe(2);
    pool.release(first);
    pool.release(second);
    pool.releaseAll();
    expect(released.sort()).toEqual([HOST_RAM / 4096 + 3, HOST_RAM / 4096 + 9]);
    expect(pool.held).toBe(0);
  });
});

describe("ShadowPageTables: guest megapages", () => {
  it("agrees with the guest's 4 MiB translation at many offsets, with 4 KiB shadow entries", () => {
    setPte(G_ROOT, 0x101, pte(0x8040_0000, PTE_V | RWX | AD));
    const c = S();
    const offsets = [0, 0x123, 0x1234, 0x20_0000, 0x2a_b678, 0x3f_f000, 0x3f_fffc];
    for (const offset of offsets) {
      expect(fill(c, 0x4040_0000 + offset, Access.Load)).toBe(Fill.Mapped);
    }
    for (const offset of offsets) {
      const gpa = 0x8040_0000 + offset;
      expect(hw(c, 0x4040_0000 + offset, Access.Load)).toBe(hostOf(gpa & ~0xfff) + (offset & 0xfff));
      expect(hwInfo.level).toBe(0);
    }
    expect(mapped).toEqual(offsets.map((offset) => (0x8040_0000 + offset) >>> 12));
    // Pages of the megapage that were never touched are not mapped yet (and never to a wrong frame).
    expect(hw(c, 0x4040_5000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(c, 0x4060_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
  });

  it("shadows megapages in U-mode, and respects their U bit", () => {
    setPte(G_ROOT, 0x101, pte(0x8040_0000, PTE_V | PTE_R | PTE_X | PTE_U | AD));
    setPte(G_ROOT, 0x102, pte(0x8080_0000, PTE_V | PTE_R | AD));
    const c = U();
    expect(fill(c, 0x4043_2100, Access.Fetch)).toBe(Fill.Mapped);
    expect(hw(c, 0x4043_2100, Access.Fetch)).toBe(hostOf(0x8043_2000) + 0x100);
    expect(fill(c, 0x4083_2100, Access.Load)).toBe(Fill.Emulate);
    expect(hw(c, 0x4083_2100, Access.Load)).toBe(WALK_PAGE_FAULT);
  });
});

describe("ShadowPageTables: malformed guest PTEs give the guest's page fault, never a mapping", () => {
  /** Each case writes a malformed entry and returns a va that walks into it. */
  const cases: [string, () => number][] = [
    ["V=0 leaf", () => (setPte(G_L0, 3, pte(DATA, RWX | AD) & ~PTE_V), 0x4000_3000)],
    ["W without R", () => (setPte(G_L0, 3, pte(DATA, PTE_V | PTE_W | AD)), 0x4000_3000)],
    ["W and X without R", () => (setPte(G_L0, 3, pte(DATA, PTE_V | PTE_W | PTE_X | AD)), 0x4000_3000)],
    ["a pointer at level 0", () => (setPte(G_L0, 3, pte(G_L0, PTE_V)), 0x4000_3000)],
    ["a misaligned megapage", () => (setPte(G_ROOT, 0x101, pte(0x8040_1000, PTE_V | RWX | AD)), 0x4040_1000)],
    ["a V=0 level-1 entry", () => (setPte(G_ROOT, 0x101, pte(G_L0, RWX)), 0x4040_1000)],
    ["a W-only megapage", () => (setPte(G_ROOT, 0x101, pte(0x8040_0000, PTE_V | PTE_W | AD)), 0x4040_1000)],
  ];
  it.each(cases)("%s", (_name, build) => {
    const va = build();
    const before = [guestPte(G_ROOT, 0x101), guestPte(G_L0, 3)];
    for (const c of [S(), U(), S({ sum: true, mxr: true })]) {
      for (const access of [Access.Fetch, Access.Load, Access.Store]) {
        expect(fill(c, va, access)).toBe(Fill.Emulate);
        expect(fill(c, va + 0x234, access)).toBe(Fill.Emulate);
      }
      expect(leafOf(c, va)).toBe(0);
    }
    expect(shadow.stats.fills).toBe(0);
    expect(mapped).toEqual([]);
    // A faulting walk must not set A or D either.
    expect([guestPte(G_ROOT, 0x101), guestPte(G_L0, 3)]).toEqual(before);
  });
});

describe("ShadowPageTables: contexts and virtual privilege", () => {
  it("keys roots by satp, privilege, SUM and MXR, and untranslated contexts by privilege alone", () => {
    const keys = [
      S(), U(), S({ sum: true }), S({ mxr: true }), S({ sum: true, mxr: true }), U({ mxr: true }),
      S({ satp: satpOf(G_ROOT, 2) }), S({ satp: satpOf(G_ROOT_B, 1) }), bare(Priv.U), bare(Priv.S), bare(Priv.M),
    ].map(key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(key(S())).toBe(key(S()));
    expect(key({ ...bare(Priv.S), satp: satpOf(G_ROOT, 3), sum: true })).toBe(key(bare(Priv.S)));
  });

  it("gives each context its own root, created once, with the Sv32 mode and a pool frame", () => {
    const a = shadow.rootSatp(key(S()), S());
    const b = shadow.rootSatp(key(U()), U());
    expect(shadow.stats.rootsCreated).toBe(2);
    expect(shadow.rootSatp(key(S()), S())).toBe(a);
    expect(shadow.rootCount).toBe(2);
    expect(shadow.stats.rootsCreated).toBe(2);
    for (const satp of [a, b]) {
      expect(satp >>> 31).toBe(1);
      expect((satp >>> 22) & 0x1ff).toBe(0); // the host's tables use no ASID
      const table = (satp & 0x3f_ffff) * 4096;
      expect(table).toBeGreaterThanOrEqual(POOL);
      expect(table).toBeLessThan(POOL + 64 * 4096);
      expect(hostRam.read(gpa(table), 4096)!.every((byte) => byte === 0)).toBe(true);
    }
    expect(a).not.toBe(b);
  });

  it("never shows guest-kernel pages to guest user code", () => {
    setPte(G_L0, 1, pte(DATA + 0x1000, PTE_V | RWX | AD)); // supervisor page
    setPte(G_L0, 2, pte(DATA + 0x2000, PTE_V | RWX | PTE_U | AD)); // user page
    const s = S();
    const u = U();
    expect(fill(s, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    expect(hw(s, 0x4000_1000, Access.Load)).toBe(hostOf(DATA + 0x1000));
    // The kernel's fill is not visible in the user root, and the user cannot fill it either.
    expect(hw(u, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    for (const access of [Access.Fetch, Access.Load, Access.Store]) {
      expect(fill(u, 0x4000_1000, access)).toBe(Fill.Emulate);
    }
    expect(hw(u, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    // The user page maps in the user root with its full permissions.
    expect(fill(u, 0x4000_2000, Access.Fetch)).toBe(Fill.Mapped);
    expect(leafOf(u, 0x4000_2000) & RWX).toBe(RWX);
  });

  it("lets S-mode reach user pages only with SUM, and never execute them", () => {
    setPte(G_L0, 2, pte(DATA + 0x2000, PTE_V | RWX | PTE_U | AD));
    const plain = S();
    const sum = S({ sum: true });
    for (const access of [Access.Fetch, Access.Load, Access.Store]) {
      expect(fill(plain, 0x4000_2000, access)).toBe(Fill.Emulate);
    }
    expect(leafOf(plain, 0x4000_2000)).toBe(0);
    expect(fill(sum, 0x4000_2000, Access.Fetch)).toBe(Fill.Emulate);
    expect(fill(sum, 0x4000_2000, Access.Load)).toBe(Fill.Mapped);
    // Readable and writable (the page is dirty) but not executable in the S+SUM root.
    expect(leafOf(sum, 0x4000_2000) & RWX).toBe(PTE_R | PTE_W);
    expect(hw(sum, 0x4000_2008, Access.Store)).toBe(hostOf(DATA + 0x2000) + 8);
    expect(hw(sum, 0x4000_2008, Access.Fetch)).toBe(WALK_PAGE_FAULT);
    // And the S root without SUM stays empty.
    expect(hw(plain, 0x4000_2008, Access.Load)).toBe(WALK_PAGE_FAULT);
  });

  it("lets loads read execute-only pages only in MXR contexts", () => {
    setPte(G_L0, 3, pte(DATA + 0x3000, PTE_V | PTE_X | AD));
    const plain = S();
    const mxr = S({ mxr: true });
    expect(fill(plain, 0x4000_3000, Access.Load)).toBe(Fill.Emulate);
    expect(fill(plain, 0x4000_3000, Access.Fetch)).toBe(Fill.Mapped);
    expect(leafOf(plain, 0x4000_3000) & RWX).toBe(PTE_X);
    expect(hw(plain, 0x4000_3000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(fill(mxr, 0x4000_3000, Access.Load)).toBe(Fill.Mapped);
    expect(leafOf(mxr, 0x4000_3000) & RWX).toBe(PTE_R | PTE_X);
    expect(hw(mxr, 0x4000_3000, Access.Load)).toBe(hostOf(DATA + 0x3000));
    expect(hw(mxr, 0x4000_3000, Access.Store)).toBe(WALK_PAGE_FAULT);
  });

  it("keeps address spaces apart and caches their roots across switches", () => {
    setPte(G_L0, 1, pte(DATA + 0x1000, PTE_V | PTE_R | PTE_W | AD));
    setPte(G_L0_B, 1, pte(DATA + 0xb000, PTE_V | PTE_R | PTE_W | AD));
    const a = S({ satp: satpOf(G_ROOT, 1) });
    const b = S({ satp: satpOf(G_ROOT_B, 2) });
    const satpA = shadow.rootSatp(key(a), a);
    expect(fill(a, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    const satpB = shadow.rootSatp(key(b), b);
    expect(fill(b, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    expect(shadow.stats.rootsCreated).toBe(2);
    const fills = shadow.stats.fills;
    for (let round = 0; round < 3; round++) {
      expect(shadow.rootSatp(key(a), a)).toBe(satpA);
      expect(hw(a, 0x4000_1004, Access.Store)).toBe(hostOf(DATA + 0x1000) + 4);
      expect(shadow.rootSatp(key(b), b)).toBe(satpB);
      expect(hw(b, 0x4000_1004, Access.Store)).toBe(hostOf(DATA + 0xb000) + 4);
    }
    expect(shadow.stats.rootsCreated).toBe(2);
    expect(shadow.stats.fills).toBe(fills);
    expect(shadow.rootCount).toBe(2);
  });
});

describe("ShadowPageTables: invalidation", () => {
  /** Address spaces A (ASID 1, S and U roots) and B (ASID 2), each with pages filled. */
  function populate() {
    for (const index of [1, 2, 3]) setPte(G_L0, index, pte(DATA + index * 0x1000, PTE_V | PTE_R | PTE_W | PTE_U | AD));
    setPte(G_L0_HIGH, 0x3ff, pte(DATA + 0xf000, PTE_V | PTE_R | PTE_W | PTE_U | AD));
    setPte(G_L0_B, 1, pte(DATA + 0xb000, PTE_V | PTE_R | PTE_W | PTE_U | AD));
    const a = U({ satp: satpOf(G_ROOT, 1) });
    const aS = S({ satp: satpOf(G_ROOT, 1), sum: true });
    const b = U({ satp: satpOf(G_ROOT_B, 2) });
    const m = bare(Priv.M);
    for (const va of [0x4000_1000, 0x4000_2000, 0x4000_3000, 0xffff_f000]) {
      expect(fill(a, va, Access.Load)).toBe(Fill.Mapped);
      expect(fill(aS, va, Access.Load)).toBe(Fill.Mapped);
    }
    expect(fill(b, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    expect(fill(m, DATA + 0x1000, Access.Load)).toBe(Fill.Mapped);
    expect(fill(m, DATA + 0x2000, Access.Load)).toBe(Fill.Mapped);
    flushed.length = 0;
    return { a, aS, b, m };
  }

  it("invalidatePage drops exactly that page in the roots of that ASID and flushes it", () => {
    const { a, aS, b, m } = populate();
    const stats = { ...shadow.stats };
    shadow.invalidatePage(0x4000_2abc, 1);
    expect(flushed).toEqual([0x4000_2abc]);
    expect(shadow.stats).toEqual({ ...stats, pageFlushes: stats.pageFlushes + 1 });
    for (const c of [a, aS]) {
      expect(leafOf(c, 0x4000_2000)).toBe(0);
      expect(hw(c, 0x4000_2abc, Access.Load)).toBe(WALK_PAGE_FAULT);
      expect(hw(c, 0x4000_1000, Access.Load)).toBe(hostOf(DATA + 0x1000));
      expect(hw(c, 0x4000_3000, Access.Load)).toBe(hostOf(DATA + 0x3000));
      expect(hw(c, 0xffff_f000, Access.Load)).toBe(hostOf(DATA + 0xf000));
    }
    expect(hw(b, 0x4000_1000, Access.Load)).toBe(hostOf(DATA + 0xb000));
    expect(hw(m, DATA + 0x1000, Access.Load)).toBe(hostOf(DATA + 0x1000));
    // The page fills again afterwards.
    expect(fill(a, 0x4000_2000, Access.Load)).toBe(Fill.Mapped);
    expect(hw(a, 0x4000_2abc, Access.Load)).toBe(hostOf(DATA + 0x2000) + 0xabc);
  });

  it("invalidatePage with another ASID leaves the page, and without one drops it in every translated root", () => {
    const { a, b, m } = populate();
    shadow.invalidatePage(0x4000_1000, 2);
    expect(hw(a, 0x4000_1000, Access.Load)).toBe(hostOf(DATA + 0x1000));
    expect(hw(b, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(fill(b, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    shadow.invalidatePage(0x4000_1000);
    expect(hw(a, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(b, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(a, 0x4000_2000, Access.Load)).toBe(hostOf(DATA + 0x2000));
    // Untranslated roots do not depend on page tables: va 0x8001_1000 is still mapped there.
    shadow.invalidatePage(DATA + 0x1000);
    expect(hw(m, DATA + 0x1000, Access.Load)).toBe(hostOf(DATA + 0x1000));
    expect(shadow.stats.pageFlushes).toBe(3);
    expect(flushed).toEqual([0x4000_1000, 0x4000_1000, DATA + 0x1000]);
    // ASIDs are nine bits wide (satp bits 30:22).
    const wide = U({ satp: satpOf(G_ROOT_B, 0x1ff) });
    expect(fill(wide, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    shadow.invalidatePage(0x4000_1000, 0xff);
    expect(hw(wide, 0x4000_1000, Access.Load)).toBe(hostOf(DATA + 0xb000));
    shadow.invalidatePage(0x4000_1000, 0x1ff);
    expect(hw(wide, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
  });

  it("invalidateAll empties the roots of one ASID, or of every translated context, and frees their tables", () => {
    const { a, aS, b, m } = populate();
    const available = pool.available;
    const stats = { ...shadow.stats };
    shadow.invalidateAll(1);
    expect(flushed).toEqual([undefined]);
    expect(shadow.stats).toEqual({ ...stats, fullFlushes: stats.fullFlushes + 1 });
    // A's S and U roots each had two second-level tables (for 0x4000_0000 and 0xffc0_0000).
    expect(pool.available).toBe(available + 4);
    for (const c of [a, aS]) {
      for (const va of [0x4000_1000, 0x4000_2000, 0x4000_3000, 0xffff_f000]) expect(hw(c, va, Access.Load)).toBe(WALK_PAGE_FAULT);
    }
    expect(hw(b, 0x4000_1000, Access.Load)).toBe(hostOf(DATA + 0xb000));
    // The roots themselves stay cached.
    expect(shadow.rootCount).toBe(4);
    expect(shadow.stats.rootsCreated).toBe(stats.rootsCreated);

    shadow.invalidateAll();
    expect(hw(b, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(m, DATA + 0x1000, Access.Load)).toBe(hostOf(DATA + 0x1000));
    expect(shadow.stats.fullFlushes).toBe(stats.fullFlushes + 2);
    expect(flushed).toEqual([undefined, undefined]);
    // Everything fills again.
    expect(fill(a, 0xffff_f000, Access.Store)).toBe(Fill.Mapped);
    expect(hw(a, 0xffff_f000, Access.Store)).toBe(hostOf(DATA + 0xf000));
  });

  it("invalidateEverything empties untranslated roots too, but keeps every root", () => {
    const { a, b, m } = populate();
    const satps = [a, b, m].map((c) => shadow.rootSatp(key(c), c));
    const stats = { ...shadow.stats };
    shadow.invalidateEverything();
    expect(flushed).toEqual([undefined]);
    expect(shadow.stats).toEqual({ ...stats, fullFlushes: stats.fullFlushes + 1 });
    expect(pool.available).toBe(64 - shadow.rootCount);
    expect(hw(a, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(b, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(m, DATA + 0x1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect([a, b, m].map((c) => shadow.rootSatp(key(c), c))).toEqual(satps);
    expect(shadow.stats.rootsCreated).toBe(stats.rootsCreated);
    expect(fill(m, DATA + 0x1000, Access.Load)).toBe(Fill.Mapped);
    expect(hw(m, DATA + 0x1000, Access.Load)).toBe(hostOf(DATA + 0x1000));
  });

  it("reset drops every root and returns every frame", () => {
    populate();
    shadow.reset();
    expect(shadow.rootCount).toBe(0);
    expect(pool.available).toBe(64);
    expect(shadow.stats.poolResets).toBe(1);
    expect(flushed).toEqual([undefined]);
  });

  it("flushes the hardware TLB when a fill replaces an entry, not when it writes an empty one", () => {
    setPte(G_L0, 1, pte(DATA + 0x1000, PTE_V | PTE_R | PTE_W | PTE_X | AD));
    const c = S();
    expect(fill(c, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    expect(fill(c, 0x4000_2000 - 4, Access.Fetch)).toBe(Fill.Mapped);
    expect(flushed).toEqual([0x4000_1ffc]);
    shadow.invalidatePage(0x4000_1000, 1);
    flushed.length = 0;
    expect(fill(c, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    expect(flushed).toEqual([]);
  });

  it("sfence.vma at any address of a guest megapage drops the shadow entries of the whole megapage", () => {
    // privileged spec §4.2.1: SFENCE.VMA with rs1 orders the leaf PTE that translates rs1; for a
    // megapage that one leaf translates all 4 MiB, so a remap must become visible at every offset.
    setPte(G_ROOT, 0x101, pte(0x8040_0000, PTE_V | PTE_R | PTE_W | AD));
    const c = S();
    expect(fill(c, 0x4040_0000, Access.Load)).toBe(Fill.Mapped);
    expect(fill(c, 0x4052_3000, Access.Load)).toBe(Fill.Mapped);
    expect(hw(c, 0x4052_3456, Access.Load)).toBe(hostOf(0x8052_3000) + 0x456);
    // The guest moves the megapage and fences its first address (one fence per huge page, as kernels do).
    setPte(G_ROOT, 0x101, pte(0x8080_0000, PTE_V | PTE_R | PTE_W | AD));
    shadow.invalidatePage(0x4040_0000, 1);
    expect(hw(c, 0x4040_0000, Access.Load)).toBe(WALK_PAGE_FAULT);
    // No stale translation to the old frame may survive anywhere in the megapage.
    const after = hw(c, 0x4052_3456, Access.Load);
    expect(after, "stale shadow entry for the old megapage frame").not.toBe(hostOf(0x8052_3000) + 0x456);
    expect(after === WALK_PAGE_FAULT || after === hostOf(0x8092_3000) + 0x456).toBe(true);
    // The hardware TLB must forget the whole megapage too, not just the fenced page.
    expect(flushed.some((va) => va === undefined || va >>> 12 === 0x4052_3)).toBe(true);
  });
});

describe("ShadowPageTables: frame pool exhaustion", () => {
  it("resets when a second-level table cannot be had, and fills correctly afterwards with no stale entries", () => {
    makeShadow(3); // one root and two second-level tables
    // Sixteen guest megapages over the four 4 MiB pieces of guest RAM.
    for (let i = 0; i < 16; i++) setPte(G_ROOT, 0x200 + i, pte(GUEST_RAM + (i % 4) * 0x40_0000, PTE_V | RWX | AD));
    const c = S();
    const va = (i: number) => (0x200 + i) * 0x40_0000 + 0x1000 * (i + 1) + 4 * i;
    const gpa = (i: number) => GUEST_RAM + (i % 4) * 0x40_0000 + 0x1000 * (i + 1) + 4 * i;
    let live: number[] = [];
    let resets = 0;
    for (let i = 0; i < 16; i++) {
      flushed.length = 0;
      expect(fill(c, va(i), Access.Store)).toBe(Fill.Mapped);
      if (shadow.stats.poolResets !== resets) {
        resets = shadow.stats.poolResets;
        live = [];
        expect(flushed).toContain(undefined);
      }
      live.push(i);
      for (let j = 0; j <= i; j++) {
        expect(hw(c, va(j), Access.Store)).toBe(live.includes(j) ? hostOf(gpa(j) & ~0xfff) + (gpa(j) & 0xfff) : WALK_PAGE_FAULT);
      }
    }
    // Every third distinct table needed a reset: fills 3, 5, 7, ... 15.
    expect(shadow.stats.poolResets).toBe(7);
    expect(shadow.stats.fills).toBe(16);
    expect(shadow.rootCount).toBe(1);
  });

  it("zeroes reused frames, so an old entry cannot reappear under a new table", () => {
    makeShadow(2); // the minimum: one root, one second-level table
    setPte(G_L0, 5, pte(DATA + 0x5000, PTE_V | RWX | AD));
    setPte(G_ROOT, 0x101, pte(0x8040_0000, PTE_V | RWX | AD));
    const c = S();
    expect(fill(c, 0x4000_5000, Access.Load)).toBe(Fill.Mapped);
    expect(fill(c, 0x4040_7000, Access.Load)).toBe(Fill.Mapped);
    expect(shadow.stats.poolResets).toBe(1);
    expect(hw(c, 0x4040_7000, Access.Load)).toBe(hostOf(0x8040_7000));
    // Slot 5 of whichever frame is now the second-level table held the old entry: gone.
    expect(hw(c, 0x4040_5000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(c, 0x4000_5000, Access.Load)).toBe(WALK_PAGE_FAULT);
    // Only the live root and table are in use, and the evicted page fills back in.
    expect(pool.available).toBe(0);
    expect(fill(c, 0x4000_5000, Access.Load)).toBe(Fill.Mapped);
    expect(hw(c, 0x4000_5000, Access.Load)).toBe(hostOf(DATA + 0x5000));
    expect(hw(c, 0x4040_7000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(shadow.stats.poolResets).toBe(2);
  });

  it("resets when a new root cannot be had", () => {
    makeShadow(2);
    shadow.rootSatp(key(S()), S());
    shadow.rootSatp(key(U()), U());
    expect(shadow.stats.poolResets).toBe(0);
    const third = shadow.rootSatp(key(bare(Priv.M)), bare(Priv.M));
    expect(third).toBeGreaterThan(0);
    expect(shadow.stats.poolResets).toBe(1);
    expect(shadow.rootCount).toBe(1);
    expect(shadow.stats.rootsCreated).toBe(3);
    expect(flushed).toEqual([undefined]);
    // The dropped roots come back as new ones when used again.
    expect(fill(S(), 0x4000_0000, Access.Load)).toBe(Fill.Emulate); // (no PTE there)
    expect(shadow.stats.rootsCreated).toBe(4);
    expect(shadow.rootCount).toBe(2);
  });
});

describe("ShadowPageTables: PMP", () => {
  const NAPOT = 3 << 3;
  const NA4 = 2 << 3;
  const LOCK = 0x80;
  const napot = (base: number, size: number) => base / 4 + (size / 8 - 1);

  /** Entry 0: page 3 read-only; 1: page 4 nothing; 2: four bytes inside page 5; 3: all of guest RAM. */
  function guestPmp(lockNothing = false): Pmp {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, napot(DATA + 0x3000, 4096));
    pmp.writeAddr(1, napot(DATA + 0x4000, 4096));
    pmp.writeAddr(2, (DATA + 0x5008) / 4);
    pmp.writeAddr(3, napot(GUEST_RAM, GUEST_RAM_SIZE));
    const cfg = [NAPOT | PMP_R, NAPOT | (lockNothing ? LOCK : 0), NA4 | PMP_R, NAPOT | PMP_R | PMP_W | PMP_X];
    pmp.writeCfg(0, cfg[0]! | (cfg[1]! << 8) | (cfg[2]! << 16) | (cfg[3]! << 24));
    return pmp;
  }

  beforeEach(() => {
    for (const index of [2, 3, 4, 5]) setPte(G_L0, index, pte(DATA + index * 0x1000, PTE_V | RWX | AD));
  });

  it("caps the shadow entry at what PMP allows the page", () => {
    const pmp = guestPmp();
    const c = S();
    expect(fill(c, 0x4000_2000, Access.Store, pmp)).toBe(Fill.Mapped);
    expect(leafOf(c, 0x4000_2000) & RWX).toBe(RWX);
    expect(fill(c, 0x4000_3000, Access.Store, pmp)).toBe(Fill.Emulate);
    expect(fill(c, 0x4000_3000, Access.Fetch, pmp)).toBe(Fill.Emulate);
    expect(fill(c, 0x4000_3000, Access.Load, pmp)).toBe(Fill.Mapped);
    expect(leafOf(c, 0x4000_3000) & RWX).toBe(PTE_R);
    expect(hw(c, 0x4000_3000, Access.Store)).toBe(WALK_PAGE_FAULT);
    expect(hw(c, 0x4000_3000, Access.Fetch)).toBe(WALK_PAGE_FAULT);
  });

  it("maps nothing PMP denies, nor a page PMP splits", () => {
    const pmp = guestPmp();
    for (const c of [S(), U({ satp: satpOf(G_ROOT, 1) }), bare(Priv.S)]) {
      const base = c.translated ? 0x4000_0000 : DATA;
      if (c.priv === Priv.U) for (const index of [4, 5]) setPte(G_L0, index, pte(DATA + index * 0x1000, PTE_V | RWX | PTE_U | AD));
      for (const access of [Access.Fetch, Access.Load, Access.Store]) {
        expect(fill(c, base + 0x4000, access, pmp)).toBe(Fill.Emulate);
        expect(fill(c, base + 0x5000, access, pmp)).toBe(Fill.Emulate);
      }
      expect(leafOf(c, base + 0x4000)).toBe(0);
      expect(leafOf(c, base + 0x5000)).toBe(0);
    }
    expect(shadow.stats.fills).toBe(0);
  });

  it("lets untranslated M-mode through unlocked entries but not locked ones", () => {
    const m = bare(Priv.M);
    expect(fill(m, DATA + 0x4000, Access.Store, guestPmp())).toBe(Fill.Mapped);
    expect(leafOf(m, DATA + 0x4000) & RWX).toBe(RWX);
    shadow.invalidateEverything();
    expect(fill(m, DATA + 0x4000, Access.Load, guestPmp(true))).toBe(Fill.Emulate);
    expect(leafOf(m, DATA + 0x4000)).toBe(0);
    // With no entry matching, untranslated S-mode gets nothing and M-mode everything.
    const only = new Pmp(16);
    only.writeAddr(0, napot(DATA + 0x3000, 4096));
    only.writeCfg(0, NAPOT | PMP_R);
    expect(fill(bare(Priv.S), DATA + 0x2000, Access.Load, only)).toBe(Fill.Emulate);
    expect(fill(bare(Priv.S), DATA + 0x3000, Access.Load, only)).toBe(Fill.Mapped);
    expect(leafOf(bare(Priv.S), DATA + 0x3000) & RWX).toBe(PTE_R);
    expect(fill(m, DATA + 0x2000, Access.Store, only)).toBe(Fill.Mapped);
  });

  it("gives Emulate (the guest's access fault) when PMP denies the guest's page-table reads", () => {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, napot(DATA, 0x1_0000)); // data only, not the tables
    pmp.writeCfg(0, NAPOT | PMP_R | PMP_W | PMP_X);
    setPte(G_L0, 2, pte(DATA + 0x2000, PTE_V | RWX));
    expect(fill(S(), 0x4000_2000, Access.Load, pmp)).toBe(Fill.Emulate);
    expect(guestPte(G_L0, 2) & PTE_A).toBe(0);
    expect(leafOf(S(), 0x4000_2000)).toBe(0);
  });
});

describe("ShadowPageTables: global guest pages", () => {
  it("shadows a global page per address space and drops it on an ASID-less fence", () => {
    setPte(G_L0, 1, pte(DATA + 0x1000, PTE_V | PTE_R | PTE_G | AD));
    setPte(G_L0_B, 1, pte(DATA + 0x1000, PTE_V | PTE_R | PTE_G | AD));
    const a = S({ satp: satpOf(G_ROOT, 1) });
    const b = S({ satp: satpOf(G_ROOT_B, 2) });
    expect(fill(a, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    expect(fill(b, 0x4000_1000, Access.Load)).toBe(Fill.Mapped);
    // The shadow entry itself is never global: the host's tables are per shadow root.
    expect(leafOf(a, 0x4000_1000) & PTE_G).toBe(0);
    shadow.invalidatePage(0x4000_1000);
    expect(hw(a, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
    expect(hw(b, 0x4000_1000, Access.Load)).toBe(WALK_PAGE_FAULT);
  });
});
