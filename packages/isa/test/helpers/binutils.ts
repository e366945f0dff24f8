/*
 * Runs GNU as/objdump (riscv64-unknown-elf-*, binutils 2.40 on Debian 12) for the differential
 * tests and parses objdump's listings.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const AS = "riscv64-unknown-elf-as";
export const OBJDUMP = "riscv64-unknown-elf-objdump";
export const READELF = "riscv64-unknown-elf-readelf";

/** The binutils version whose output the disassembler reproduces. */
export const EXPECTED_BINUTILS_VERSION = "2.40";

/**
 * Whether the tools are installed, or why the differential tests skip. Other binutils versions
 * print some instructions differently (aliases, CSR names), so only 2.40 is compared against.
 */
export function binutilsAvailability(): { available: true } | { available: false; reason: string } {
  for (const tool of [AS, OBJDUMP, READELF]) {
    const probe = spawnSync(tool, ["--version"], { encoding: "utf8" });
    if (probe.error || probe.status !== 0) {
      const install = "apt-get install binutils-riscv64-unknown-elf";
      return { available: false, reason: `${tool} not installed: skipping (${install})` };
    }
    const version = probe.stdout.split("\n")[0]!.trim().split(" ").pop() ?? "";
    if (version !== EXPECTED_BINUTILS_VERSION && !version.startsWith(`${EXPECTED_BINUTILS_VERSION}.`)) {
      const expected = EXPECTED_BINUTILS_VERSION;
      return { available: false, reason: `${tool} is ${version}, not ${expected}, whose output is expected: skipping` };
    }
  }
  return { available: true };
}

function run(tool: string, args: string[]): string {
  const result = spawnSync(tool, args, { encoding: "utf8", maxBuffer: 1 << 30 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${tool} ${args.join(" ")} failed:\n${result.stderr}`);
  return result.stdout;
}

/** A scratch directory, removed by `dispose`. */
export function scratchDirectory(): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), "matryoshka-isa-"));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

export const MARCH_WITH_C = "rv32imac_zicsr_zifencei";
export const MARCH_WITHOUT_C = "rv32ima_zicsr_zifencei";

/** Assembles a source file into an object file. */
export function assemble(sourcePath: string, objectPath: string, march: string, extraArgs: string[] = []): void {
  run(AS, [`-march=${march}`, "-mabi=ilp32", ...extraArgs, "-o", objectPath, sourcePath]);
}

/**
 * Assembles raw encodings with `.insn` (which emits them as instructions, so objdump decodes
 * them rather than printing them as data) into an object file whose ELF attributes name `march`.
 * `prologue` lines go first (for example an instruction naming a CSR, which makes gas record the
 * privileged spec version in the attributes).
 */
export function assembleWords(
  words: Iterable<number>,
  objectPath: string,
  options: { march?: string; extraArgs?: string[]; prologue?: string[] } = {},
): void {
  const lines = [".text", ".option norelax", ...(options.prologue ?? [])];
  for (const word of words) lines.push(`.insn 0x${(word >>> 0).toString(16)}`);
  const sourcePath = `${objectPath}.S`;
  writeFileSync(sourcePath, `${lines.join("\n")}\n`);
  assemble(sourcePath, objectPath, options.march ?? MARCH_WITH_C, options.extraArgs);
}

/** One instruction line of an objdump listing. */
export interface ListedInstruction {
  /** The section it was disassembled from, e.g. ".text". */
  section: string;
  address: number;
  /** The encoding (16 bits for a compressed one). */
  raw: number;
  length: 2 | 4;
  /** Everything after the raw-bytes column, e.g. "addi\tsp,sp,-16". */
  text: string;
}

export interface Listing {
  instructions: ListedInstruction[];
  /** Per section, the symbols objdump shows as `<label>:` lines, by address. */
  labels: Map<string, Map<number, string>>;
  /**
   * Per section, every `address <symbol>` objdump printed in operands or notes: what it calls
   * each address. objdump prefers symbols of the section being disassembled, so the same address
   * can have different names in different sections.
   */
  annotations: Map<string, Map<number, string>>;
}

const SECTION_LINE = /^Disassembly of section (.+):$/;
const INSTRUCTION_LINE = /^ *([0-9a-f]+):\t([0-9a-f]+) +\t(.*)$/;
const LABEL_LINE = /^([0-9a-f]+) <(.+)>:$/;
const ANNOTATION = /\b([0-9a-f]+) <([^>]+)>/g;

function sectionMap<V>(maps: Map<string, Map<number, V>>, section: string): Map<number, V> {
  let map = maps.get(section);
  if (map === undefined) {
    map = new Map();
    maps.set(section, map);
  }
  return map;
}

/** Runs `objdump <args> <file>` and parses the listing. Data lines (.word/.short/.byte) are skipped. */
export function objdump(file: string, args: string[] = ["-d"]): Listing {
  const listing: Listing = { instructions: [], labels: new Map(), annotations: new Map() };
  let section = "";
  for (const line of run(OBJDUMP, [...args, file]).split("\n")) {
    const sectionStart = SECTION_LINE.exec(line);
    if (sectionStart) {
      section = sectionStart[1]!;
      continue;
    }
    const label = LABEL_LINE.exec(line);
    if (label) {
      sectionMap(listing.labels, section).set(parseInt(label[1]!, 16), label[2]!);
      continue;
    }
    const match = INSTRUCTION_LINE.exec(line);
    if (!match) continue;
    const [, address, bytes, text] = match as unknown as [string, string, string, string];
    // objdump's names for data that mapping symbols mark inside code; not instructions.
    if (/^\.(word|short|byte)\b/.test(text)) continue;
    if (bytes.length !== 4 && bytes.length !== 8) continue;
    listing.instructions.push({
      section,
      address: parseInt(address, 16),
      raw: parseInt(bytes, 16),
      length: bytes.length === 4 ? 2 : 4,
      text,
    });
    const annotations = sectionMap(listing.annotations, section);
    for (const note of text.matchAll(ANNOTATION)) annotations.set(parseInt(note[1]!, 16), note[2]!);
  }
  return listing;
}

/** The value of a symbol in an object file's symbol table (`objdump -t`), if it has one. */
export function symbolValue(file: string, name: string): number | undefined {
  for (const line of run(OBJDUMP, ["-t", file]).split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[fields.length - 1] === name) return parseInt(fields[0]!, 16);
  }
  return undefined;
}

/**
 * objdump's names for addresses while it disassembles `section`, rebuilt from a listing: within
 * the section's code, the nearest `<label>:` at or below the address (`label` or `label+0x10`),
 * or the first label with a negative offset for addresses before it; elsewhere (data, other
 * sections, whose symbols the listing does not show as labels), the name objdump itself printed
 * for that address in this section.
 */
export function listingSymbolizer(listing: Listing, section: string): (address: number) => string | undefined {
  const labels = [...(listing.labels.get(section) ?? [])].sort((a, b) => a[0] - b[0]);
  const annotations = listing.annotations.get(section) ?? new Map<number, string>();
  const code = listing.instructions.filter((line) => line.section === section);
  const first = code[0]?.address ?? 0;
  const last = code[code.length - 1];
  const end = last === undefined ? 0 : last.address + last.length;
  return (address) => {
    if (labels.length === 0 || address < first || address >= end) return annotations.get(address);
    let chosen = labels[0]!;
    for (const label of labels) {
      if (label[0] > address) break;
      chosen = label;
    }
    const offset = address - chosen[0];
    if (offset === 0) return chosen[1];
    return offset > 0 ? `${chosen[1]}+0x${offset.toString(16)}` : `${chosen[1]}-0x${(-offset).toString(16)}`;
  };
}

/** What objdump takes from an ELF's .riscv.attributes: the privileged spec and whether C is in. */
export interface ElfAttributes {
  privSpec: "1.11" | "1.12";
  compressed: boolean;
}

export function elfAttributes(file: string): ElfAttributes {
  const text = run(READELF, ["-A", file]);
  const major = /Tag_RISCV_priv_spec: (\d+)/.exec(text)?.[1];
  const minor = /Tag_RISCV_priv_spec_minor: (\d+)/.exec(text)?.[1];
  const version = major === undefined ? undefined : `${major}.${minor ?? 0}`;
  if (version !== undefined && version !== "1.11" && version !== "1.12") {
    throw new Error(`${file}: privileged spec ${version} is not supported by the disassembler`);
  }
  const arch = /Tag_RISCV_arch: "([^"]*)"/.exec(text)?.[1] ?? "";
  // The canonical arch string lists each extension with its version, e.g. rv32i2p1_m2p0_a2p1_c2p0.
  const compressed = /(^|_)c\d+p\d+/.test(arch);
  return { privSpec: version ?? "1.12", compressed };
}

/**
 * The regions of code that mapping symbols `$x<isa>` (gas 2.40 emits them when `.option arch` or
 * `.option norvc`/`rvc` changes the architecture) give their own architecture, by start address:
 * objdump disassembles each region for its architecture, so for example 16-bit encodings in a
 * `.option norvc` region print as `.2byte` (the linker may still have relaxed calls into c.jal).
 */
export function compressedRegions(file: string): { address: number; compressed: boolean }[] {
  const regions: { address: number; compressed: boolean }[] = [];
  for (const line of run(READELF, ["-sW", file]).split("\n")) {
    const fields = line.trim().split(/\s+/);
    const name = fields[7];
    if (fields.length < 8 || name === undefined || !name.startsWith("$xrv")) continue;
    const arch = name.slice(2).replace(/\.\d+$/, "");
    regions.push({ address: parseInt(fields[1]!, 16), compressed: /(^|_)c\d+p\d+/.test(arch) });
  }
  return regions.sort((a, b) => a.address - b.address);
}
