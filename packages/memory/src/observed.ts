import type { GuestPhysicalAddress } from "./address.js";
import type { GuestMemory, RemapCounter } from "./guest-memory.js";

/**
 * A view of `memory` that reports every successful write (guest-physical address and length)
 * after it happens: a board gives this to its devices for DMA, so that decoded code and
 * translations of the bytes a device overwrote are dropped.
 */
export function observedMemory(memory: GuestMemory, onWrite: (address: GuestPhysicalAddress, length: number) => void): GuestMemory {
  return new ObservedMemory(memory, onWrite);
}

class ObservedMemory implements GuestMemory {
  private readonly memory: GuestMemory;
  private readonly onWrite: (address: GuestPhysicalAddress, length: number) => void;

  constructor(memory: GuestMemory, onWrite: (address: GuestPhysicalAddress, length: number) => void) {
    this.memory = memory;
    this.onWrite = onWrite;
  }

  get base(): GuestPhysicalAddress {
    return this.memory.base;
  }
  get size(): number {
    return this.memory.size;
  }
  get buffer(): SharedArrayBuffer {
    return this.memory.buffer;
  }
  get u8(): Uint8Array {
    return this.memory.u8;
  }
  get u16(): Uint16Array {
    return this.memory.u16;
  }
  get i32(): Int32Array {
    return this.memory.i32;
  }
  get remaps(): RemapCounter {
    return this.memory.remaps;
  }

  /** A write permission handed out here bypasses the report: only whole accesses below are observed. */
  frameOffset(page: number, write: boolean): number {
    return this.memory.frameOffset(page, write);
  }
  contains(address: GuestPhysicalAddress, length?: number): boolean {
    return this.memory.contains(address, length);
  }
  read(address: GuestPhysicalAddress, length: number): Uint8Array | undefined {
    return this.memory.read(address, length);
  }
  readU16(address: GuestPhysicalAddress): number | undefined {
    return this.memory.readU16(address);
  }
  readU32(address: GuestPhysicalAddress): number | undefined {
    return this.memory.readU32(address);
  }

  write(address: GuestPhysicalAddress, bytes: Uint8Array): boolean {
    return this.report(this.memory.write(address, bytes), address, bytes.length);
  }
  fill(address: GuestPhysicalAddress, length: number, value: number): boolean {
    return this.report(this.memory.fill(address, length, value), address, length);
  }
  writeU16(address: GuestPhysicalAddress, value: number): boolean {
    return this.report(this.memory.writeU16(address, value), address, 2);
  }
  writeU32(address: GuestPhysicalAddress, value: number): boolean {
    return this.report(this.memory.writeU32(address, value), address, 4);
  }

  private report(written: boolean, address: GuestPhysicalAddress, length: number): boolean {
    if (written && length > 0) this.onWrite(address, length);
    return written;
  }
}
