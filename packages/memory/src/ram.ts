/**
 * Guest RAM: one SharedArrayBuffer with typed-array views, so harts on worker threads can share it
 * and Atomics can give LR/SC and AMOs their meaning across threads. Views assume a little-endian
 * host, as RISC-V is little-endian (every host Node runs on in practice).
 */
export class Ram {
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  /** Physical address of the first byte. */
  readonly base: number;
  readonly size: number;

  /** Byte offset of this RAM inside `buffer` (non-zero for a VM's RAM carved out of its host's). */
  readonly byteOffset: number;

  /**
   * RAM of `size` bytes at physical address `base`: a new SharedArrayBuffer, or a window of an
   * existing one starting at `byteOffset` (how a hypervisor gives a VM frames of its own memory
   * without copying, so every level of a nested stack shares one buffer).
   */
  constructor(base: number, size: number, buffer?: SharedArrayBuffer, byteOffset = 0) {
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
    this.base = base;
    this.size = size;
    this.buffer = buffer ?? new SharedArrayBuffer(size);
    this.byteOffset = byteOffset;
    this.u8 = new Uint8Array(this.buffer, byteOffset, size);
    this.u16 = new Uint16Array(this.buffer, byteOffset, size >>> 1);
    this.i32 = new Int32Array(this.buffer, byteOffset, size >>> 2);
  }

  /** True when [pa, pa + length) lies inside this RAM. */
  contains(pa: number, length = 1): boolean {
    const offset = pa - this.base;
    return offset >= 0 && length >= 0 && offset + length <= this.size;
  }

  /** Copies bytes into RAM at a physical address (for loaders). Throws if out of range. */
  write(pa: number, bytes: Uint8Array): void {
    if (!this.contains(pa, bytes.length)) {
      throw new RangeError(
        `0x${pa.toString(16)}..0x${(pa + bytes.length).toString(16)} lies outside RAM ` +
          `0x${this.base.toString(16)}..0x${(this.base + this.size).toString(16)}`,
      );
    }
    this.u8.set(bytes, pa - this.base);
  }

  /** Copies bytes out of RAM (for tests and device models). Throws if out of range. */
  read(pa: number, length: number): Uint8Array {
    if (!this.contains(pa, length)) throw new RangeError(`0x${pa.toString(16)}+${length} lies outside RAM`);
    return this.u8.slice(pa - this.base, pa - this.base + length);
  }
}
