import { ElfError, parseElf, type ElfImage } from "./elf.js";

/** A kernel as QEMU's `-kernel` accepts it, ready to copy into RAM. */
export interface KernelImage {
  format: "elf" | "image" | "raw";
  /** Chunks to copy to physical addresses. */
  chunks: { address: number; data: Uint8Array; memSize: number }[];
  entry: number;
  /** The ELF, when the kernel is one (for symbols such as tohost). */
  elf?: ElfImage;
}

export class LoadError extends Error {
  override readonly name = "LoadError";
}

const RISCV_IMAGE_MAGIC2 = 0x05435352; // "RSC\x05" at offset 56 of a Linux RISC-V Image

/**
 * Recognizes an ELF (loaded at its segments' physical addresses), a Linux RISC-V `Image` (boot
 * header with magic "RSC\x05"; loaded at `imageAddress`, aligned as the header's text_offset
 * asks), or else a raw binary loaded at `imageAddress`, as QEMU's riscv_load_kernel does.
 */
export function parseKernel(bytes: Uint8Array, imageAddress: number): KernelImage {
  if (bytes.length === 0) throw new LoadError("kernel file is empty");
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    let elf: ElfImage;
    try {
      elf = parseElf(bytes);
    } catch (error) {
      if (error instanceof ElfError) throw new LoadError(error.message);
      throw error;
    }
    return {
      format: "elf",
      chunks: elf.segments.map((s) => ({ address: s.paddr, data: s.data, memSize: s.memSize })),
      entry: elf.entry,
      elf,
    };
  }
  if (bytes.length >= 64) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(56, true) === RISCV_IMAGE_MAGIC2) {
      // Like QEMU, place the Image at the aligned load address itself (its header's text_offset
      // is 0 for RV32 kernels) and reserve image_size bytes (offset 16) for its .bss.
      const imageSize = view.getUint32(16, true);
      return {
        format: "image",
        chunks: [{ address: imageAddress, data: bytes, memSize: Math.max(bytes.length, imageSize) }],
        entry: imageAddress,
      };
    }
  }
  return { format: "raw", chunks: [{ address: imageAddress, data: bytes, memSize: bytes.length }], entry: imageAddress };
}
