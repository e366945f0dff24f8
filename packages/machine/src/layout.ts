/**
 * The physical memory map of QEMU's riscv32 `virt` board (hw/riscv/virt.c in QEMU 7.2), which
 * matryoshka's board reproduces so that the same programs find the same devices.
 */
export const VIRT = {
  mrom: { base: 0x0000_1000, size: 0xf000 },
  test: { base: 0x0010_0000, size: 0x1000 },
  rtc: { base: 0x0010_1000, size: 0x1000 },
  clint: { base: 0x0200_0000, size: 0x1_0000 },
  plic: { base: 0x0c00_0000, size: 0x60_0000 },
  uart0: { base: 0x1000_0000, size: 0x100, irq: 10 },
  virtio: { base: 0x1000_1000, size: 0x1000, count: 8, firstIrq: 1 },
  dram: { base: 0x8000_0000 },
  rtcIrq: 11,
} as const;

/** QEMU's default RAM size for `virt`. */
export const DEFAULT_MEMORY_MIB = 128;

/** mtime frequency QEMU advertises in the device tree (timebase-frequency). */
export const TIMEBASE_FREQUENCY = 10_000_000;
