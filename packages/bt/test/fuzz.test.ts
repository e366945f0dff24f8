import { describe, expect, it } from "vitest";
import { CSR, encode, Op, type CompressedForm, type InstructionFields } from "@matryoshka/isa";
import { pair, place, RAM_BASE, snapshot, type Item, type Rig } from "./harness.js";

/*
 * Random valid instruction streams, run on the interpreter and on the translator by the same
 * random budgets, must leave the same registers, pc, counters, trap CSRs and memory after every
 * budget. The streams mix ALU and M-extension operations, compressed forms, loads and stores
 * (aligned, misaligned, and to nowhere, which fault), forward and backward branches, jumps,
 * counter reads, ECALLs, and stores that patch the program's own instructions.
 */

/** mulberry32: a small seeded generator, so a failing seed can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CODE = RAM_BASE + 0x800; // the program crosses into the next page
const DATA = RAM_BASE + 0x10000;
const HANDLER = RAM_BASE + 0x8000;
// Registers: x2 data base, x3 code base, x20..x23 instruction words for patches, x24 a loop
// counter, x31 the handler's. The random instructions write only x5..x15.
const LOOP_REG = 24;
const DATA_REG = 2;
const CODE_REG = 3;
const PATCH_REGS = [20, 21, 22, 23];

const REG_IMM = [Op.ADDI, Op.SLTI, Op.SLTIU, Op.XORI, Op.ORI, Op.ANDI];
const SHIFT_IMM = [Op.SLLI, Op.SRLI, Op.SRAI];
const REG_REG = [
  Op.ADD, Op.SUB, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.SRA, Op.OR, Op.AND,
  Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU,
];
const LOADS = [Op.LW, Op.LH, Op.LHU, Op.LB, Op.LBU];
const STORES = [Op.SW, Op.SH, Op.SB];
const BRANCHES = [Op.BEQ, Op.BNE, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU];

/** An instruction whose encoding may depend on where things end up (branch targets). */
interface Slot {
  size: 2 | 4;
  /** A plain 4-byte ALU instruction: a patch may overwrite it with another. */
  patchable: boolean;
  encode: (at: number, addressOf: (index: number) => number) => Item;
}

function generate(seed: number, length: number): { program: Item[]; patchWords: number[] } {
  const rnd = random(seed);
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const int = (min: number, max: number) => min + Math.floor(rnd() * (max - min + 1));
  const dst = () => int(5, 15);
  const src = () => int(0, 15);
  const fixed = (item: Item, patchable = false): Slot => ({
    size: typeof item === "number" ? 4 : 2,
    patchable,
    encode: () => item,
  });
  const compressed = (c: CompressedForm, f: InstructionFields): Slot => fixed({ c, f });
  const slots: Slot[] = [];
  const patchSites: number[] = [];
  // A counted loop being generated: its first body instruction and where it closes.
  let loop: { start: number; closeAt: number } | undefined;
  for (let k = 0; k < length; k++) {
    const roll = rnd();
    const index = slots.length;
    if (loop !== undefined && index >= loop.closeAt) {
      const start = loop.start;
      slots.push(fixed(encode(Op.ADDI, { rd: LOOP_REG, rs1: LOOP_REG, imm: -1 })));
      slots.push({ size: 4, patchable: false, encode: (at, addressOf) => encode(Op.BNE, { rs1: LOOP_REG, rs2: 0, imm: addressOf(start) - at }) });
      loop = undefined;
      continue;
    }
    if (loop === undefined && rnd() < 0.04) {
      slots.push(fixed(encode(Op.ADDI, { rd: LOOP_REG, rs1: 0, imm: int(2, 25) })));
      loop = { start: index + 1, closeAt: index + 1 + int(3, 30) };
      continue;
    }
    if (roll < 0.3) {
      slots.push(fixed(encode(pick(REG_IMM), { rd: dst(), rs1: src(), imm: int(-2048, 2047) }), true));
    } else if (roll < 0.36) {
      slots.push(fixed(encode(pick(SHIFT_IMM), { rd: dst(), rs1: src(), imm: int(0, 31) }), true));
    } else if (roll < 0.5) {
      slots.push(fixed(encode(pick(REG_REG), { rd: dst(), rs1: src(), rs2: src() }), true));
    } else if (roll < 0.54) {
      slots.push(fixed(encode(pick([Op.LUI, Op.AUIPC]), { rd: dst(), imm: int(0, 0xfffff) * 4096 }), true));
    } else if (roll < 0.62) {
      const form = pick(["c.addi", "c.mv", "c.add", "c.li", "c.slli", "c.sub", "c.xor", "c.and", "c.andi"] as const);
      const r8 = int(8, 15);
      const fields: Record<string, InstructionFields> = {
        "c.addi": { rd: dst(), rs1: 0, imm: int(1, 31) },
        "c.mv": { rd: dst(), rs2: int(1, 15) },
        "c.add": { rd: dst(), rs2: int(1, 15) },
        "c.li": { rd: dst(), imm: int(-32, 31) },
        "c.slli": { rd: dst(), imm: int(1, 31) },
        "c.sub": { rd: r8, rs2: int(8, 15) },
        "c.xor": { rd: r8, rs2: int(8, 15) },
        "c.and": { rd: r8, rs2: int(8, 15) },
        "c.andi": { rd: r8, imm: int(-32, 31) },
      };
      const f = { ...fields[form]! };
      if (form === "c.addi" || form === "c.slli") f.rs1 = f.rd;
      if (form === "c.add") f.rs1 = f.rd;
      if (form === "c.sub" || form === "c.xor" || form === "c.and" || form === "c.andi") f.rs1 = f.rd;
      slots.push(compressed(form, f));
    } else if (roll < 0.72) {
      // Loads: mostly aligned in the data page, some misaligned, a few from nowhere (a fault).
      const op = pick(LOADS);
      const size = op === Op.LW ? 4 : op === Op.LB || op === Op.LBU ? 1 : 2;
      const nowhere = rnd() < 0.1;
      const offset = rnd() < 0.15 ? int(0, 2047) : int(0, Math.floor(2047 / size)) * size;
      slots.push(fixed(encode(op, { rd: dst(), rs1: nowhere ? 0 : DATA_REG, imm: nowhere ? int(0, 2047) : offset })));
    } else if (roll < 0.8) {
      const op = pick(STORES);
      const size = op === Op.SW ? 4 : op === Op.SB ? 1 : 2;
      const offset = rnd() < 0.15 ? int(0, 2047) : int(0, Math.floor(2047 / size)) * size;
      slots.push(fixed(encode(op, { rs1: DATA_REG, rs2: src(), imm: offset })));
    } else if (roll < 0.83) {
      // A store into the program: replaces a patchable instruction with another valid one.
      patchSites.push(index);
      slots.push({ size: 4, patchable: false, encode: () => 0 }); // filled in below
    } else if (roll < 0.91) {
      const op = pick(BRANCHES);
      const rs1 = src();
      const rs2 = src();
      // Mostly forward; the odd backward branch may loop for good (the budget bounds it).
      const target = rnd() < 0.97 ? index + int(1, 12) : Math.max(0, index - int(1, 8));
      slots.push({
        size: 4,
        patchable: false,
        encode: (at, addressOf) => encode(op, { rs1, rs2, imm: addressOf(target) - at }),
      });
    } else if (roll < 0.94) {
      const rd = rnd() < 0.5 ? 0 : dst();
      const target = index + int(1, 10);
      slots.push({ size: 4, patchable: false, encode: (at, addressOf) => encode(Op.JAL, { rd, imm: addressOf(target) - at }) });
    } else if (roll < 0.96) {
      slots.push(fixed(encode(Op.CSRRS, { rd: dst(), rs1: 0, csr: pick([CSR.mcycle, CSR.minstret, CSR.mcause]) })));
    } else if (roll < 0.975) {
      slots.push(fixed(encode(Op.ECALL)));
    } else {
      // auipc + jalr: an indirect jump a little way forward.
      const rd = rnd() < 0.5 ? 0 : dst();
      const target = index + 2 + int(0, 8);
      slots.push({ size: 4, patchable: false, encode: () => encode(Op.AUIPC, { rd: 4, imm: 0 }) });
      slots.push({ size: 4, patchable: false, encode: (at, addressOf) => encode(Op.JALR, { rd, rs1: 4, imm: addressOf(target) - (at - 4) }) });
      k++;
    }
  }
  const addresses: number[] = [];
  let at = CODE;
  for (const slot of slots) {
    addresses.push(at);
    at += slot.size;
  }
  const end = at;
  // Targets past the end land on the final spin loop.
  const addressOf = (index: number) => addresses[index] ?? end;
  const patchable = slots.map((slot, index) => (slot.patchable ? index : -1)).filter((index) => index >= 0);
  for (const site of patchSites) {
    const victim = patchable[Math.floor(rnd() * patchable.length)]!;
    const word = PATCH_REGS[Math.floor(rnd() * PATCH_REGS.length)]!;
    slots[site] = { size: 4, patchable: false, encode: () => encode(Op.SW, { rs1: CODE_REG, rs2: word, imm: addresses[victim]! - CODE }) };
  }
  const program = slots.map((slot, index) => slot.encode(addresses[index]!, addressOf));
  program.push(encode(Op.JAL, { rd: 0, imm: 0 }));
  const patchWords = PATCH_REGS.map(() => encode(pick([Op.ADDI, Op.XORI, Op.ORI]), { rd: dst(), rs1: src(), imm: int(-2048, 2047) }));
  return { program, patchWords };
}

/** mepc += 4 (every trapping instruction in the streams is 4 bytes long); mret. */
const SKIP_HANDLER: Item[] = [
  encode(Op.CSRRS, { rd: 31, rs1: 0, csr: CSR.mepc }),
  encode(Op.ADDI, { rd: 31, rs1: 31, imm: 4 }),
  encode(Op.CSRRW, { rd: 0, rs1: 31, csr: CSR.mepc }),
  encode(Op.MRET),
];

function prepare(r: Rig, program: Item[], patchWords: number[], seed: number): void {
  place(r.ram, CODE, program);
  place(r.ram, HANDLER, SKIP_HANDLER);
  const rnd = random(seed ^ 0x5eed);
  for (let k = 0; k < 4096; k += 4) r.ram.i32[(DATA - RAM_BASE + k) >> 2] = Math.floor(rnd() * 2 ** 32) | 0;
  const hart = r.hart;
  hart.reset(CODE);
  for (let reg = 1; reg < 32; reg++) hart.x[reg] = Math.floor(rnd() * 2 ** 32) | 0;
  hart.x[DATA_REG] = DATA | 0;
  hart.x[CODE_REG] = CODE | 0;
  PATCH_REGS.forEach((reg, k) => (hart.x[reg] = patchWords[k]! | 0));
  hart.mtvec = HANDLER | 0;
}

function memoryOf(r: Rig): Int32Array {
  return r.ram.i32.slice(0, (DATA - RAM_BASE + 0x1000) >> 2);
}

describe("fuzzing: random instruction streams on both engines", () => {
  const SEEDS = Array.from({ length: 40 }, (_, k) => 0x1000 + k * 7919);
  it.each(SEEDS)("seed %i: the same state after every budget", (seed) => {
    const { program, patchWords } = generate(seed, 400);
    const { interpreter, translator } = pair([]);
    prepare(interpreter, program, patchWords, seed);
    prepare(translator, program, patchWords, seed);
    const rnd = random(seed ^ 0xb0d6e7);
    let total = 0;
    while (total < 6000) {
      const budget = rnd() < 0.3 ? 1 + Math.floor(rnd() * 5) : 1 + Math.floor(rnd() * 700);
      const a = interpreter.engine.run(interpreter.hart, budget);
      const b = translator.engine.run(translator.hart, budget);
      expect(b, `stop reason after ${total} + ${budget}`).toBe(a);
      expect(snapshot(translator.hart), `state after ${total} + ${budget}`).toEqual(snapshot(interpreter.hart));
      total += budget;
    }
    expect(memoryOf(translator)).toEqual(memoryOf(interpreter));
    // The streams must really have been translated, not interpreted.
    expect(translator.engine.stats.blocksTranslated).toBeGreaterThan(0);
  });
});
