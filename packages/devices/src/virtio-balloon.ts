import type { AccessSize } from "@matryoshka/memory";
import { featureBit, type VirtioDevice, type VirtioTransport } from "./virtio-mmio.js";
import type { DescriptorChain, SplitVirtqueue } from "./virtqueue.js";

// The traditional memory balloon device, virtio 1.1 §5.5.

export const VIRTIO_BALLOON_DEVICE_ID = 5;

/** Feature bits (§5.5.3). */
export const VIRTIO_BALLOON_F_MUST_TELL_HOST = 0;
export const VIRTIO_BALLOON_F_STATS_VQ = 1;
export const VIRTIO_BALLOON_F_DEFLATE_ON_OOM = 2;

/** Queues (§5.5.2). */
export const VIRTIO_BALLOON_INFLATEQ = 0;
export const VIRTIO_BALLOON_DEFLATEQ = 1;
export const VIRTIO_BALLOON_STATSQ = 2;

/** Page numbers in the queues are of 4 KiB pages whatever the guest's page size (§5.5.6). */
export const VIRTIO_BALLOON_PFN_SHIFT = 12;

/** Memory statistics tags (§5.5.6.3). */
export const VirtioBalloonStat = {
  SWAP_IN: 0,
  SWAP_OUT: 1,
  MAJFLT: 2,
  MINFLT: 3,
  MEMFREE: 4,
  MEMTOT: 5,
  AVAIL: 6,
  CACHES: 7,
  HTLB_PGALLOC: 8,
  HTLB_PGFAIL: 9,
} as const;

/** Bytes of one statistics entry: le16 tag, le64 value, packed. */
const STAT_ENTRY_SIZE = 10;
/** QEMU's queue size for the balloon's queues. */
const QUEUE_SIZE = 128;
/** Most page numbers one inflate or deflate buffer may carry: Linux sends 256 at a time. */
const MAX_PFNS_PER_REQUEST = 1 << 16;

/**
 * What the host does with the pages a guest gives back or takes again: the VM (in
 * `@matryoshka/vmm`) frees their frames, and checks that they are the guest's to give.
 */
export interface BalloonBackend {
  /** The guest put these 4 KiB page numbers in the balloon. Returns how many were refused. */
  inflate(pageNumbers: Uint32Array): number;
  /** The guest takes these pages out of the balloon again. Returns how many were refused. */
  deflate(pageNumbers: Uint32Array): number;
}

/** What the balloon has done, for `@matryoshka/metrics`. */
export interface VirtioBalloonStats {
  /** Pages the host asked for (the target, `num_pages`) and the pages the guest says it holds (`actual`). */
  targetPages: number;
  actualPages: number;
  inflated: number;
  deflated: number;
  /** Page numbers the host refused (outside RAM, inflated twice, deflated without being inflated). */
  refused: number;
  /** Statistics buffers the guest filled in. */
  statsReports: number;
}

export interface VirtioBalloonOptions {
  /** Offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM: the guest may deflate under memory pressure without asking (default true). */
  deflateOnOom?: boolean;
  /** Offer the statistics queue (default true). */
  statsQueue?: boolean;
}

/**
 * A virtio-balloon device (id 5): the host sets a target number of pages (`setTarget`), the guest's
 * driver inflates the balloon towards it by giving pages (their frames go back to the host) and
 * deflates it by taking them again, and reports how many it holds (`actual`). With the statistics
 * queue, the guest reports its memory statistics when asked (`requestStats`).
 *
 * The page numbers come from the guest and are not trusted: the backend checks each one, and a
 * refused page is counted, never an error for the host. A buffer that is not whole page numbers,
 * or too large, breaks the queue (DEVICE_NEEDS_RESET), as any malformed chain does.
 */
export class VirtioBalloon implements VirtioDevice {
  readonly deviceId = VIRTIO_BALLOON_DEVICE_ID;
  readonly queueCount = 3;
  readonly queueSizeMax = QUEUE_SIZE;
  readonly features: bigint;
  readonly stats: VirtioBalloonStats = { targetPages: 0, actualPages: 0, inflated: 0, deflated: 0, refused: 0, statsReports: 0 };
  /** The guest's last memory statistics, by tag (see `VirtioBalloonStat`). */
  readonly guestStats = new Map<number, bigint>();
  private readonly backend: BalloonBackend;
  private readonly config = new Uint8Array(8);
  private transport: VirtioTransport | undefined;
  /** The statistics buffer the device holds until it wants new statistics (§5.5.6.3). */
  private statsBuffer: DescriptorChain | undefined;
  private statsWanted = false;

  constructor(backend: BalloonBackend, options: VirtioBalloonOptions = {}) {
    this.backend = backend;
    let features = 0n;
    if (options.statsQueue ?? true) features |= featureBit(VIRTIO_BALLOON_F_STATS_VQ);
    if (options.deflateOnOom ?? true) features |= featureBit(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    this.features = features;
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  /** Asks the guest to hold `pages` pages in the balloon (the config's `num_pages`), and tells it. */
  setTarget(pages: number): void {
    const target = Math.max(0, Math.min(0xffff_ffff, Math.floor(pages)));
    if (target === this.stats.targetPages) return;
    this.stats.targetPages = target;
    new DataView(this.config.buffer).setUint32(0, target, true);
    this.transport?.notifyConfigChange();
  }

  /**
   * Asks the guest for fresh memory statistics: the held statistics buffer goes back to it, and it
   * fills and returns a new one. Does nothing before the guest gave a first buffer.
   */
  requestStats(): void {
    this.statsWanted = true;
    this.transport?.processQueue(VIRTIO_BALLOON_STATSQ);
  }

  readConfig(): Uint8Array {
    return this.config;
  }

  /** The driver writes `actual` (offset 4); `num_pages` is the host's. */
  writeConfig(offset: number, size: AccessSize, value: number): void {
    if (offset < 4 || offset + size > 8) return;
    const view = new DataView(this.config.buffer);
    if (size === 4) view.setUint32(offset, value, true);
    else if (size === 2) view.setUint16(offset, value, true);
    else view.setUint8(offset, value);
    this.stats.actualPages = view.getUint32(4, true);
  }

  reset(): void {
    // The target stays: it is the host's wish, not the driver's state. What the guest held goes.
    new DataView(this.config.buffer).setUint32(4, 0, true);
    this.stats.actualPages = 0;
    this.statsBuffer = undefined;
    this.statsWanted = false;
  }

  processQueue(queue: SplitVirtqueue, index: number): void {
    if (index === VIRTIO_BALLOON_STATSQ) {
      this.processStats(queue);
      return;
    }
    for (;;) {
      const chain = queue.pop();
      if (chain === undefined) return;
      const pages = this.pageNumbers(queue, chain);
      if (pages === undefined) return;
      if (index === VIRTIO_BALLOON_INFLATEQ) {
        this.stats.refused += this.backend.inflate(pages);
        this.stats.inflated += pages.length;
      } else {
        this.stats.refused += this.backend.deflate(pages);
        this.stats.deflated += pages.length;
      }
      if (!queue.push(chain, 0)) return;
    }
  }

  /** The page numbers of an inflate or deflate buffer, or undefined if it broke the queue. */
  private pageNumbers(queue: SplitVirtqueue, chain: DescriptorChain): Uint32Array | undefined {
    const length = chain.readableLength;
    if (length % 4 !== 0 || length > 4 * MAX_PFNS_PER_REQUEST) {
      queue.fail(`virtio-balloon buffer ${chain.head} of ${length} bytes is not a list of at most ${MAX_PFNS_PER_REQUEST} page numbers`);
      return undefined;
    }
    const bytes = chain.read(0, length);
    if (bytes === undefined) return undefined;
    const pages = new Uint32Array(length / 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, length);
    for (let i = 0; i < pages.length; i++) pages[i] = view.getUint32(4 * i, true);
    return pages;
  }

  /**
   * The statistics queue (§5.5.6.3): the guest's buffer arrives filled with (tag, value) entries;
   * the device keeps it, and returns it (used, length 0) when it wants the next statistics.
   */
  private processStats(queue: SplitVirtqueue): void {
    if (this.statsBuffer === undefined) {
      const chain = queue.pop();
      if (chain === undefined) return;
      const length = chain.readableLength;
      const bytes = chain.read(0, Math.min(length, STAT_ENTRY_SIZE * 64));
      if (bytes === undefined) return;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      for (let at = 0; at + STAT_ENTRY_SIZE <= bytes.length; at += STAT_ENTRY_SIZE) {
        this.guestStats.set(view.getUint16(at, true), view.getBigUint64(at + 2, true));
      }
      this.stats.statsReports++;
      this.statsBuffer = chain;
    }
    if (this.statsWanted && this.statsBuffer !== undefined) {
      const chain = this.statsBuffer;
      this.statsBuffer = undefined;
      this.statsWanted = false;
      queue.push(chain, 0);
    }
  }
}
