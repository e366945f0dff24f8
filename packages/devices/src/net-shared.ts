import { frameLengthOk, type NetBackend } from "./net-backend.js";

// Frames between threads over shared memory: a single-producer, single-consumer ring of
// length-prefixed frames in a SharedArrayBuffer, which crosses to a worker by postMessage (or in
// workerData) and needs no event loop on either side: the consumer polls it when it likes.

/** Int32 words before the data: head (consumer position), tail (producer position), dropped count. */
const HEAD = 0;
const TAIL = 1;
const DROPPED = 2;
const HEADER_BYTES = 16;
/** Default data bytes of a ring: room for about 170 full-size Ethernet frames. */
export const FRAME_RING_DEFAULT_BYTES = 256 * 1024;

/**
 * A ring of frames in shared memory, for one producer thread and one consumer thread. Positions
 * count bytes modulo 2^32 (the capacity, a power of two, divides that), each frame is a 4-byte
 * little-endian length and its bytes, wrapping at the end. The producer publishes a frame by
 * storing the tail after writing it; the consumer frees it by storing the head after reading it
 * (Atomics order both). A frame that does not fit is dropped and counted, never blocking.
 */
export class SharedFrameRing {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly data: Uint8Array;
  private readonly mask: number;

  /** A new ring of `capacity` data bytes (a power of two), or a view of an existing ring's buffer. */
  constructor(from: number | SharedArrayBuffer = FRAME_RING_DEFAULT_BYTES) {
    if (typeof from === "number") {
      if (!Number.isInteger(from) || from < 4096 || (from & (from - 1)) !== 0) throw new RangeError(`a frame ring's capacity must be a power of two of at least 4096 bytes, got ${from}`);
      from = new SharedArrayBuffer(HEADER_BYTES + from);
    }
    this.buffer = from;
    this.words = new Int32Array(from, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(from, HEADER_BYTES);
    this.mask = this.data.length - 1;
    if ((this.data.length & this.mask) !== 0) throw new RangeError("a frame ring's buffer must hold a power-of-two number of data bytes");
  }

  /** Frames dropped because the ring was full. */
  get dropped(): number {
    return Atomics.load(this.words, DROPPED);
  }

  /** Producer: appends a frame; false (and counted) if there is no room. */
  push(frame: Uint8Array): boolean {
    const head = Atomics.load(this.words, HEAD) >>> 0;
    const tail = Atomics.load(this.words, TAIL) >>> 0;
    const used = (tail - head) >>> 0;
    if (used + 4 + frame.length > this.data.length) {
      Atomics.add(this.words, DROPPED, 1);
      return false;
    }
    const n = frame.length;
    this.copyIn(tail, Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24));
    this.copyIn(tail + 4, frame);
    Atomics.store(this.words, TAIL, (tail + 4 + n) | 0);
    return true;
  }

  /** Consumer: the oldest frame, or undefined when the ring is empty. */
  shift(): Uint8Array | undefined {
    const head = Atomics.load(this.words, HEAD) >>> 0;
    const tail = Atomics.load(this.words, TAIL) >>> 0;
    if (head === tail) return undefined;
    const prefix = this.copyOut(head, 4);
    const n = (prefix[0]! | (prefix[1]! << 8) | (prefix[2]! << 16) | (prefix[3]! << 24)) >>> 0;
    const frame = this.copyOut(head + 4, n);
    Atomics.store(this.words, HEAD, (head + 4 + n) | 0);
    return frame;
  }

  private copyIn(position: number, bytes: Uint8Array): void {
    const at = position & this.mask;
    const first = Math.min(bytes.length, this.data.length - at);
    this.data.set(bytes.subarray(0, first), at);
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0);
  }

  private copyOut(position: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const at = position & this.mask;
    const first = Math.min(length, this.data.length - at);
    out.set(this.data.subarray(at, at + first), 0);
    if (first < length) out.set(this.data.subarray(0, length - first), first);
    return out;
  }
}

/** The two rings of one link: frames the VM sends (`out`) and frames for it (`in`). */
export interface SharedLinkBuffers {
  out: SharedArrayBuffer;
  in: SharedArrayBuffer;
}

/** A link's buffers, to give the VM's thread (`SharedRingNetBackend`) and the switch's (`SharedRingPort`). */
export function sharedLink(capacity = FRAME_RING_DEFAULT_BYTES): SharedLinkBuffers {
  return { out: new SharedFrameRing(capacity).buffer, in: new SharedFrameRing(capacity).buffer };
}

/**
 * The VM's end of a shared link: `send` appends to the out ring; `poll` (which the thread running
 * the VM calls between slices) hands every frame in the in ring to the device.
 */
export class SharedRingNetBackend implements NetBackend {
  onReceive: ((frame: Uint8Array) => void) | undefined = undefined;
  private readonly out: SharedFrameRing;
  private readonly in: SharedFrameRing;

  constructor(link: SharedLinkBuffers) {
    this.out = new SharedFrameRing(link.out);
    this.in = new SharedFrameRing(link.in);
  }

  send(frame: Uint8Array): void {
    if (frameLengthOk(frame)) this.out.push(frame);
  }

  /** Delivers the frames that arrived; returns how many. */
  poll(): number {
    let count = 0;
    for (let frame = this.in.shift(); frame !== undefined; frame = this.in.shift()) {
      count++;
      this.onReceive?.(frame);
    }
    return count;
  }
}

/**
 * The switch's end of a shared link, on the switch's thread: `pump` moves what the VM sent into
 * `port` (a `NetSwitch` port, say), and what the port receives goes into the VM's in ring.
 */
export class SharedRingPort {
  readonly port: NetBackend;
  private readonly out: SharedFrameRing;
  private readonly in: SharedFrameRing;

  constructor(link: SharedLinkBuffers, port: NetBackend) {
    this.port = port;
    this.out = new SharedFrameRing(link.out);
    this.in = new SharedFrameRing(link.in);
    port.onReceive = (frame) => this.in.push(frame);
  }

  /** Frames the VM's device dropped because the switch did not keep up, and frames for it that found its ring full. */
  get dropped(): { fromVm: number; toVm: number } {
    return { fromVm: this.out.dropped, toVm: this.in.dropped };
  }

  /** Forwards everything the VM sent so far; returns how many frames. */
  pump(): number {
    let count = 0;
    for (let frame = this.out.shift(); frame !== undefined; frame = this.out.shift()) {
      count++;
      this.port.send(frame);
    }
    return count;
  }
}
