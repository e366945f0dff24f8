import { describe, expect, it } from "vitest";
import { fdtAddress, initrdAddress, kernelAddress, resetVectorWords } from "@matryoshka/machine";

const MIB = 1024 * 1024;

describe("QEMU's boot protocol (hw/riscv/boot.c)", () => {
  it("puts the kernel at the start of RAM without firmware, else at the next 4 MiB boundary (RV32)", () => {
    expect(kernelAddress(0x8000_0000)).toBe(0x8000_0000);
    expect(kernelAddress(0x8000_0000, 0x8000_0001)).toBe(0x8040_0000);
    expect(kernelAddress(0x8000_0000, 0x8040_0000)).toBe(0x8040_0000);
    expect(kernelAddress(0x8000_0000, 0x8040_0001)).toBe(0x8080_0000);
  });

  it("puts the initrd min(RAM / 2, 128 MiB) past the kernel's entry", () => {
    expect(initrdAddress(0x8000_0000, 64 * MIB)).toBe(0x8000_0000 + 32 * MIB);
    expect(initrdAddress(0x8040_0000, 256 * MIB)).toBe(0x8040_0000 + 128 * MIB);
    expect(initrdAddress(0x8000_0000, 1024 * MIB)).toBe(0x8000_0000 + 128 * MIB);
  });

  it("puts the device tree in the last 2 MiB-aligned slot below min(RAM end, 3 GiB)", () => {
    expect(fdtAddress(0x8000_0000, 128 * MIB, 0x1000)).toBe(0x8000_0000 + 126 * MIB);
    expect(fdtAddress(0x8000_0000, 128 * MIB, 2 * MIB + 1)).toBe(0x8000_0000 + 124 * MIB);
    expect(fdtAddress(0x8000_0000, 2047 * MIB, 0x1000)).toBe(0xc000_0000 - 2 * MIB);
  });

  it("hands a0 = hart id, a1 = device tree, a2 = fw_dynamic_info from the reset vector", () => {
    const words = resetVectorWords(0x8000_0000, 0x87e0_0000, 0x8040_0000);
    // auipc t0 then addi a2, t0, 40: fw_dynamic_info starts at word 10.
    expect(words[1]! >>> 20).toBe(40);
    expect(words.slice(6, 10)).toEqual([0x8000_0000, 0, 0x87e0_0000, 0]);
    expect(words.slice(10)).toEqual([0x4942_534f, 2, 0x8040_0000, 1, 0, 0]);
  });
});
