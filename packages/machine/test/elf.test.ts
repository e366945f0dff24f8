import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ElfError, LoadError, parseElf, parseKernel } from "@matryoshka/machine";
import { guestPath } from "@matryoshka/testkit";

const hello = new Uint8Array(readFileSync(guestPath("hello")));

/** Offset of the first PT_LOAD program header. */
function firstLoadHeader(view: DataView): number {
  const phoff = view.getUint32(28, true);
  for (let i = 0; ; i++) if (view.getUint32(phoff + 32 * i, true) === 1) return phoff + 32 * i;
}

function corrupt(mutate: (bytes: Uint8Array, view: DataView) => void): Uint8Array {
  const copy = hello.slice();
  mutate(copy, new DataView(copy.buffer));
  return copy;
}

describe("ELF loading", () => {
  it("finds the loadable segments, entry and symbols of a guest", () => {
    const elf = parseElf(hello);
    expect(elf.entry).toBe(0x8000_0000);
    expect(elf.segments[0]!.paddr).toBe(0x8000_0000);
    expect(elf.symbols.get("main")?.value).toBeGreaterThan(0x8000_0000);
    expect(elf.symbols.get("_start")?.value).toBe(0x8000_0000);
  });

  it.each([
    ["a truncated file", hello.subarray(0, 20), /only 20 bytes/],
    ["bad magic", corrupt((b) => (b[1] = 0)), /bad magic/],
    ["a 64-bit file", corrupt((b) => (b[4] = 2)), /not a 32-bit ELF/],
    ["big-endian", corrupt((b) => (b[5] = 2)), /little-endian/],
    ["another machine", corrupt((_, v) => v.setUint16(18, 62, true)), /not a RISC-V ELF/],
    ["a relocatable object", corrupt((_, v) => v.setUint16(16, 1, true)), /not an executable/],
    ["program headers past the end", corrupt((_, v) => v.setUint32(28, 0xffff_fff0, true)), /program headers lie outside/],
    ["segment data past the end", corrupt((_, v) => v.setUint32(firstLoadHeader(v) + 4, 0x7fff_0000, true)), /data lies outside/],
  ])("rejects %s with a one-line ElfError", (_name, bytes, message) => {
    let error: unknown;
    try {
      parseElf(bytes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ElfError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("\n");
  });

  it("turns ELF errors into LoadErrors for -kernel, and loads raw binaries where asked", () => {
    expect(() => parseKernel(corrupt((b) => (b[4] = 2)), 0x8000_0000)).toThrow(LoadError);
    const raw = parseKernel(Uint8Array.of(0x13, 0, 0, 0), 0x8000_0000);
    expect(raw.format).toBe("raw");
    expect(raw.chunks[0]!.address).toBe(0x8000_0000);
    expect(() => parseKernel(new Uint8Array(0), 0x8000_0000)).toThrow(/empty/);
  });

  it("recognizes a Linux RISC-V Image by its boot header", () => {
    const image = new Uint8Array(128);
    const view = new DataView(image.buffer);
    view.setUint32(16, 4096, true); // image_size
    view.setUint32(56, 0x05435352, true); // "RSC\x05"
    const kernel = parseKernel(image, 0x8040_0000);
    expect(kernel.format).toBe("image");
    expect(kernel.entry).toBe(0x8040_0000);
    expect(kernel.chunks[0]!.memSize).toBe(4096);
  });
});
