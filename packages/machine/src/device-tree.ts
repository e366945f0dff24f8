import { buildFdt, cells, node, type FdtNode } from "./fdt.js";
import { TIMEBASE_FREQUENCY, VIRT } from "./layout.js";

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

// Phandles, numbered in the order QEMU's virt assigns them for one socket.
const PHANDLE_CPU0 = 1;

/**
 * The device tree of the `virt` board: the nodes QEMU 7.2 generates for the devices matryoshka
 * models (memory, cpus with their interrupt controllers, soc with CLINT, PLIC, UART, test device,
 * RTC and the eight virtio-mmio slots, poweroff/reboot through the test device, /chosen). QEMU's
 * fw-cfg, flash, PCI, platform-bus and PMU nodes are left out: the board has no such devices.
 * /chosen gets no rng-seed, so the tree (and every run) is deterministic.
 */
export function virtDeviceTree(options: DeviceTreeOptions): Uint8Array {
  const { harts } = options;
  const cpuPhandle = (h: number) => PHANDLE_CPU0 + 2 * h;
  const intcPhandle = (h: number) => PHANDLE_CPU0 + 2 * h + 1;
  const plicPhandle = PHANDLE_CPU0 + 2 * harts;
  const testPhandle = plicPhandle + 1;
  const reg = (base: number, size: number) => cells(0, base, Math.floor(size / 0x1_0000_0000), size >>> 0);

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

  const clintInterrupts: number[] = [];
  const plicInterrupts: number[] = [];
  for (let h = 0; h < harts; h++) {
    clintInterrupts.push(intcPhandle(h), 3, intcPhandle(h), 7);
    plicInterrupts.push(intcPhandle(h), 11, intcPhandle(h), 9);
  }

  const virtioNodes: FdtNode[] = [];
  for (let i = VIRT.virtio.count - 1; i >= 0; i--) {
    const base = VIRT.virtio.base + i * VIRT.virtio.size;
    virtioNodes.push(
      node(`virtio_mmio@${base.toString(16)}`, [
        ["interrupts", cells(VIRT.virtio.firstIrq + i)],
        ["interrupt-parent", cells(plicPhandle)],
        ["reg", reg(base, VIRT.virtio.size)],
        ["compatible", "virtio,mmio"],
      ]),
    );
  }

  const chosen: [string, string | number[] | null][] = [];
  if (options.initrd) {
    chosen.push(["linux,initrd-end", cells(options.initrd.end)]);
    chosen.push(["linux,initrd-start", cells(options.initrd.start)]);
  }
  if (options.bootargs !== undefined) chosen.push(["bootargs", options.bootargs]);
  chosen.push(["stdout-path", `/soc/serial@${VIRT.uart0.base.toString(16)}`]);

  const root = node("", [
    ["#address-cells", cells(2)],
    ["#size-cells", cells(2)],
    ["compatible", "riscv-virtio"],
    ["model", "riscv-virtio,qemu"],
  ], [
    node("chosen", chosen),
    node("poweroff", [
      ["value", cells(0x5555)],
      ["offset", cells(0)],
      ["regmap", cells(testPhandle)],
      ["compatible", "syscon-poweroff"],
    ]),
    node("reboot", [
      ["value", cells(0x7777)],
      ["offset", cells(0)],
      ["regmap", cells(testPhandle)],
      ["compatible", "syscon-reboot"],
    ]),
    node(`memory@${options.memoryBase.toString(16)}`, [
      ["device_type", "memory"],
      ["reg", reg(options.memoryBase, options.memorySize)],
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
    ], [
      node(`rtc@${VIRT.rtc.base.toString(16)}`, [
        ["interrupts", cells(VIRT.rtcIrq)],
        ["interrupt-parent", cells(plicPhandle)],
        ["reg", reg(VIRT.rtc.base, VIRT.rtc.size)],
        ["compatible", "google,goldfish-rtc"],
      ]),
      node(`serial@${VIRT.uart0.base.toString(16)}`, [
        ["interrupts", cells(VIRT.uart0.irq)],
        ["interrupt-parent", cells(plicPhandle)],
        ["clock-frequency", cells(0x384000)],
        ["reg", reg(VIRT.uart0.base, VIRT.uart0.size)],
        ["compatible", "ns16550a"],
      ]),
      node(`test@${VIRT.test.base.toString(16)}`, [
        ["phandle", cells(testPhandle)],
        ["reg", reg(VIRT.test.base, VIRT.test.size)],
        ["compatible", ["sifive,test1", "sifive,test0", "syscon"]],
      ]),
      ...virtioNodes,
      node(`plic@${VIRT.plic.base.toString(16)}`, [
        ["phandle", cells(plicPhandle)],
        ["riscv,ndev", cells(96)],
        ["reg", reg(VIRT.plic.base, 0x60_0000)],
        ["interrupts-extended", cells(...plicInterrupts)],
        ["interrupt-controller", null],
        ["compatible", ["sifive,plic-1.0.0", "riscv,plic0"]],
        ["#address-cells", cells(0)],
        ["#interrupt-cells", cells(1)],
      ]),
      node(`clint@${VIRT.clint.base.toString(16)}`, [
        ["interrupts-extended", cells(...clintInterrupts)],
        ["reg", reg(VIRT.clint.base, VIRT.clint.size)],
        ["compatible", ["sifive,clint0", "riscv,clint0"]],
      ]),
    ]),
  ]);
  return buildFdt(root);
}
