import { guestPhysical, type GuestMemory } from "@matryoshka/memory";

// Split virtqueues, virtio 1.1 §2.6. Every structure lives in guest memory and is little-endian.

/** Descriptor flags (§2.6.5). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** Driver-area flag (§2.6.6): the driver does not want used-buffer notifications. */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** The largest queue size a split virtqueue may have (§2.6). */
export const VIRTQ_MAX_SIZE = 32768;

/** Bytes of one descriptor: le64 addr, le32 len, le16 flags, le16 next. */
export const VIRTQ_DESC_SIZE = 16;

/** Bytes of the descriptor table of a queue of `size` entries. */
export function descriptorTableSize(size: number): number {
  return VIRTQ_DESC_SIZE * size;
}

/** Bytes of the driver area (available ring): flags, idx, ring[size], used_event. */
export function driverAreaSize(size: number): number {
  return 6 + 2 * size;
}

/** Bytes of the device area (used ring): flags, idx, ring[size] of {le32 id, le32 len}, avail_event. */
export function deviceAreaSize(size: number): number {
  return 6 + 8 * size;
}

/**
 * Where the three parts of a legacy virtqueue sit (§2.6.2 "Legacy Interfaces: A Note on Virtqueue
 * Layout"): one contiguous area starting at `base`, descriptor table then available ring, then the
 * used ring at the next multiple of `align`.
 */
export function legacyQueueLayout(base: number, size: number, align: number): VirtqueueLayout {
  const availRing = base + descriptorTableSize(size);
  const availEnd = availRing + driverAreaSize(size);
  return { size, descTable: base, availRing, usedRing: Math.ceil(availEnd / align) * align };
}

/** Guest-physical addresses of a split virtqueue's three areas and its size. */
export interface VirtqueueLayout {
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
}

/** One guest buffer of a descriptor chain. */
export interface BufferSegment {
  readonly address: number;
  readonly length: number;
}

/**
 * A descriptor chain popped from the available ring (§2.6.4): the device-readable buffers first,
 * then the device-writable ones, each list read as one run of bytes whatever its framing (§2.6.4.1).
 * Every segment was checked to lie in guest memory when the chain was popped.
 */
export class DescriptorChain {
  /** Index of the head descriptor: the id the used ring reports. */
  readonly head: number;
  readonly readable: readonly BufferSegment[];
  readonly writable: readonly BufferSegment[];
  readonly readableLength: number;
  readonly writableLength: number;
  private readonly queue: SplitVirtqueue;

  constructor(queue: SplitVirtqueue, head: number, readable: BufferSegment[], writable: BufferSegment[]) {
    this.queue = queue;
    this.head = head;
    this.readable = readable;
    this.writable = writable;
    this.readableLength = readable.reduce((sum, s) => sum + s.length, 0);
    this.writableLength = writable.reduce((sum, s) => sum + s.length, 0);
  }

  /**
   * Copies `length` bytes of the device-readable run starting at `offset`, or undefined when the
   * run is shorter (or guest memory refused the access, which also fails the queue).
   */
  read(offset: number, length: number): Uint8Array | undefined {
    if (offset < 0 || length < 0 || offset + length > this.readableLength) return undefined;
    const out = new Uint8Array(length);
    let done = 0;
    let skip = offset;
    for (const segment of this.readable) {
      if (done === length) break;
      if (skip >= segment.length) {
        skip -= segment.length;
        continue;
      }
      const count = Math.min(segment.length - skip, length - done);
      const bytes = this.queue.memory.read(guestPhysical(segment.address + skip), count);
      if (bytes === undefined) {
        this.queue.fail(`buffer 0x${segment.address.toString(16)}+${segment.length} became unreachable`);
        return undefined;
      }
      out.set(bytes, done);
      done += count;
      skip = 0;
    }
    return out;
  }

  /**
   * Copies bytes into the device-writable run at `offset`; false when they do not fit (or guest
   * memory refused the access, which also fails the queue).
   */
  write(offset: number, bytes: Uint8Array): boolean {
    if (offset < 0 || offset + bytes.length > this.writableLength) return false;
    let done = 0;
    let skip = offset;
    for (const segment of this.writable) {
      if (done === bytes.length) break;
      if (skip >= segment.length) {
        skip -= segment.length;
        continue;
      }
      const count = Math.min(segment.length - skip, bytes.length - done);
      if (!this.queue.memory.write(guestPhysical(segment.address + skip), bytes.subarray(done, done + count))) {
        this.queue.fail(`buffer 0x${segment.address.toString(16)}+${segment.length} became unreachable`);
        return false;
      }
      done += count;
      skip = 0;
    }
    return true;
  }
}

/** A split virtqueue's device-side indices, as plain data (see `SplitVirtqueue.saveState`). */
export interface VirtqueueState {
  lastAvailIdx: number;
  usedIdx: number;
  usedSinceNotification: number;
  failed: string | null;
}

/**
 * The device side of one split virtqueue (§2.6). `pop` walks the available ring and follows
 * descriptor chains; `push` returns a chain through the used ring. Anything malformed the driver put
 * in guest memory (an address outside guest RAM, a descriptor index past the queue size, a chain
 * that loops, a bad indirect table, an available index that ran too far ahead) fails the queue: it
 * records `failure`, stops handing out chains, and never throws. The transport then sets
 * DEVICE_NEEDS_RESET (§2.1.2).
 *
 * VIRTIO_F_EVENT_IDX is never offered, so `used_event`/`avail_event` are ignored and notifications
 * follow VIRTQ_AVAIL_F_NO_INTERRUPT alone (§2.6.7, §2.6.10).
 */
export class SplitVirtqueue {
  readonly memory: GuestMemory;
  readonly layout: VirtqueueLayout;
  /** VIRTIO_F_INDIRECT_DESC was negotiated: descriptors may point at indirect tables (§2.6.5.3). */
  indirectDescriptors: boolean;
  /** Why the queue stopped, once the driver gave it something malformed. */
  private failed: string | undefined;
  /** The next available-ring slot to consume (free-running 16-bit index). */
  private lastAvailIdx = 0;
  /** The device's copy of used->idx (free-running 16-bit index). */
  private usedIdx = 0;
  /** Buffers put in the used ring since the last `takeNotification`. */
  private usedSinceNotification = 0;

  constructor(memory: GuestMemory, layout: VirtqueueLayout, options: { indirectDescriptors?: boolean } = {}) {
    this.memory = memory;
    this.layout = layout;
    this.indirectDescriptors = options.indirectDescriptors ?? false;
  }

  get size(): number {
    return this.layout.size;
  }

  /** The device's side of the ring (its indices and failure), for a snapshot; the rest is in guest memory. */
  saveState(): VirtqueueState {
    return { lastAvailIdx: this.lastAvailIdx, usedIdx: this.usedIdx, usedSinceNotification: this.usedSinceNotification, failed: this.failed ?? null };
  }

  restoreState(state: VirtqueueState): void {
    this.lastAvailIdx = state.lastAvailIdx & 0xffff;
    this.usedIdx = state.usedIdx & 0xffff;
    this.usedSinceNotification = state.usedSinceNotification;
    this.failed = state.failed ?? undefined;
  }

  /** Why the queue stopped, or undefined while it works. */
  get failure(): string | undefined {
    return this.failed;
  }

  /** Used elements returned so far (the device's used->idx, modulo 2^16). */
  get usedIndex(): number {
    return this.usedIdx;
  }

  /** Marks the queue broken (the first reason is kept). */
  fail(reason: string): void {
    this.failed ??= reason;
  }

  /**
   * Checks the layout itself: a size of 1..32768 that is a power of two (§2.6), and all three
   * areas inside guest memory. Returns the problem, or undefined when the queue is usable.
   */
  validate(): string | undefined {
    const { size, descTable, availRing, usedRing } = this.layout;
    if (!Number.isInteger(size) || size < 1 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) !== 0) {
      return `queue size ${size} is not a power of two in 1..${VIRTQ_MAX_SIZE}`;
    }
    if (!this.memory.contains(guestPhysical(descTable), descriptorTableSize(size))) return `descriptor table at 0x${descTable.toString(16)} lies outside guest memory`;
    if (!this.memory.contains(guestPhysical(availRing), driverAreaSize(size))) return `available ring at 0x${availRing.toString(16)} lies outside guest memory`;
    if (!this.memory.contains(guestPhysical(usedRing), deviceAreaSize(size))) return `used ring at 0x${usedRing.toString(16)} lies outside guest memory`;
    return undefined;
  }

  /**
   * The next available descriptor chain, or undefined when the ring is empty or the queue has
   * failed (check `failure`).
   */
  pop(): DescriptorChain | undefined {
    if (this.failed !== undefined) return undefined;
    const { size, availRing } = this.layout;
    const availIdx = this.memory.readU16(guestPhysical(availRing + 2));
    if (availIdx === undefined) return this.refuse(`available ring at 0x${availRing.toString(16)} lies outside guest memory`);
    const pending = (availIdx - this.lastAvailIdx) & 0xffff;
    if (pending === 0) return undefined;
    // The driver can only have `size` buffers outstanding (§2.6.6): more means a corrupt index.
    if (pending > size) return this.refuse(`available index ${availIdx} is ${pending} ahead of ${this.lastAvailIdx}, more than the queue size ${size}`);
    const head = this.memory.readU16(guestPhysical(availRing + 4 + 2 * (this.lastAvailIdx % size)));
    if (head === undefined) return this.refuse(`available ring at 0x${availRing.toString(16)} lies outside guest memory`);
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    return this.walkChain(head);
  }

  /**
   * Returns a chain to the driver through the used ring (§2.6.8): writes {id, len} at the next slot,
   * then publishes it by advancing used->idx. `written` is the number of bytes the device wrote into
   * the chain's writable buffers. False (and the queue failed) if the used ring is unreachable.
   */
  push(chain: DescriptorChain, written: number): boolean {
    if (this.failed !== undefined) return false;
    const { size, usedRing } = this.layout;
    const slot = usedRing + 4 + 8 * (this.usedIdx % size);
    const next = (this.usedIdx + 1) & 0xffff;
    if (!this.memory.writeU32(guestPhysical(slot), chain.head) || !this.memory.writeU32(guestPhysical(slot + 4), written >>> 0) || !this.memory.writeU16(guestPhysical(usedRing + 2), next)) {
      this.refuse(`used ring at 0x${usedRing.toString(16)} lies outside guest memory`);
      return false;
    }
    this.usedIdx = next;
    this.usedSinceNotification++;
    return true;
  }

  /**
   * Whether the driver should get a used-buffer notification for what was pushed since the last
   * call: something was pushed and the driver has not set VIRTQ_AVAIL_F_NO_INTERRUPT. The flag is
   * read after used->idx was written, as §2.6.7.2 requires.
   */
  takeNotification(): boolean {
    if (this.usedSinceNotification === 0) return false;
    this.usedSinceNotification = 0;
    const flags = this.memory.readU16(guestPhysical(this.layout.availRing));
    if (flags === undefined) {
      this.refuse(`available ring at 0x${this.layout.availRing.toString(16)} lies outside guest memory`);
      return false;
    }
    return (flags & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  private refuse(reason: string): undefined {
    this.fail(reason);
    return undefined;
  }

  /**
   * Follows the chain starting at descriptor `head` (§2.6.5): NEXT links within the table, at most
   * `size` descriptors (so a loop is caught), readable buffers before writable ones (§2.6.4.2), an
   * INDIRECT descriptor expanding into its own table (§2.6.5.3).
   */
  private walkChain(head: number): DescriptorChain | undefined {
    const { size, descTable } = this.layout;
    const readable: BufferSegment[] = [];
    const writable: BufferSegment[] = [];
    let total = 0;
    /** Adds one buffer; false (queue failed) when it is not guest memory or breaks the rules. */
    const add = (address: number, length: number, isWritable: boolean): boolean => {
      if (!this.memory.contains(guestPhysical(address), length)) {
        this.fail(`buffer 0x${address.toString(16)}+${length} lies outside guest memory`);
        return false;
      }
      if (!isWritable && writable.length > 0) {
        this.fail("a device-readable descriptor follows a device-writable one");
        return false;
      }
      total += length;
      // used->len is 32 bits, so a chain cannot describe more than 4 GiB - 1.
      if (total > 0xffff_ffff) {
        this.fail("descriptor chain lengths overflow 32 bits");
        return false;
      }
      // Zero-length descriptors carry nothing; keep them out of the lists.
      if (length > 0) (isWritable ? writable : readable).push({ address, length });
      return true;
    };

    if (head >= size) return this.refuse(`descriptor index ${head} is outside a queue of size ${size}`);
    let index = head;
    for (let visited = 1; ; visited++) {
      if (visited > size) return this.refuse(`descriptor chain from ${head} is longer than the queue size ${size} (a loop?)`);
      const desc = this.readDescriptor(descTable + VIRTQ_DESC_SIZE * index);
      if (desc === undefined) return this.refuse(`descriptor table at 0x${descTable.toString(16)} lies outside guest memory`);
      if ((desc.flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (!this.indirectDescriptors) return this.refuse("INDIRECT descriptor without VIRTIO_F_INDIRECT_DESC");
        // §2.6.5.3.1: an indirect descriptor has no NEXT and ends the chain; its WRITE flag is ignored.
        if ((desc.flags & VIRTQ_DESC_F_NEXT) !== 0) return this.refuse("descriptor has both INDIRECT and NEXT");
        if (!this.walkIndirect(desc.address, desc.length, add)) return undefined;
        break;
      }
      if (!add(desc.address, desc.length, (desc.flags & VIRTQ_DESC_F_WRITE) !== 0)) return undefined;
      if ((desc.flags & VIRTQ_DESC_F_NEXT) === 0) break;
      if (desc.next >= size) return this.refuse(`descriptor index ${desc.next} is outside a queue of size ${size}`);
      index = desc.next;
    }
    return new DescriptorChain(this, head, readable, writable);
  }

  /** Follows the chain inside an indirect table of `length` bytes at `address` (§2.6.5.3). */
  private walkIndirect(address: number, length: number, add: (address: number, length: number, isWritable: boolean) => boolean): boolean {
    if (length === 0 || length % VIRTQ_DESC_SIZE !== 0) {
      this.fail(`indirect table length ${length} is not a non-zero multiple of ${VIRTQ_DESC_SIZE}`);
      return false;
    }
    const count = length / VIRTQ_DESC_SIZE;
    if (count > VIRTQ_MAX_SIZE) {
      this.fail(`indirect table of ${count} descriptors is larger than ${VIRTQ_MAX_SIZE}`);
      return false;
    }
    if (!this.memory.contains(guestPhysical(address), length)) {
      this.fail(`indirect table 0x${address.toString(16)}+${length} lies outside guest memory`);
      return false;
    }
    let index = 0; // an indirect chain starts at the table's first entry
    for (let visited = 1; ; visited++) {
      if (visited > count) {
        this.fail(`indirect descriptor chain is longer than its table of ${count} (a loop?)`);
        return false;
      }
      const desc = this.readDescriptor(address + VIRTQ_DESC_SIZE * index);
      if (desc === undefined) {
        this.fail(`indirect table 0x${address.toString(16)} lies outside guest memory`);
        return false;
      }
      if ((desc.flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        this.fail("INDIRECT descriptor inside an indirect table");
        return false;
      }
      if (!add(desc.address, desc.length, (desc.flags & VIRTQ_DESC_F_WRITE) !== 0)) return false;
      if ((desc.flags & VIRTQ_DESC_F_NEXT) === 0) return true;
      if (desc.next >= count) {
        this.fail(`indirect descriptor index ${desc.next} is outside its table of ${count}`);
        return false;
      }
      index = desc.next;
    }
  }

  /** One descriptor; an address with high bits set is kept as a number ≥ 2^32, which no memory contains. */
  private readDescriptor(at: number): { address: number; length: number; flags: number; next: number } | undefined {
    const low = this.memory.readU32(guestPhysical(at));
    const high = this.memory.readU32(guestPhysical(at + 4));
    const length = this.memory.readU32(guestPhysical(at + 8));
    const flags = this.memory.readU16(guestPhysical(at + 12));
    const next = this.memory.readU16(guestPhysical(at + 14));
    if (low === undefined || high === undefined || length === undefined || flags === undefined || next === undefined) return undefined;
    return { address: high * 0x1_0000_0000 + low, length, flags, next };
  }
}
