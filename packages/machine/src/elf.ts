/**
 * ELF32 little-endian RISC-V executables: just enough of the format to load a program the way
 * QEMU's `-kernel` does (PT_LOAD segments at their physical addresses) and to find symbols such
 * as `tohost`. Every malformed input gives an ElfError with a one-line reason, never a RangeError
 * from a DataView.
 */

export class ElfError extends Error {
  override readonly name = "ElfError";
}

export interface ElfSegment {
  /** Physical load address (p_paddr), as QEMU uses for -kernel. */
  paddr: number;
  vaddr: number;
  /** Bytes from the file; the rest up to memSize is zero. */
  data: Uint8Array;
  memSize: number;
  flags: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
}

export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
  symbols: Map<string, ElfSymbol>;
}

const PT_LOAD = 1;
const EM_RISCV = 243;
const SHT_SYMTAB = 2;

/**
 * Bounds on the work the symbol table may cost, whatever the file says. A symbol's name is read
 * up to its NUL or this many bytes (longer names are skipped: no symbol the board looks up is
 * long), and all names together may not take more than MAX_NAME_SCAN_BYTES to read: a table of
 * symbols naming overlapping, unterminated strings would otherwise cost its size squared. Real
 * kernels (Linux: about 100 000 symbols of 20-odd bytes) stay far below both.
 */
export const MAX_SYMBOL_NAME_BYTES = 1024;
export const MAX_NAME_SCAN_BYTES = 32 * 1048576;

export function parseElf(bytes: Uint8Array): ElfImage {
  if (bytes.length < 52) throw new ElfError(`not an ELF file: only ${bytes.length} bytes`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError("not an ELF file: bad magic number");
  }
  if (bytes[4] !== 1) throw new ElfError(`not a 32-bit ELF file (class ${bytes[4]}): matryoshka runs RV32 only`);
  if (bytes[5] !== 1) throw new ElfError("not a little-endian ELF file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  if (machine !== EM_RISCV) throw new ElfError(`not a RISC-V ELF file (machine ${machine})`);
  if (type !== 2) throw new ElfError(`not an executable ELF file (type ${type})`);
  const entry = view.getUint32(24, true);
  const phoff = view.getUint32(28, true);
  const shoff = view.getUint32(32, true);
  const phentsize = view.getUint16(42, true);
  const phnum = view.getUint16(44, true);
  const shentsize = view.getUint16(46, true);
  const shnum = view.getUint16(48, true);

  const within = (offset: number, length: number) => offset >= 0 && length >= 0 && offset + length <= bytes.length;

  if (phnum === 0) throw new ElfError("ELF file has no program headers");
  if (phentsize < 32 || !within(phoff, phentsize * phnum)) throw new ElfError("ELF program headers lie outside the file");
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (view.getUint32(at, true) !== PT_LOAD) continue;
    const offset = view.getUint32(at + 4, true);
    const vaddr = view.getUint32(at + 8, true);
    const paddr = view.getUint32(at + 12, true);
    const fileSize = view.getUint32(at + 16, true);
    const memSize = view.getUint32(at + 20, true);
    const flags = view.getUint32(at + 24, true);
    if (!within(offset, fileSize)) throw new ElfError(`ELF segment ${i} data lies outside the file`);
    if (fileSize > memSize) throw new ElfError(`ELF segment ${i} has more file bytes than memory bytes`);
    if (paddr + memSize > 0x1_0000_0000) throw new ElfError(`ELF segment ${i} extends past 4 GiB`);
    if (memSize === 0) continue;
    segments.push({ paddr, vaddr, data: bytes.subarray(offset, offset + fileSize), memSize, flags });
  }
  if (segments.length === 0) throw new ElfError("ELF file has nothing to load");
  checkNoOverlap(segments);

  const symbols = new Map<string, ElfSymbol>();
  if (shoff !== 0 && shnum !== 0) {
    if (shentsize < 40 || !within(shoff, shentsize * shnum)) throw new ElfError("ELF section headers lie outside the file");
    let symbolTable: number | undefined;
    for (let i = 0; i < shnum; i++) {
      if (view.getUint32(shoff + i * shentsize + 4, true) !== SHT_SYMTAB) continue;
      // "Currently, an object file may have only one section of each type" (System V ABI, ch. 4,
      // SHT_SYMTAB): a second table would only multiply the work.
      if (symbolTable !== undefined) throw new ElfError(`ELF file has more than one symbol table (sections ${symbolTable} and ${i})`);
      symbolTable = i;
    }
    if (symbolTable !== undefined) readSymbols(bytes, view, shoff + symbolTable * shentsize, shoff, shentsize, shnum, symbols);
  }
  return { entry, segments, symbols };
}

/**
 * Refuses segments that overlap in physical memory, as QEMU does ("rom: requested regions
 * overlap"), before anything is loaded: loading zero-fills each segment, so 1 000 overlapping
 * 128 MiB segments would otherwise cost minutes of host time before any error. Without overlap
 * the segments add up to at most 4 GiB, and to at most RAM once the board checks they lie in it.
 */
function checkNoOverlap(segments: readonly ElfSegment[]): void {
  const sorted = [...segments].sort((a, b) => a.paddr - b.paddr);
  for (let i = 1; i < sorted.length; i++) {
    const before = sorted[i - 1]!;
    const after = sorted[i]!;
    if (after.paddr < before.paddr + before.memSize) {
      throw new ElfError(
        `ELF segments overlap: 0x${before.paddr.toString(16)} (${before.memSize} bytes) and 0x${after.paddr.toString(16)} (${after.memSize} bytes)`,
      );
    }
  }
}

const utf8 = new TextDecoder();

/** The symbols of the table whose section header is at `header`, with bounded work (see MAX_NAME_SCAN_BYTES). */
function readSymbols(bytes: Uint8Array, view: DataView, header: number, shoff: number, shentsize: number, shnum: number, symbols: Map<string, ElfSymbol>): void {
  const within = (offset: number, length: number) => offset >= 0 && length >= 0 && offset + length <= bytes.length;
  const offset = view.getUint32(header + 16, true);
  const size = view.getUint32(header + 20, true);
  const link = view.getUint32(header + 24, true);
  const entsize = view.getUint32(header + 36, true) || 16;
  if (link >= shnum) throw new ElfError("ELF symbol table names a missing string table");
  const strAt = shoff + link * shentsize;
  const strOffset = view.getUint32(strAt + 16, true);
  const strSize = view.getUint32(strAt + 20, true);
  if (!within(offset, size) || !within(strOffset, strSize) || entsize < 16) {
    throw new ElfError("ELF symbol table lies outside the file");
  }
  const tableEnd = strOffset + strSize;
  let scanned = 0;
  for (let s = 0; s + entsize <= size; s += entsize) {
    const nameOffset = view.getUint32(offset + s, true);
    if (nameOffset === 0 || nameOffset >= strSize) continue;
    const start = strOffset + nameOffset;
    const limit = Math.min(tableEnd, start + MAX_SYMBOL_NAME_BYTES + 1);
    let end = start;
    while (end < limit && bytes[end] !== 0) end++;
    scanned += end - start;
    if (scanned > MAX_NAME_SCAN_BYTES) {
      throw new ElfError(`ELF symbol names take more than ${MAX_NAME_SCAN_BYTES / 1048576} MiB to read (overlapping or unterminated strings)`);
    }
    // A name without its NUL within the bound is not one the board looks for: skip it.
    if (end - start > MAX_SYMBOL_NAME_BYTES) continue;
    const name = utf8.decode(bytes.subarray(start, end));
    symbols.set(name, { name, value: view.getUint32(offset + s + 4, true), size: view.getUint32(offset + s + 8, true) });
  }
}
