import type { AccessSize, MmioDevice } from "@matryoshka/memory";
import type { GuestMemory } from "@matryoshka/memory";
import { SplitVirtqueue, legacyQueueLayout, type VirtqueueLayout, type VirtqueueState } from "./virtqueue.js";

// virtio over MMIO, virtio 1.1 §4.2: the modern register layout (§4.2.2, Version 2) and the legacy
// one (§4.2.4, Version 1), which QEMU 7.2's `virt` board presents by default
// (virtio-mmio.force-legacy=true).

/** Bytes of one virtio-mmio transport: QEMU's region size (the board spaces slots 0x1000 apart). */
export const VIRTIO_MMIO_SIZE = 0x200;
/** "virt" in little-endian ASCII. */
export const VIRTIO_MMIO_MAGIC = 0x74726976;
/** "QEMU" in little-endian ASCII: the vendor id QEMU's transport reports. */
export const VIRTIO_MMIO_VENDOR_ID = 0x554d4551;

/** Device status bits (§2.1). */
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 0x40;
export const VIRTIO_STATUS_FAILED = 0x80;

/** InterruptStatus bits (§4.2.2). */
export const VIRTIO_INTERRUPT_USED_BUFFER = 1;
export const VIRTIO_INTERRUPT_CONFIG_CHANGE = 2;

/** Transport feature bits (§6). */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

/** Register offsets (§4.2.2; legacy names in §4.2.4 where they differ). */
export const VirtioMmioRegister = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  /** HostFeatures in legacy. */
  DeviceFeatures: 0x010,
  /** HostFeaturesSel in legacy. */
  DeviceFeaturesSel: 0x014,
  /** GuestFeatures in legacy. */
  DriverFeatures: 0x020,
  /** GuestFeaturesSel in legacy. */
  DriverFeaturesSel: 0x024,
  /** Legacy only. */
  GuestPageSize: 0x028,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  /** Legacy only. */
  QueueAlign: 0x03c,
  /** Legacy only. */
  QueuePFN: 0x040,
  /** Modern only. */
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  SHMSel: 0x0ac,
  SHMLenLow: 0x0b0,
  SHMLenHigh: 0x0b4,
  SHMBaseLow: 0x0b8,
  SHMBaseHigh: 0x0bc,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

const R = VirtioMmioRegister;

/** Bit `n` of a 64-bit feature word. */
export function featureBit(n: number): bigint {
  return 1n << BigInt(n);
}

/**
 * A virtio device (blk, net, …) as the transport sees it: an id, feature bits, a configuration space
 * and queues to service.
 */
export interface VirtioDevice {
  /** Virtio device id (§5): 2 for a block device. */
  readonly deviceId: number;
  /** Number of virtqueues. */
  readonly queueCount: number;
  /** QueueNumMax of every queue. */
  readonly queueSizeMax: number;
  /** Device-specific feature bits; the transport adds its own (VERSION_1, INDIRECT_DESC). */
  readonly features: bigint;
  /** Its counters (requests, bytes, errors), kept in place for `@matryoshka/metrics`, if it keeps any. */
  readonly stats?: object;
  /** The current device configuration space, read by the driver at offset 0x100. */
  readConfig(): Uint8Array;
  /** A driver write of `size` bytes at `offset` in the configuration space; ignore what is read-only. */
  writeConfig?(offset: number, size: AccessSize, value: number): void;
  /** The driver accepted `features` and set DRIVER_OK. */
  activate?(features: bigint): void;
  /** Back to the power-on state: the driver wrote 0 to Status. */
  reset(): void;
  /** Told of its transport once, when the transport is made (a device that raises events itself). */
  attach?(transport: VirtioTransport): void;
  /**
   * Consume the available buffers of queue `index`: `queue.pop()` until it returns undefined, and
   * `queue.push` each finished chain. Stop at once if `queue.failure` becomes set. Must not throw on
   * anything the guest controls.
   */
  processQueue(queue: SplitVirtqueue, index: number): void;
  /** Its own state beyond the transport's, as plain data, for a snapshot (a device with none needs neither). */
  saveState?(): unknown;
  /** Puts back what `saveState` returned; throws a RangeError for state it does not recognize. */
  restoreState?(state: unknown): void;
}

/** One queue of a transport as the driver set it up, with the ring's device-side indices. */
export interface VirtioQueueState {
  num: number;
  align: number;
  pfn: number;
  ready: number;
  desc: number[];
  driver: number[];
  device: number[];
  /** The live ring's indices, or null when the queue has no ring (disabled, or its layout failed). */
  ring: VirtqueueState | null;
}

/** A virtio-mmio transport's registers, queues and device state, as plain data (see `VirtioMmio.saveState`). */
export interface VirtioMmioState {
  deviceId: number;
  status: number;
  interrupts: number;
  irqLevel: boolean;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  /** 64-bit, as a decimal string. */
  driverFeatures: string;
  queueSel: number;
  guestPageSize: number;
  configGeneration: number;
  failed: string | null;
  queues: VirtioQueueState[];
  device: unknown;
}

/** What a device may ask of its transport. */
export interface VirtioTransport {
  /** The configuration space changed: raise the configuration-change interrupt (§2.4). */
  notifyConfigChange(): void;
  /** Service queue `index` now, as if the driver had notified it (a device with buffers to return). */
  processQueue(index: number): void;
}

export interface VirtioMmioOptions {
  /** Guest memory the device's DMA goes through. */
  memory: GuestMemory;
  /** 1: legacy interface (QEMU 7.2's default on `virt`); 2: virtio 1.x. Default 1. */
  version?: 1 | 2;
  /** The interrupt line: high while InterruptStatus is non-zero. Called when the level changes. */
  irq?: (level: boolean) => void;
}

/** What the driver wrote about one queue, and the ring it describes once enabled. */
class QueueState {
  num: number;
  /** Legacy: QueueAlign and QueuePFN. */
  align = 4096;
  pfn = 0;
  /** Modern: QueueReady and the three area addresses as written (low and high halves). */
  ready = 0;
  desc = [0, 0];
  driver = [0, 0];
  device = [0, 0];
  /** The live ring, present while the queue is enabled and its layout was valid. */
  ring: SplitVirtqueue | undefined;

  constructor(num: number) {
    this.num = num;
  }
}

function join64(halves: number[]): number {
  return halves[1]! * 0x1_0000_0000 + halves[0]!;
}

/**
 * The virtio-mmio transport (virtio 1.1 §4.2) in its legacy (Version 1) or modern (Version 2) form,
 * driving one `VirtioDevice` with split virtqueues.
 *
 * Registers are 32-bit: other access sizes read 0 and writes are ignored, as QEMU does; the
 * configuration space at 0x100 takes any size, and reads past its end return all ones (QEMU).
 * Offsets at or beyond 0x200 are a bus error, as the unmapped rest of QEMU's 0x1000 slot.
 *
 * A malformed ring or buffer never throws: the transport sets DEVICE_NEEDS_RESET (§2.1.2), raises a
 * configuration-change interrupt, and services no queue until the driver resets the device. (QEMU
 * does that only once VERSION_1 is negotiated and merely stops a legacy device; here both versions
 * report it, which legacy drivers ignore.)
 */
export class VirtioMmio implements MmioDevice, VirtioTransport {
  readonly device: VirtioDevice;
  readonly version: 1 | 2;
  private readonly memory: GuestMemory;
  private readonly irq: (level: boolean) => void;
  private readonly queues: QueueState[];
  private deviceStatus = 0;
  private interrupts = 0;
  private irqLevel = false;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  /** Legacy GuestPageSize: Linux writes it once at probe, before any reset, so reset keeps it. */
  private guestPageSize = 4096;
  private configGeneration = 0;
  /**
   * What watches the queues (`--trace virtio`): called after a queue was serviced, with how many
   * buffers the device put in its used ring; null unless tracing.
   */
  observer: ((transport: VirtioMmio, queue: number, served: number) => void) | null = null;
  private failed: string | undefined;

  constructor(device: VirtioDevice, options: VirtioMmioOptions) {
    this.device = device;
    this.version = options.version ?? 1;
    this.memory = options.memory;
    this.irq = options.irq ?? (() => {});
    this.queues = Array.from({ length: device.queueCount }, () => new QueueState(device.queueSizeMax));
    device.attach?.(this);
  }

  /** Every feature bit the transport offers: the device's plus INDIRECT_DESC, and VERSION_1 when modern. */
  get offeredFeatures(): bigint {
    let features = this.device.features | featureBit(VIRTIO_F_INDIRECT_DESC);
    if (this.version === 2) features |= featureBit(VIRTIO_F_VERSION_1);
    else features &= 0xffff_ffffn; // legacy features are 32 bits
    return features;
  }

  /** The features in effect: what the driver wrote, limited to what was offered. */
  get negotiatedFeatures(): bigint {
    return this.driverFeatures & this.offeredFeatures;
  }

  /** The Status register. */
  get status(): number {
    return this.deviceStatus;
  }

  /** The InterruptStatus register. */
  get interruptStatus(): number {
    return this.interrupts;
  }

  /** Why the device entered DEVICE_NEEDS_RESET, or undefined. */
  get failure(): string | undefined {
    return this.failed;
  }

  /** The live ring of queue `index`, if the driver has enabled it. */
  queue(index: number): SplitVirtqueue | undefined {
    return this.queues[index]?.ring;
  }

  /**
   * The device's configuration changed (e.g. a resized disk): bump ConfigGeneration and raise the
   * configuration-change interrupt (§4.2.3.3 / §2.4).
   */
  notifyConfigChange(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    this.raise(VIRTIO_INTERRUPT_CONFIG_CHANGE);
  }

  /**
   * Services queue `index` as a QueueNotify write does. Nothing happens before DRIVER_OK
   * (§3.1.2: the device must not consume buffers before it), after a failure, or for a queue that
   * is not enabled.
   */
  processQueue(index: number): void {
    const ring = this.queues[index]?.ring;
    if (ring === undefined || (this.deviceStatus & VIRTIO_STATUS_DRIVER_OK) === 0 || this.failed !== undefined) return;
    const usedBefore = ring.usedIndex;
    try {
      this.device.processQueue(ring, index);
    } catch (error) {
      // Devices are written not to throw; if one does, the guest still only sees a broken device.
      ring.fail(`device error: ${error instanceof Error ? error.message : String(error)}`);
    }
    // Buffers completed before a failure are still the driver's: notify them as usual.
    if (this.observer !== null) this.observer(this, index, (ring.usedIndex - usedBefore) & 0xffff);
    if (ring.takeNotification()) this.raise(VIRTIO_INTERRUPT_USED_BUFFER);
    if (ring.failure !== undefined) this.enterNeedsReset(`queue ${index}: ${ring.failure}`);
  }

  read(offset: number, size: AccessSize): number | undefined {
    if (offset < 0 || offset + size > VIRTIO_MMIO_SIZE) return undefined;
    if (offset >= R.Config) return this.readConfig(offset - R.Config, size);
    if (size !== 4) return 0;
    const legacy = this.version === 1;
    const queue = this.queues[this.queueSel];
    switch (offset) {
      case R.MagicValue: return VIRTIO_MMIO_MAGIC;
      case R.Version: return this.version;
      case R.DeviceID: return this.device.deviceId;
      case R.VendorID: return VIRTIO_MMIO_VENDOR_ID;
      case R.DeviceFeatures:
        if (this.deviceFeaturesSel > 1) return 0;
        return Number((this.offeredFeatures >> BigInt(32 * this.deviceFeaturesSel)) & 0xffff_ffffn);
      case R.QueueNumMax: return queue === undefined ? 0 : this.device.queueSizeMax;
      case R.QueuePFN: return legacy && queue !== undefined ? queue.pfn : 0;
      case R.QueueReady: return !legacy && queue !== undefined ? queue.ready : 0;
      case R.InterruptStatus: return this.interrupts;
      case R.Status: return this.deviceStatus;
      // No shared memory regions (virtio 1.2 §4.2.2): length and base read as all ones.
      case R.SHMLenLow: case R.SHMLenHigh: case R.SHMBaseLow: case R.SHMBaseHigh:
        return legacy ? 0 : 0xffff_ffff;
      case R.ConfigGeneration: return legacy ? 0 : this.configGeneration;
      default: return 0; // write-only or unknown registers read as 0, as in QEMU
    }
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (offset < 0 || offset + size > VIRTIO_MMIO_SIZE) return false;
    if (offset >= R.Config) {
      this.device.writeConfig?.(offset - R.Config, size, value);
      return true;
    }
    if (size !== 4) return true;
    value >>>= 0;
    const legacy = this.version === 1;
    const queue = this.queues[this.queueSel];
    switch (offset) {
      case R.DeviceFeaturesSel: this.deviceFeaturesSel = value; break;
      case R.DriverFeaturesSel: this.driverFeaturesSel = value; break;
      case R.DriverFeatures: this.writeDriverFeatures(value); break;
      case R.GuestPageSize: if (legacy) this.guestPageSize = value; break;
      case R.QueueSel: this.queueSel = value; break;
      case R.QueueNum: if (queue !== undefined) queue.num = value; break;
      case R.QueueAlign: if (legacy && queue !== undefined) queue.align = value; break;
      case R.QueuePFN: if (legacy && queue !== undefined) this.writeQueuePfn(queue, value); break;
      case R.QueueReady: if (!legacy && queue !== undefined) this.writeQueueReady(queue, value & 1); break;
      case R.QueueDescLow: case R.QueueDescHigh:
        if (!legacy && queue !== undefined && queue.ready === 0) queue.desc[(offset - R.QueueDescLow) >> 2] = value;
        break;
      case R.QueueDriverLow: case R.QueueDriverHigh:
        if (!legacy && queue !== undefined && queue.ready === 0) queue.driver[(offset - R.QueueDriverLow) >> 2] = value;
        break;
      case R.QueueDeviceLow: case R.QueueDeviceHigh:
        if (!legacy && queue !== undefined && queue.ready === 0) queue.device[(offset - R.QueueDeviceLow) >> 2] = value;
        break;
      // Without VIRTIO_F_NOTIFICATION_DATA the value written is the queue index (§4.2.3.3).
      // A notification for a queue that does not exist is ignored, as QEMU does.
      case R.QueueNotify: this.processQueue(value); break;
      case R.InterruptACK:
        this.interrupts &= ~value;
        this.updateIrq();
        break;
      case R.Status: this.writeStatus(value & 0xff); break;
      default: break; // read-only or unknown registers ignore writes, as in QEMU
    }
    return true;
  }

  /** Everything the driver set up and the device's own state, for a snapshot (the rings themselves are in guest memory). */
  saveState(): VirtioMmioState {
    return {
      deviceId: this.device.deviceId,
      status: this.deviceStatus,
      interrupts: this.interrupts,
      irqLevel: this.irqLevel,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: this.driverFeatures.toString(),
      queueSel: this.queueSel,
      guestPageSize: this.guestPageSize,
      configGeneration: this.configGeneration,
      failed: this.failed ?? null,
      queues: this.queues.map((queue) => ({
        num: queue.num, align: queue.align, pfn: queue.pfn, ready: queue.ready,
        desc: queue.desc.slice(), driver: queue.driver.slice(), device: queue.device.slice(),
        ring: queue.ring?.saveState() ?? null,
      })),
      device: this.device.saveState?.() ?? null,
    };
  }

  /**
   * Puts back what `saveState` returned, on a transport of the same device and version: the rings
   * are rebuilt over this transport's memory from the layout the driver wrote, then given their
   * indices. The device is not activated again (it was, before the snapshot, if DRIVER_OK is set).
   */
  restoreState(state: VirtioMmioState): void {
    if (state.deviceId !== this.device.deviceId || state.queues.length !== this.queues.length) {
      throw new RangeError(`virtio state of device ${state.deviceId} with ${state.queues.length} queues does not fit device ${this.device.deviceId} with ${this.queues.length}`);
    }
    this.deviceStatus = state.status;
    this.interrupts = state.interrupts;
    this.deviceFeaturesSel = state.deviceFeaturesSel;
    this.driverFeaturesSel = state.driverFeaturesSel;
    this.driverFeatures = BigInt(state.driverFeatures);
    this.queueSel = state.queueSel;
    this.guestPageSize = state.guestPageSize;
    this.configGeneration = state.configGeneration;
    this.failed = state.failed ?? undefined;
    state.queues.forEach((saved, index) => {
      const queue = new QueueState(saved.num);
      queue.align = saved.align;
      queue.pfn = saved.pfn;
      queue.ready = saved.ready;
      queue.desc = saved.desc.slice(0, 2);
      queue.driver = saved.driver.slice(0, 2);
      queue.device = saved.device.slice(0, 2);
      if (saved.ring !== null) {
        const layout = this.version === 1
          ? legacyQueueLayout(saved.pfn * this.guestPageSize, saved.num, saved.align)
          : { size: saved.num, descTable: join64(saved.desc), availRing: join64(saved.driver), usedRing: join64(saved.device) };
        const ring = new SplitVirtqueue(this.memory, layout);
        ring.restoreState(saved.ring);
        queue.ring = ring;
      }
      this.queues[index] = queue;
    });
    this.refreshRingFeatures();
    if (state.device !== null) this.device.restoreState?.(state.device);
    this.irqLevel = state.irqLevel;
    this.irq(state.irqLevel);
  }

  /** Status 0: back to power-on state (§4.2.3.1 / §2.1): queues, features, interrupts, errors. */
  reset(): void {
    this.deviceStatus = 0;
    this.interrupts = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.driverFeatures = 0n;
    this.queueSel = 0;
    this.failed = undefined;
    for (let i = 0; i < this.queues.length; i++) this.queues[i] = new QueueState(this.device.queueSizeMax);
    this.device.reset();
    this.updateIrq();
  }

  private readConfig(offset: number, size: AccessSize): number {
    const config = this.device.readConfig();
    if (offset + size > config.length) return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    let value = 0;
    for (let i = 0; i < size; i++) value |= config[offset + i]! << (8 * i);
    return value >>> 0;
  }

  private writeDriverFeatures(value: number): void {
    // Features are fixed once FEATURES_OK (modern) or DRIVER_OK is set (§3.1.1).
    if ((this.deviceStatus & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)) !== 0) return;
    const sel = this.driverFeaturesSel;
    // Legacy feature words are 32 bits: QEMU ignores writes with GuestFeaturesSel != 0.
    if (sel > 1 || (this.version === 1 && sel !== 0)) return;
    const shift = BigInt(32 * sel);
    this.driverFeatures = (this.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(value) << shift);
    this.refreshRingFeatures();
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const previous = this.deviceStatus;
    // DEVICE_NEEDS_RESET belongs to the device: the driver cannot clear it except by resetting.
    let status = value | (previous & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    const setting = (bit: number) => (status & bit) !== 0 && (previous & bit) === 0;
    if (this.version === 2 && setting(VIRTIO_STATUS_FEATURES_OK) && !this.acceptableFeatures()) {
      // §3.1.1 step 6: the driver re-reads Status and finds FEATURES_OK clear: features refused.
      status &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    this.deviceStatus = status;
    if (setting(VIRTIO_STATUS_DRIVER_OK)) {
      this.refreshRingFeatures();
      this.device.activate?.(this.negotiatedFeatures);
      // Buffers made available before DRIVER_OK are serviced now.
      for (let i = 0; i < this.queues.length; i++) this.processQueue(i);
    }
  }

  /**
   * Modern feature negotiation: nothing beyond what was offered. §6.1 lets a device refuse a driver
   * that does not accept VERSION_1, but QEMU 7.2 does not (it validates features only once VERSION_1
   * is negotiated), and drivers rely on that: upstream xv6's never acknowledges VERSION_1 on the
   * modern transport. So neither do we; the queues work the same either way.
   */
  private acceptableFeatures(): boolean {
    return (this.driverFeatures & ~this.offeredFeatures) === 0n;
  }

  private refreshRingFeatures(): void {
    const indirect = (this.negotiatedFeatures & featureBit(VIRTIO_F_INDIRECT_DESC)) !== 0n;
    for (const queue of this.queues) if (queue.ring) queue.ring.indirectDescriptors = indirect;
  }

  /** Legacy queue setup (§4.2.4): a non-zero PFN enables the queue at PFN × GuestPageSize; 0 disables it. */
  private writeQueuePfn(queue: QueueState, pfn: number): void {
    queue.pfn = pfn;
    queue.ring = undefined;
    if (pfn === 0) return;
    if (queue.align === 0) {
      this.enterNeedsReset(`queue ${this.queueSel}: QueueAlign is 0`);
      return;
    }
    this.enableRing(queue, legacyQueueLayout(pfn * this.guestPageSize, queue.num, queue.align));
  }

  /** Modern queue setup (§4.2.3.2): QueueReady 1 enables the queue with the addresses written before. */
  private writeQueueReady(queue: QueueState, ready: number): void {
    if (ready === queue.ready) return;
    queue.ready = ready;
    queue.ring = undefined;
    if (ready === 0) return;
    this.enableRing(queue, {
      size: queue.num,
      descTable: join64(queue.desc),
      availRing: join64(queue.driver),
      usedRing: join64(queue.device),
    });
  }

  private enableRing(queue: QueueState, layout: VirtqueueLayout): void {
    const index = this.queueSel;
    if (layout.size > this.device.queueSizeMax) {
      this.enterNeedsReset(`queue ${index}: size ${layout.size} exceeds QueueNumMax ${this.device.queueSizeMax}`);
      return;
    }
    const ring = new SplitVirtqueue(this.memory, layout);
    const problem = ring.validate();
    if (problem !== undefined) {
      this.enterNeedsReset(`queue ${index}: ${problem}`);
      return;
    }
    queue.ring = ring;
    this.refreshRingFeatures();
  }

  /** §2.1.2: the device hit an error it cannot recover from; the driver must reset it. */
  private enterNeedsReset(reason: string): void {
    this.failed ??= reason;
    this.deviceStatus |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    this.raise(VIRTIO_INTERRUPT_CONFIG_CHANGE);
  }

  private raise(bits: number): void {
    this.interrupts |= bits;
    this.updateIrq();
  }

  private updateIrq(): void {
    const level = this.interrupts !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }
}

/**
 * A virtio-mmio slot with no device behind it, as QEMU presents its unused `virt` slots: MagicValue,
 * Version and VendorID read as usual, DeviceID reads 0 (so drivers skip the slot), everything else
 * reads 0 and writes are ignored.
 */
export class EmptyVirtioSlot implements MmioDevice {
  readonly version: 1 | 2;

  constructor(version: 1 | 2 = 1) {
    this.version = version;
  }

  read(offset: number, size: AccessSize): number | undefined {
    if (offset < 0 || offset + size > VIRTIO_MMIO_SIZE) return undefined;
    if (size !== 4) return 0;
    switch (offset) {
      case R.MagicValue: return VIRTIO_MMIO_MAGIC;
      case R.Version: return this.version;
      case R.VendorID: return VIRTIO_MMIO_VENDOR_ID;
      default: return 0;
    }
  }

  write(offset: number, size: AccessSize, _value: number): boolean {
    return offset >= 0 && offset + size <= VIRTIO_MMIO_SIZE; // ignored, as QEMU ignores them
  }
}
