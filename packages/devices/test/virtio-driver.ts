// A minimal virtio-mmio driver for tests: it sets queues up in RAM by hand and speaks to the
// transport through its registers, the way Linux's virtio_mmio and virtio_blk drivers do.
import {
  VIRTIO_BLK_T_IN,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VirtioMmioRegister as R,
  type VirtioMmio,
} from "@matryoshka/devices";
import type { Ram } from "@matryoshka/memory";
import { guestPhysical as gpa } from "@matryoshka/memory";

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 0x10_0000;

/** One buffer of a chain the test submits. */
export interface Buffer {
  address: number;
  length: number;
  writable?: boolean;
  /** Extra flags to OR in (e.g. INDIRECT), and an explicit next index to link to. */
  flags?: number;
  next?: number;
}

export class TestDriver {
  readonly mmio: VirtioMmio;
  readonly ram: Ram;
  readonly view: DataView;
  /** The queue this driver object sets up and notifies (one object per queue of a device). */
  queueIndex = 0;
  size = 0;
  desc = 0;
  avail = 0;
  used = 0;
  private nextDesc = 0;
  private availIdx = 0;
  private heap: number;

  /** `heap`: where this driver's data buffers start (several drivers, one per queue, use different ones). */
  constructor(mmio: VirtioMmio, ram: Ram, heap = RAM_BASE + 0x8_0000) {
    this.mmio = mmio;
    this.ram = ram;
    this.view = new DataView(ram.buffer);
    this.heap = heap; // data buffers live in the upper half of RAM
  }

  reg(offset: number): number {
    return this.mmio.read(offset, 4)!;
  }

  setReg(offset: number, value: number): void {
    expectTrue(this.mmio.write(offset, 4, value), `write to register 0x${offset.toString(16)}`);
  }

  get status(): number {
    return this.reg(R.Status);
  }

  // Guest memory helpers (little-endian, physical addresses).
  u8(pa: number): number { return this.view.getUint8(pa - RAM_BASE); }
  u16(pa: number): number { return this.view.getUint16(pa - RAM_BASE, true); }
  u32(pa: number): number { return this.view.getUint32(pa - RAM_BASE, true); }
  setU8(pa: number, v: number): void { this.view.setUint8(pa - RAM_BASE, v); }
  setU16(pa: number, v: number): void { this.view.setUint16(pa - RAM_BASE, v, true); }
  setU32(pa: number, v: number): void { this.view.setUint32(pa - RAM_BASE, v, true); }
  bytes(pa: number, length: number): Uint8Array { return this.ram.read(gpa(pa), length)!; }

  /** Allocates zeroed guest memory for buffers. */
  alloc(length: number, fill?: Uint8Array): number {
    const pa = this.heap;
    this.heap += (length + 15) & ~15;
    this.ram.u8.fill(0, pa - RAM_BASE, pa - RAM_BASE + length);
    if (fill) this.ram.write(gpa(pa), fill);
    return pa;
  }

  /**
   * Device initialization (§3.1.1): reset, ACKNOWLEDGE, DRIVER, read and write features, then
   * FEATURES_OK for a modern device. Returns the device's features.
   */
  init(accept: (offered: bigint) => bigint = (offered) => offered): bigint {
    this.setReg(R.Status, 0);
    this.setReg(R.Status, VIRTIO_STATUS_ACKNOWLEDGE);
    this.setReg(R.Status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    this.setReg(R.DeviceFeaturesSel, 0);
    let offered = BigInt(this.reg(R.DeviceFeatures));
    this.setReg(R.DeviceFeaturesSel, 1);
    offered |= BigInt(this.reg(R.DeviceFeatures)) << 32n;
    const features = accept(offered);
    this.setReg(R.DriverFeaturesSel, 0);
    this.setReg(R.DriverFeatures, Number(features & 0xffff_ffffn));
    this.setReg(R.DriverFeaturesSel, 1);
    this.setReg(R.DriverFeatures, Number(features >> 32n));
    if (this.mmio.version === 2) {
      this.setReg(R.Status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    }
    this.nextDesc = 0;
    this.availIdx = 0;
    return offered;
  }

  /** Legacy queue setup (§4.2.4): one contiguous area at `base` (page aligned). */
  setupLegacyQueue(size: number, base: number, align = 4096, queue = this.queueIndex): void {
    this.setReg(R.GuestPageSize, 4096);
    this.setReg(R.QueueSel, queue);
    this.setReg(R.QueueNum, size);
    this.setReg(R.QueueAlign, align);
    this.ram.u8.fill(0, base - RAM_BASE, base - RAM_BASE + 2 * 4096 + 16 * size);
    this.size = size;
    this.desc = base;
    this.avail = base + 16 * size;
    this.used = Math.ceil((this.avail + 6 + 2 * size) / align) * align;
    this.setReg(R.QueuePFN, base / 4096);
  }

  /** Modern queue setup (§4.2.3.2): three separate areas. */
  setupModernQueue(size: number, desc: number, avail: number, used: number, queue = this.queueIndex): void {
    this.setReg(R.QueueSel, queue);
    this.setReg(R.QueueNum, size);
    for (const [pa, len] of [[desc, 16 * size], [avail, 6 + 2 * size], [used, 6 + 8 * size]] as const) {
      this.ram.u8.fill(0, pa - RAM_BASE, pa - RAM_BASE + len);
    }
    this.setReg(R.QueueDescLow, desc);
    this.setReg(R.QueueDescHigh, 0);
    this.setReg(R.QueueDriverLow, avail);
    this.setReg(R.QueueDriverHigh, 0);
    this.setReg(R.QueueDeviceLow, used);
    this.setReg(R.QueueDeviceHigh, 0);
    this.setReg(R.QueueReady, 1);
    this.size = size;
    this.desc = desc;
    this.avail = avail;
    this.used = used;
  }

  driverOk(): void {
    this.setReg(R.Status, this.status | VIRTIO_STATUS_DRIVER_OK);
  }

  /** Writes descriptor `index` (§2.6.5). */
  writeDescriptor(index: number, address: number, length: number, flags: number, next: number, table = this.desc): void {
    const at = table + 16 * index;
    this.setU32(at, address % 0x1_0000_0000);
    this.setU32(at + 4, Math.floor(address / 0x1_0000_0000));
    this.setU32(at + 8, length);
    this.setU16(at + 12, flags);
    this.setU16(at + 14, next);
  }

  /** Puts a chain in free descriptors and makes its head available; returns the head index. */
  submit(buffers: Buffer[]): number {
    const indices = buffers.map(() => {
      const index = this.nextDesc;
      this.nextDesc = (this.nextDesc + 1) % this.size;
      return index;
    });
    buffers.forEach((buffer, i) => {
      const last = i === buffers.length - 1;
      let flags = buffer.flags ?? 0;
      if (buffer.writable) flags |= VIRTQ_DESC_F_WRITE;
      if (!last || buffer.next !== undefined) flags |= VIRTQ_DESC_F_NEXT;
      const next = buffer.next ?? (last ? 0 : indices[i + 1]!);
      this.writeDescriptor(indices[i]!, buffer.address, buffer.length, flags, next);
    });
    this.makeAvailable(indices[0]!);
    return indices[0]!;
  }

  /** Adds a head index to the available ring and publishes it (§2.6.13). */
  makeAvailable(head: number): void {
    this.setU16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.setU16(this.avail + 2, this.availIdx);
  }

  notify(queue = this.queueIndex): void {
    this.setReg(R.QueueNotify, queue);
  }

  get usedIdx(): number {
    return this.u16(this.used + 2);
  }

  usedElement(i: number): { id: number; len: number } {
    const at = this.used + 4 + 8 * (i % this.size);
    return { id: this.u32(at), len: this.u32(at + 4) };
  }

  /** Builds a virtio-blk request (§5.2.6): header, optional data, status byte. */
  blkRequest(type: number, sector: number, data: { write?: Uint8Array; readLength?: number } = {}) {
    const header = this.alloc(16);
    this.setU32(header, type);
    this.setU32(header + 8, sector % 0x1_0000_0000);
    this.setU32(header + 12, Math.floor(sector / 0x1_0000_0000));
    const buffers: Buffer[] = [{ address: header, length: 16 }];
    let dataAddress = 0;
    if (data.write) {
      dataAddress = this.alloc(data.write.length, data.write);
      buffers.push({ address: dataAddress, length: data.write.length });
    } else if (data.readLength !== undefined || type === VIRTIO_BLK_T_IN) {
      const length = data.readLength ?? 512;
      dataAddress = this.alloc(length);
      buffers.push({ address: dataAddress, length, writable: true });
    }
    const status = this.alloc(1);
    this.setU8(status, 0xff);
    buffers.push({ address: status, length: 1, writable: true });
    return { buffers, header, dataAddress, status };
  }
}

function expectTrue(ok: boolean, what: string): void {
  if (!ok) throw new Error(`${what} failed`);
}

/** Bytes 0, 1, 2, … (mod 251, so sectors differ) offset by `seed`. */
export function pattern(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i + seed) % 251);
}
