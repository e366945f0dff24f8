/**
 * The `virt` board's devices as registry entries: QEMU's memory-map table (hw/riscv/virt.c,
 * `virt_memmap`) with, at each entry, how the device is made and the node the tree gets for it.
 * User devices join or replace these before the board registers them.
 */
import { VIRTIO_MMIO_SIZE, VirtioMmio, type BlockBackend, type VirtioDevice } from "@matryoshka/devices";
import type { MmioDevice } from "@matryoshka/memory";
import { cells, node } from "./fdt.js";
import { VIRT } from "./layout.js";
import { simpleNode, socReg, type BoardDevice, type DeviceContext, type NodeContext } from "./registry.js";

/** How the board makes its built-in devices (each called once, when the device is registered). */
export interface VirtParts {
  clint(): MmioDevice;
  plic(): MmioDevice;
  test(): MmioDevice;
  uart0(context: DeviceContext): MmioDevice;
  rtc(context: DeviceContext): MmioDevice;
  /** The device in virtio-mmio slot `slot` (a transport, or an empty slot). */
  virtio(slot: number, context: DeviceContext): MmioDevice;
}

/** The built-ins a user device may replace; the others are what the harts, the boot and the run loop rely on. */
const REPLACEABLE = new Set(["uart0", "rtc", ...Array.from({ length: VIRT.virtio.count }, (_, slot) => `virtio${slot}`)]);

/** Where virtio-mmio slot `slot` is: 0x10001000 + slot × 0x1000, PLIC source 1 + slot. */
export function virtioSlotWindow(slot: number): { base: number; size: number; irq: number } {
  return { base: VIRT.virtio.base + slot * VIRT.virtio.size, size: VIRT.virtio.size, irq: VIRT.virtio.firstIrq + slot };
}

function virtioEntry(slot: number, create: (context: DeviceContext) => MmioDevice): BoardDevice {
  return {
    name: `virtio${slot}`,
    ...virtioSlotWindow(slot),
    // QEMU's transport decodes 0x200 bytes of the slot; the rest is unassigned.
    decodes: VIRTIO_MMIO_SIZE,
    create,
    node: (context) => simpleNode(context, "virtio_mmio", "virtio,mmio"),
  };
}

/**
 * A virtio device of your own in standard virtio-mmio slot `slot` (0..7), behind the board's
 * transport (its version, its DMA view of RAM, the slot's interrupt), as QEMU's
 * `-device …,bus=virtio-mmio-bus.N` puts it. Pass it in `MachineOptions.devices`: it replaces the
 * empty slot. `create` is called once per board (a rebooted guest gets a new board).
 */
export function virtioSlot(slot: number, create: () => VirtioDevice): BoardDevice {
  checkSlot(slot, "virtioSlot");
  return {
    ...virtioEntry(slot, (context) => new VirtioMmio(create(), { memory: context.dma, version: context.virtioVersion, irq: (level) => context.irq(level) })),
    replace: true,
  };
}

function checkSlot(slot: number, what: string): void {
  if (!Number.isInteger(slot) || slot < 0 || slot >= VIRT.virtio.count) {
    throw new RangeError(`${what}: virtio-mmio slot ${slot} is out of range 0..${VIRT.virtio.count - 1}`);
  }
}

/** CLINT and PLIC interrupts-extended: per hart, its local controller and the lines it drives. */
function perHart(context: NodeContext, lines: number[]): number[] {
  const out: number[] = [];
  for (let h = 0; h < context.harts; h++) for (const line of lines) out.push(context.cpuIntcPhandle(h), line);
  return cells(...out);
}

const missing = (): never => {
  throw new Error("virtDevices without parts describes the devices; it cannot make them");
};

/**
 * The built-in devices, in the order QEMU 7.2 creates their nodes. libfdt adds each node before
 * its older siblings, so QEMU's tree lists them in reverse, and so does ours (device-tree.ts).
 * Without `parts`, the entries only describe (for a tree of the default board).
 */
export function virtDevices(parts?: VirtParts): BoardDevice[] {
  const make = parts ?? { clint: missing, plic: missing, test: missing, uart0: missing, rtc: missing, virtio: missing };
  return [
    {
      name: "clint",
      ...VIRT.clint,
      create: () => make.clint(),
      // Machine software (3) and machine timer (7) interrupts of every hart.
      node: (context) =>
        node(`clint@${VIRT.clint.base.toString(16)}`, [
          ["interrupts-extended", perHart(context, [3, 7])],
          ["reg", socReg(VIRT.clint.base, VIRT.clint.size)],
          ["compatible", ["sifive,clint0", "riscv,clint0"]],
        ]),
    },
    {
      name: "plic",
      ...VIRT.plic,
      phandle: true,
      create: () => make.plic(),
      // Machine (11) and supervisor (9) external interrupts of every hart: contexts 2h and 2h+1.
      node: (context) =>
        node(`plic@${VIRT.plic.base.toString(16)}`, [
          ["phandle", cells(context.phandle!)],
          ["riscv,ndev", cells(96)],
          ["reg", socReg(VIRT.plic.base, VIRT.plic.size)],
          ["interrupts-extended", perHart(context, [11, 9])],
          ["interrupt-controller", null],
          ["compatible", ["sifive,plic-1.0.0", "riscv,plic0"]],
          ["#address-cells", cells(0)],
          ["#interrupt-cells", cells(1)],
        ]),
    },
    ...Array.from({ length: VIRT.virtio.count }, (_, slot) => virtioEntry(slot, (context) => make.virtio(slot, context))),
    {
      name: "test",
      ...VIRT.test,
      phandle: true,
      create: () => make.test(),
      node: (context) =>
        node(`test@${VIRT.test.base.toString(16)}`, [
          ["phandle", cells(context.phandle!)],
          ["reg", socReg(VIRT.test.base, VIRT.test.size)],
          ["compatible", ["sifive,test1", "sifive,test0", "syscon"]],
        ]),
      // Linux's syscon-poweroff and syscon-reboot drivers write these values to the test device.
      rootNodes: (context) => [
        node("poweroff", [["value", cells(0x5555)], ["offset", cells(0)], ["regmap", cells(context.phandle!)], ["compatible", "syscon-poweroff"]]),
        node("reboot", [["value", cells(0x7777)], ["offset", cells(0)], ["regmap", cells(context.phandle!)], ["compatible", "syscon-reboot"]]),
      ],
    },
    {
      name: "uart0",
      base: VIRT.uart0.base,
      size: VIRT.uart0.size,
      irq: VIRT.uart0.irq,
      create: (context) => make.uart0(context),
      // 3.6864 MHz: QEMU's value, from which Linux's 8250 driver computes baud divisors.
      node: (context) => simpleNode(context, "serial", "ns16550a", [["clock-frequency", cells(0x384000)]]),
    },
    {
      name: "rtc",
      ...VIRT.rtc,
      irq: VIRT.rtcIrq,
      create: (context) => make.rtc(context),
      node: (context) => simpleNode(context, "rtc", "google,goldfish-rtc"),
    },
  ];
}

/**
 * The built-ins with the user's devices: a device with `replace` takes the place (in the table
 * and so in the tree) of the built-in of its name; the others follow the built-ins.
 */
export function withUserDevices(builtins: readonly BoardDevice[], user: readonly BoardDevice[]): BoardDevice[] {
  const replacements = new Map<string, BoardDevice>();
  for (const device of user) {
    if (device.replace !== true) continue;
    if (!REPLACEABLE.has(device.name)) {
      const known = builtins.some((b) => b.name === device.name);
      throw new RangeError(
        known
          ? `the built-in "${device.name}" cannot be replaced (replaceable: ${[...REPLACEABLE].join(", ")})`
          : `device "${device.name}" replaces nothing: the board has no built-in of that name (replaceable: ${[...REPLACEABLE].join(", ")})`,
      );
    }
    if (replacements.has(device.name)) throw new RangeError(`two devices replace the built-in "${device.name}"`);
    replacements.set(device.name, device);
  }
  return [...builtins.map((b) => replacements.get(b.name) ?? b), ...user.filter((d) => d.replace !== true)];
}

/** A disk in a chosen virtio-mmio slot, as QEMU's `-device virtio-blk-device,bus=virtio-mmio-bus.N`. */
export interface VirtioDisk {
  backend: BlockBackend;
  /** 0..7: slot N is at 0x10001000 + N × 0x1000, PLIC source 1 + N. Default: the highest free slot. */
  slot?: number;
}

/**
 * Which slot each disk takes. Disks with a slot take it; the others, in order, take the highest
 * slot still free, as QEMU gives a `-device` without `bus=` the free virtio-mmio bus with the
 * highest address (its buses are listed from the last created). QEMU refuses a `bus=` that an
 * earlier plain disk already took; here explicit slots are set aside first, so such a command
 * line works, and every one QEMU accepts places its disks as QEMU does. `taken` are slots a user
 * device replaced.
 */
export function assignDiskSlots(disks: readonly (BlockBackend | VirtioDisk)[], taken: ReadonlySet<number>): Map<number, BlockBackend> {
  if (disks.length > VIRT.virtio.count) throw new RangeError(`at most ${VIRT.virtio.count} virtio disks, got ${disks.length}`);
  const slots = new Map<number, BlockBackend>();
  const owner = new Map<number, number>();
  const plain: BlockBackend[] = [];
  disks.forEach((disk, index) => {
    if (!("backend" in disk) || disk.slot === undefined) {
      plain.push("backend" in disk ? disk.backend : disk);
      return;
    }
    const slot = disk.slot;
    checkSlot(slot, `disk ${index}`);
    if (taken.has(slot)) throw new RangeError(`disk ${index}: virtio-mmio slot ${slot} holds a device of its own (MachineOptions.devices)`);
    const other = owner.get(slot);
    if (other !== undefined) throw new RangeError(`disks ${other} and ${index} both ask for virtio-mmio slot ${slot}`);
    owner.set(slot, index);
    slots.set(slot, disk.backend);
  });
  let slot = VIRT.virtio.count - 1;
  for (const backend of plain) {
    while (slot >= 0 && (slots.has(slot) || taken.has(slot))) slot--;
    if (slot < 0) throw new RangeError(`${disks.length} disks do not fit in the ${VIRT.virtio.count - taken.size} free virtio-mmio slots`);
    slots.set(slot, backend);
  }
  return slots;
}
