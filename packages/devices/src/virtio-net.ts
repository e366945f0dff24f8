import { MAC_BYTES, MAX_FRAME_BYTES, MIN_FRAME_BYTES, defaultMac, type NetBackend } from "./net-backend.js";
import { VIRTIO_F_VERSION_1, featureBit, type VirtioDevice } from "./virtio-mmio.js";
import type { DescriptorChain, SplitVirtqueue } from "./virtqueue.js";

// The virtio network device, virtio 1.1 §5.1.

export const VIRTIO_NET_DEVICE_ID = 1;

/** Feature bits (§5.1.3). Offered: MAC, MRG_RXBUF, STATUS. */
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;

/** The `status` field of the configuration space (§5.1.4). */
export const VIRTIO_NET_S_LINK_UP = 1;

/** Queue indices (§5.1.2): one receive/transmit pair, no control queue. */
export const VIRTIO_NET_RX_QUEUE = 0;
export const VIRTIO_NET_TX_QUEUE = 1;

/**
 * Bytes of `struct virtio_net_hdr` (§5.1.6): 12 with `num_buffers`, which is there when
 * VIRTIO_F_VERSION_1 or VIRTIO_NET_F_MRG_RXBUF was negotiated; 10 for a legacy driver without
 * MRG_RXBUF (§5.1.6.1 "Legacy Interface").
 */
export const VIRTIO_NET_HDR_SIZE = 12;
export const VIRTIO_NET_LEGACY_HDR_SIZE = 10;

/** QEMU's default rx/tx queue size. */
export const VIRTIO_NET_DEFAULT_QUEUE_SIZE = 256;
/** Frames waiting for receive buffers before newer ones are dropped. */
export const VIRTIO_NET_DEFAULT_BACKLOG = 64;

/** Offset of `num_buffers` in the 12-byte header. */
const NUM_BUFFERS_OFFSET = 10;
/** Bytes of configuration space: mac[6], le16 status, le16 max_virtqueue_pairs (§5.1.4). */
const CONFIG_SIZE = 10;

/** What the transport does for the device when a frame arrives between notifications. */
export interface NetTransport {
  /** Service queue `index` now, as a QueueNotify would, and raise the interrupt if buffers were used. */
  processQueue(index: number): void;
  /** The configuration space changed (link status): raise the configuration-change interrupt. */
  notifyConfigChange(): void;
}

export interface VirtioNetOptions {
  /** The MAC address in the configuration space (default 52:54:00:12:34:56, QEMU's first NIC). */
  mac?: Uint8Array;
  /** QueueNumMax of both queues (default 256, as QEMU). */
  queueSize?: number;
  /** Frames held while the driver has no receive buffers (default 64); more are dropped. */
  backlog?: number;
}

/** What the device has done, for `@matryoshka/metrics`. Every dropped frame is counted once. */
export interface VirtioNetStats {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /** Transmit chains shorter than the header plus an Ethernet header. */
  txTruncated: number;
  /** Transmit chains whose frame is longer than `MAX_FRAME_BYTES`. */
  txOversized: number;
  /** Frames from the backend shorter than an Ethernet header or longer than `MAX_FRAME_BYTES`. */
  rxMalformed: number;
  /** Frames dropped because the backlog was full (the driver posted no receive buffers). */
  rxNoBuffers: number;
  /** Frames larger than the receive buffers the driver posted (without mergeable buffers, one chain). */
  rxTooLarge: number;
}

/**
 * A virtio-net device (id 1) over a `NetBackend`, with receive queue 0 and transmit queue 1.
 *
 * Transmit: every chain on queue 1 carries a header and one frame (§5.1.6.2); the header's offload
 * fields are ignored (no offload feature is offered, so they must be zero). A chain too short for
 * a header and an Ethernet header, or with a frame longer than `MAX_FRAME_BYTES`, is dropped and
 * counted, and its buffers are returned as for any other frame.
 *
 * Receive: frames from the backend wait in a bounded backlog until the driver has buffers on
 * queue 0; each is written after a header whose fields are zero but `num_buffers` (§5.1.6.3).
 * With VIRTIO_NET_F_MRG_RXBUF a frame may span several chains; without it, a frame that does not
 * fit one chain is dropped and counted (the chain stays the driver's for the next frame).
 *
 * Descriptor abuse (addresses outside RAM, loops, …) fails the queue in `SplitVirtqueue`, which
 * puts the device in DEVICE_NEEDS_RESET; nothing the guest or the backend does throws.
 */
export class VirtioNet implements VirtioDevice {
  readonly deviceId = VIRTIO_NET_DEVICE_ID;
  readonly queueCount = 2;
  readonly queueSizeMax: number;
  readonly features = featureBit(VIRTIO_NET_F_MAC) | featureBit(VIRTIO_NET_F_MRG_RXBUF) | featureBit(VIRTIO_NET_F_STATUS);
  readonly backend: NetBackend;
  readonly mac: Uint8Array;
  readonly stats: VirtioNetStats = {
    txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0,
    txTruncated: 0, txOversized: 0, rxMalformed: 0, rxNoBuffers: 0, rxTooLarge: 0,
  };
  private readonly config = new Uint8Array(CONFIG_SIZE);
  private readonly backlogLimit: number;
  /** Frames from the backend not yet written to receive buffers, oldest first. */
  private readonly backlog: Uint8Array[] = [];
  private transport: NetTransport | undefined;
  private negotiated = 0n;
  private active = false;
  /**
   * Receive chains popped but not used yet (a mergeable frame needed more than were available):
   * the next frame starts with them. They belong to `heldRing`; a reset (new ring) forgets them.
   */
  private held: DescriptorChain[] = [];
  private heldRing: SplitVirtqueue | undefined;
  /** The 12-byte header written before each received frame; only num_buffers is ever non-zero. */
  private readonly rxHeader = new Uint8Array(VIRTIO_NET_HDR_SIZE);

  constructor(backend: NetBackend, options: VirtioNetOptions = {}) {
    this.backend = backend;
    this.mac = Uint8Array.from((options.mac ?? defaultMac()).subarray(0, MAC_BYTES));
    if (this.mac.length !== MAC_BYTES) throw new RangeError(`a MAC address has ${MAC_BYTES} bytes, got ${this.mac.length}`);
    if ((this.mac[0]! & 1) !== 0) throw new RangeError("a NIC's MAC address must be unicast (bit 0 of its first byte clear)");
    this.queueSizeMax = options.queueSize ?? VIRTIO_NET_DEFAULT_QUEUE_SIZE;
    if (!Number.isInteger(this.queueSizeMax) || this.queueSizeMax < 4 || this.queueSizeMax > 32768 || (this.queueSizeMax & (this.queueSizeMax - 1)) !== 0) {
      throw new RangeError(`virtio-net queue size must be a power of two in 4..32768, got ${this.queueSizeMax}`);
    }
    this.backlogLimit = options.backlog ?? VIRTIO_NET_DEFAULT_BACKLOG;
    this.config.set(this.mac, 0);
    this.setStatusField(backend.linkUp ?? true);
    this.config[8] = 1; // max_virtqueue_pairs: 1 (only read with VIRTIO_NET_F_MQ, which is not offered)
    backend.onReceive = (frame) => this.receive(frame);
    backend.onLinkChange = (up) => this.setLinkUp(up);
  }

  /**
   * Connects the device to its transport, so that frames arriving between the driver's
   * notifications reach the receive queue and link changes raise an interrupt.
   */
  attach(transport: NetTransport): void {
    this.transport = transport;
  }

  /** Whether the configuration space says the link is up. */
  get linkUp(): boolean {
    return (this.config[6]! & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /** Frames waiting for receive buffers. */
  get pendingFrames(): number {
    return this.backlog.length;
  }

  /** Carrier up or down (§5.1.4: VIRTIO_NET_S_LINK_UP), with a configuration-change interrupt. */
  setLinkUp(up: boolean): void {
    if (up === this.linkUp) return;
    this.setStatusField(up);
    this.transport?.notifyConfigChange();
  }

  /** Bytes of the header the driver and device exchange with the negotiated features (§5.1.6). */
  get headerSize(): number {
    const long = (this.negotiated & (featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_NET_F_MRG_RXBUF))) !== 0n;
    return long ? VIRTIO_NET_HDR_SIZE : VIRTIO_NET_LEGACY_HDR_SIZE;
  }

  private get mergeable(): boolean {
    return (this.negotiated & featureBit(VIRTIO_NET_F_MRG_RXBUF)) !== 0n;
  }

  readConfig(): Uint8Array {
    return this.config;
  }

  activate(features: bigint): void {
    this.negotiated = features;
    this.active = true;
  }

  reset(): void {
    // The backlog stands for frames queued in the host (a tap's queue), not device state: it stays.
    this.negotiated = 0n;
    this.active = false;
    this.held = [];
    this.heldRing = undefined;
  }

  /** A frame from the backend: checked, queued, and delivered at once if the driver has buffers. */
  receive(frame: Uint8Array): void {
    if (frame.length < MIN_FRAME_BYTES || frame.length > MAX_FRAME_BYTES) {
      this.stats.rxMalformed++;
      return;
    }
    if (this.backlog.length >= this.backlogLimit) {
      this.stats.rxNoBuffers++;
      return;
    }
    this.backlog.push(frame);
    if (this.active) this.transport?.processQueue(VIRTIO_NET_RX_QUEUE);
  }

  processQueue(queue: SplitVirtqueue, index: number): void {
    if (index === VIRTIO_NET_TX_QUEUE) this.transmit(queue);
    else if (index === VIRTIO_NET_RX_QUEUE) this.fillReceiveBuffers(queue);
  }

  private setStatusField(up: boolean): void {
    this.config[6] = up ? VIRTIO_NET_S_LINK_UP : 0;
    this.config[7] = 0;
  }

  private transmit(queue: SplitVirtqueue): void {
    const headerSize = this.headerSize;
    for (;;) {
      const chain = queue.pop();
      if (chain === undefined) return;
      const length = chain.readableLength - headerSize;
      if (length < MIN_FRAME_BYTES) {
        this.stats.txTruncated++;
      } else if (length > MAX_FRAME_BYTES) {
        this.stats.txOversized++;
      } else {
        const frame = chain.read(headerSize, length);
        if (frame === undefined) return; // guest memory refused: the queue failed
        this.stats.txFrames++;
        this.stats.txBytes += length;
        // Nothing the link does may break the guest's queue.
        try {
          if (this.linkUp) this.backend.send(frame);
        } catch {
          // A backend that failed has lost the frame, as a wire would.
        }
      }
      // Transmit buffers are only read: the used length is 0 (§2.6.8).
      if (!queue.push(chain, 0)) return;
    }
  }

  private fillReceiveBuffers(queue: SplitVirtqueue): void {
    if (this.heldRing !== queue) {
      this.held = [];
      this.heldRing = queue;
    }
    while (this.backlog.length > 0 && queue.failure === undefined) {
      const frame = this.backlog[0]!;
      const outcome = this.mergeable ? this.deliverMergeable(queue, frame) : this.deliverSingle(queue, frame);
      if (outcome === "wait") return;
      this.backlog.shift();
    }
  }

  /** Without MRG_RXBUF: the header and the whole frame in one chain (§5.1.6.3.1). */
  private deliverSingle(queue: SplitVirtqueue, frame: Uint8Array): "done" | "wait" {
    const chain = this.held.shift() ?? queue.pop();
    if (chain === undefined) return "wait";
    const headerSize = this.headerSize;
    if (chain.writableLength < headerSize + frame.length) {
      // The driver's buffer is too small for this frame: drop the frame, keep the buffer.
      this.stats.rxTooLarge++;
      this.held.unshift(chain);
      return "done";
    }
    this.rxHeader.fill(0);
    // §5.1.6.3.1: without MRG_RXBUF a 12-byte header's num_buffers is 1.
    if (headerSize === VIRTIO_NET_HDR_SIZE) this.rxHeader[NUM_BUFFERS_OFFSET] = 1;
    if (!chain.write(0, this.rxHeader.subarray(0, headerSize)) || !chain.write(headerSize, frame)) return "done";
    if (!queue.push(chain, headerSize + frame.length)) return "done";
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    return "done";
  }

  /**
   * With MRG_RXBUF: the header and frame spread over as many chains as they need, the first
   * header's `num_buffers` saying how many (§5.1.6.3.2). Chains are gathered until they hold the
   * frame; if the ring runs out first, the ones taken wait for the next notification.
   */
  private deliverMergeable(queue: SplitVirtqueue, frame: Uint8Array): "done" | "wait" {
    const total = VIRTIO_NET_HDR_SIZE + frame.length;
    let room = 0;
    for (const chain of this.held) room += chain.writableLength;
    while (room < total) {
      if (this.held.length >= queue.size) {
        // Every buffer the ring can hold is not enough: this frame can never be delivered.
        this.stats.rxTooLarge++;
        return "done";
      }
      const chain = queue.pop();
      if (chain === undefined) return "wait";
      this.held.push(chain);
      room += chain.writableLength;
    }
    // How many chains the frame takes; the rest stay held for the next frame.
    let count = 0;
    let need = total;
    while (need > 0) need -= this.held[count++]!.writableLength;
    const chains = this.held.splice(0, count);
    this.rxHeader.fill(0);
    this.rxHeader[NUM_BUFFERS_OFFSET] = count & 0xff;
    this.rxHeader[NUM_BUFFERS_OFFSET + 1] = count >> 8;
    // Write every buffer before publishing any, so a driver never sees a partial frame.
    const used: number[] = [];
    let offset = 0; // into header + frame
    for (const chain of chains) {
      const length = Math.min(chain.writableLength, total - offset);
      let at = 0;
      if (offset < VIRTIO_NET_HDR_SIZE) {
        const headerPart = this.rxHeader.subarray(offset, Math.min(VIRTIO_NET_HDR_SIZE, offset + length));
        if (!chain.write(0, headerPart)) return "done";
        at = headerPart.length;
      }
      const frameStart = offset + at - VIRTIO_NET_HDR_SIZE;
      const frameEnd = offset + length - VIRTIO_NET_HDR_SIZE;
      if (frameEnd > frameStart && !chain.write(at, frame.subarray(frameStart, frameEnd))) return "done";
      used.push(length);
      offset += length;
    }
    for (let i = 0; i < chains.length; i++) if (!queue.push(chains[i]!, used[i]!)) return "done";
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    return "done";
  }
}
