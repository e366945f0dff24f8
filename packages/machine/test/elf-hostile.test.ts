import { describe, expect, it } from "vitest";
import { ElfError, LoadError, MAX_NAME_SCAN_BYTES, parseElf, parseKernel } from "@matryoshka/machine";

interface ProgramHeader {
  paddr: number;
  memSize: number;
  offset?: number;
  fileSize?: number;
}

interface SectionHeader {
  type: number;
  offset: number;
  size: number;
  link?: number;
  entsize?: number;
}

const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;

/**
 * An ELF32 RISC-V executable: the header, then the program headers, then the section headers,
 * then `data` (whose offsets are relative to the start of `data`: this adds where it lies).
 */
function buildElf(programs: ProgramHeader[], sections: SectionHeader[], data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const phoff = 52;
  const shoff = phoff + 32 * programs.length;
  const dataAt = shoff + 40 * sections.length;
  const bytes = new Uint8Array(dataAt + data.length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  view.setUint16(16, 2, true); // ET_EXEC
  view.setUint16(18, 243, true); // EM_RISCV
  view.setUint32(20, 1, true);
  view.setUint32(24, 0x8000_0000, true);
  view.setUint32(28, phoff, true);
  view.setUint32(32, sections.length === 0 ? 0 : shoff, true);
  view.setUint16(40, 52, true);
  view.setUint16(42, 32, true);
  view.setUint16(44, programs.length, true);
  view.setUint16(46, 40, true);
  view.setUint16(48, sections.length, true);
  programs.forEach((p, i) => {
    const at = phoff + 32 * i;
    view.setUint32(at, 1, true); // PT_LOAD
    view.setUint32(at + 4, p.fileSize ? dataAt + (p.offset ?? 0) : 0, true);
    view.setUint32(at + 8, p.paddr, true);
    view.setUint32(at + 12, p.paddr, true);
    view.setUint32(at + 16, p.fileSize ?? 0, true);
    view.setUint32(at + 20, p.memSize, true);
    view.setUint32(at + 24, 7, true);
  });
  sections.forEach((s, i) => {
    const at = shoff + 40 * i;
    view.setUint32(at + 4, s.type, true);
    view.setUint32(at + 16, dataAt + s.offset, true);
    view.setUint32(at + 20, s.size, true);
    view.setUint32(at + 24, s.link ?? 0, true);
    view.setUint32(at + 36, s.entsize ?? 0, true);
  });
  bytes.set(data, dataAt);
  return bytes;
}

/** A symbol table of `count` symbols whose names start at `nameOffset(i)` in `strings` (laid out after it). */
function symbolFile(count: number, nameOffset: (i: number) => number, strings: Uint8Array, symtabSections = 1): Uint8Array {
  const table = new Uint8Array(16 * count);
  const view = new DataView(table.buffer);
  for (let i = 0; i < count; i++) {
    view.setUint32(16 * i, nameOffset(i), true);
    view.setUint32(16 * i + 4, 0x8000_0000 + i, true);
  }
  const data = new Uint8Array(4 + table.length + strings.length);
  data.set([0x6f, 0, 0, 0]); // j . (the loaded segment)
  data.set(table, 4);
  data.set(strings, 4 + table.length);
  const strtab = { type: SHT_STRTAB, offset: 4 + table.length, size: strings.length };
  const symtabs = Array.from({ length: symtabSections }, () => ({ type: SHT_SYMTAB, offset: 4, size: table.length, link: 0, entsize: 16 }));
  return buildElf([{ paddr: 0x8000_0000, memSize: 4, fileSize: 4 }], [strtab, ...symtabs], data);
}

function timed<T>(work: () => T): { result?: T; error?: unknown; milliseconds: number } {
  const start = performance.now();
  try {
    const result = work();
    return { result, milliseconds: performance.now() - start };
  } catch (error) {
    return { error, milliseconds: performance.now() - start };
  }
}

describe("the ELF loader does bounded work and allocates bounded memory, whatever the file says", () => {
  it("reads 8 000 symbols naming overlapping, unterminated 4 MiB strings in bounded time, skipping the names", () => {
    const strings = new Uint8Array(4 * 1048576).fill(0x41); // no NUL anywhere
    const { result, error, milliseconds } = timed(() => parseElf(symbolFile(8000, (i) => 1 + i, strings)));
    expect(error).toBeUndefined();
    expect(result!.symbols.size).toBe(0);
    expect(milliseconds).toBeLessThan(2000);
  });

  it("keeps names that end in a NUL, and refuses a table whose names together take too long to read", () => {
    const names = new TextEncoder().encode("\0tohost\0fromhost\0");
    const ok = parseElf(symbolFile(2, (i) => (i === 0 ? 1 : 8), names));
    expect([...ok.symbols.keys()].sort()).toEqual(["fromhost", "tohost"]);
    // 1 000-byte names, all the same bytes: 40 000 of them are 40 MB to read.
    const long = new Uint8Array(1002).fill(0x42);
    long[0] = 0;
    long[1001] = 0;
    const { error, milliseconds } = timed(() => parseElf(symbolFile(40_000, () => 1, long)));
    expect(error).toBeInstanceOf(ElfError);
    expect((error as Error).message).toMatch(new RegExp(`more than ${MAX_NAME_SCAN_BYTES / 1048576} MiB`));
    expect(milliseconds).toBeLessThan(2000);
  });

  it("refuses 60 000 symbol-table sections at once (an ELF file has one)", () => {
    const names = new TextEncoder().encode("\0tohost\0");
    const { error, milliseconds } = timed(() => parseElf(symbolFile(1000, () => 1, names, 60_000)));
    expect(error).toBeInstanceOf(ElfError);
    expect((error as Error).message).toMatch(/more than one symbol table/);
    expect(milliseconds).toBeLessThan(1000);
  });

  it("refuses 1 000 overlapping 128 MiB segments before loading any (QEMU: overlapping regions)", () => {
    const programs = Array.from({ length: 1000 }, () => ({ paddr: 0x8000_0000, memSize: 128 * 1048576 }));
    const { error, milliseconds } = timed(() => parseKernel(buildElf(programs, []), 0x8000_0000));
    expect(error).toBeInstanceOf(LoadError);
    expect((error as Error).message).toMatch(/ELF segments overlap: 0x80000000 \(134217728 bytes\) and 0x80000000/);
    expect(milliseconds).toBeLessThan(1000);
    // Adjacent segments do not overlap.
    expect(parseElf(buildElf([{ paddr: 0x8000_1000, memSize: 0x1000 }, { paddr: 0x8000_0000, memSize: 0x1000 }], [])).segments).toHaveLength(2);
  });
});
