import type { BlockBackend } from "./block-backend.js";
import { featureBit, type VirtioDevice } from "./virtio-mmio.js";
import type { DescriptorChain, SplitVirtqueue } from "./virtqueue.js";

// The virtio block device, virtio 1.1 §5.2.

export const VIRTIO_BLK_DEVICE_ID = 2;

/** Feature bits (§5.2.3). Offered: SEG_MAX, BLK_SIZE, FLUSH, and RO for a read-only disk. */
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;

/** Request types (§5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;

/** Request status byte (§5.2.6). */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** Capacity and request offsets count 512-byte sectors whatever blk_size says (§5.2.4). */
export const VIRTIO_BLK_SECTOR_SIZE = 512;
/** Length of the GET_ID answer (§5.2.6). */
export const VIRTIO_BLK_ID_BYTES = 20;
/** QEMU's default virtio-blk queue size (its `queue-size` property) since QEMU 5.0. */
export const VIRTIO_BLK_DEFAULT_QUEUE_SIZE = 256;

/** Bytes of the request header: le32 type, le32 reserved (ioprio in legacy), le64 sector. */
const HEADER_SIZE = 16;
/** The legacy barrier flag (§5.2.6.4) that old drivers may OR into the type; it has no effect here. */
const LEGACY_T_BARRIER = 0x8000_0000;
/**
 * Bytes of configuration space presented: capacity through writeback and its padding, as QEMU
 * (its minimum size, without the discard and write-zeroes fields).
 */
const CONFIG_SIZE = 36;

export interface VirtioBlkOptions {
  /** Refuse writes and offer VIRTIO_BLK_F_RO (default: the backend's `readOnly`, else false). */
  readOnly?: boolean;
  /** The GET_ID answer: up to 20 bytes of ASCII, zero padded (default "matryoshka-blk"). */
  id?: string;
  /** QueueNumMax (default 256, as QEMU). */
  queueSize?: number;
}

/** What the block device has done, for observability. */
export interface VirtioBlkStats {
  reads: number;
  writes: number;
  flushes: number;
  bytesRead: number;
  bytesWritten: number;
  /** Requests answered IOERR or UNSUPP. */
  errors: number;
}

/**
 * Bytes of a request the host holds at once: data moves between the disk and the guest's buffers in
 * pieces of this size, so a request whose buffers alias the same guest memory many times over
 * (up to 4 GiB in one chain) costs the host this much memory, not the request's length.
 */
export const VIRTIO_BLK_TRANSFER_CHUNK = 1048576;
/**
 * The largest data length of one request; longer ones are answered IOERR. Drivers split their I/O
 * far below it (Linux: max_sectors_kb, 1280 KiB by default), and it bounds the host's work per
 * request whatever the chain describes.
 */
export const VIRTIO_BLK_MAX_REQUEST_BYTES = 64 * 1048576;

/**
 * A virtio-blk device (id 2) over a `BlockBackend`, with one request queue serviced synchronously
 * when the driver notifies it. Requests (§5.2.6): IN, OUT, FLUSH, GET_ID; anything else is UNSUPP.
 * A request outside the disk, of a length that is not whole sectors or above
 * VIRTIO_BLK_MAX_REQUEST_BYTES, a write to a read-only disk, or a backend failure answers IOERR. A request without a 16-byte header or a status byte is a
 * malformed chain and breaks the queue (DEVICE_NEEDS_RESET), as QEMU does.
 */
export class VirtioBlk implements VirtioDevice {
  readonly deviceId = VIRTIO_BLK_DEVICE_ID;
  readonly queueCount = 1;
  readonly queueSizeMax: number;
  readonly features: bigint;
  readonly backend: BlockBackend;
  readonly readOnly: boolean;
  readonly stats: VirtioBlkStats = { reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0, errors: 0 };
  private readonly id: Uint8Array;
  private readonly config: Uint8Array;

  constructor(backend: BlockBackend, options: VirtioBlkOptions = {}) {
    this.backend = backend;
    this.readOnly = options.readOnly ?? backend.readOnly ?? false;
    this.queueSizeMax = options.queueSize ?? VIRTIO_BLK_DEFAULT_QUEUE_SIZE;
    if (!Number.isInteger(this.queueSizeMax) || this.queueSizeMax < 4 || this.queueSizeMax > 32768 || (this.queueSizeMax & (this.queueSizeMax - 1)) !== 0) {
      throw new RangeError(`virtio-blk queue size must be a power of two in 4..32768, got ${this.queueSizeMax}`);
    }
    this.id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
    const idText = options.id ?? "matryoshka-blk";
    for (let i = 0; i < Math.min(idText.length, VIRTIO_BLK_ID_BYTES); i++) this.id[i] = idText.charCodeAt(i) & 0x7f;

    let features = featureBit(VIRTIO_BLK_F_SEG_MAX) | featureBit(VIRTIO_BLK_F_BLK_SIZE) | featureBit(VIRTIO_BLK_F_FLUSH);
    if (this.readOnly) features |= featureBit(VIRTIO_BLK_F_RO);
    this.features = features;

    // struct virtio_blk_config (§5.2.4), little-endian.
    this.config = new Uint8Array(CONFIG_SIZE);
    const view = new DataView(this.config.buffer);
    view.setBigUint64(0, BigInt(this.capacity), true); // capacity, in 512-byte sectors
    view.setUint32(8, 0, true); // size_max: VIRTIO_BLK_F_SIZE_MAX not offered
    // seg_max: a request's data segments; the two others are the header and the status byte. QEMU
    // says queue size - 2 the same way.
    view.setUint32(12, this.queueSizeMax - 2, true);
    view.setUint32(20, VIRTIO_BLK_SECTOR_SIZE, true); // blk_size
  }

  /** Disk size in 512-byte sectors (a trailing partial sector is not addressable). */
  get capacity(): number {
    return Math.floor(this.backend.size / VIRTIO_BLK_SECTOR_SIZE);
  }

  readConfig(): Uint8Array {
    return this.config;
  }

  reset(): void {}

  /** Its counters: the disk's contents are the backend's, and a snapshot names the backend instead. */
  saveState(): { stats: VirtioBlkStats } {
    return { stats: { ...this.stats } };
  }

  restoreState(state: unknown): void {
    const stats = (state as { stats?: Partial<VirtioBlkStats> } | null)?.stats;
    if (typeof stats !== "object" || stats === null) throw new RangeError("virtio-blk state has no counters");
    for (const key of Object.keys(this.stats) as (keyof VirtioBlkStats)[]) {
      const value = stats[key];
      if (typeof value === "number") this.stats[key] = value;
    }
  }

  processQueue(queue: SplitVirtqueue): void {
    for (;;) {
      const chain = queue.pop();
      if (chain === undefined) return;
      const written = this.handle(queue, chain);
      if (written === undefined || !queue.push(chain, written)) return;
    }
  }

  /** Carries out one request; returns the used length, or undefined if the queue failed. */
  private handle(queue: SplitVirtqueue, chain: DescriptorChain): number | undefined {
    if (chain.readableLength < HEADER_SIZE || chain.writableLength < 1) {
      queue.fail(`virtio-blk request ${chain.head} lacks a ${HEADER_SIZE}-byte header or a status byte`);
      return undefined;
    }
    const header = chain.read(0, HEADER_SIZE);
    if (header === undefined) return undefined;
    const view = new DataView(header.buffer, header.byteOffset, HEADER_SIZE);
    const type = view.getUint32(0, true) & ~LEGACY_T_BARRIER;
    // A sector above 2^53 loses precision here, but is far beyond any capacity, so it stays IOERR.
    const sector = view.getUint32(12, true) * 0x1_0000_0000 + view.getUint32(8, true);
    // The status byte is the last byte of the device-writable part (§5.2.6).
    const statusOffset = chain.writableLength - 1;

    let status: number;
    switch (type) {
      case VIRTIO_BLK_T_IN: status = this.readSectors(chain, sector, statusOffset); break;
      case VIRTIO_BLK_T_OUT: status = this.writeSectors(chain, sector, chain.readableLength - HEADER_SIZE); break;
      case VIRTIO_BLK_T_FLUSH: status = this.flush(); break;
      case VIRTIO_BLK_T_GET_ID:
        status = chain.write(0, this.id.subarray(0, Math.min(VIRTIO_BLK_ID_BYTES, statusOffset))) ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
        break;
      default: status = VIRTIO_BLK_S_UNSUPP; break;
    }
    if (queue.failure !== undefined) return undefined;
    if (status !== VIRTIO_BLK_S_OK) this.stats.errors++;
    if (!chain.write(statusOffset, Uint8Array.of(status))) return undefined;
    // Used length: the writable part up to and including the status byte, as QEMU reports.
    return chain.writableLength;
  }

  /** Byte offset of a request of `length` bytes at `sector`, or undefined when it does not fit the disk. */
  private diskOffset(sector: number, length: number): number | undefined {
    if (length % VIRTIO_BLK_SECTOR_SIZE !== 0 || length > VIRTIO_BLK_MAX_REQUEST_BYTES) return undefined;
    const capacity = this.capacity;
    if (sector > capacity || length / VIRTIO_BLK_SECTOR_SIZE > capacity - sector) return undefined;
    return sector * VIRTIO_BLK_SECTOR_SIZE;
  }

  private readSectors(chain: DescriptorChain, sector: number, length: number): number {
    const offset = this.diskOffset(sector, length);
    if (offset === undefined) return VIRTIO_BLK_S_IOERR;
    // In pieces: the host holds at most VIRTIO_BLK_TRANSFER_CHUNK of the request at a time.
    for (let done = 0; done < length; done += VIRTIO_BLK_TRANSFER_CHUNK) {
      const count = Math.min(VIRTIO_BLK_TRANSFER_CHUNK, length - done);
      let data: Uint8Array;
      try {
        data = this.backend.read(offset + done, count);
      } catch {
        return VIRTIO_BLK_S_IOERR;
      }
      if (!chain.write(done, data)) return VIRTIO_BLK_S_IOERR;
    }
    this.stats.reads++;
    this.stats.bytesRead += length;
    return VIRTIO_BLK_S_OK;
  }

  private writeSectors(chain: DescriptorChain, sector: number, length: number): number {
    if (this.readOnly) return VIRTIO_BLK_S_IOERR;
    const offset = this.diskOffset(sector, length);
    if (offset === undefined) return VIRTIO_BLK_S_IOERR;
    for (let done = 0; done < length; done += VIRTIO_BLK_TRANSFER_CHUNK) {
      const count = Math.min(VIRTIO_BLK_TRANSFER_CHUNK, length - done);
      const data = chain.read(HEADER_SIZE + done, count);
      if (data === undefined) return VIRTIO_BLK_S_IOERR;
      try {
        this.backend.write(offset + done, data);
      } catch {
        return VIRTIO_BLK_S_IOERR;
      }
    }
    this.stats.writes++;
    this.stats.bytesWritten += length;
    return VIRTIO_BLK_S_OK;
  }

  private flush(): number {
    try {
      this.backend.flush();
    } catch {
      return VIRTIO_BLK_S_IOERR;
    }
    this.stats.flushes++;
    return VIRTIO_BLK_S_OK;
  }
}
