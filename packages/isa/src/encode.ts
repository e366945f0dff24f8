import { compressedForm, type CompressedForm } from "./decode.js";
import { Op } from "./opcodes.js";
import { opName } from "./classes.js";
import {
  OPCODE_AMO, OPCODE_AUIPC, OPCODE_BRANCH, OPCODE_JAL, OPCODE_JALR, OPCODE_LOAD, OPCODE_LUI, OPCODE_MISC_MEM, OPCODE_OP,
  OPCODE_OP_IMM, OPCODE_STORE, OPCODE_SYSTEM,
} from "./major-opcodes.js";

/*
 * Encoders, mainly for tests: they build the canonical encoding of an instruction from the same
 * fields `decode` produces, so `decode(encode(op, fields))` gives back `op` and `fields`.
 * Out-of-range or misaligned operands, and operands the instruction does not have, throw a
 * RangeError naming the instruction and the operand.
 */

/** Operands of an instruction, with the meanings of the `Instruction` fields. Missing ones are 0. */
export interface InstructionFields {
  rd?: number;
  rs1?: number;
  rs2?: number;
  imm?: number;
  csr?: number;
  aqrl?: number;
}

type FieldName = keyof InstructionFields;


/** How one operation is laid out: its format and the fixed bits that select it. */
type Layout =
  | { format: "U"; opcode: number }
  | { format: "J" }
  | { format: "I"; opcode: number; funct3: number }
  | { format: "shift"; funct3: number; funct7: number }
  | { format: "B"; funct3: number }
  | { format: "S"; funct3: number }
  | { format: "R"; opcode: number; funct3: number; funct7: number }
  | { format: "fence" }
  | { format: "fixed"; encoding: number }
  | { format: "sfence.vma" }
  | { format: "csr"; funct3: number }
  | { format: "amo"; funct5: number }
  | { format: "lr" };

const LAYOUTS: Partial<Record<Op, Layout>> = {
  [Op.LUI]: { format: "U", opcode: OPCODE_LUI },
  [Op.AUIPC]: { format: "U", opcode: OPCODE_AUIPC },
  [Op.JAL]: { format: "J" },
  [Op.JALR]: { format: "I", opcode: OPCODE_JALR, funct3: 0 },
  [Op.BEQ]: { format: "B", funct3: 0 },
  [Op.BNE]: { format: "B", funct3: 1 },
  [Op.BLT]: { format: "B", funct3: 4 },
  [Op.BGE]: { format: "B", funct3: 5 },
  [Op.BLTU]: { format: "B", funct3: 6 },
  [Op.BGEU]: { format: "B", funct3: 7 },
  [Op.LB]: { format: "I", opcode: OPCODE_LOAD, funct3: 0 },
  [Op.LH]: { format: "I", opcode: OPCODE_LOAD, funct3: 1 },
  [Op.LW]: { format: "I", opcode: OPCODE_LOAD, funct3: 2 },
  [Op.LBU]: { format: "I", opcode: OPCODE_LOAD, funct3: 4 },
  [Op.LHU]: { format: "I", opcode: OPCODE_LOAD, funct3: 5 },
  [Op.SB]: { format: "S", funct3: 0 },
  [Op.SH]: { format: "S", funct3: 1 },
  [Op.SW]: { format: "S", funct3: 2 },
  [Op.ADDI]: { format: "I", opcode: OPCODE_OP_IMM, funct3: 0 },
  [Op.SLTI]: { format: "I", opcode: OPCODE_OP_IMM, funct3: 2 },
  [Op.SLTIU]: { format: "I", opcode: OPCODE_OP_IMM, funct3: 3 },
  [Op.XORI]: { format: "I", opcode: OPCODE_OP_IMM, funct3: 4 },
  [Op.ORI]: { format: "I", opcode: OPCODE_OP_IMM, funct3: 6 },
  [Op.ANDI]: { format: "I", opcode: OPCODE_OP_IMM, funct3: 7 },
  [Op.SLLI]: { format: "shift", funct3: 1, funct7: 0 },
  [Op.SRLI]: { format: "shift", funct3: 5, funct7: 0 },
  [Op.SRAI]: { format: "shift", funct3: 5, funct7: 0b0100000 },
  [Op.ADD]: { format: "R", opcode: OPCODE_OP, funct3: 0, funct7: 0 },
  [Op.SUB]: { format: "R", opcode: OPCODE_OP, funct3: 0, funct7: 0b0100000 },
  [Op.SLL]: { format: "R", opcode: OPCODE_OP, funct3: 1, funct7: 0 },
  [Op.SLT]: { format: "R", opcode: OPCODE_OP, funct3: 2, funct7: 0 },
  [Op.SLTU]: { format: "R", opcode: OPCODE_OP, funct3: 3, funct7: 0 },
  [Op.XOR]: { format: "R", opcode: OPCODE_OP, funct3: 4, funct7: 0 },
  [Op.SRL]: { format: "R", opcode: OPCODE_OP, funct3: 5, funct7: 0 },
  [Op.SRA]: { format: "R", opcode: OPCODE_OP, funct3: 5, funct7: 0b0100000 },
  [Op.OR]: { format: "R", opcode: OPCODE_OP, funct3: 6, funct7: 0 },
  [Op.AND]: { format: "R", opcode: OPCODE_OP, funct3: 7, funct7: 0 },
  [Op.FENCE]: { format: "fence" },
  [Op.FENCE_I]: { format: "fixed", encoding: 0x0000100f },
  [Op.ECALL]: { format: "fixed", encoding: 0x00000073 },
  [Op.EBREAK]: { format: "fixed", encoding: 0x00100073 },
  [Op.MUL]: { format: "R", opcode: OPCODE_OP, funct3: 0, funct7: 1 },
  [Op.MULH]: { format: "R", opcode: OPCODE_OP, funct3: 1, funct7: 1 },
  [Op.MULHSU]: { format: "R", opcode: OPCODE_OP, funct3: 2, funct7: 1 },
  [Op.MULHU]: { format: "R", opcode: OPCODE_OP, funct3: 3, funct7: 1 },
  [Op.DIV]: { format: "R", opcode: OPCODE_OP, funct3: 4, funct7: 1 },
  [Op.DIVU]: { format: "R", opcode: OPCODE_OP, funct3: 5, funct7: 1 },
  [Op.REM]: { format: "R", opcode: OPCODE_OP, funct3: 6, funct7: 1 },
  [Op.REMU]: { format: "R", opcode: OPCODE_OP, funct3: 7, funct7: 1 },
  [Op.LR_W]: { format: "lr" },
  [Op.SC_W]: { format: "amo", funct5: 0b00011 },
  [Op.AMOSWAP_W]: { format: "amo", funct5: 0b00001 },
  [Op.AMOADD_W]: { format: "amo", funct5: 0b00000 },
  [Op.AMOXOR_W]: { format: "amo", funct5: 0b00100 },
  [Op.AMOAND_W]: { format: "amo", funct5: 0b01100 },
  [Op.AMOOR_W]: { format: "amo", funct5: 0b01000 },
  [Op.AMOMIN_W]: { format: "amo", funct5: 0b10000 },
  [Op.AMOMAX_W]: { format: "amo", funct5: 0b10100 },
  [Op.AMOMINU_W]: { format: "amo", funct5: 0b11000 },
  [Op.AMOMAXU_W]: { format: "amo", funct5: 0b11100 },
  [Op.CSRRW]: { format: "csr", funct3: 1 },
  [Op.CSRRS]: { format: "csr", funct3: 2 },
  [Op.CSRRC]: { format: "csr", funct3: 3 },
  [Op.CSRRWI]: { format: "csr", funct3: 5 },
  [Op.CSRRSI]: { format: "csr", funct3: 6 },
  [Op.CSRRCI]: { format: "csr", funct3: 7 },
  [Op.MRET]: { format: "fixed", encoding: 0x30200073 },
  [Op.SRET]: { format: "fixed", encoding: 0x10200073 },
  [Op.WFI]: { format: "fixed", encoding: 0x10500073 },
  [Op.SFENCE_VMA]: { format: "sfence.vma" },
};

/** Which operands each format takes; any other operand must be absent or 0. */
const OPERANDS: Record<Layout["format"], readonly FieldName[]> = {
  U: ["rd", "imm"],
  J: ["rd", "imm"],
  I: ["rd", "rs1", "imm"],
  shift: ["rd", "rs1", "imm"],
  B: ["rs1", "rs2", "imm"],
  S: ["rs1", "rs2", "imm"],
  R: ["rd", "rs1", "rs2"],
  fence: ["imm"],
  fixed: [],
  "sfence.vma": ["rs1", "rs2"],
  csr: ["rd", "rs1", "csr"],
  amo: ["rd", "rs1", "rs2", "aqrl"],
  lr: ["rd", "rs1", "aqrl"], // LR.W's rs2 field must be 0
};

const ALL_FIELDS: readonly FieldName[] = ["rd", "rs1", "rs2", "imm", "csr", "aqrl"];

/** Reads the operands `allowed` from `fields`, rejecting any other operand that is nonzero. */
function operands(what: string, fields: InstructionFields, allowed: readonly FieldName[]): Required<InstructionFields> {
  for (const name of ALL_FIELDS) {
    const value = fields[name];
    if (value !== undefined && value !== 0 && !allowed.includes(name)) {
      throw new RangeError(`${what}: has no ${name} operand (got ${value})`);
    }
  }
  return {
    rd: fields.rd ?? 0, rs1: fields.rs1 ?? 0, rs2: fields.rs2 ?? 0,
    imm: fields.imm ?? 0, csr: fields.csr ?? 0, aqrl: fields.aqrl ?? 0,
  };
}

function checkRegister(what: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 31) {
    throw new RangeError(`${what}: ${name} must be a register number 0..31, got ${value}`);
  }
  return value;
}

function checkUnsigned(what: string, name: string, value: number, bits: number): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new RangeError(`${what}: ${name} must be an integer in 0..${2 ** bits - 1}, got ${value}`);
  }
  return value;
}

/** Checks a signed immediate of `bits` bits whose low `alignBits` bits must be zero. */
function checkSigned(what: string, value: number, bits: number, alignBits = 0): number {
  const min = -(2 ** (bits - 1));
  const max = 2 ** (bits - 1) - 2 ** alignBits;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what}: immediate must be an integer in ${min}..${max}, got ${value}`);
  }
  if (value % 2 ** alignBits !== 0) {
    throw new RangeError(`${what}: immediate must be a multiple of ${2 ** alignBits}, got ${value}`);
  }
  return value;
}

/**
 * The 32-bit encoding of `op` with the given operands, as an unsigned number. Operands have the
 * meanings of the `Instruction` fields: `imm` is the byte offset for branches and jumps, the full
 * value (a multiple of 4096, signed or unsigned 32-bit) for LUI/AUIPC, the shift amount for the
 * immediate shifts and bits 31:20 (fm, pred, succ) for FENCE; `rs1` is the 5-bit immediate of
 * CSRRWI/CSRRSI/CSRRCI; `aqrl` is aq << 1 | rl.
 */
export function encode(op: Op, fields: InstructionFields = {}): number {
  const layout = LAYOUTS[op];
  if (layout === undefined) throw new RangeError(`encode: ${opName(op)} (op ${op}) has no encoding`);
  const what = opName(op);
  const f = operands(what, fields, OPERANDS[layout.format]);
  const rd = checkRegister(what, "rd", f.rd) << 7;
  const rs1 = checkRegister(what, "rs1", f.rs1) << 15;
  const rs2 = checkRegister(what, "rs2", f.rs2) << 20;
  let word: number;
  switch (layout.format) {
    case "U": {
      const imm = f.imm;
      if (!Number.isInteger(imm) || imm < -(2 ** 31) || imm >= 2 ** 32 || imm % 4096 !== 0) {
        throw new RangeError(`${what}: immediate must be a 32-bit multiple of 4096 (imm[31:12] << 12), got ${imm}`);
      }
      word = (imm & 0xfffff000) | rd | layout.opcode;
      break;
    }
    case "J": {
      const imm = checkSigned(what, f.imm, 21, 1);
      // imm[20|10:1|11|19:12] in bits 31:12
      word = ((imm & 0x100000) << 11) | ((imm & 0x7fe) << 20) | ((imm & 0x800) << 9) | (imm & 0xff000) |
        rd | OPCODE_JAL;
      break;
    }
    case "I":
      word = (checkSigned(what, f.imm, 12) << 20) | rs1 | (layout.funct3 << 12) | rd | layout.opcode;
      break;
    case "shift":
      word = (layout.funct7 << 25) | (checkUnsigned(what, "shift amount", f.imm, 5) << 20) | rs1 |
        (layout.funct3 << 12) | rd | OPCODE_OP_IMM;
      break;
    case "B": {
      const imm = checkSigned(what, f.imm, 13, 1);
      // imm[12|10:5] in bits 31:25, imm[4:1|11] in bits 11:7
      word = ((imm & 0x1000) << 19) | ((imm & 0x7e0) << 20) | rs2 | rs1 | (layout.funct3 << 12) |
        ((imm & 0x1e) << 7) | ((imm & 0x800) >> 4) | OPCODE_BRANCH;
      break;
    }
    case "S": {
      const imm = checkSigned(what, f.imm, 12);
      word = ((imm & 0xfe0) << 20) | rs2 | rs1 | (layout.funct3 << 12) | ((imm & 0x1f) << 7) | OPCODE_STORE;
      break;
    }
    case "R":
      word = (layout.funct7 << 25) | rs2 | rs1 | (layout.funct3 << 12) | rd | layout.opcode;
      break;
    case "fence":
      word = (checkUnsigned(what, "fm/pred/succ (imm)", f.imm, 12) << 20) | OPCODE_MISC_MEM;
      break;
    case "fixed":
      word = layout.encoding;
      break;
    case "sfence.vma":
      word = (0b0001001 << 25) | rs2 | rs1 | OPCODE_SYSTEM;
      break;
    case "csr":
      word = (checkUnsigned(what, "csr", f.csr, 12) << 20) | rs1 | (layout.funct3 << 12) | rd | OPCODE_SYSTEM;
      break;
    case "amo":
    case "lr": {
      const funct5 = layout.format === "lr" ? 0b00010 : layout.funct5;
      word = (funct5 << 27) | (checkUnsigned(what, "aqrl", f.aqrl, 2) << 25) | rs2 | rs1 | (0b010 << 12) | rd |
        OPCODE_AMO;
      break;
    }
  }
  return word >>> 0;
}

// ---- Compressed encodings ------------------------------------------------------------------------

/**
 * The 16-bit encoding of an RV32C instruction. `fields` are those of the instruction it expands
 * to, as `decode` reports them (e.g. `{ rd: 8, imm: 4 }` for `c.addi4spn s0,sp,4`, `{ rd: 10,
 * imm: 0x1f000 }` for `c.lui a0,0x1f`). Operands the form fixes (rs1 = rd for c.addi, rs1 = sp for
 * c.lwsp, ...) may be omitted, and must match when given. Encodings the RVC chapter reserves (for
 * example c.addi4spn with a zero immediate, c.lwsp into x0) are rejected; HINT encodings are not.
 */
export function encodeCompressed(form: CompressedForm, fields: InstructionFields = {}): number {
  const c = buildCompressed(form, fields);
  if (compressedForm(c) !== form) {
    throw new RangeError(`${form}: the operands give a reserved encoding or another form (${JSON.stringify(fields)})`);
  }
  return c;
}

/** A register of x8..x15, as a 3-bit field (the rd', rs1', rs2' of unpriv table 16.2). */
function primeRegister(form: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value < 8 || value > 15) {
    throw new RangeError(`${form}: ${name} must be one of x8..x15, got ${value}`);
  }
  return value - 8;
}

/** Requires an operand the form fixes to be absent or to have its fixed value. */
function fixed(form: string, name: string, value: number | undefined, expected: number): void {
  if (value !== undefined && value !== expected) {
    throw new RangeError(`${form}: ${name} is fixed to ${expected} in this form, got ${value}`);
  }
}

function checkUnsignedScaled(form: string, value: number, bits: number, scale: number): number {
  const max = (2 ** bits - 1) * scale;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${form}: immediate must be an integer in 0..${max}, got ${value}`);
  }
  if (value % scale !== 0) throw new RangeError(`${form}: immediate must be a multiple of ${scale}, got ${value}`);
  return value;
}

function buildCompressed(form: CompressedForm, fields: InstructionFields): number {
  const imm = fields.imm ?? 0;
  const rd = fields.rd ?? 0;
  const rs1 = fields.rs1;
  const rs2 = fields.rs2 ?? 0;
  const rejectOthers = (allowed: readonly FieldName[]): void => {
    operands(form, fields, allowed);
  };
  /** CI-format 6-bit signed immediate in bits 12 and 6:2. */
  const ciImm = (value: number): number => ((value & 0x20) << 7) | ((value & 0x1f) << 2);
  switch (form) {
    case "c.addi4spn": {
      rejectOthers(["rd", "rs1", "imm"]);
      fixed(form, "rs1", rs1, 2);
      const u = checkUnsignedScaled(form, imm, 8, 4);
      return ((u & 0x30) << 7) | ((u & 0x3c0) << 1) | ((u & 0x4) << 4) | ((u & 0x8) << 2) |
        (primeRegister(form, "rd", rd) << 2);
    }
    case "c.lw":
    case "c.sw": {
      const isLoad = form === "c.lw";
      rejectOthers(isLoad ? ["rd", "rs1", "imm"] : ["rs1", "rs2", "imm"]);
      const u = checkUnsignedScaled(form, imm, 5, 4);
      const low = primeRegister(form, isLoad ? "rd" : "rs2", isLoad ? rd : rs2);
      return ((isLoad ? 0b010 : 0b110) << 13) | ((u & 0x38) << 7) | (primeRegister(form, "rs1", rs1 ?? 0) << 7) |
        ((u & 0x4) << 4) | ((u & 0x40) >> 1) | (low << 2);
    }
    case "c.nop":
    case "c.addi": {
      rejectOthers(["rd", "rs1", "imm"]);
      fixed(form, "rs1", rs1, rd);
      checkSigned(form, imm, 6);
      return (0b000 << 13) | ciImm(imm) | (checkRegister(form, "rd", rd) << 7) | 0b01;
    }
    case "c.jal":
    case "c.j": {
      rejectOthers(["rd", "imm"]);
      fixed(form, "rd", fields.rd, form === "c.jal" ? 1 : 0);
      const o = checkSigned(form, imm, 12, 1);
      return ((form === "c.jal" ? 0b001 : 0b101) << 13) | ((o & 0x800) << 1) | ((o & 0x10) << 7) | ((o & 0x300) << 1) |
        ((o & 0x400) >> 2) | ((o & 0x40) << 1) | ((o & 0x80) >> 1) | ((o & 0xe) << 2) | ((o & 0x20) >> 3) | 0b01;
    }
    case "c.li": {
      rejectOthers(["rd", "imm"]);
      checkSigned(form, imm, 6);
      return (0b010 << 13) | ciImm(imm) | (checkRegister(form, "rd", rd) << 7) | 0b01;
    }
    case "c.addi16sp": {
      rejectOthers(["rd", "rs1", "imm"]);
      fixed(form, "rd", fields.rd, 2);
      fixed(form, "rs1", rs1, 2);
      const v = checkSigned(form, imm, 10, 4);
      return (0b011 << 13) | ((v & 0x200) << 3) | (2 << 7) | ((v & 0x10) << 2) | ((v & 0x40) >> 1) |
        ((v & 0x180) >> 4) | ((v & 0x20) >> 3) | 0b01;
    }
    case "c.lui": {
      rejectOthers(["rd", "imm"]);
      const v = checkSigned(form, imm, 18, 12);
      return (0b011 << 13) | ciImm(v >> 12) | (checkRegister(form, "rd", rd) << 7) | 0b01;
    }
    case "c.srli":
    case "c.srai":
    case "c.andi": {
      rejectOthers(["rd", "rs1", "imm"]);
      fixed(form, "rs1", rs1, rd);
      const funct2 = form === "c.srli" ? 0 : form === "c.srai" ? 1 : 2;
      const value = form === "c.andi" ? checkSigned(form, imm, 6) : checkUnsigned(form, "shift amount", imm, 5);
      return (0b100 << 13) | ciImm(value) | (funct2 << 10) | (primeRegister(form, "rd", rd) << 7) | 0b01;
    }
    case "c.sub":
    case "c.xor":
    case "c.or":
    case "c.and": {
      rejectOthers(["rd", "rs1", "rs2"]);
      fixed(form, "rs1", rs1, rd);
      const funct2 = ["c.sub", "c.xor", "c.or", "c.and"].indexOf(form);
      return (0b100011 << 10) | (primeRegister(form, "rd", rd) << 7) | (funct2 << 5) |
        (primeRegister(form, "rs2", rs2) << 2) | 0b01;
    }
    case "c.beqz":
    case "c.bnez": {
      rejectOthers(["rs1", "imm"]);
      const o = checkSigned(form, imm, 9, 1);
      return ((form === "c.beqz" ? 0b110 : 0b111) << 13) | ((o & 0x100) << 4) | ((o & 0x18) << 7) |
        (primeRegister(form, "rs1", rs1 ?? 0) << 7) | ((o & 0xc0) >> 1) | ((o & 0x6) << 2) | ((o & 0x20) >> 3) | 0b01;
    }
    case "c.slli": {
      rejectOthers(["rd", "rs1", "imm"]);
      fixed(form, "rs1", rs1, rd);
      return ciImm(checkUnsigned(form, "shift amount", imm, 5)) | (checkRegister(form, "rd", rd) << 7) | 0b10;
    }
    case "c.lwsp": {
      rejectOthers(["rd", "rs1", "imm"]);
      fixed(form, "rs1", rs1, 2);
      const u = checkUnsignedScaled(form, imm, 6, 4);
      return (0b010 << 13) | ((u & 0x20) << 7) | (checkRegister(form, "rd", rd) << 7) | ((u & 0x1c) << 2) |
        ((u & 0xc0) >> 4) | 0b10;
    }
    case "c.jr":
    case "c.jalr": {
      rejectOthers(["rd", "rs1"]);
      fixed(form, "rd", fields.rd, form === "c.jalr" ? 1 : 0);
      return (form === "c.jalr" ? 0b1001 << 12 : 0b1000 << 12) | (checkRegister(form, "rs1", rs1 ?? 0) << 7) | 0b10;
    }
    case "c.mv":
    case "c.add": {
      rejectOthers(["rd", "rs1", "rs2"]);
      fixed(form, "rs1", rs1, form === "c.mv" ? 0 : rd);
      return (form === "c.mv" ? 0b1000 << 12 : 0b1001 << 12) | (checkRegister(form, "rd", rd) << 7) |
        (checkRegister(form, "rs2", rs2) << 2) | 0b10;
    }
    case "c.ebreak":
      rejectOthers([]);
      return 0x9002;
    case "c.swsp": {
      rejectOthers(["rs1", "rs2", "imm"]);
      fixed(form, "rs1", rs1, 2);
      const u = checkUnsignedScaled(form, imm, 6, 4);
      return (0b110 << 13) | ((u & 0x3c) << 7) | ((u & 0xc0) << 1) | (checkRegister(form, "rs2", rs2) << 2) | 0b10;
    }
  }
}
