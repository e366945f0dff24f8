/**
 * The boot protocol of QEMU 7.2's RISC-V boards (hw/riscv/boot.c), apart from any board: where
 * the kernel, the initrd and the device tree go in RAM, and what the mask ROM's reset vector
 * hands the first stage. A board supplies its RAM and loads the bytes; these only decide.
 */
import { LoadError, type KernelImage } from "./loader.js";

const MIB = 1024 * 1024;

/**
 * Where the kernel goes: the start of RAM with no firmware (`-bios none`), else the first
 * 4 MiB boundary at or after the firmware's end. QEMU aligns to 4 MiB on RV32 (a megapage) and
 * 2 MiB on RV64 (riscv_calc_kernel_start_addr); only RV32 matters here.
 */
export function kernelAddress(ramBase: number, firmwareEnd?: number): number {
  if (firmwareEnd === undefined) return ramBase;
  return Math.ceil(firmwareEnd / (4 * MIB)) * (4 * MIB);
}

/** The highest address an image's segments reach in memory (.bss included). */
export function imageEnd(image: KernelImage): number {
  return Math.max(...image.chunks.map((chunk) => chunk.address + chunk.memSize));
}

/**
 * Where the initrd starts: half of RAM past the kernel's entry, or 128 MiB past it when RAM is
 * 256 MiB or more (riscv_load_initrd: min(RAM / 2, 128 MiB)), so a kernel decompressing itself
 * does not overwrite it.
 */
export function initrdAddress(kernelEntry: number, ramSize: number): number {
  return kernelEntry + Math.min(ramSize / 2, 128 * MIB);
}

/**
 * Where the device tree goes: the last 2 MiB-aligned address it fits below the end of RAM, or
 * below 3 GiB if RAM reaches past it, so a 32-bit kernel can address it (riscv_load_fdt in 7.2).
 */
export function fdtAddress(ramBase: number, ramSize: number, fdtSize: number): number {
  const top = Math.min(ramBase + ramSize, 0xc000_0000);
  return Math.floor((top - fdtSize) / (2 * MIB)) * (2 * MIB);
}

/**
 * Refuses a device tree placed over any loaded image: on a small RAM the top 2 MiB slot can
 * reach down into the kernel, where QEMU would silently overwrite it.
 */
export function checkFdtPlacement(address: number, size: number, images: readonly KernelImage[], ramSize: number): void {
  for (const chunk of images.flatMap((image) => image.chunks)) {
    if (address < chunk.address + chunk.memSize && chunk.address < address + size) {
      throw new LoadError(
        `RAM of ${ramSize >>> 20} MiB is too small: the device tree at 0x${address.toString(16)} would overwrite the image at 0x${chunk.address.toString(16)}`,
      );
    }
  }
}

/** OpenSBI's fw_dynamic_info magic, "OSBI" (include/sbi/fw_dynamic.h). */
export const FW_DYNAMIC_INFO_MAGIC = 0x4942_534f;
/** The fw_dynamic_info version QEMU 7.2 writes: 2 adds the boot hart field. */
export const FW_DYNAMIC_INFO_VERSION = 2;
/** fw_dynamic_info's next_mode for S-mode. */
const NEXT_MODE_S = 1;

/**
 * The words QEMU's riscv_setup_rom_reset_vec puts at the start of the mask ROM (RV32 form):
 * every hart reads its id into a0, the device-tree address into a1 and the address of the
 * fw_dynamic_info block into a2, and jumps to `startAddress`. The block after the code tells
 * OpenSBI's fw_dynamic where the next stage is (`nextStageEntry`, in S-mode); with `-bios none`
 * the kernel itself starts at `startAddress` and ignores it. Addresses are stored as 64-bit
 * values (high words 0), as QEMU does on both widths.
 */
export function resetVectorWords(startAddress: number, fdt: number, nextStageEntry: number): number[] {
  return [
    0x0000_0297, // auipc t0, 0
    0x0282_8613, // addi  a2, t0, 40      (fw_dynamic_info below)
    0xf140_2573, // csrr  a0, mhartid
    0x0202_a583, // lw    a1, 32(t0)      (device tree address)
    0x0182_a283, // lw    t0, 24(t0)      (start address)
    0x0002_8067, // jr    t0
    startAddress >>> 0, 0,
    fdt >>> 0, 0,
    // fw_dynamic_info: magic, version, next stage address, next stage mode, options, boot hart.
    FW_DYNAMIC_INFO_MAGIC, FW_DYNAMIC_INFO_VERSION, nextStageEntry >>> 0, NEXT_MODE_S, 0, 0,
  ];
}

/** Writes the reset vector (see resetVectorWords) little-endian at the start of `rom`. */
export function writeResetVector(rom: Uint8Array, startAddress: number, fdt: number, nextStageEntry: number): void {
  const view = new DataView(rom.buffer, rom.byteOffset, rom.byteLength);
  resetVectorWords(startAddress, fdt, nextStageEntry).forEach((word, i) => view.setUint32(4 * i, word, true));
}
