import { describe, expect, it } from "vitest";
import {
  ALL_OPS,
  COMPRESSED_FORMS,
  compressedForm,
  decode,
  encode,
  encodeCompressed,
  Op,
  opName,
  type CompressedForm,
  type Instruction,
  type InstructionFields,
} from "@matryoshka/isa";

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

const next = random32(0xc0ffee);
const register = (): number => next() % 32;
const between = (min: number, max: number): number => min + (next() % (max - min + 1));
const signed12 = (): number => between(-2048, 2047);

/**
 * Operand generators per operation, written from the instruction formats (unpriv ch. 24)
 * independently of the encoder's own tables. Extreme values are mixed in.
 */
function operandsFor(op: Op): InstructionFields {
  const extreme = next() % 4 === 0;
  switch (op) {
    case Op.LUI:
    case Op.AUIPC:
      return { rd: register(), imm: extreme ? -0x80000000 : (next() & 0xfffff000) | 0 };
    case Op.JAL:
      return { rd: register(), imm: extreme ? -1048576 : between(-524288, 524287) * 2 };
    case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU:
      return { rs1: register(), rs2: register(), imm: extreme ? 4094 : between(-2048, 2047) * 2 };
    case Op.SB: case Op.SH: case Op.SW:
      return { rs1: register(), rs2: register(), imm: extreme ? -2048 : signed12() };
    case Op.SLLI: case Op.SRLI: case Op.SRAI:
      return { rd: register(), rs1: register(), imm: extreme ? 31 : between(0, 31) };
    case Op.JALR: case Op.LB: case Op.LH: case Op.LW: case Op.LBU: case Op.LHU:
    case Op.ADDI: case Op.SLTI: case Op.SLTIU: case Op.XORI: case Op.ORI: case Op.ANDI:
      return { rd: register(), rs1: register(), imm: extreme ? 2047 : signed12() };
    case Op.FENCE:
      return { imm: between(0, 0xfff) };
    case Op.FENCE_I: case Op.ECALL: case Op.EBREAK: case Op.MRET: case Op.SRET: case Op.WFI:
      return {};
    case Op.SFENCE_VMA:
      return { rs1: register(), rs2: register() };
    case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
      return { rd: register(), rs1: register(), csr: extreme ? 0xfff : between(0, 0xfff) };
    case Op.LR_W:
      return { rd: register(), rs1: register(), aqrl: between(0, 3) };
    case Op.SC_W: case Op.AMOSWAP_W: case Op.AMOADD_W: case Op.AMOXOR_W: case Op.AMOAND_W: case Op.AMOOR_W:
    case Op.AMOMIN_W: case Op.AMOMAX_W: case Op.AMOMINU_W: case Op.AMOMAXU_W:
      return { rd: register(), rs1: register(), rs2: register(), aqrl: between(0, 3) };
    default: // the R-type ALU and M operations
      return { rd: register(), rs1: register(), rs2: register() };
  }
}

function expected(op: Op, fields: InstructionFields, raw: number, length: 2 | 4 = 4): Instruction {
  return { op, rd: 0, rs1: 0, rs2: 0, imm: 0, csr: 0, aqrl: 0, ...fields, length, raw };
}

describe("encode", () => {
  it("builds hand-checked encodings", () => {
    expect(encode(Op.ADD, { rd: 10, rs1: 11, rs2: 12 })).toBe(0x00c58533);
    expect(encode(Op.ADDI, { rd: 1, rs1: 2, imm: -5 })).toBe(0xffb10093);
    expect(encode(Op.SW, { rs1: 2, rs2: 10, imm: -4 })).toBe(0xfea12e23);
    expect(encode(Op.BNE, { rs1: 10, rs2: 11, imm: 4094 })).toBe(0x7eb51fe3);
    expect(encode(Op.JAL, { rd: 1, imm: -2 })).toBe(0xfffff0ef);
    expect(encode(Op.LUI, { rd: 10, imm: 0x80001000 })).toBe(0x80001537);
    expect(encode(Op.LUI, { rd: 10, imm: 0x80001000 | 0 })).toBe(0x80001537); // signed view
    expect(encode(Op.SRAI, { rd: 10, rs1: 11, imm: 31 })).toBe(0x41f5d513);
    expect(encode(Op.CSRRW, { rd: 10, rs1: 11, csr: 0x300 })).toBe(0x30059573);
    expect(encode(Op.CSRRSI, { rs1: 8, csr: 0x300 })).toBe(0x30046073);
    expect(encode(Op.LR_W, { rd: 10, rs1: 11, aqrl: 2 })).toBe(0x1405a52f);
    expect(encode(Op.FENCE, { imm: 0x0ff })).toBe(0x0ff0000f);
    expect(encode(Op.FENCE_I)).toBe(0x0000100f);
    expect(encode(Op.MRET)).toBe(0x30200073);
    expect(encode(Op.SFENCE_VMA, { rs1: 10, rs2: 11 })).toBe(0x12b50073);
  });

  it("round-trips through decode for every operation", () => {
    const ops = ALL_OPS.filter((op) => op !== Op.ILLEGAL);
    expect(ops).toHaveLength(70);
    for (const op of ops) {
      for (let i = 0; i < 300; i++) {
        const fields = operandsFor(op);
        const raw = encode(op, fields);
        const name = opName(op);
        expect({ name, decoded: decode(raw) }).toEqual({ name, decoded: expected(op, fields, raw) });
        // and decoded fields encode back to the same word
        expect(encode(op, decode(raw))).toBe(raw);
      }
    }
  });

  it("rejects out-of-range and misaligned operands with a RangeError naming the problem", () => {
    const cases: [() => number, RegExp][] = [
      [() => encode(Op.ADDI, { rd: 1, imm: 2048 }), /addi: immediate must be an integer in -2048\.\.2047, got 2048/],
      [() => encode(Op.LW, { rd: 1, imm: -2049 }), /lw: immediate must be an integer in -2048\.\.2047/],
      [() => encode(Op.SB, { rs2: 1, imm: 4096 }), /sb: immediate/],
      [() => encode(Op.BEQ, { imm: 3 }), /beq: immediate must be a multiple of 2, got 3/],
      [() => encode(Op.BEQ, { imm: 4096 }), /beq: immediate must be an integer in -4096\.\.4094/],
      [() => encode(Op.JAL, { imm: 1 << 20 }), /jal: immediate must be an integer in -1048576\.\.1048574/],
      [() => encode(Op.JAL, { imm: 5 }), /jal: immediate must be a multiple of 2/],
      [() => encode(Op.LUI, { imm: 0x1234 }), /lui: immediate must be a 32-bit multiple of 4096/],
      [() => encode(Op.AUIPC, { imm: 2 ** 32 }), /auipc: immediate/],
      [() => encode(Op.SLLI, { imm: 32 }), /slli: shift amount must be an integer in 0\.\.31, got 32/],
      [() => encode(Op.ADD, { rd: 32 }), /add: rd must be a register number 0\.\.31, got 32/],
      [() => encode(Op.ADD, { rs2: -1 }), /add: rs2 must be a register number/],
      [() => encode(Op.CSRRW, { csr: 4096 }), /csrrw: csr must be an integer in 0\.\.4095/],
      [() => encode(Op.CSRRWI, { rs1: 32 }), /csrrwi: rs1 must be a register number/],
      [() => encode(Op.AMOADD_W, { aqrl: 4 }), /amoadd\.w: aqrl must be an integer in 0\.\.3/],
      [() => encode(Op.FENCE, { imm: -1 }), /fence: fm\/pred\/succ \(imm\) must be an integer in 0\.\.4095/],
      [() => encode(Op.ADDI, { rs2: 5 }), /addi: has no rs2 operand \(got 5\)/],
      [() => encode(Op.LR_W, { rd: 1, rs2: 3 }), /lr\.w: has no rs2 operand/],
      [() => encode(Op.ECALL, { rd: 1 }), /ecall: has no rd operand/],
      [() => encode(Op.ADD, { imm: 1.5 }), /add: has no imm operand/],
      [() => encode(Op.ADDI, { imm: 1.5 }), /addi: immediate must be an integer/],
      [() => encode(Op.ILLEGAL), /illegal \(op 1\) has no encoding/],
    ];
    for (const [attempt, message] of cases) {
      expect(attempt).toThrow(RangeError);
      expect(attempt).toThrow(message);
    }
  });
});

/** What each RV32C form expands to (unpriv table 16.5-16.7), given the form's free operands. */
interface CompressedOperands {
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
}

function expansion(form: CompressedForm, f: CompressedOperands): Partial<Instruction> {
  switch (form) {
    case "c.addi4spn": return { op: Op.ADDI, rd: f.rd, rs1: 2, imm: f.imm };
    case "c.lw": return { op: Op.LW, rd: f.rd, rs1: f.rs1, imm: f.imm };
    case "c.sw": return { op: Op.SW, rs1: f.rs1, rs2: f.rs2, imm: f.imm };
    case "c.nop": return { op: Op.ADDI, imm: f.imm };
    case "c.addi": return { op: Op.ADDI, rd: f.rd, rs1: f.rd, imm: f.imm };
    case "c.jal": return { op: Op.JAL, rd: 1, imm: f.imm };
    case "c.li": return { op: Op.ADDI, rd: f.rd, imm: f.imm };
    case "c.addi16sp": return { op: Op.ADDI, rd: 2, rs1: 2, imm: f.imm };
    case "c.lui": return { op: Op.LUI, rd: f.rd, imm: f.imm };
    case "c.srli": return { op: Op.SRLI, rd: f.rd, rs1: f.rd, imm: f.imm };
    case "c.srai": return { op: Op.SRAI, rd: f.rd, rs1: f.rd, imm: f.imm };
    case "c.andi": return { op: Op.ANDI, rd: f.rd, rs1: f.rd, imm: f.imm };
    case "c.sub": return { op: Op.SUB, rd: f.rd, rs1: f.rd, rs2: f.rs2 };
    case "c.xor": return { op: Op.XOR, rd: f.rd, rs1: f.rd, rs2: f.rs2 };
    case "c.or": return { op: Op.OR, rd: f.rd, rs1: f.rd, rs2: f.rs2 };
    case "c.and": return { op: Op.AND, rd: f.rd, rs1: f.rd, rs2: f.rs2 };
    case "c.j": return { op: Op.JAL, rd: 0, imm: f.imm };
    case "c.beqz": return { op: Op.BEQ, rs1: f.rs1, imm: f.imm };
    case "c.bnez": return { op: Op.BNE, rs1: f.rs1, imm: f.imm };
    case "c.slli": return { op: Op.SLLI, rd: f.rd, rs1: f.rd, imm: f.imm };
    case "c.lwsp": return { op: Op.LW, rd: f.rd, rs1: 2, imm: f.imm };
    case "c.jr": return { op: Op.JALR, rd: 0, rs1: f.rs1 };
    case "c.mv": return { op: Op.ADD, rd: f.rd, rs2: f.rs2 };
    case "c.ebreak": return { op: Op.EBREAK };
    case "c.jalr": return { op: Op.JALR, rd: 1, rs1: f.rs1 };
    case "c.add": return { op: Op.ADD, rd: f.rd, rs1: f.rd, rs2: f.rs2 };
    case "c.swsp": return { op: Op.SW, rs1: 2, rs2: f.rs2, imm: f.imm };
  }
}

/** Random free operands of a form, within the ranges of unpriv §16.3-16.6. */
function compressedOperands(form: CompressedForm): CompressedOperands {
  const prime = (): number => between(8, 15);
  const nonzero = (): number => between(1, 31);
  const signed6 = (): number => between(-32, 31);
  switch (form) {
    case "c.addi4spn": return { rd: prime(), rs1: 2, rs2: 0, imm: between(1, 255) * 4 };
    case "c.lw": return { rd: prime(), rs1: prime(), rs2: 0, imm: between(0, 31) * 4 };
    case "c.sw": return { rd: 0, rs1: prime(), rs2: prime(), imm: between(0, 31) * 4 };
    case "c.nop": return { rd: 0, rs1: 0, rs2: 0, imm: signed6() };
    case "c.addi": case "c.li": return { rd: form === "c.li" ? register() : nonzero(), rs1: 0, rs2: 0, imm: signed6() };
    case "c.jal": case "c.j": return { rd: 0, rs1: 0, rs2: 0, imm: between(-1024, 1023) * 2 };
    case "c.addi16sp": return { rd: 2, rs1: 2, rs2: 0, imm: (between(1, 63) - 32 || 1) * 16 };
    case "c.lui": {
      const rd = [0, 1, 3, 31][next() % 4]!; // any but sp
      return { rd, rs1: 0, rs2: 0, imm: (between(1, 63) - 32 || 1) * 4096 };
    }
    case "c.srli": case "c.srai": return { rd: prime(), rs1: 0, rs2: 0, imm: between(0, 31) };
    case "c.andi": return { rd: prime(), rs1: 0, rs2: 0, imm: signed6() };
    case "c.sub": case "c.xor": case "c.or": case "c.and": return { rd: prime(), rs1: 0, rs2: prime(), imm: 0 };
    case "c.beqz": case "c.bnez": return { rd: 0, rs1: prime(), rs2: 0, imm: between(-128, 127) * 2 };
    case "c.slli": return { rd: register(), rs1: 0, rs2: 0, imm: between(0, 31) };
    case "c.lwsp": return { rd: nonzero(), rs1: 2, rs2: 0, imm: between(0, 63) * 4 };
    case "c.jr": case "c.jalr": return { rd: 0, rs1: nonzero(), rs2: 0, imm: 0 };
    case "c.mv": case "c.add": return { rd: register(), rs1: 0, rs2: nonzero(), imm: 0 };
    case "c.ebreak": return { rd: 0, rs1: 0, rs2: 0, imm: 0 };
    case "c.swsp": return { rd: 0, rs1: 2, rs2: register(), imm: between(0, 63) * 4 };
  }
}

describe("encodeCompressed", () => {
  it("builds hand-checked encodings", () => {
    expect(encodeCompressed("c.addi4spn", { rd: 8, imm: 4 })).toBe(0x0040);
    expect(encodeCompressed("c.lw", { rd: 9, rs1: 15, imm: 124 })).toBe(0x5fe4);
    expect(encodeCompressed("c.jal", { imm: 74 })).toBe(0x20a9);
    expect(encodeCompressed("c.j", { imm: 34 })).toBe(0xa00d);
    expect(encodeCompressed("c.lui", { rd: 5, imm: -0x20000 })).toBe(0x7281);
    expect(encodeCompressed("c.addi16sp", { imm: -512 })).toBe(0x7101);
    expect(encodeCompressed("c.bnez", { rs1: 9, imm: -62 })).toBe(0xf0e9);
    expect(encodeCompressed("c.jr", { rs1: 1 })).toBe(0x8082);
    expect(encodeCompressed("c.swsp", { rs2: 1, imm: 12 })).toBe(0xc606);
    expect(encodeCompressed("c.ebreak")).toBe(0x9002);
    expect(encodeCompressed("c.nop")).toBe(0x0001);
  });

  it("round-trips every form through decode, to the base instruction it expands to", () => {
    for (const form of COMPRESSED_FORMS) {
      for (let i = 0; i < 200; i++) {
        const operands = compressedOperands(form);
        const expansionFields = expansion(form, operands);
        const { op, ...fields } = expansionFields;
        const raw = encodeCompressed(form, fields);
        expect(compressedForm(raw)).toBe(form);
        expect({ form, decoded: decode(raw) }).toEqual({ form, decoded: expected(op!, fields, raw, 2) });
      }
    }
  });

  it("re-encodes every legal 16-bit encoding from its decoded fields", () => {
    let legal = 0;
    for (let c = 0; c < 0x10000; c++) {
      const form = compressedForm(c);
      if (form === undefined) continue;
      legal++;
      expect(encodeCompressed(form, decode(c))).toBe(c);
    }
    // Counted from the RVC opcode tables: quadrant 0: c.addi4spn 2048 - 8 (nzuimm = 0), c.lw and
    // c.sw 2048 each; quadrant 1: c.addi, c.jal, c.li, c.j, c.beqz, c.bnez 2048 each, c.addi16sp
    // 63, c.lui 31 x 63, c.srli and c.srai 256 each, c.andi 512, c.sub..c.and 256; quadrant 2:
    // c.slli 1024, c.lwsp 2048 - 64, c.jr/c.mv/c.ebreak/c.jalr/c.add 2047, c.swsp 2048.
    expect(legal).toBe(6136 + 15584 + 7103);
  });

  it("rejects reserved encodings and bad operands", () => {
    const reservedOrOtherForm = /the operands give a reserved encoding or another form/;
    const cases: [() => number, RegExp][] = [
      [() => encodeCompressed("c.addi4spn", { rd: 8, imm: 0 }), /c\.addi4spn: the operands give a reserved encoding/],
      [() => encodeCompressed("c.addi4spn", { rd: 8, imm: 6 }), /c\.addi4spn: immediate must be a multiple of 4/],
      [() => encodeCompressed("c.lw", { rd: 5, rs1: 8 }), /c\.lw: rd must be one of x8\.\.x15, got 5/],
      [() => encodeCompressed("c.lw", { rd: 8, rs1: 8, imm: 128 }), /c\.lw: immediate must be an integer in 0\.\.124/],
      [() => encodeCompressed("c.lwsp", { rd: 0, imm: 4 }), /c\.lwsp: the operands give a reserved encoding/],
      [() => encodeCompressed("c.jr", { rs1: 0 }), /c\.jr: the operands give a reserved encoding/],
      [() => encodeCompressed("c.lui", { rd: 10, imm: 0 }), /c\.lui: the operands give a reserved encoding/],
      [() => encodeCompressed("c.lui", { rd: 2, imm: 4096 }), reservedOrOtherForm], // that is c.addi16sp
      [() => encodeCompressed("c.addi16sp", { imm: 0 }), /c\.addi16sp: the operands give a reserved encoding/],
      [() => encodeCompressed("c.addi16sp", { imm: 8 }), /c\.addi16sp: immediate must be a multiple of 16/],
      [() => encodeCompressed("c.addi", { rd: 0, imm: 1 }), reservedOrOtherForm], // that is c.nop
      [() => encodeCompressed("c.addi", { rd: 10, rs1: 11, imm: 1 }), /c\.addi: rs1 is fixed to 10 in this form/],
      [() => encodeCompressed("c.j", { rd: 1, imm: 2 }), /c\.j: rd is fixed to 0/],
      [() => encodeCompressed("c.beqz", { rs1: 8, imm: 256 }), /c\.beqz: immediate must be an integer in -256\.\.254/],
      [() => encodeCompressed("c.slli", { rd: 1, imm: 32 }), /c\.slli: shift amount must be an integer in 0\.\.31/],
      [() => encodeCompressed("c.mv", { rd: 1, rs2: 0 }), reservedOrOtherForm], // that is c.jr
      [() => encodeCompressed("c.sub", { rd: 8, rs2: 8, imm: 1 }), /c\.sub: has no imm operand/],
    ];
    for (const [attempt, message] of cases) {
      expect(attempt).toThrow(RangeError);
      expect(attempt).toThrow(message);
    }
  });
});
