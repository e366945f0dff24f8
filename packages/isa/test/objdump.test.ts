/*
 * Differential tests against GNU binutils 2.40 (riscv64-unknown-elf-as/objdump/readelf): the
 * disassembler must print exactly what `objdump -d` prints, and the decoder must agree with
 * objdump on which encodings are instructions, except where objdump departs from the spec
 * (listed in `specDifference` below, each with its reason). Skipped, with a visible reason, when
 * the tools are not installed.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMPRESSED_FORMS, compressedForm, csrName, decode, Disassembler, encode, Op, opName } from "@matryoshka/isa";
import {
  assemble,
  assembleWords,
  binutilsAvailability,
  compressedRegions,
  elfAttributes,
  listingSymbolizer,
  MARCH_WITH_C,
  MARCH_WITHOUT_C,
  objdump,
  scratchDirectory,
  symbolValue,
  type Listing,
} from "./helpers/binutils.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/all-instructions.S", import.meta.url));
const GUESTS = fileURLToPath(new URL("../../../guests", import.meta.url));

const tools = binutilsAvailability();
if (!tools.available) {
  console.log(`[skip] objdump differential tests: ${tools.reason}`);
}

interface Mismatch {
  address: string;
  raw: string;
  objdump: string;
  ours: string;
}

/**
 * Disassembles every instruction of a listing in order with one `Disassembler` (as objdump does,
 * so the LUI/AUIPC address notes carry over) configured from the ELF, and returns the lines
 * where the text differs. `skip` excludes encodings with a documented difference.
 */
function compareListing(
  file: string,
  listing: Listing,
  skip: (raw: number, length: 2 | 4) => boolean = () => false,
): Mismatch[] {
  const attributes = elfAttributes(file);
  // objdump names addresses differently depending on the section it is disassembling.
  const symbolizers = new Map<string, (address: number) => string | undefined>();
  let symbolizeInSection: (address: number) => string | undefined = () => undefined;
  const disassembler = new Disassembler({
    symbolize: (address) => symbolizeInSection(address),
    globalPointer: symbolValue(file, "__global_pointer$"),
    privSpec: attributes.privSpec,
    compressed: attributes.compressed,
  });
  const regions = compressedRegions(file);
  const sectionStarts = new Map<string, number>();
  for (const line of listing.instructions) {
    if (!sectionStarts.has(line.section)) sectionStarts.set(line.section, line.address);
  }
  const mismatches: Mismatch[] = [];
  for (const line of listing.instructions) {
    if (!symbolizers.has(line.section)) symbolizers.set(line.section, listingSymbolizer(listing, line.section));
    symbolizeInSection = symbolizers.get(line.section)!;
    // objdump disassembles code for the architecture of the last $x<isa> mapping symbol before it
    // in its section, or the ELF's when there is none.
    const start = sectionStarts.get(line.section)!;
    let compressed = attributes.compressed;
    for (const region of regions) {
      if (region.address > line.address) break;
      if (region.address >= start) compressed = region.compressed;
    }
    disassembler.compressed = compressed;
    const ours = disassembler.disassemble(line.raw, line.address);
    if (skip(line.raw, line.length)) continue;
    if (ours !== line.text) {
      mismatches.push({ address: line.address.toString(16), raw: line.raw.toString(16), objdump: line.text, ours });
    }
  }
  return mismatches;
}

/** Whether objdump's text says the encoding is not an instruction. */
function objdumpRejects(text: string, raw: number, length: 2 | 4): boolean {
  return /^\.(2|4)byte\t/.test(text) || (length === 2 && raw === 0 && text === "unimp");
}

/**
 * Encodings where objdump 2.40 and the specs (unpriv 20191213, priv 1.12) disagree on whether
 * they are instructions. For these the decoder follows the spec, and the disassembler prints
 * what the hart executes (`.2byte`/`.4byte` for an illegal one); the text is not compared.
 */
function specDifference(raw: number, length: 2 | 4): string | undefined {
  if (length === 2) {
    const c = raw & 0xffff;
    const quadrantFunct3 = ((c & 3) << 3) | (c >>> 13);
    const shamt5 = (c >>> 12) & 1;
    // RVC §16.5: for RV32C, c.slli/c.srli/c.srai with shamt[5] = 1 are reserved for custom
    // extensions (NSE). objdump decodes them as shifts by 32..63.
    if (quadrantFunct3 === 0b10_000 && shamt5 === 1) return "RV32C c.slli with shamt[5] = 1 is reserved (NSE)";
    if (quadrantFunct3 === 0b01_100 && ((c >>> 10) & 3) < 2 && shamt5 === 1) {
      return "RV32C c.srli/c.srai with shamt[5] = 1 is reserved (NSE)";
    }
    // RVC §16.5: c.addi16sp with nzimm = 0 is reserved. objdump prints `add sp,sp,0`.
    if (c === 0x6101) return "c.addi16sp with nzimm = 0 is reserved";
    return undefined;
  }
  const w = raw >>> 0;
  const opcode = w & 0x7f;
  const funct3 = (w >>> 12) & 7;
  // Unpriv §2.4: on RV32, SLLI/SRLI/SRAI with imm[5] = 1 are reserved. objdump decodes the RV64
  // 6-bit shift amount regardless of XLEN.
  const funct6 = w >>> 26;
  const shiftFunct6 = funct6 === 0 || (funct3 === 5 && funct6 === 0b010000);
  if (opcode === 0x13 && (funct3 === 1 || funct3 === 5) && ((w >>> 25) & 1) === 1 && shiftFunct6) {
    return "RV32 shift with imm[5] = 1 is reserved";
  }
  // Priv 1.12 has no URET (the N extension was dropped), DRET exists only in debug mode, and
  // SFENCE.VM and HRET are from priv 1.9.1. objdump still knows all four.
  if (w === 0x00200073) return "uret: N extension not in priv 1.12";
  if (w === 0x7b200073) return "dret: only legal in debug mode";
  if (w === 0x10400073) return "sfence.vm: priv 1.9.1 only";
  if (w === 0x20200073) return "hret: priv 1.9.1 only";
  // Unpriv §2.7: FENCE's fm values other than 0000 and FENCE.TSO's 1000, and its rd/rs1 fields,
  // are reserved and must be ignored (the instruction is a FENCE). objdump prints `.4byte`.
  if (opcode === 0x0f && funct3 === 0) {
    const canonical = (w & 0xf00fff80) === 0 || (w & 0xfff0ff80) === 0x83300000;
    return canonical ? undefined : "fence with reserved fm/rd/rs1 is still a fence";
  }
  // Unpriv ch. 3 (Zifencei): FENCE.I's imm, rs1 and rd fields are reserved and must be ignored.
  if (opcode === 0x0f && funct3 === 1 && w !== 0x0000100f) return "fence.i with reserved fields is still fence.i";
  return undefined;
}

function hasSpecDifference(raw: number, length: 2 | 4): boolean {
  return specDifference(raw, length) !== undefined;
}

/** The decoder's verdict in the spec-difference cases: illegal, except for the fence forms. */
function specSaysLegal(raw: number, length: 2 | 4): boolean {
  const reason = specDifference(raw, length) ?? "";
  return reason.startsWith("fence");
}

function* allCompressedHalfwords(): Generator<number> {
  for (let c = 0; c < 0x10000; c++) if ((c & 3) !== 3) yield c;
}

/** A reproducible xorshift32 generator. */
function random32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

/**
 * 32-bit encodings (length 4, so no 48-bit-or-longer prefixes): half uniformly random, half with a
 * major opcode of ours (and funct3/funct7 patterns that are likely to be legal) so that every
 * instruction is exercised with many operand values.
 */
function randomWords(count: number): number[] {
  const next = random32(0x5eed1234);
  const ourOpcodes = [0x03, 0x0f, 0x13, 0x17, 0x23, 0x2f, 0x33, 0x37, 0x63, 0x67, 0x6f, 0x73];
  const words: number[] = [];
  while (words.length < count) {
    let word = next() | 3;
    if (words.length % 2 === 1) {
      word = (word & ~0x7f) | ourOpcodes[next() % ourOpcodes.length]!;
      const shape = next() % 4;
      if (shape === 0) word &= ~0xfe000000; // funct7 = 0
      if (shape === 1) word = (word & ~0xfe000000) | 0x02000000; // funct7 = 1 (M)
      if (shape === 2) word = (word & ~0xf8000000) | ((next() % 32) << 27); // AMO funct5 spread
    }
    if ((word & 0x1c) === 0x1c) continue;
    words.push(word >>> 0);
  }
  return words;
}

function findElfFiles(directory: string): string[] {
  if (!existsSync(directory)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(directory)) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) found.push(...findElfFiles(path));
    else if (entry.endsWith(".elf")) found.push(path);
  }
  return found.sort();
}

describe.skipIf(!tools.available)("objdump differential (binutils 2.40)", () => {
  let scratch: ReturnType<typeof scratchDirectory>;
  beforeAll(() => {
    scratch = scratchDirectory();
  });
  afterAll(() => scratch?.dispose());

  it("prints every line of the fixture as objdump does, with the C extension (priv spec 1.11 attributes)", () => {
    const object = join(scratch.path, "fixture-c.o");
    assemble(FIXTURE, object, MARCH_WITH_C, ["--defsym", "HAVE_C=1"]);
    const listing = objdump(object);
    expect(elfAttributes(object)).toEqual({ privSpec: "1.11", compressed: true });
    expect(compareListing(object, listing)).toEqual([]);

    // The fixture must exercise every operation and every RV32C form.
    const ops = new Set(listing.instructions.map((line) => opName(decode(line.raw).op)));
    const missing = Object.values(Op).filter((op) => !ops.has(opName(op)));
    expect(missing.map(opName)).toEqual([]);
    const compressed = listing.instructions.filter((line) => line.length === 2);
    const forms = new Set(compressed.map((line) => compressedForm(line.raw)));
    expect(COMPRESSED_FORMS.filter((form) => !forms.has(form))).toEqual([]);
    expect(listing.instructions.length).toBeGreaterThan(350);
  });

  it("prints every line of the fixture as objdump does, without the C extension (priv spec 1.12 attributes)", () => {
    const object = join(scratch.path, "fixture.o");
    assemble(FIXTURE, object, MARCH_WITHOUT_C, ["-mpriv-spec=1.12"]);
    const listing = objdump(object);
    expect(elfAttributes(object)).toEqual({ privSpec: "1.12", compressed: false });
    expect(compareListing(object, listing)).toEqual([]);
    expect(listing.instructions.every((line) => line.length === 4)).toBe(true);
    expect(listing.instructions.length).toBeGreaterThan(300);
  });

  it("prints every line of the guest ELFs under guests/ as objdump does", () => {
    const elves = findElfFiles(GUESTS);
    if (elves.length === 0) {
      console.log(`[skip] no guest ELF files under ${GUESTS}`);
      return;
    }
    for (const elf of elves) {
      const listing = objdump(elf);
      expect(listing.instructions.length).toBeGreaterThan(0);
      expect({ elf, mismatches: compareListing(elf, listing) }).toEqual({ elf, mismatches: [] });
    }
  });

  it("agrees with objdump on all 49152 16-bit encodings, apart from the documented spec differences", () => {
    const object = join(scratch.path, "all-16-bit.o");
    const halfwords = [...allCompressedHalfwords()];
    assembleWords(halfwords, object);
    // -z: print the all-zero halfword too instead of eliding it as "...".
    const listing = objdump(object, ["-d", "-z"]);
    expect(listing.instructions.map((line) => line.raw)).toEqual(halfwords);

    const verdictMismatches: string[] = [];
    const differences = new Map<string, number>();
    for (const line of listing.instructions) {
      const reason = specDifference(line.raw, 2);
      const ourLegal = decode(line.raw).op !== Op.ILLEGAL;
      const objdumpLegal = !objdumpRejects(line.text, line.raw, 2);
      if (reason !== undefined) {
        differences.set(reason, (differences.get(reason) ?? 0) + 1);
        // Keeps the list honest: these really are encodings where objdump and the spec differ.
        if (ourLegal !== specSaysLegal(line.raw, 2) || objdumpLegal === ourLegal) {
          verdictMismatches.push(`${line.raw.toString(16)} (${reason})`);
        }
      } else if (ourLegal !== objdumpLegal) {
        verdictMismatches.push(`${line.raw.toString(16)}: objdump "${line.text}"`);
      }
    }
    expect(verdictMismatches).toEqual([]);
    expect(Object.fromEntries(differences)).toEqual({
      "RV32C c.slli with shamt[5] = 1 is reserved (NSE)": 1024, // 32 rd x 32 shamt
      "RV32C c.srli/c.srai with shamt[5] = 1 is reserved (NSE)": 512, // 2 x 8 rd' x 32 shamt
      "c.addi16sp with nzimm = 0 is reserved": 1,
    });
    expect(compareListing(object, listing, hasSpecDifference)).toEqual([]);
  });

  it("agrees with objdump on 200000 random 32-bit encodings, apart from the documented spec differences", () => {
    const object = join(scratch.path, "random-32-bit.o");
    const words = randomWords(200_000);
    assembleWords(words, object);
    // Place the code at 0x80000000 like the guests, so addresses use all 32 bits.
    const listing = objdump(object, ["-d", "--adjust-vma=0x80000000"]);
    expect(listing.instructions.map((line) => line.raw)).toEqual(words);

    const verdictMismatches: string[] = [];
    let legal = 0;
    for (const line of listing.instructions) {
      const reason = specDifference(line.raw, 4);
      const ourLegal = decode(line.raw).op !== Op.ILLEGAL;
      const objdumpLegal = !objdumpRejects(line.text, line.raw, 4);
      if (ourLegal) legal++;
      if (reason !== undefined) {
        if (ourLegal !== specSaysLegal(line.raw, 4) || objdumpLegal === ourLegal) {
          verdictMismatches.push(`${line.raw.toString(16)} (${reason})`);
        }
      } else if (ourLegal !== objdumpLegal) {
        verdictMismatches.push(`${line.raw.toString(16)}: objdump "${line.text}"`);
      }
    }
    expect(verdictMismatches.slice(0, 20)).toEqual([]);
    expect(legal).toBeGreaterThan(50_000); // the opcode bias makes about half of them legal
    expect(compareListing(object, listing, hasSpecDifference).slice(0, 20)).toEqual([]);
  });

  it("names all 4096 CSR numbers as objdump does, for priv specs 1.11 and 1.12", () => {
    for (const privSpec of ["1.11", "1.12"] as const) {
      const object = join(scratch.path, `csrs-${privSpec}.o`);
      // csrrs a0, <csr>, a1: no alias applies, so objdump prints the CSR operand as it names it.
      const words = Array.from({ length: 4096 }, (_, csr) => encode(Op.CSRRS, { rd: 10, rs1: 11, csr }));
      // An instruction naming a CSR makes gas record the priv spec in the ELF attributes.
      assembleWords(words, object, { extraArgs: [`-mpriv-spec=${privSpec}`], prologue: ["csrr a0, mstatus"] });
      expect(elfAttributes(object).privSpec).toBe(privSpec);
      const listing = objdump(object);
      const names = listing.instructions.slice(1).map((line) => line.text.split(",")[1]);
      const ours = Array.from({ length: 4096 }, (_, csr) => csrName(csr, privSpec) ?? `0x${csr.toString(16)}`);
      expect({ privSpec, names }).toEqual({ privSpec, names: ours });
    }
  });
});
