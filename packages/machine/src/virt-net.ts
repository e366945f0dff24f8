/**
 * Network cards, and the other virtio devices the board can carry besides disks (an entropy
 * source, a second console): each in a virtio-mmio slot, as QEMU's
 * `-device virtio-net-device,netdev=…[,bus=virtio-mmio-bus.N][,mac=…]`, `-device virtio-rng-device`
 * and `-device virtio-serial-device` put them.
 */
import {
  VirtioConsole, VirtioMmio, VirtioNet, VirtioRng, defaultMac,
  type EntropySource, type NetBackend, type VirtioDevice,
} from "@matryoshka/devices";
import type { MmioDevice } from "@matryoshka/memory";
import { VIRT } from "./layout.js";
import type { DeviceContext } from "./registry.js";

/** One network card: what it is plugged into, its MAC and, optionally, its slot. */
export interface VirtioNic {
  backend: NetBackend;
  /** Default: 52:54:00:12:34:56 + its index among the board's cards (QEMU's numbering). */
  mac?: Uint8Array;
  /** 0..7 (0x10001000 + slot × 0x1000, IRQ 1 + slot). Default: the highest slot left free by the disks. */
  slot?: number;
}

/** A virtio-rng device: its entropy (default: the host's crypto RNG; `seededEntropy` for repeatable runs). */
export interface VirtioRngCard {
  entropy?: EntropySource;
  slot?: number;
}

/** A virtio-console port (hvc0 in Linux): where its output goes; `device.receive` types input. */
export interface VirtioConsoleCard {
  output: (bytes: Uint8Array) => void;
  /** Told of the device once the board made it (to send it input). */
  onCreate?: (device: VirtioConsole) => void;
  slot?: number;
}

/** A device of the board's besides the disks, before it has a slot. */
export interface ExtraVirtioDevice {
  what: string;
  slot?: number;
  create(context: DeviceContext): MmioDevice;
}

/**
 * Which slot each device takes: one with a slot takes it; the others, in order, the highest slot
 * that no disk, user device or other device holds (so with QEMU's order of `-device` options,
 * disks first, they come below the disks). RangeError for a taken or out-of-range slot.
 */
export function assignExtraSlots(devices: readonly ExtraVirtioDevice[], taken: ReadonlySet<number>): Map<number, ExtraVirtioDevice> {
  const slots = new Map<number, ExtraVirtioDevice>();
  for (const device of devices) {
    if (device.slot === undefined) continue;
    if (!Number.isInteger(device.slot) || device.slot < 0 || device.slot >= VIRT.virtio.count) {
      throw new RangeError(`${device.what}: virtio-mmio slot ${device.slot} is out of range 0..${VIRT.virtio.count - 1}`);
    }
    if (taken.has(device.slot) || slots.has(device.slot)) throw new RangeError(`${device.what}: virtio-mmio slot ${device.slot} is already taken`);
    slots.set(device.slot, device);
  }
  let slot = VIRT.virtio.count - 1;
  for (const device of devices) {
    if (device.slot !== undefined) continue;
    while (slot >= 0 && (slots.has(slot) || taken.has(slot))) slot--;
    if (slot < 0) throw new RangeError(`${device.what}: no virtio-mmio slot is left free`);
    slots.set(slot, device);
  }
  return slots;
}

/** The board's transport for `device` (which attaches the device to it: frames and input arriving between notifications reach the guest). */
function transport(device: VirtioDevice, context: DeviceContext): VirtioMmio {
  return new VirtioMmio(device, { memory: context.dma, version: context.virtioVersion, irq: (level) => context.irq(level) });
}

/** The board's network cards, entropy source and console port, in that order, ready for `assignExtraSlots`. */
export function extraVirtioDevices(options: { net?: VirtioNic[]; rng?: VirtioRngCard; virtioConsole?: VirtioConsoleCard }): ExtraVirtioDevice[] {
  const devices: ExtraVirtioDevice[] = (options.net ?? []).map((nic, index) => ({
    what: `network card ${index}`,
    slot: nic.slot,
    create: (context) => transport(new VirtioNet(nic.backend, { mac: nic.mac ?? defaultMac(index) }), context),
  }));
  const rng = options.rng;
  if (rng !== undefined) devices.push({ what: "virtio-rng", slot: rng.slot, create: (context) => transport(new VirtioRng(rng.entropy), context) });
  const port = options.virtioConsole;
  if (port !== undefined) {
    devices.push({
      what: "virtio-console",
      slot: port.slot,
      create: (context) => {
        const device = new VirtioConsole(port.output);
        port.onCreate?.(device);
        return transport(device, context);
      },
    });
  }
  return devices;
}
