import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MemoryBlockBackend, VirtioMmio, type VirtioDevice } from "@matryoshka/devices";
import type { MmioDevice } from "@matryoshka/memory";
import { exampleCounter, ExampleCounter, simpleNode, virtioSlot, VirtMachine, type BoardDevice, type MachineOptions } from "@matryoshka/machine";
import { guestPath } from "@matryoshka/testkit";
import { nodeAt, readFdt, strings, u32s, type DtNode } from "./fdt-reader.js";

const hello = new Uint8Array(readFileSync(guestPath("hello")));

/** The board's tree as `boot` writes it, read back. */
function treeOf(machine: VirtMachine): DtNode {
  return readFdt(machine.boot({ kernel: hello }).fdt);
}

/** A virtio entropy source (device id 4) that never fills a buffer: enough to be found in its slot. */
function entropy(): VirtioDevice {
  return { deviceId: 4, queueCount: 1, queueSizeMax: 8, features: 0n, readConfig: () => new Uint8Array(0), reset() {}, processQueue() {} };
}

const DEVICE_ID = 0x008;
const slotBase = (slot: number) => 0x1000_1000 + slot * 0x1000;
const disk = () => new MemoryBlockBackend(4096);

describe("the device registry", () => {
  it("puts every device on the bus in the tree and every node with a reg on the bus", () => {
    const machine = new VirtMachine({ harts: 2, devices: [exampleCounter()], disks: [disk()] });
    const soc = nodeAt(treeOf(machine), "/soc")!;
    const regions = machine.bus.mmioRegions.filter((r) => r.name !== "mrom");
    expect(soc.children.map((n) => u32s(n.props.get("reg"))[1]).sort()).toEqual(regions.map((r) => r.base).sort());
    for (const region of regions) {
      const entry = machine.devices.entries.find((r) => r.entry.name === region.name)!;
      expect(entry.device).toBe(region.device);
    }
  });

  it("maps a user device, wires its interrupt to the PLIC and gives it its node", () => {
    let counter: ExampleCounter | undefined;
    const machine = new VirtMachine({ devices: [exampleCounter({ onCreate: (c) => (counter = c) })] });
    const root = treeOf(machine);
    const node = nodeAt(root, "/soc/counter@4000000")!;
    expect(strings(node.props.get("compatible"))).toEqual(["matryoshka,example-counter"]);
    expect(u32s(node.props.get("reg"))).toEqual([0, 0x400_0000, 0, 0x1000]);
    expect(u32s(node.props.get("interrupts"))).toEqual([64]);
    expect(u32s(node.props.get("interrupt-parent"))).toEqual(u32s(nodeAt(root, "/soc/plic@c000000")!.props.get("phandle")));
    // Newest first under /soc, as libfdt lays out QEMU's.
    expect(nodeAt(root, "/soc")!.children[0]).toBe(node);

    expect(machine.bus.store(0x400_0004, 4, 41)).toBe(true);
    expect(machine.bus.store(0x400_0008, 4, 1)).toBe(true);
    expect(machine.bus.load(0x400_0004, 4)).toBe(42);
    expect(counter!.value).toBe(42);
    // Source 64, priority 1, enabled for hart 0's M-mode context: raising the line makes MEIP pending.
    machine.bus.store(0xc00_0000 + 4 * 64, 4, 1);
    machine.bus.store(0xc00_2000 + 4 * 2, 4, 1);
    machine.bus.store(0x400_000c, 4, 1);
    expect(machine.harts[0]!.mipLines & (1 << 11)).not.toBe(0);
    expect(machine.bus.load(0xc20_0004, 4)).toBe(64);
  });

  it("adds a device before boot, and refuses one after (the guest would not see it)", () => {
    const machine = new VirtMachine();
    machine.devices.add(exampleCounter({ base: 0x1001_0000, irq: 20 }));
    expect(nodeAt(treeOf(machine), "/soc/counter@10010000")).toBeDefined();
    expect(() => machine.devices.add(exampleCounter({ base: 0x1002_0000, irq: 21 }))).toThrow(/too late: the device tree was written at boot/);
  });

  it("replaces the built-in UART0 with a user device and points stdout-path at its node", () => {
    const bytes: number[] = [];
    const uart: BoardDevice = {
      name: "uart0",
      replace: true,
      base: 0x1000_0000,
      size: 0x100,
      irq: 10,
      create: (): MmioDevice => ({
        read: (offset) => (offset === 5 ? 0x20 : 0), // LSR: the transmitter is always empty
        write: (offset, _size, value) => (offset === 0 && bytes.push(value), true),
      }),
      node: (context) => simpleNode(context, "uart", "example,uart"),
    };
    const machine = new VirtMachine({ devices: [uart] });
    const root = readFdt(machine.boot({ kernel: hello }).fdt);
    expect(strings(nodeAt(root, "/chosen")!.props.get("stdout-path"))).toEqual(["/soc/uart@10000000"]);
    expect(nodeAt(root, "/soc/serial@10000000")).toBeUndefined();
    expect(machine.run(1_000_000)).toEqual({ kind: "pass" });
    expect(String.fromCharCode(...bytes)).toBe("Hello from matryoshka guest on hart 0!\n");
    // The built-in model is off the bus: input sent to it does not keep the board awake.
    machine.uart.receive(new Uint8Array([0x41]));
    expect(machine.pendingConsoleInput).toBe(0);
  });

  it("puts a user virtio device in a standard virtio-mmio slot", () => {
    const machine = new VirtMachine({ devices: [virtioSlot(3, entropy)], disks: [disk()] });
    expect(machine.bus.load(slotBase(3) + DEVICE_ID, 4)).toBe(4);
    expect(machine.bus.load(slotBase(7) + DEVICE_ID, 4)).toBe(2);
    expect(machine.virtio.map((t) => machine.bus.mmioRegions.find((r) => r.device === t)!.name)).toEqual(["virtio3", "virtio7"]);
    expect(machine.virtio.every((t) => t instanceof VirtioMmio)).toBe(true);
    const node = nodeAt(treeOf(machine), "/soc/virtio_mmio@10004000")!;
    expect(u32s(node.props.get("interrupts"))).toEqual([4]);
  });

  it("refuses conflicts, naming them", () => {
    const board = (options: MachineOptions) => () => new VirtMachine(options);
    expect(board({ devices: [{ ...exampleCounter(), name: "rtc" }] })).toThrow(/a device named "rtc" is already on the board/);
    expect(board({ devices: [{ ...exampleCounter(), name: "plic", replace: true }] })).toThrow(/the built-in "plic" cannot be replaced/);
    expect(board({ devices: [{ ...exampleCounter(), name: "gpio", replace: true }] })).toThrow(/replaces nothing/);
    expect(board({ devices: [virtioSlot(2, entropy), virtioSlot(2, entropy)] })).toThrow(/two devices replace the built-in "virtio2"/);
    expect(board({ devices: [exampleCounter({ base: 0x0fff_f800 })] })).toThrow(/overlaps "uart0"/);
    expect(board({ devices: [exampleCounter({ base: 0x8000_0000 })] })).toThrow(/overlaps RAM/);
    expect(board({ devices: [exampleCounter({ irq: 10 })] })).toThrow(/PLIC source 10 is already wired to "uart0"/);
    expect(board({ devices: [exampleCounter({ irq: 97 })] })).toThrow(/not a PLIC source \(1\.\.96\)/);
    expect(() => virtioSlot(8, entropy)).toThrow(/slot 8 is out of range 0\.\.7/);
  });
});

describe("disk slots (QEMU's bus=virtio-mmio-bus.N)", () => {
  const slotsOf = (machine: VirtMachine) => Array.from({ length: 8 }, (_, slot) => machine.bus.load(slotBase(slot) + DEVICE_ID, 4));

  it("gives plain disks the highest free slots, first disk highest, as QEMU does", () => {
    expect(slotsOf(new VirtMachine({ disks: [disk(), disk()] }))).toEqual([0, 0, 0, 0, 0, 0, 2, 2]);
  });

  it("puts a disk in the slot it asks for, and the others around it", () => {
    const first = disk();
    const machine = new VirtMachine({ disks: [{ backend: first, slot: 0 }, disk(), { backend: disk(), slot: 7 }] });
    expect(slotsOf(machine)).toEqual([2, 0, 0, 0, 0, 0, 2, 2]);
    // Slot 0: PLIC source 1, as xv6 expects its disk.
    expect(u32s(nodeAt(treeOf(machine), "/soc/virtio_mmio@10001000")!.props.get("interrupts"))).toEqual([1]);
    expect(machine.virtio[0]).toBe(machine.devices.get("virtio0"));
  });

  it("refuses two disks in one slot, a slot out of range, a slot a device holds, and a ninth disk", () => {
    expect(() => new VirtMachine({ disks: [{ backend: disk(), slot: 2 }, { backend: disk(), slot: 2 }] })).toThrow("disks 0 and 1 both ask for virtio-mmio slot 2");
    expect(() => new VirtMachine({ disks: [{ backend: disk(), slot: 8 }] })).toThrow("disk 0: virtio-mmio slot 8 is out of range 0..7");
    expect(() => new VirtMachine({ disks: [{ backend: disk(), slot: -1 }] })).toThrow(/out of range/);
    expect(() => new VirtMachine({ devices: [virtioSlot(5, entropy)], disks: [{ backend: disk(), slot: 5 }] })).toThrow(/slot 5 holds a device of its own/);
    expect(() => new VirtMachine({ devices: Array.from({ length: 7 }, (_, s) => virtioSlot(s, entropy)), disks: [disk(), disk()] })).toThrow(
      "2 disks do not fit in the 1 free virtio-mmio slots",
    );
    expect(() => new VirtMachine({ disks: Array.from({ length: 9 }, disk) })).toThrow("at most 8 virtio disks, got 9");
  });
});
