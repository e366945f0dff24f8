import { PAGE_SHIFT, type GuestPhysicalAddress } from "./address.js";
import { GuestMemoryBase, type RemapCounter } from "./guest-memory.js";

/**
 * The hardware's RAM: one SharedArrayBuffer with typed-array views, so harts on worker threads can
 * share it and Atomics can give LR/SC and AMOs their meaning across threads. Contiguous: page p of
 * RAM is at byte (p << 12) - base of the views, always. Views assume a little-endian host, as
 * RISC-V is little-endian (every host Node runs on in practice).
 */
export class Ram extends GuestMemoryBase {
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  /** Physical address of the first byte. */
  readonly base: GuestPhysicalAddress;
  readonly size: number;
  /** Byte offset of this RAM inside `buffer` (non-zero when a worker thread maps part of a buffer). */
  readonly byteOffset: number;
  /** Nothing ever moves in hardware RAM; memories built on it share and bump this counter. */
  readonly remaps: RemapCounter = { count: 0 };

  /**
   * RAM of `size` bytes at physical address `base`: a new SharedArrayBuffer, or a window of an
   * existing one starting at `byteOffset` (how a worker thread sees the RAM of the machine it runs
   * a hart of).
   */
  constructor(base: number, size: number, buffer?: SharedArrayBuffer, byteOffset = 0) {
    super();
    if (!Number.isInteger(base) || base < 0 || base % 4096 !== 0 || base > 0xffff_ffff) {
      throw new RangeError(`RAM base 0x${base.toString(16)} must be a 4 KiB-aligned 32-bit address`);
    }
    if (!Number.isInteger(size) || size <= 0 || size % 4096 !== 0 || base + size > 0x1_0000_0000) {
      throw new RangeError(`RAM size ${size} must be a positive multiple of 4 KiB that fits below 4 GiB`);
    }
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4096 !== 0) {
      throw new RangeError(`RAM byte offset ${byteOffset} must be a non-negative multiple of 4 KiB`);
    }
    if (buffer ? byteOffset + size > buffer.byteLength : byteOffset !== 0) {
      throw new RangeError(`RAM window of ${size} bytes at offset ${byteOffset} does not fit its buffer of ${buffer?.byteLength ?? 0} bytes`);
    }
    this.base = base as GuestPhysicalAddress;
    this.size = size;
    this.buffer = buffer ?? new SharedArrayBuffer(size);
    this.byteOffset = byteOffset;
    this.u8 = new Uint8Array(this.buffer, byteOffset, size);
    this.u16 = new Uint16Array(this.buffer, byteOffset, size >>> 1);
    this.i32 = new Int32Array(this.buffer, byteOffset, size >>> 2);
  }

  frameOffset(page: number, _write: boolean): number {
    const offset = page * 4096 - this.base;
    return offset >= 0 && offset < this.size ? offset : -1;
  }

  /** Pages of RAM. */
  get pages(): number {
    return this.size >>> PAGE_SHIFT;
  }
}
