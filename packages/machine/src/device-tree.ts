import { buildFdt, cells, node, type FdtNode, type FdtValue } from "./fdt.js";
import { TIMEBASE_FREQUENCY } from "./layout.js";
import { socReg, type BoardDevice, type NodeContext, type RomRegion } from "./registry.js";
import { virtDevices } from "./virt-devices.js";

export interface DeviceTreeOptions {
  harts: number;
  memoryBase: number;
  memorySize: number;
  /** Kernel command line for /chosen/bootargs. */
  bootargs?: string;
  /** Initial ramdisk placement for /chosen. */
  initrd?: { start: number; end: number };
  /** The ISA string for each cpu node. */
  isa?: string;
}

// Phandles, numbered as QEMU's virt assigns them for one socket: each hart's cpu node and its
// interrupt controller, then the devices that ask for one, in the order they were created.
const PHANDLE_CPU0 = 1;

/**
 * The device tree of a `virt` board with these devices (registry entries, in registration order):
 * QEMU 7.2's root, /chosen, /memory and /cpus, then under /soc a node per device. Devices are
 * listed in reverse order of registration, as QEMU's libfdt adds each node before its older
 * siblings; the built-ins are registered in QEMU's creation order, so the tree is QEMU's. QEMU's
 * fw-cfg, flash, PCI, platform-bus and PMU nodes are left out: the board has no such devices.
 * /chosen gets no rng-seed, so the tree (and every run) is deterministic.
 */
export function boardDeviceTree(devices: readonly (BoardDevice | RomRegion)[], options: DeviceTreeOptions): Uint8Array {
  const { harts } = options;
  const cpuPhandle = (h: number) => PHANDLE_CPU0 + 2 * h;
  const intcPhandle = (h: number) => PHANDLE_CPU0 + 2 * h + 1;
  const described = devices.filter((d): d is BoardDevice => d.node !== null);
  const phandles = new Map<BoardDevice, number>();
  let next = PHANDLE_CPU0 + 2 * harts;
  for (const device of described) if (device.phandle === true) phandles.set(device, next++);
  const plic = described.find((d) => d.name === "plic");
  if (plic === undefined || !phandles.has(plic)) throw new Error("a virt device tree needs the PLIC, with a phandle");
  const contextOf = (device: BoardDevice): NodeContext => ({
    device,
    phandle: phandles.get(device),
    plicPhandle: phandles.get(plic)!,
    harts,
    cpuIntcPhandle: intcPhandle,
  });
  const newestFirst = [...described].reverse();
  const socNodes = newestFirst.map((device) => device.node(contextOf(device)));
  const rootNodes = newestFirst.flatMap((device) => device.rootNodes?.(contextOf(device)) ?? []);
  const uart = newestFirst.findIndex((d) => d.name === "uart0");

  const cpuNodes: FdtNode[] = [];
  for (let h = 0; h < harts; h++) {
    cpuNodes.push(
      node(`cpu@${h}`, [
        ["phandle", cells(cpuPhandle(h))],
        ["device_type", "cpu"],
        ["reg", cells(h)],
        ["status", "okay"],
        ["compatible", "riscv"],
        ["riscv,isa", options.isa ?? "rv32imac_zicsr_zifencei"],
        ["mmu-type", "riscv,sv32"],
      ], [
        node("interrupt-controller", [
          ["#interrupt-cells", cells(1)],
          ["interrupt-controller", null],
          ["compatible", "riscv,cpu-intc"],
          ["phandle", cells(intcPhandle(h))],
        ]),
      ]),
    );
  }
  const coreNodes = Array.from({ length: harts }, (_, h) => node(`core${h}`, [["cpu", cells(cpuPhandle(h))]]));

  const chosen: [string, FdtValue][] = [];
  if (options.initrd) {
    chosen.push(["linux,initrd-end", cells(options.initrd.end)]);
    chosen.push(["linux,initrd-start", cells(options.initrd.start)]);
  }
  if (options.bootargs !== undefined) chosen.push(["bootargs", options.bootargs]);
  if (uart >= 0) chosen.push(["stdout-path", `/soc/${socNodes[uart]!.name}`]);

  const root = node("", [
    ["#address-cells", cells(2)],
    ["#size-cells", cells(2)],
    ["compatible", "riscv-virtio"],
    ["model", "riscv-virtio,qemu"],
  ], [
    node("chosen", chosen),
    ...rootNodes,
    node(`memory@${options.memoryBase.toString(16)}`, [
      ["device_type", "memory"],
      ["reg", socReg(options.memoryBase, options.memorySize)],
    ]),
    node("cpus", [
      ["#address-cells", cells(1)],
      ["#size-cells", cells(0)],
      ["timebase-frequency", cells(TIMEBASE_FREQUENCY)],
    ], [...cpuNodes, node("cpu-map", [], [node("cluster0", [], coreNodes)])]),
    node("soc", [
      ["#address-cells", cells(2)],
      ["#size-cells", cells(2)],
      ["compatible", "simple-bus"],
      ["ranges", null],
    ], socNodes),
  ]);
  return buildFdt(root);
}

/** The device tree of the default `virt` board (no user devices), as `VirtMachine.boot` writes it. */
export function virtDeviceTree(options: DeviceTreeOptions): Uint8Array {
  return boardDeviceTree(virtDevices(), options);
}
