import { PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, type GuestPhysicalAddress } from "./address.js";

/**
 * Bumped whenever a page of any memory of a stack moves to another frame (a copy-on-write break, a
 * page given back). One counter is shared by a hardware memory and every memory built on it, so a
 * cache of frame offsets (a hart's TLB) needs one comparison to know it may be stale.
 */
export interface RemapCounter {
  count: number;
}

/**
 * A machine's RAM as everything on the machine reaches it: its harts (through their TLBs), its
 * devices' DMA, loaders, firmware calls answered by a hypervisor, shadow and direct paging. One
 * abstraction with two implementations:
 *
 * - `Ram`: the hardware's memory, one contiguous run of a SharedArrayBuffer;
 * - `PagedMemory`: a VM's memory, a page-granular frame table over the memory of the platform
 *   beneath, whose pages may be backed on first touch, shared copy-on-write, or logged when dirty.
 *
 * Every level of a nested stack sees the one buffer at the bottom: `frameOffset` tells where in it
 * (in the `u8`/`u16`/`i32` views) the frame holding a page lies right now, so a hart's fast path is
 * the same typed-array access at every depth.
 *
 * Nothing here throws on a bad address: accesses report failure, so a device can turn a guest's
 * bad pointer into a device error the guest sees.
 */
export interface GuestMemory {
  /** Guest-physical address of the first byte of RAM (a multiple of 4 KiB). */
  readonly base: GuestPhysicalAddress;
  /** Bytes of RAM (a multiple of 4 KiB). */
  readonly size: number;
  /** The buffer at the bottom of the stack, and views over it that frame offsets index. */
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  /** See `RemapCounter`: an offset from `frameOffset` stays valid while this count does not change. */
  readonly remaps: RemapCounter;
  /**
   * Byte offset, in the views, of the frame that holds RAM page `page` (guest-physical address
   * >>> 12), or -1 if the page is not RAM or no frame can be had for it. Reading or writing backs
   * an untouched page; writing also breaks copy-on-write sharing and marks the page dirty. A
   * caller that keeps the offset must have asked with `write` before storing through it.
   */
  frameOffset(page: number, write: boolean): number;
  /** True when every byte of [address, address + length) is RAM. */
  contains(address: GuestPhysicalAddress, length?: number): boolean;
  /** Copies `length` bytes out, or undefined if any byte is outside RAM. */
  read(address: GuestPhysicalAddress, length: number): Uint8Array | undefined;
  /** Copies bytes in; false (and nothing written) if any byte is outside RAM. */
  write(address: GuestPhysicalAddress, bytes: Uint8Array): boolean;
  /** Sets `length` bytes to `value`; false (and nothing written) if any byte is outside RAM. */
  fill(address: GuestPhysicalAddress, length: number, value: number): boolean;
  /** Little-endian loads (unsigned); undefined if outside RAM. */
  readU16(address: GuestPhysicalAddress): number | undefined;
  readU32(address: GuestPhysicalAddress): number | undefined;
  /** Little-endian stores of the low bits of `value`; false if outside RAM. */
  writeU16(address: GuestPhysicalAddress, value: number): boolean;
  writeU32(address: GuestPhysicalAddress, value: number): boolean;
}

/**
 * Byte accesses of `GuestMemory` built on `frameOffset`, page by page (consecutive guest pages need
 * not be consecutive frames). Subclasses give the layout: `base`, `size`, the views and
 * `frameOffset`.
 */
export abstract class GuestMemoryBase implements GuestMemory {
  abstract readonly base: GuestPhysicalAddress;
  abstract readonly size: number;
  abstract readonly buffer: SharedArrayBuffer;
  abstract readonly u8: Uint8Array;
  abstract readonly u16: Uint16Array;
  abstract readonly i32: Int32Array;
  abstract readonly remaps: RemapCounter;
  abstract frameOffset(page: number, write: boolean): number;

  contains(address: GuestPhysicalAddress, length = 1): boolean {
    if (!Number.isInteger(address) || !Number.isInteger(length) || length < 0) return false;
    const offset = address - this.base;
    return offset >= 0 && offset + length <= this.size;
  }

  /**
   * Calls `visit(frameOffset, length, done)` for each page-sized piece of [address, address +
   * length), after checking the whole range is RAM and every page has a frame (so a failure
   * leaves nothing half done). `done` counts the bytes before the piece.
   */
  protected pieces(address: number, length: number, write: boolean, visit: (offset: number, length: number, done: number) => void): boolean {
    if (!this.contains(address as GuestPhysicalAddress, length)) return false;
    if (length === 0) return true;
    const firstPage = address >>> PAGE_SHIFT;
    const lastPage = (address + length - 1) >>> PAGE_SHIFT;
    // Back (and for writes, own) every page first: nothing is written unless all of it can be.
    for (let page = firstPage; page <= lastPage; page++) if (this.frameOffset(page, write) < 0) return false;
    let done = 0;
    while (done < length) {
      const at = address + done;
      const inPage = Math.min(length - done, PAGE_SIZE - (at & PAGE_MASK));
      visit(this.frameOffset(at >>> PAGE_SHIFT, write) + (at & PAGE_MASK), inPage, done);
      done += inPage;
    }
    return true;
  }

  read(address: GuestPhysicalAddress, length: number): Uint8Array | undefined {
    if (!Number.isInteger(length) || length < 0) return undefined;
    const out = new Uint8Array(length);
    const u8 = this.u8;
    return this.pieces(address, length, false, (offset, n, done) => out.set(u8.subarray(offset, offset + n), done)) ? out : undefined;
  }

  write(address: GuestPhysicalAddress, bytes: Uint8Array): boolean {
    const u8 = this.u8;
    return this.pieces(address, bytes.length, true, (offset, n, done) => u8.set(bytes.subarray(done, done + n), offset));
  }

  fill(address: GuestPhysicalAddress, length: number, value: number): boolean {
    const u8 = this.u8;
    return this.pieces(address, length, true, (offset, n) => u8.fill(value, offset, offset + n));
  }

  readU16(address: GuestPhysicalAddress): number | undefined {
    if ((address & 1) === 0 && this.contains(address, 2)) {
      const frame = this.frameOffset(address >>> PAGE_SHIFT, false);
      return frame < 0 ? undefined : this.u16[(frame + (address & PAGE_MASK)) >>> 1];
    }
    const bytes = this.read(address, 2);
    return bytes === undefined ? undefined : bytes[0]! | (bytes[1]! << 8);
  }

  readU32(address: GuestPhysicalAddress): number | undefined {
    if ((address & 3) === 0 && this.contains(address, 4)) {
      const frame = this.frameOffset(address >>> PAGE_SHIFT, false);
      return frame < 0 ? undefined : this.i32[(frame + (address & PAGE_MASK)) >>> 2]! >>> 0;
    }
    const bytes = this.read(address, 4);
    return bytes === undefined ? undefined : (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  }

  writeU16(address: GuestPhysicalAddress, value: number): boolean {
    if ((address & 1) === 0 && this.contains(address, 2)) {
      const frame = this.frameOffset(address >>> PAGE_SHIFT, true);
      if (frame < 0) return false;
      this.u16[(frame + (address & PAGE_MASK)) >>> 1] = value;
      return true;
    }
    return this.write(address, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff));
  }

  writeU32(address: GuestPhysicalAddress, value: number): boolean {
    if ((address & 3) === 0 && this.contains(address, 4)) {
      const frame = this.frameOffset(address >>> PAGE_SHIFT, true);
      if (frame < 0) return false;
      this.i32[(frame + (address & PAGE_MASK)) >>> 2] = value;
      return true;
    }
    return this.write(address, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24));
  }
}

