import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { virtDeviceTree } from "@matryoshka/machine";

const dtcPresent = spawnSync("dtc", ["--version"]).status === 0;
if (!dtcPresent) console.log("[skip] device-tree decompilation: dtc is not installed (apt-get install device-tree-compiler)");

function decompile(dtb: Uint8Array): string {
  const result = spawnSync("dtc", ["-I", "dtb", "-O", "dts", "-"], { input: dtb, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`dtc failed: ${result.stderr}`);
  return result.stdout;
}

describe("the virt device tree", () => {
  it("starts with a valid FDT header", () => {
    const dtb = virtDeviceTree({ harts: 1, memoryBase: 0x8000_0000, memorySize: 128 << 20 });
    const view = new DataView(dtb.buffer, dtb.byteOffset);
    expect(view.getUint32(0, false)).toBe(0xd00dfeed);
    expect(view.getUint32(4, false)).toBe(dtb.length);
    expect(view.getUint32(20, false)).toBe(17);
  });

  it.skipIf(!dtcPresent)("decompiles with dtc to QEMU virt's nodes and properties", () => {
    const dts = decompile(
      virtDeviceTree({ harts: 2, memoryBase: 0x8000_0000, memorySize: 128 << 20, bootargs: "console=ttyS0", initrd: { start: 0x8400_0000, end: 0x8410_0000 } }),
    );
    for (const expected of [
      'compatible = "riscv-virtio";',
      'model = "riscv-virtio,qemu";',
      'bootargs = "console=ttyS0";',
      'stdout-path = "/soc/serial@10000000";',
      "linux,initrd-start = <0x84000000>;",
      "reg = <0x00 0x80000000 0x00 0x8000000>;",
      "timebase-frequency = <0x989680>;",
      'riscv,isa = "rv32imac_zicsr_zifencei";',
      'mmu-type = "riscv,sv32";',
      "cpu@1 {",
      'compatible = "riscv,cpu-intc";',
      "serial@10000000 {",
      'compatible = "ns16550a";',
      "interrupts = <0x0a>;",
      "test@100000 {",
      'compatible = "sifive,test1\\0sifive,test0\\0syscon";',
      "rtc@101000 {",
      "virtio_mmio@10001000 {",
      "virtio_mmio@10008000 {",
      "riscv,ndev = <0x60>;",
      "reg = <0x00 0xc000000 0x00 0x600000>;",
      'compatible = "sifive,clint0\\0riscv,clint0";',
      'compatible = "syscon-poweroff";',
      "value = <0x5555>;",
    ]) {
      expect(dts).toContain(expected);
    }
    // Two harts: the CLINT routes MSIP (3) and MTIP (7), the PLIC MEIP (11) and SEIP (9), per hart.
    expect(dts).toMatch(/clint@2000000 \{\s*interrupts-extended = <0x02 0x03 0x02 0x07 0x04 0x03 0x04 0x07>;/);
    expect(dts).toMatch(/interrupts-extended = <0x02 0x0b 0x02 0x09 0x04 0x0b 0x04 0x09>;/);
  });
});
