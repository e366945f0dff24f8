import type { GuestPhysicalAddress } from "./address.js";
import type { GuestMemory } from "./guest-memory.js";

/** Access widths in bytes. */
export type AccessSize = 1 | 2 | 4;

/**
 * A memory-mapped device. Offsets are relative to the region's base; values are unsigned and
 * `size` bytes wide. A device that does not decode an access returns false from `write` or
 * undefined from `read`, and the hart raises an access fault, as a bus error would.
 */
export interface MmioDevice {
  read(offset: number, size: AccessSize): number | undefined;
  write(offset: number, size: AccessSize, value: number): boolean;
  /**
   * True for memory a hart may execute from (a ROM). Fetching from any other device is an
   * instruction access fault that never reads it, as on QEMU 7.2 (see `Bus.fetch`).
   */
  readonly executable?: boolean;
}

export interface MmioRegion {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

/** The result of a load that found nothing at its address: the hart turns it into an access fault. */
export const BUS_ERROR = -0x1_0000_0000;

/**
 * A physical address space: RAM plus MMIO regions. The hart's fast path reaches RAM directly through
 * its TLB; everything else comes here.
 */
export class Bus {
  /** The machine's RAM: hardware `Ram`, or a VM's `PagedMemory`. */
  readonly ram: GuestMemory;
  private readonly regions: MmioRegion[] = [];
  /** Devices placed over RAM (like HTIF's tohost), checked before RAM itself. */
  private readonly overlays: MmioRegion[] = [];
  /** RAM page numbers (pa >>> 12) that hold an overlay: never cache them as plain RAM. */
  readonly overlayPages = new Set<number>();
  /** Bumped whenever the map changes, so cached lookups know to refresh. */
  generation = 0;

  constructor(ram: GuestMemory) {
    this.ram = ram;
  }

  /** Maps a device. Throws on overlap with RAM or another region, naming both. */
  addMmio(name: string, base: number, size: number, device: MmioDevice): MmioRegion {
    if (!Number.isInteger(base) || !Number.isInteger(size) || size <= 0 || base < 0 || base + size > 0x1_0000_0000) {
      throw new RangeError(`MMIO region "${name}" at 0x${base.toString(16)} size ${size} is not a valid 32-bit range`);
    }
    const overlaps = (b: number, s: number) => base < b + s && b < base + size;
    if (overlaps(this.ram.base, this.ram.size)) {
      throw new Error(`MMIO region "${name}" at 0x${base.toString(16)} overlaps RAM`);
    }
    for (const region of this.regions) {
      if (overlaps(region.base, region.size)) {
        throw new Error(
          `MMIO region "${name}" at 0x${base.toString(16)}+0x${size.toString(16)} overlaps "${region.name}" ` +
            `at 0x${region.base.toString(16)}+0x${region.size.toString(16)}`,
        );
      }
    }
    const region: MmioRegion = { name, base, size, device };
    this.regions.push(region);
    this.regions.sort((a, b) => a.base - b.base);
    this.generation++;
    return region;
  }

  /**
   * Places a device over a range of RAM (HTIF's `tohost`/`fromhost` live at ELF symbols, in RAM).
   * Accesses to those bytes reach the device; the rest of the page stays RAM. Harts must not
   * cache such pages in their TLBs (see `overlayPages`).
   */
  addOverlay(name: string, base: number, size: number, device: MmioDevice): MmioRegion {
    if (!this.ram.contains(base as GuestPhysicalAddress, size)) throw new RangeError(`overlay "${name}" at 0x${base.toString(16)} must lie inside RAM`);
    for (const region of this.overlays) {
      if (base < region.base + region.size && region.base < base + size) {
        throw new Error(`overlay "${name}" at 0x${base.toString(16)} overlaps "${region.name}"`);
      }
    }
    const region: MmioRegion = { name, base, size, device };
    this.overlays.push(region);
    for (let page = base >>> 12; page <= (base + size - 1) >>> 12; page++) this.overlayPages.add(page);
    this.generation++;
    return region;
  }

  private findOverlay(pa: number, size: number): MmioRegion | undefined {
    for (const region of this.overlays) if (pa < region.base + region.size && region.base < pa + size) return region;
    return undefined;
  }

  /** The MMIO region containing a physical address, if any. */
  findRegion(pa: number): MmioRegion | undefined {
    for (const region of this.regions) {
      if (pa >= region.base && pa < region.base + region.size) return region;
    }
    return undefined;
  }

  get mmioRegions(): readonly MmioRegion[] {
    return this.regions;
  }

  /** Devices placed over RAM (see `addOverlay`). */
  get overlayRegions(): readonly MmioRegion[] {
    return this.overlays;
  }

  /** True if a physical address is backed by anything (RAM or a device). */
  isMapped(pa: number): boolean {
    return this.ram.contains(pa as GuestPhysicalAddress) || this.findRegion(pa) !== undefined;
  }

  /**
   * Loads `size` bytes (unsigned), or BUS_ERROR if nothing answers. An access straddling the end of
   * RAM or a region is split into bytes, as QEMU does for misaligned accesses.
   */
  load(pa: number, size: AccessSize): number {
    const ram = this.ram;
    const offset = pa - ram.base;
    if (this.overlays.length > 0 && this.overlayPages.has(pa >>> 12)) {
      const overlay = this.findOverlay(pa, size);
      if (overlay) {
        if (pa < overlay.base || pa + size > overlay.base + overlay.size) return this.loadBytes(pa, size);
        const value = overlay.device.read(pa - overlay.base, size);
        return value === undefined ? BUS_ERROR : value >>> 0;
      }
    }
    if (offset >= 0 && offset + size <= ram.size) {
      // Pages of a VM's RAM need not be adjacent frames: an access across a page boundary is
      // made of bytes, each page through its own frame.
      if ((pa & 0xfff) + size > 4096) return this.loadBytes(pa, size);
      const frame = ram.frameOffset(pa >>> 12, false);
      if (frame < 0) return BUS_ERROR;
      const at = frame + (pa & 0xfff);
      if (size === 4) return (at & 3) === 0 ? ram.i32[at >> 2]! >>> 0 : readBytes(ram.u8, at, 4);
      if (size === 2) return (at & 1) === 0 ? ram.u16[at >> 1]! : readBytes(ram.u8, at, 2);
      return ram.u8[at]!;
    }
    const region = this.findRegion(pa);
    if (region && pa + size <= region.base + region.size) {
      const value = region.device.read(pa - region.base, size);
      return value === undefined ? BUS_ERROR : value >>> 0;
    }
    if (size === 1) return BUS_ERROR;
    return this.loadBytes(pa, size);
  }

  /**
   * Loads `size` bytes of an instruction: from RAM, or from a device that is `executable` (ROM);
   * BUS_ERROR (an instruction access fault) for anything else, without reading the device, whose
   * reads may have side effects. QEMU 7.2's virt board also faults a fetch from its devices.
   */
  fetch(pa: number, size: AccessSize): number {
    const overlaid = this.overlays.length > 0 && this.overlayPages.has(pa >>> 12) && this.findOverlay(pa, size) !== undefined;
    if (!overlaid && this.ram.contains(pa as GuestPhysicalAddress, size)) return this.load(pa, size);
    const region = overlaid ? undefined : this.findRegion(pa);
    if (region?.device.executable === true && pa + size <= region.base + region.size) return this.load(pa, size);
    return BUS_ERROR;
  }

  private loadBytes(pa: number, size: number): number {
    let value = 0;
    for (let i = 0; i < size; i++) {
      const byte = this.load((pa + i) >>> 0, 1);
      if (byte === BUS_ERROR) return BUS_ERROR;
      value |= byte << (8 * i);
    }
    return value >>> 0;
  }

  /** Stores the low `size` bytes of value; false if nothing answers. */
  store(pa: number, size: AccessSize, value: number): boolean {
    const ram = this.ram;
    const offset = pa - ram.base;
    if (this.overlays.length > 0 && this.overlayPages.has(pa >>> 12)) {
      const overlay = this.findOverlay(pa, size);
      if (overlay) {
        if (pa < overlay.base || pa + size > overlay.base + overlay.size) {
          for (let i = 0; i < size; i++) this.store((pa + i) >>> 0, 1, (value >>> (8 * i)) & 0xff);
          return true;
        }
        const mask = size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
        return overlay.device.write(pa - overlay.base, size, (value & mask) >>> 0);
      }
    }
    if (offset >= 0 && offset + size <= ram.size) {
      if ((pa & 0xfff) + size > 4096) {
        // Across a page boundary: both pages must take the write before either byte is stored.
        if (ram.frameOffset(pa >>> 12, true) < 0 || ram.frameOffset(((pa + size - 1) >>> 12), true) < 0) return false;
        for (let i = 0; i < size; i++) this.store((pa + i) >>> 0, 1, (value >>> (8 * i)) & 0xff);
        return true;
      }
      const frame = ram.frameOffset(pa >>> 12, true);
      if (frame < 0) return false;
      const at = frame + (pa & 0xfff);
      if (size === 4 && (at & 3) === 0) ram.i32[at >> 2] = value;
      else if (size === 2 && (at & 1) === 0) ram.u16[at >> 1] = value;
      else if (size === 1) ram.u8[at] = value;
      else for (let i = 0; i < size; i++) ram.u8[at + i] = value >>> (8 * i);
      return true;
    }
    const region = this.findRegion(pa);
    if (region && pa + size <= region.base + region.size) {
      const mask = size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
      return region.device.write(pa - region.base, size, (value & mask) >>> 0);
    }
    if (size === 1) return false;
    // Split a straddling access into bytes; check every byte is mapped first so nothing is half-written.
    for (let i = 0; i < size; i++) if (!this.isMapped((pa + i) >>> 0)) return false;
    for (let i = 0; i < size; i++) this.store((pa + i) >>> 0, 1, (value >>> (8 * i)) & 0xff);
    return true;
  }
}

function readBytes(bytes: Uint8Array, offset: number, size: number): number {
  let value = 0;
  for (let i = 0; i < size; i++) value |= bytes[offset + i]! << (8 * i);
  return value >>> 0;
}

/** A read-only block of bytes on the bus, such as QEMU's mask ROM holding the reset vector. */
export class Rom implements MmioDevice {
  readonly bytes: Uint8Array;
  readonly executable = true;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  read(offset: number, size: AccessSize): number | undefined {
    if (offset + size > this.bytes.length) return undefined;
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.bytes[offset + i]! << (8 * i);
    return value >>> 0;
  }
  /** Writes to ROM are dropped without a bus error, as on QEMU's mask ROM. */
  write(): boolean {
    return true;
  }
}
