import { Op, type Instruction } from "./opcodes.js";
import {
  OPCODE_AMO, OPCODE_AUIPC, OPCODE_BRANCH, OPCODE_JAL, OPCODE_JALR, OPCODE_LOAD, OPCODE_LUI, OPCODE_MISC_MEM, OPCODE_OP,
  OPCODE_OP_IMM, OPCODE_STORE, OPCODE_SYSTEM,
} from "./major-opcodes.js";

/*
 * Instruction decoder for RV32IMAC + Zicsr + Zifencei and the privileged instructions.
 *
 * References: "The RISC-V Instruction Set Manual, Volume I: Unprivileged ISA" 20191213 (cited as
 * "unpriv §n") and "Volume II: Privileged Architecture" 20211203, version 1.12 (cited as
 * "priv §n"). Every encoding these documents do not define for RV32 with our extensions,
 * including reserved ones, decodes to Op.ILLEGAL. HINT encodings (unpriv §2.9, §16.7) are legal
 * and decode as the ordinary instruction that writes x0 or does nothing.
 */

/**
 * The RV32C instruction forms, named as in the RVC chapter (unpriv ch. 16). `c.nop` is the
 * C.ADDI encoding with rd = x0 (C.NOP proper when the immediate is 0, a HINT otherwise).
 */
export type CompressedForm =
  | "c.addi4spn" | "c.lw" | "c.sw"
  | "c.nop" | "c.addi" | "c.jal" | "c.li" | "c.addi16sp" | "c.lui"
  | "c.srli" | "c.srai" | "c.andi" | "c.sub" | "c.xor" | "c.or" | "c.and"
  | "c.j" | "c.beqz" | "c.bnez"
  | "c.slli" | "c.lwsp" | "c.jr" | "c.mv" | "c.ebreak" | "c.jalr" | "c.add" | "c.swsp";

/** Every RV32C form, in the order of the RVC listings (unpriv tables 16.5-16.7). */
export const COMPRESSED_FORMS: readonly CompressedForm[] = [
  "c.addi4spn", "c.lw", "c.sw",
  "c.nop", "c.addi", "c.jal", "c.li", "c.addi16sp", "c.lui",
  "c.srli", "c.srai", "c.andi", "c.sub", "c.xor", "c.or", "c.and",
  "c.j", "c.beqz", "c.bnez",
  "c.slli", "c.lwsp", "c.jr", "c.mv", "c.ebreak", "c.jalr", "c.add", "c.swsp",
];

/** Length in bytes of the instruction whose first halfword is `raw` (unpriv §1.5, fig. 1.1). */
export function instructionLength(raw: number): 2 | 4 | 6 | 8 | undefined {
  if ((raw & 0x3) !== 0x3) return 2;
  if ((raw & 0x1c) !== 0x1c) return 4;
  if ((raw & 0x3f) === 0x1f) return 6;
  if ((raw & 0x7f) === 0x3f) return 8;
  return undefined; // 80-bit and longer, or the reserved >= 192-bit space
}

/** Decodes one instruction into a new object. See `decodeInto`. */
export function decode(raw: number): Instruction {
  return decodeInto(raw, { op: Op.ILLEGAL, rd: 0, rs1: 0, rs2: 0, imm: 0, csr: 0, aqrl: 0, length: 4, raw: 0 });
}

/**
 * Decodes one instruction into `out` (every field is overwritten) and returns `out`.
 *
 * `raw` holds a 32-bit encoding when its low two bits are 11; otherwise only its low 16 bits are
 * looked at, as a compressed encoding. Encodings longer than 32 bits (low five bits 11111)
 * decode to ILLEGAL with length 4, since no extension of ours defines one.
 */
export function decodeInto(raw: number, out: Instruction): Instruction {
  if ((raw & 3) !== 3) return decodeCompressed(raw & 0xffff, out);
  return decode32(raw >>> 0, out);
}

function set(
  out: Instruction, op: Op, rd: number, rs1: number, rs2: number, imm: number, length: 2 | 4, raw: number,
): Instruction {
  out.op = op;
  out.rd = rd;
  out.rs1 = rs1;
  out.rs2 = rs2;
  out.imm = imm;
  out.csr = 0;
  out.aqrl = 0;
  out.length = length;
  out.raw = raw;
  return out;
}

function illegal(out: Instruction, length: 2 | 4, raw: number): Instruction {
  return set(out, Op.ILLEGAL, 0, 0, 0, 0, length, raw);
}

// ---- 32-bit encodings ------------------------------------------------------------------------


const LOAD_OPS: readonly Op[] = [Op.LB, Op.LH, Op.LW, Op.ILLEGAL, Op.LBU, Op.LHU, Op.ILLEGAL, Op.ILLEGAL];
const STORE_OPS: readonly Op[] = [Op.SB, Op.SH, Op.SW, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL];
const BRANCH_OPS: readonly Op[] = [Op.BEQ, Op.BNE, Op.ILLEGAL, Op.ILLEGAL, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU];
/** OP-IMM by funct3; the shifts (funct3 001 and 101) are checked separately. */
const OP_IMM_OPS: readonly Op[] = [Op.ADDI, Op.SLLI, Op.SLTI, Op.SLTIU, Op.XORI, Op.SRLI, Op.ORI, Op.ANDI];
/** OP by funct3, for funct7 = 0000000 (base), 0100000 (SUB/SRA) and 0000001 (M extension). */
const OP_BASE_OPS: readonly Op[] = [Op.ADD, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.OR, Op.AND];
const OP_ALT_OPS: readonly Op[] = [
  Op.SUB, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.SRA, Op.ILLEGAL, Op.ILLEGAL,
];
const OP_MULDIV_OPS: readonly Op[] = [Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU];
/** AMO by funct5 (bits 31:27) with funct3 = 010 (unpriv table 24.2, RV32A). */
const AMO_OPS: readonly Op[] = (() => {
  const table: Op[] = new Array<Op>(32).fill(Op.ILLEGAL);
  table[0b00010] = Op.LR_W;
  table[0b00011] = Op.SC_W;
  table[0b00001] = Op.AMOSWAP_W;
  table[0b00000] = Op.AMOADD_W;
  table[0b00100] = Op.AMOXOR_W;
  table[0b01100] = Op.AMOAND_W;
  table[0b01000] = Op.AMOOR_W;
  table[0b10000] = Op.AMOMIN_W;
  table[0b10100] = Op.AMOMAX_W;
  table[0b11000] = Op.AMOMINU_W;
  table[0b11100] = Op.AMOMAXU_W;
  return table;
})();
/**
 * Zicsr by funct3 (unpriv ch. 9). funct3 000 holds the SYSTEM instructions without a CSR; 100
 * holds the H extension's hypervisor loads and stores, which we lack.
 */
const CSR_OPS: readonly Op[] = [Op.ILLEGAL, Op.CSRRW, Op.CSRRS, Op.CSRRC, Op.ILLEGAL, Op.CSRRWI, Op.CSRRSI, Op.CSRRCI];

/** Exact encodings of the SYSTEM instructions without operands (unpriv §2.8, priv §3.3). */
const ENCODING_ECALL = 0x00000073;
const ENCODING_EBREAK = 0x00100073;
const ENCODING_SRET = 0x10200073;
const ENCODING_MRET = 0x30200073;
const ENCODING_WFI = 0x10500073;
const FUNCT7_SFENCE_VMA = 0b0001001;

/** I-type immediate: bits 31:20, sign-extended. */
function immI(w: number): number {
  return w >> 20;
}

/** S-type immediate: bits 31:25 and 11:7, sign-extended. */
function immS(w: number): number {
  return ((w >> 25) << 5) | ((w >>> 7) & 0x1f);
}

/** B-type immediate: a signed, even byte offset of 13 bits. */
function immB(w: number): number {
  return ((w >> 31) << 12) | (((w >>> 7) & 1) << 11) | (((w >>> 25) & 0x3f) << 5) | (((w >>> 8) & 0xf) << 1);
}

/** J-type immediate: a signed, even byte offset of 21 bits. */
function immJ(w: number): number {
  return ((w >> 31) << 20) | (((w >>> 12) & 0xff) << 12) | (((w >>> 20) & 1) << 11) | (((w >>> 21) & 0x3ff) << 1);
}

function decode32(w: number, out: Instruction): Instruction {
  const rd = (w >>> 7) & 0x1f;
  const funct3 = (w >>> 12) & 0x7;
  const rs1 = (w >>> 15) & 0x1f;
  const rs2 = (w >>> 20) & 0x1f;
  const funct7 = w >>> 25;

  switch (w & 0x7f) {
    case OPCODE_LUI:
      return set(out, Op.LUI, rd, 0, 0, w & 0xfffff000, 4, w);
    case OPCODE_AUIPC:
      return set(out, Op.AUIPC, rd, 0, 0, w & 0xfffff000, 4, w);
    case OPCODE_JAL:
      return set(out, Op.JAL, rd, 0, 0, immJ(w), 4, w);
    case OPCODE_JALR:
      if (funct3 !== 0) return illegal(out, 4, w);
      return set(out, Op.JALR, rd, rs1, 0, immI(w), 4, w);
    case OPCODE_BRANCH: {
      const op = BRANCH_OPS[funct3]!;
      if (op === Op.ILLEGAL) return illegal(out, 4, w);
      return set(out, op, 0, rs1, rs2, immB(w), 4, w);
    }
    case OPCODE_LOAD: {
      const op = LOAD_OPS[funct3]!; // funct3 011 (LD) and 110 (LWU) are RV64-only
      if (op === Op.ILLEGAL) return illegal(out, 4, w);
      return set(out, op, rd, rs1, 0, immI(w), 4, w);
    }
    case OPCODE_STORE: {
      const op = STORE_OPS[funct3]!;
      if (op === Op.ILLEGAL) return illegal(out, 4, w);
      return set(out, op, 0, rs1, rs2, immS(w), 4, w);
    }
    case OPCODE_OP_IMM: {
      const op = OP_IMM_OPS[funct3]!;
      if (funct3 === 1 || funct3 === 5) {
        // RV32I shifts (unpriv §2.4): imm[11:5] is 0000000 (0100000 for SRAI); imm[5] = 1 would be
        // shamt[5], which only RV64 has, so on RV32 it is reserved.
        if (funct7 === 0) return set(out, op, rd, rs1, 0, rs2, 4, w);
        if (funct7 === 0b0100000 && funct3 === 5) return set(out, Op.SRAI, rd, rs1, 0, rs2, 4, w);
        return illegal(out, 4, w);
      }
      return set(out, op, rd, rs1, 0, immI(w), 4, w);
    }
    case OPCODE_OP: {
      let op: Op;
      if (funct7 === 0) op = OP_BASE_OPS[funct3]!;
      else if (funct7 === 0b0100000) op = OP_ALT_OPS[funct3]!;
      else if (funct7 === 0b0000001) op = OP_MULDIV_OPS[funct3]!;
      else return illegal(out, 4, w);
      if (op === Op.ILLEGAL) return illegal(out, 4, w);
      return set(out, op, rd, rs1, rs2, 0, 4, w);
    }
    case OPCODE_MISC_MEM:
      // FENCE (unpriv §2.7): unknown fm values and nonzero rd/rs1 are reserved for future
      // finer-grained fences, and implementations must treat them as an ordinary FENCE, so every
      // funct3 = 000 encoding is a FENCE. The registers mean nothing, so they decode as 0.
      if (funct3 === 0) return set(out, Op.FENCE, 0, 0, 0, w >>> 20, 4, w);
      // FENCE.I (unpriv ch. 3, Zifencei): the imm, rs1 and rd fields are reserved for
      // finer-grained fences and must be ignored, so they decode as 0 too.
      if (funct3 === 1) return set(out, Op.FENCE_I, 0, 0, 0, 0, 4, w);
      return illegal(out, 4, w);
    case OPCODE_SYSTEM: {
      const csrOp = CSR_OPS[funct3]!;
      if (csrOp !== Op.ILLEGAL) {
        // Whether the CSR exists and may be accessed is the hart's business (priv §2.1), not the
        // decoder's. For the *I forms, rs1 holds the 5-bit zero-extended immediate.
        set(out, csrOp, rd, rs1, 0, 0, 4, w);
        out.csr = w >>> 20;
        return out;
      }
      if (funct3 !== 0) return illegal(out, 4, w);
      if (w === ENCODING_ECALL) return set(out, Op.ECALL, 0, 0, 0, 0, 4, w);
      if (w === ENCODING_EBREAK) return set(out, Op.EBREAK, 0, 0, 0, 0, 4, w);
      if (w === ENCODING_MRET) return set(out, Op.MRET, 0, 0, 0, 0, 4, w);
      if (w === ENCODING_SRET) return set(out, Op.SRET, 0, 0, 0, 0, 4, w);
      if (w === ENCODING_WFI) return set(out, Op.WFI, 0, 0, 0, 0, 4, w);
      // SFENCE.VMA rs1, rs2 (priv §4.2.1): funct7 0001001 with rd = 0.
      if (funct7 === FUNCT7_SFENCE_VMA && rd === 0) return set(out, Op.SFENCE_VMA, 0, rs1, rs2, 0, 4, w);
      return illegal(out, 4, w);
    }
    case OPCODE_AMO: {
      if (funct3 !== 2) return illegal(out, 4, w); // only .W on RV32
      const op = AMO_OPS[w >>> 27]!;
      if (op === Op.ILLEGAL) return illegal(out, 4, w);
      if (op === Op.LR_W && rs2 !== 0) return illegal(out, 4, w); // LR.W's rs2 field must be 0
      set(out, op, rd, rs1, rs2, 0, 4, w);
      out.aqrl = (w >>> 25) & 3;
      return out;
    }
    default:
      // Everything else is unassigned, an extension we do not implement (F, D, V, custom), or an
      // encoding longer than 32 bits.
      return illegal(out, 4, w);
  }
}

// ---- 16-bit encodings (RVC, unpriv ch. 16) -----------------------------------------------------

/** The 6-bit signed immediate of the CI format: bit 12 is imm[5], bits 6:2 are imm[4:0]. */
function immCI(c: number): number {
  return (((c >>> 7) & 0x20) | ((c >>> 2) & 0x1f)) << 26 >> 26;
}

/** C.ADDI4SPN: nzuimm[5:4|9:6|2|3] in bits 12:5. */
function uimmAddi4spn(c: number): number {
  return ((c >>> 7) & 0x30) | ((c >>> 1) & 0x3c0) | ((c >>> 4) & 0x4) | ((c >>> 2) & 0x8);
}

/** C.LW / C.SW: uimm[5:3] in bits 12:10, uimm[2|6] in bits 6:5. */
function uimmLwSw(c: number): number {
  return ((c >>> 7) & 0x38) | ((c >>> 4) & 0x4) | ((c << 1) & 0x40);
}

/** C.J / C.JAL: offset[11|4|9:8|10|6|7|3:1|5] in bits 12:2, sign-extended. */
function immCJ(c: number): number {
  const offset =
    ((c >>> 1) & 0x800) | ((c >>> 7) & 0x10) | ((c >>> 1) & 0x300) | ((c << 2) & 0x400) |
    ((c >>> 1) & 0x40) | ((c << 1) & 0x80) | ((c >>> 2) & 0xe) | ((c << 3) & 0x20);
  return (offset << 20) >> 20;
}

/** C.ADDI16SP: nzimm[9] in bit 12, nzimm[4|6|8:7|5] in bits 6:2, sign-extended. */
function immAddi16sp(c: number): number {
  const imm = ((c >>> 3) & 0x200) | ((c >>> 2) & 0x10) | ((c << 1) & 0x40) | ((c << 4) & 0x180) | ((c << 3) & 0x20);
  return (imm << 22) >> 22;
}

/** C.BEQZ / C.BNEZ: offset[8|4:3] in bits 12:10, offset[7:6|2:1|5] in bits 6:2, sign-extended. */
function immCB(c: number): number {
  const offset = ((c >>> 4) & 0x100) | ((c >>> 7) & 0x18) | ((c << 1) & 0xc0) | ((c >>> 2) & 0x6) | ((c << 3) & 0x20);
  return (offset << 23) >> 23;
}

/** C.LWSP: uimm[5] in bit 12, uimm[4:2|7:6] in bits 6:2. */
function uimmLwsp(c: number): number {
  return ((c >>> 7) & 0x20) | ((c >>> 2) & 0x1c) | ((c << 4) & 0xc0);
}

/** C.SWSP: uimm[5:2|7:6] in bits 12:7. */
function uimmSwsp(c: number): number {
  return ((c >>> 7) & 0x3c) | ((c >>> 1) & 0xc0);
}

/**
 * Which RV32C form a 16-bit encoding is, or undefined if it is reserved, belongs to an extension
 * we lack (C.FLW and friends need F/D), or is not a 16-bit encoding at all.
 */
export function compressedForm(raw: number): CompressedForm | undefined {
  if ((raw & 3) === 3) return undefined;
  const c = raw & 0xffff;
  const funct3 = c >>> 13;
  const rd = (c >>> 7) & 0x1f; // also rs1 in the CR/CI formats
  const rs2 = (c >>> 2) & 0x1f;
  const bit12 = (c >>> 12) & 1;
  switch (((c & 3) << 3) | funct3) {
    // Quadrant 0 (unpriv table 16.5).
    case 0b00_000:
      // All-zero halfword: defined illegal (unpriv §16.5). nzuimm = 0: reserved.
      return uimmAddi4spn(c) === 0 ? undefined : "c.addi4spn";
    case 0b00_010: return "c.lw";
    case 0b00_110: return "c.sw";
    // 001/011/101/111 are C.FLD/C.FLW/C.FSD/C.FSW (need D or F); 100 is reserved.

    // Quadrant 1 (unpriv table 16.6).
    case 0b01_000: return rd === 0 ? "c.nop" : "c.addi"; // rd = 0 with imm != 0, or imm = 0: HINTs
    case 0b01_001: return "c.jal"; // RV32 only (C.ADDIW on RV64)
    case 0b01_010: return "c.li"; // rd = 0: HINT
    case 0b01_011:
      if (rd === 2) return immAddi16sp(c) === 0 ? undefined : "c.addi16sp"; // nzimm = 0: reserved
      return immCI(c) === 0 ? undefined : "c.lui"; // nzimm = 0: reserved; rd = 0: HINT
    case 0b01_100:
      switch ((c >>> 10) & 3) {
        // RV32C: shamt[5] = 1 is reserved for custom extensions (NSE); shamt = 0 is a HINT.
        case 0: return bit12 ? undefined : "c.srli";
        case 1: return bit12 ? undefined : "c.srai";
        case 2: return "c.andi";
        default:
          if (bit12) return undefined; // C.SUBW/C.ADDW (RV64) and two reserved encodings
          return (["c.sub", "c.xor", "c.or", "c.and"] as const)[(c >>> 5) & 3];
      }
    case 0b01_101: return "c.j";
    case 0b01_110: return "c.beqz";
    case 0b01_111: return "c.bnez";

    // Quadrant 2 (unpriv table 16.7).
    case 0b10_000: return bit12 ? undefined : "c.slli"; // shamt[5] = 1: NSE; rd = 0 or shamt = 0: HINT
    case 0b10_010: return rd === 0 ? undefined : "c.lwsp"; // rd = 0: reserved
    case 0b10_100:
      if (bit12 === 0) {
        if (rs2 === 0) return rd === 0 ? undefined : "c.jr"; // rs1 = 0: reserved
        return "c.mv"; // rd = 0: HINT
      }
      if (rs2 === 0) return rd === 0 ? "c.ebreak" : "c.jalr";
      return "c.add"; // rd = 0: HINT
    case 0b10_110: return "c.swsp";
    // 001/011/101/111 are C.FLDSP/C.FLWSP/C.FSDSP/C.FSWSP (need D or F).
    default: return undefined;
  }
}

function decodeCompressed(c: number, out: Instruction): Instruction {
  const form = compressedForm(c);
  if (form === undefined) return illegal(out, 2, c);
  const rdFull = (c >>> 7) & 0x1f;
  const rs2Full = (c >>> 2) & 0x1f;
  // The 3-bit register fields of the CIW/CL/CS/CA/CB formats name x8..x15 (unpriv table 16.2).
  const rdPrime = ((c >>> 2) & 7) + 8; // also rs2' in CS/CA
  const rs1Prime = ((c >>> 7) & 7) + 8; // also rd' in CA/CB
  const shamt = (c >>> 2) & 0x1f; // shamt[5] (bit 12) is known to be 0 here
  switch (form) {
    case "c.addi4spn": return set(out, Op.ADDI, rdPrime, 2, 0, uimmAddi4spn(c), 2, c);
    case "c.lw": return set(out, Op.LW, rdPrime, rs1Prime, 0, uimmLwSw(c), 2, c);
    case "c.sw": return set(out, Op.SW, 0, rs1Prime, rdPrime, uimmLwSw(c), 2, c);
    case "c.nop":
    case "c.addi": return set(out, Op.ADDI, rdFull, rdFull, 0, immCI(c), 2, c);
    case "c.jal": return set(out, Op.JAL, 1, 0, 0, immCJ(c), 2, c);
    case "c.li": return set(out, Op.ADDI, rdFull, 0, 0, immCI(c), 2, c);
    case "c.addi16sp": return set(out, Op.ADDI, 2, 2, 0, immAddi16sp(c), 2, c);
    case "c.lui": return set(out, Op.LUI, rdFull, 0, 0, immCI(c) << 12, 2, c);
    case "c.srli": return set(out, Op.SRLI, rs1Prime, rs1Prime, 0, shamt, 2, c);
    case "c.srai": return set(out, Op.SRAI, rs1Prime, rs1Prime, 0, shamt, 2, c);
    case "c.andi": return set(out, Op.ANDI, rs1Prime, rs1Prime, 0, immCI(c), 2, c);
    case "c.sub": return set(out, Op.SUB, rs1Prime, rs1Prime, rdPrime, 0, 2, c);
    case "c.xor": return set(out, Op.XOR, rs1Prime, rs1Prime, rdPrime, 0, 2, c);
    case "c.or": return set(out, Op.OR, rs1Prime, rs1Prime, rdPrime, 0, 2, c);
    case "c.and": return set(out, Op.AND, rs1Prime, rs1Prime, rdPrime, 0, 2, c);
    case "c.j": return set(out, Op.JAL, 0, 0, 0, immCJ(c), 2, c);
    case "c.beqz": return set(out, Op.BEQ, 0, rs1Prime, 0, immCB(c), 2, c);
    case "c.bnez": return set(out, Op.BNE, 0, rs1Prime, 0, immCB(c), 2, c);
    case "c.slli": return set(out, Op.SLLI, rdFull, rdFull, 0, shamt, 2, c);
    case "c.lwsp": return set(out, Op.LW, rdFull, 2, 0, uimmLwsp(c), 2, c);
    case "c.jr": return set(out, Op.JALR, 0, rdFull, 0, 0, 2, c);
    case "c.mv": return set(out, Op.ADD, rdFull, 0, rs2Full, 0, 2, c);
    case "c.ebreak": return set(out, Op.EBREAK, 0, 0, 0, 0, 2, c);
    case "c.jalr": return set(out, Op.JALR, 1, rdFull, 0, 0, 2, c);
    case "c.add": return set(out, Op.ADD, rdFull, rdFull, rs2Full, 0, 2, c);
    case "c.swsp": return set(out, Op.SW, 0, 2, rs2Full, uimmSwsp(c), 2, c);
  }
}
