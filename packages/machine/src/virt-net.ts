/**
 * Network cards on the `virt` board: virtio-net devices in virtio-mmio slots, as QEMU's
 * `-device virtio-net-device,netdev=…[,bus=virtio-mmio-bus.N][,mac=…]`.
 */
import { VirtioMmio, VirtioNet, defaultMac, type NetBackend } from "@matryoshka/devices";
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

/**
 * Which slot each card takes: a card with a slot takes it; the others, in order, the highest slot
 * that no disk, user device or other card holds (so with QEMU's order of `-device` options, disks
 * first, the cards come below them). RangeError for a taken or out-of-range slot.
 */
export function assignNicSlots(nics: readonly VirtioNic[], taken: ReadonlySet<number>): Map<number, { nic: VirtioNic; index: number }> {
  const slots = new Map<number, { nic: VirtioNic; index: number }>();
  nics.forEach((nic, index) => {
    if (nic.slot === undefined) return;
    if (!Number.isInteger(nic.slot) || nic.slot < 0 || nic.slot >= VIRT.virtio.count) {
      throw new RangeError(`network card ${index}: virtio-mmio slot ${nic.slot} is out of range 0..${VIRT.virtio.count - 1}`);
    }
    if (taken.has(nic.slot) || slots.has(nic.slot)) throw new RangeError(`network card ${index}: virtio-mmio slot ${nic.slot} is already taken`);
    slots.set(nic.slot, { nic, index });
  });
  let slot = VIRT.virtio.count - 1;
  nics.forEach((nic, index) => {
    if (nic.slot !== undefined) return;
    while (slot >= 0 && (slots.has(slot) || taken.has(slot))) slot--;
    if (slot < 0) throw new RangeError(`network card ${index}: no virtio-mmio slot is left free`);
    slots.set(slot, { nic, index });
  });
  return slots;
}

/**
 * The transport for a card: the device is attached to it, so frames arriving between the driver's
 * notifications reach the receive queue at once.
 */
export function virtioNetTransport(nic: VirtioNic, index: number, context: DeviceContext): MmioDevice {
  const device = new VirtioNet(nic.backend, { mac: nic.mac ?? defaultMac(index) });
  const transport = new VirtioMmio(device, { memory: context.dma, version: context.virtioVersion, irq: (level) => context.irq(level) });
  device.attach(transport);
  return transport;
}
