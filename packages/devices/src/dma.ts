import type { Ram } from "@matryoshka/memory";

/**
 * How a device reaches guest memory (DMA). On the bare board this is the machine's RAM; inside a VM
 * the hypervisor implements it, translating guest-physical addresses and refusing anything the VM
 * does not own. Addresses are guest-physical byte addresses: integers in [0, 2^32). Sv32 can name
 * 34-bit physical addresses, but nothing at or above 2^32 is RAM on any board we model, so such an
 * address is simply "outside".
 *
 * Nothing here throws on a bad address: every access reports failure instead, so a device can turn
 * a guest's bad pointer into a device error the guest sees.
 */
export interface GuestMemory {
  /** True when every byte of [address, address + length) is guest RAM. */
  contains(address: number, length: number): boolean;
  /** Copies `length` bytes from guest-physical `address`, or undefined if any byte is outside guest RAM. */
  read(address: number, length: number): Uint8Array | undefined;
  /** Copies bytes to guest-physical `address`; false (and nothing written) if any byte is outside guest RAM. */
  write(address: number, bytes: Uint8Array): boolean;
  /** Little-endian 16-bit load; undefined if outside guest RAM. */
  readU16(address: number): number | undefined;
  /** Little-endian 32-bit load (unsigned); undefined if outside guest RAM. */
  readU32(address: number): number | undefined;
  /** Little-endian 16-bit store of the low 16 bits of `value`; false if outside guest RAM. */
  writeU16(address: number, value: number): boolean;
  /** Little-endian 32-bit store; false if outside guest RAM. */
  writeU32(address: number, value: number): boolean;
}

/** True for a length that can describe a run of bytes. */
function isLength(length: number): boolean {
  return Number.isInteger(length) && length >= 0;
}

/**
 * A GuestMemory needing only `contains`, `read` and `write`: the little-endian helpers are built on
 * them. Meant for hypervisors, whose guest memory is a page map rather than one array.
 */
export abstract class GuestMemoryBase implements GuestMemory {
  abstract contains(address: number, length: number): boolean;
  abstract read(address: number, length: number): Uint8Array | undefined;
  abstract write(address: number, bytes: Uint8Array): boolean;

  readU16(address: number): number | undefined {
    const bytes = this.read(address, 2);
    return bytes === undefined ? undefined : bytes[0]! | (bytes[1]! << 8);
  }

  readU32(address: number): number | undefined {
    const bytes = this.read(address, 4);
    return bytes === undefined ? undefined : (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  }

  writeU16(address: number, value: number): boolean {
    return this.write(address, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff));
  }

  writeU32(address: number, value: number): boolean {
    return this.write(address, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24));
  }
}

/** GuestMemory over the board's RAM; see `ramGuestMemory`. */
class RamGuestMemory implements GuestMemory {
  private readonly ram: Ram;
  private readonly onWrite: ((pa: number, length: number) => void) | undefined;

  constructor(ram: Ram, onWrite: ((pa: number, length: number) => void) | undefined) {
    this.ram = ram;
    this.onWrite = onWrite;
  }

  /** The RAM offset of [address, address + length), or -1 if any byte lies outside RAM. */
  private offsetOf(address: number, length: number): number {
    if (!Number.isInteger(address) || address < 0 || address >= 0x1_0000_0000 || !isLength(length)) return -1;
    return this.ram.contains(address, length) ? address - this.ram.base : -1;
  }

  contains(address: number, length: number): boolean {
    return this.offsetOf(address, length) >= 0;
  }

  read(address: number, length: number): Uint8Array | undefined {
    const offset = this.offsetOf(address, length);
    return offset < 0 ? undefined : this.ram.u8.slice(offset, offset + length);
  }

  write(address: number, bytes: Uint8Array): boolean {
    const offset = this.offsetOf(address, bytes.length);
    if (offset < 0) return false;
    this.ram.u8.set(bytes, offset);
    if (bytes.length > 0) this.onWrite?.(address, bytes.length);
    return true;
  }

  readU16(address: number): number | undefined {
    const offset = this.offsetOf(address, 2);
    if (offset < 0) return undefined;
    const u8 = this.ram.u8;
    return u8[offset]! | (u8[offset + 1]! << 8);
  }

  readU32(address: number): number | undefined {
    const offset = this.offsetOf(address, 4);
    if (offset < 0) return undefined;
    const u8 = this.ram.u8;
    return (u8[offset]! | (u8[offset + 1]! << 8) | (u8[offset + 2]! << 16) | (u8[offset + 3]! << 24)) >>> 0;
  }

  writeU16(address: number, value: number): boolean {
    const offset = this.offsetOf(address, 2);
    if (offset < 0) return false;
    const u8 = this.ram.u8;
    u8[offset] = value;
    u8[offset + 1] = value >>> 8;
    this.onWrite?.(address, 2);
    return true;
  }

  writeU32(address: number, value: number): boolean {
    const offset = this.offsetOf(address, 4);
    if (offset < 0) return false;
    const u8 = this.ram.u8;
    u8[offset] = value;
    u8[offset + 1] = value >>> 8;
    u8[offset + 2] = value >>> 16;
    u8[offset + 3] = value >>> 24;
    this.onWrite?.(address, 4);
    return true;
  }
}

/**
 * GuestMemory over the board's RAM: guest-physical addresses are RAM's physical addresses, and
 * anything outside [ram.base, ram.base + ram.size) is refused. `onWrite(pa, length)` runs after every
 * successful write, so the board can drop pre-decoded code the DMA overwrote
 * (e.g. `codeCache.invalidateRange`).
 */
export function ramGuestMemory(ram: Ram, onWrite?: (pa: number, length: number) => void): GuestMemory {
  return new RamGuestMemory(ram, onWrite);
}
