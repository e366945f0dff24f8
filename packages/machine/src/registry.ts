/**
 * The board's device registry, after Firecracker's MMIO device manager: registering a device maps
 * it on the bus, wires its interrupt to the PLIC and records the node the device tree gets for it,
 * in one step, so a device cannot be on the bus and missing from the tree, or the reverse. The
 * tree (device-tree.ts) is generated from what is registered here.
 */
import { PLIC_SOURCES, type Plic } from "@matryoshka/interrupts";
import { Rom, type Bus, type GuestMemory, type MmioDevice } from "@matryoshka/memory";
import { cells, node, type FdtNode, type FdtValue } from "./fdt.js";

/** What the board hands a device it creates. */
export interface DeviceContext {
  /** Drives the device's PLIC source (level-triggered). A device declared with no `irq` drives nothing. */
  irq(level: boolean): void;
  /** Guest RAM as devices see it for DMA (bounds-checked, keeps decoded code coherent). */
  readonly dma: GuestMemory;
  /** The board's virtio-mmio transport version (`MachineOptions.virtioVersion`). */
  readonly virtioVersion: 1 | 2;
}

/** What a device's device-tree node may refer to. */
export interface NodeContext {
  /** The device's own entry: its name, window and interrupt. */
  readonly device: Readonly<Pick<BoardDevice, "name" | "base" | "size" | "irq">>;
  /** The device's phandle, if it asked for one (`BoardDevice.phandle`). */
  readonly phandle: number | undefined;
  /** The PLIC's phandle, for `interrupt-parent`. */
  readonly plicPhandle: number;
  /** Number of harts. */
  readonly harts: number;
  /** Phandle of hart `hart`'s local interrupt controller (cpus/cpu@N/interrupt-controller). */
  cpuIntcPhandle(hart: number): number;
}

/** A memory-mapped device of the board, as it is registered. */
export interface BoardDevice {
  /** Unique on the board; also the bus region's name ("uart0", "virtio3", …). */
  name: string;
  /** Physical address and size of its window in the memory map (the `reg` of its node). */
  base: number;
  size: number;
  /**
   * The bytes from `base` the device decodes, when fewer than `size`: the rest of the window is
   * a bus error, as unassigned space is on QEMU (a virtio-mmio transport decodes 0x200 bytes of
   * its 0x1000 slot). Default: `size`.
   */
  decodes?: number;
  /** Its PLIC source, 1..96, if it has an interrupt line. No two devices share one. */
  irq?: number;
  /** Give it a phandle (when other nodes refer to it); numbered in registration order. */
  phandle?: boolean;
  /**
   * Takes the place of the built-in device of the same name (`uart0`, `rtc`, `virtio0`..`virtio7`),
   * at the address and interrupt declared here. Only in `MachineOptions.devices`: the bus cannot
   * unmap a device once the board exists.
   */
  replace?: boolean;
  /** Builds the device; called once, when it is registered. */
  create(context: DeviceContext): MmioDevice;
  /** Its node under /soc. */
  node(context: NodeContext): FdtNode;
  /** Nodes it adds at the root of the tree, if any (the test device's syscon-poweroff and -reboot). */
  rootNodes?(context: NodeContext): FdtNode[];
}

/**
 * Read-only memory in the memory map that the device tree does not describe, as QEMU's virt
 * describes no node for its mask ROM: the guest finds it by address alone (the reset vector).
 */
export interface RomRegion {
  name: string;
  base: number;
  size: number;
  node: null;
}

/** What the registry keeps: the entry and the device it made. */
export interface RegisteredDevice {
  readonly entry: Readonly<BoardDevice | RomRegion>;
  readonly device: MmioDevice;
}

/** The `reg` of a window under /soc, whose #address-cells and #size-cells are 2. */
export function socReg(base: number, size: number): number[] {
  return cells(0, base, Math.floor(size / 0x1_0000_0000), size >>> 0);
}

/**
 * A node the way QEMU's virt writes a simple device's: `<name>@<base in hex>` with `interrupts`
 * and `interrupt-parent` (if it has an interrupt), then `props`, then `reg` and `compatible`.
 */
export function simpleNode(context: NodeContext, name: string, compatible: string | string[], props: [string, FdtValue][] = []): FdtNode {
  const { base, size, irq } = context.device;
  const interrupt: [string, FdtValue][] = irq === undefined ? [] : [["interrupts", cells(irq)], ["interrupt-parent", cells(context.plicPhandle)]];
  return node(`${name}@${base.toString(16)}`, [...interrupt, ...props, ["reg", socReg(base, size)], ["compatible", compatible]]);
}

const hex = (value: number) => `0x${value.toString(16)}`;

/**
 * The devices of one board. Built-ins and user devices go through `add`; the board generates its
 * device tree from `entries` at boot, after which nothing more can be added (the guest would not
 * see it).
 */
export class DeviceRegistry {
  private readonly bus: Bus;
  private readonly plic: Plic;
  private readonly registered: RegisteredDevice[] = [];
  private readonly dma: GuestMemory;
  private readonly virtioVersion: 1 | 2;
  private sealedBy: string | undefined;

  constructor(bus: Bus, plic: Plic, dma: GuestMemory, virtioVersion: 1 | 2) {
    this.bus = bus;
    this.plic = plic;
    this.dma = dma;
    this.virtioVersion = virtioVersion;
  }

  /** Every registered entry, in registration order. */
  get entries(): readonly RegisteredDevice[] {
    return this.registered;
  }

  /** The device registered under `name`, if any. */
  get(name: string): MmioDevice | undefined {
    return this.registered.find((r) => r.entry.name === name)?.device;
  }

  /**
   * Creates the device, maps it on the bus, wires its interrupt and records its node. Throws a
   * RangeError naming the conflict for a name, window or interrupt already taken, or after boot.
   */
  add(entry: BoardDevice): MmioDevice {
    this.check(entry);
    const irq = entry.irq;
    const plic = this.plic;
    const context: DeviceContext = {
      irq: irq === undefined ? () => {} : (level) => plic.setLevel(irq, level),
      dma: this.dma,
      virtioVersion: this.virtioVersion,
    };
    const device = entry.create(context);
    this.bus.addMmio(entry.name, entry.base, entry.decodes ?? entry.size, device);
    this.registered.push({ entry, device });
    return device;
  }

  /** Maps `bytes` read-only at `base` (see RomRegion); writes to the array show through. */
  addRom(name: string, base: number, bytes: Uint8Array): Rom {
    const entry: RomRegion = { name, base, size: bytes.length, node: null };
    this.check(entry);
    const rom = new Rom(bytes);
    this.bus.addMmio(name, base, bytes.length, rom);
    this.registered.push({ entry, device: rom });
    return rom;
  }

  /** No more devices: the device tree has been written (`reason` says so in later errors). */
  seal(reason: string): void {
    this.sealedBy ??= reason;
  }

  private check(entry: BoardDevice | RomRegion): void {
    const { name, base, size } = entry;
    if (this.sealedBy !== undefined) throw new RangeError(`device "${name}" comes too late: ${this.sealedBy}`);
    if (!Number.isInteger(base) || !Number.isInteger(size) || base < 0 || size <= 0 || base + size > 0x1_0000_0000) {
      throw new RangeError(`device "${name}": window ${hex(base)}+${hex(size)} is not a valid 32-bit range`);
    }
    if (entry.node !== null) {
      if (entry.decodes !== undefined && (!Number.isInteger(entry.decodes) || entry.decodes <= 0 || entry.decodes > size)) {
        throw new RangeError(`device "${name}": decodes ${entry.decodes} bytes, outside its window of ${size}`);
      }
      if (entry.irq !== undefined && (!Number.isInteger(entry.irq) || entry.irq < 1 || entry.irq >= PLIC_SOURCES)) {
        throw new RangeError(`device "${name}": interrupt ${entry.irq} is not a PLIC source (1..${PLIC_SOURCES - 1})`);
      }
    }
    const ram = this.bus.ram;
    if (base < ram.base + ram.size && ram.base < base + size) throw new RangeError(`device "${name}" at ${hex(base)} overlaps RAM`);
    for (const { entry: other } of this.registered) {
      if (other.name === name) {
        throw new RangeError(`a device named "${name}" is already on the board (a built-in is replaced with replace: true in MachineOptions.devices)`);
      }
      if (base < other.base + other.size && other.base < base + size) {
        throw new RangeError(`device "${name}" at ${hex(base)}+${hex(size)} overlaps "${other.name}" at ${hex(other.base)}+${hex(other.size)}`);
      }
      if (entry.node !== null && other.node !== null && entry.irq !== undefined && other.irq === entry.irq) {
        throw new RangeError(`device "${name}": PLIC source ${entry.irq} is already wired to "${other.name}"`);
      }
    }
  }
}
