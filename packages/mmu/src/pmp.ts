/**
 * Physical memory protection (privileged spec 1.12 §3.7) for RV32: up to 64 entries, each an
 * 8-bit configuration (L, A, X, W, R) and an address register holding bits 33:2 of an address.
 */
import { Priv } from "@matryoshka/isa";

export const PMP_R = 0x01;
export const PMP_W = 0x02;
export const PMP_X = 0x04;
const PMP_A_SHIFT = 3;
const PMP_L = 0x80;

// A module constant: `check` runs on every slow-path access and TLB fill.
const PRIV_M = Priv.M;

const A_OFF = 0;
const A_TOR = 1;
const A_NA4 = 2;

/** Permission bits for an access kind: fetch needs X, load needs R, store needs W. */
export const accessPermission = [PMP_X, PMP_R, PMP_W] as const;

export class Pmp {
  /** Number of implemented entries: 0 disables PMP entirely, like QEMU's `pmp=false`. */
  readonly count: number;
  readonly cfg: Uint8Array;
  readonly addr: Uint32Array;
  /** Decoded ranges [lo, hi) in bytes per entry, -1 lo for an inactive entry; rebuilt on writes. */
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  /** Bumped on every change, so TLBs that cached PMP verdicts can flush. */
  version = 0;

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 0 || count > 64) throw new RangeError(`PMP entries must be 0..64, got ${count}`);
    this.count = count;
    this.cfg = new Uint8Array(64);
    this.addr = new Uint32Array(64);
    this.lo = new Float64Array(64).fill(-1);
    this.hi = new Float64Array(64);
  }

  /** True if any entry is active: with none, M-mode is unrestricted and S/U get nothing. */
  get anyActive(): boolean {
    for (let i = 0; i < this.count; i++) if (this.lo[i]! >= 0) return true;
    return false;
  }

  private locked(i: number): boolean {
    return (this.cfg[i]! & PMP_L) !== 0;
  }

  /** Reads pmpcfgN (RV32: four entries per register). */
  readCfg(register: number): number {
    let value = 0;
    for (let k = 0; k < 4; k++) {
      const i = register * 4 + k;
      if (i < this.count) value |= this.cfg[i]! << (8 * k);
    }
    return value >>> 0;
  }

  /** Writes pmpcfgN; locked entries keep their value (WARL). */
  writeCfg(register: number, value: number): void {
    for (let k = 0; k < 4; k++) {
      const i = register * 4 + k;
      if (i >= this.count || this.locked(i)) continue;
      // Bits 6:5 are reserved and read as zero. R=0,W=1 is a reserved combination (§3.7.1); like
      // QEMU 7.2 we store it as written, and it grants no access because W needs R in `check`.
      this.cfg[i] = (value >>> (8 * k)) & 0x9f;
    }
    this.rebuild();
  }

  readAddr(i: number): number {
    return i < this.count ? this.addr[i]! : 0;
  }

  /** Writes pmpaddrI unless entry I is locked, or entry I+1 is a locked TOR entry (§3.7.1). */
  writeAddr(i: number, value: number): void {
    if (i >= this.count || this.locked(i)) return;
    if (i + 1 < this.count && this.locked(i + 1) && ((this.cfg[i + 1]! >> PMP_A_SHIFT) & 3) === A_TOR) return;
    this.addr[i] = value >>> 0;
    this.rebuild();
  }

  private rebuild(): void {
    for (let i = 0; i < this.count; i++) {
      const a = (this.cfg[i]! >> PMP_A_SHIFT) & 3;
      const address = this.addr[i]! * 4; // bits 33:2 → a 34-bit byte address
      if (a === A_OFF) {
        this.lo[i] = -1;
      } else if (a === A_TOR) {
        const below = i === 0 ? 0 : this.addr[i - 1]! * 4;
        this.lo[i] = below;
        this.hi[i] = address; // empty when below >= address: matches nothing
      } else if (a === A_NA4) {
        this.lo[i] = address;
        this.hi[i] = address + 4;
      } else {
        // A = 3, NAPOT: the number of trailing ones in pmpaddr gives the size 2^(ones + 3).
        let ones = 0;
        let raw = this.addr[i]!;
        while (ones < 32 && (raw & 1) === 1) {
          ones++;
          raw >>>= 1;
        }
        const size = 2 ** (ones + 3);
        const base = Math.floor(address / size) * size;
        this.lo[i] = base;
        this.hi[i] = base + size;
      }
    }
    this.version++;
  }

  /**
   * Whether an access of `size` bytes at physical address `pa` with privilege `priv` (0 U, 1 S,
   * 3 M) and permission bit `perm` (PMP_R/W/X) is allowed (§3.7.1): the lowest-numbered entry that
   * matches any byte decides, and it must cover every byte; with no match, only M succeeds when
   * any entries are implemented.
   */
  check(pa: number, size: number, perm: number, priv: number): boolean {
    if (this.count === 0) return true;
    const end = pa + size;
    for (let i = 0; i < this.count; i++) {
      const lo = this.lo[i]!;
      if (lo < 0) continue;
      const hi = this.hi[i]!;
      if (end <= lo || pa >= hi) continue;
      if (pa < lo || end > hi) return false; // partial match fails
      const cfg = this.cfg[i]!;
      if (priv === PRIV_M && (cfg & PMP_L) === 0) return true;
      if (perm === PMP_W) return (cfg & (PMP_R | PMP_W)) === (PMP_R | PMP_W);
      return (cfg & perm) !== 0;
    }
    return priv === PRIV_M;
  }

  /**
   * The verdict for a whole 4 KiB page, if every byte of it gets the same one: a mask of allowed
   * PMP_R/W/X, or -1 when entries split the page and each access must be checked on its own.
   * TLBs cache this so accesses to uniformly protected pages skip PMP entirely.
   */
  pagePermissions(pagePa: number, priv: number): number {
    // Each permission allowed for the page as a whole is uniform. One that is not is uniform only
    // if no entry touches the page at all, or one entry covers it whole and denies; otherwise the
    // page is split. (Allocation-free: TLB fills call this.)
    let mask = 0;
    let denied = false;
    if (this.check(pagePa, 4096, PMP_R, priv)) mask |= PMP_R;
    else denied = true;
    if (this.check(pagePa, 4096, PMP_W, priv)) mask |= PMP_W;
    else denied = true;
    if (this.check(pagePa, 4096, PMP_X, priv)) mask |= PMP_X;
    else denied = true;
    return denied && this.splits(pagePa) ? -1 : mask;
  }

  /** True if some active entry begins or ends strictly inside the page. */
  private splits(pagePa: number): boolean {
    const end = pagePa + 4096;
    for (let i = 0; i < this.count; i++) {
      const lo = this.lo[i]!;
      if (lo < 0) continue;
      const hi = this.hi[i]!;
      if (hi <= lo) continue;
      if ((lo > pagePa && lo < end) || (hi > pagePa && hi < end)) return true;
    }
    return false;
  }
}
