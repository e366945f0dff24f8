/*
 * Decoder unit tests. Every expected value was worked out by hand from the encoding tables of
 * the unprivileged spec 20191213 (ch. 24, RV32I/M/A/Zicsr; ch. 16, RVC) and the privileged spec
 * 1.12 (ch. 3-4), with the encodings written out bit by bit in the comments where it matters.
 */
import { describe, expect, it } from "vitest";
import { compressedForm, decode, decodeInto, instructionLength, Op, type Instruction } from "@matryoshka/isa";

/** The decoded fields, with unspecified ones 0 and length 4 unless given. */
function insn(fields: Partial<Instruction> & { op: Op; raw: number }): Instruction {
  return { rd: 0, rs1: 0, rs2: 0, imm: 0, csr: 0, aqrl: 0, length: 4, ...fields };
}

function illegal(raw: number, length: 2 | 4 = 4): Instruction {
  return insn({ op: Op.ILLEGAL, raw, length });
}

describe("decode: RV32I", () => {
  it("decodes R-type register-register operations", () => {
    // add a0, a1, a2: funct7 0000000 | rs2 01100 | rs1 01011 | 000 | rd 01010 | 0110011
    expect(decode(0x00c58533)).toEqual(insn({ op: Op.ADD, rd: 10, rs1: 11, rs2: 12, raw: 0x00c58533 }));
    expect(decode(0x40c58533).op).toBe(Op.SUB);
    expect(decode(0x00c59533).op).toBe(Op.SLL);
    expect(decode(0x00c5a533).op).toBe(Op.SLT);
    expect(decode(0x00c5b533).op).toBe(Op.SLTU);
    expect(decode(0x00c5c533).op).toBe(Op.XOR);
    expect(decode(0x00c5d533).op).toBe(Op.SRL);
    expect(decode(0x40c5d533).op).toBe(Op.SRA);
    expect(decode(0x00c5e533).op).toBe(Op.OR);
    expect(decode(0x00c5f533).op).toBe(Op.AND);
    expect(decode(0x01ff8fb3)).toEqual(insn({ op: Op.ADD, rd: 31, rs1: 31, rs2: 31, raw: 0x01ff8fb3 }));
  });

  it("decodes I-type immediates sign-extended, at both ends of their range", () => {
    // addi a0, a1, -1: imm 111111111111
    expect(decode(0xfff58513)).toEqual(insn({ op: Op.ADDI, rd: 10, rs1: 11, imm: -1, raw: 0xfff58513 }));
    expect(decode(0x7ff58513).imm).toBe(2047);
    expect(decode(0x80058513).imm).toBe(-2048);
    expect(decode(0x8005a513)).toEqual(insn({ op: Op.SLTI, rd: 10, rs1: 11, imm: -2048, raw: 0x8005a513 }));
    // sltiu compares unsigned but its immediate is still sign-extended (unpriv §2.4)
    expect(decode(0xfff5b513)).toEqual(insn({ op: Op.SLTIU, rd: 10, rs1: 11, imm: -1, raw: 0xfff5b513 }));
    expect(decode(0xfff5c513).op).toBe(Op.XORI);
    expect(decode(0xfff5e513).op).toBe(Op.ORI);
    expect(decode(0x0ff5f513)).toEqual(insn({ op: Op.ANDI, rd: 10, rs1: 11, imm: 255, raw: 0x0ff5f513 }));
  });

  it("decodes loads with sign-extended offsets", () => {
    // lw a0, -4(sp): imm 111111111100 | rs1 00010 | 010 | rd 01010 | 0000011
    expect(decode(0xffc12503)).toEqual(insn({ op: Op.LW, rd: 10, rs1: 2, imm: -4, raw: 0xffc12503 }));
    expect(decode(0x7ff5c503)).toEqual(insn({ op: Op.LBU, rd: 10, rs1: 11, imm: 2047, raw: 0x7ff5c503 }));
    expect(decode(0x80058503).op).toBe(Op.LB);
    expect(decode(0x80059503).op).toBe(Op.LH);
    expect(decode(0x8005d503)).toEqual(insn({ op: Op.LHU, rd: 10, rs1: 11, imm: -2048, raw: 0x8005d503 }));
  });

  it("decodes S-type offsets from their two fields, sign-extended", () => {
    // sw a0, -4(sp): imm[11:5] 1111111 | rs2 01010 | rs1 00010 | 010 | imm[4:0] 11100 | 0100011
    expect(decode(0xfea12e23)).toEqual(insn({ op: Op.SW, rs1: 2, rs2: 10, imm: -4, raw: 0xfea12e23 }));
    // sb zero, 2047(a0): imm[11:5] 0111111, imm[4:0] 11111
    expect(decode(0x7e050fa3)).toEqual(insn({ op: Op.SB, rs1: 10, rs2: 0, imm: 2047, raw: 0x7e050fa3 }));
    expect(decode(0x80a59023)).toEqual(insn({ op: Op.SH, rs1: 11, rs2: 10, imm: -2048, raw: 0x80a59023 }));
  });

  it("decodes B-type offsets: 13-bit, even, sign-extended", () => {
    // beq a0, a1, -4096: only imm[12] (bit 31) set
    expect(decode(0x80b50063)).toEqual(insn({ op: Op.BEQ, rs1: 10, rs2: 11, imm: -4096, raw: 0x80b50063 }));
    // bne a0, a1, +4094: imm[11] in bit 7, imm[10:5] = 111111, imm[4:1] = 1111
    expect(decode(0x7eb51fe3)).toEqual(insn({ op: Op.BNE, rs1: 10, rs2: 11, imm: 4094, raw: 0x7eb51fe3 }));
    // blt a0, a1, +2: imm[4:1] = 0001
    expect(decode(0x00b54163)).toEqual(insn({ op: Op.BLT, rs1: 10, rs2: 11, imm: 2, raw: 0x00b54163 }));
    // bge with only imm[11] (bit 7): +2048
    expect(decode(0x00b550e3)).toEqual(insn({ op: Op.BGE, rs1: 10, rs2: 11, imm: 2048, raw: 0x00b550e3 }));
    expect(decode(0xfeb56ee3)).toEqual(insn({ op: Op.BLTU, rs1: 10, rs2: 11, imm: -4, raw: 0xfeb56ee3 }));
    expect(decode(0x00b57463).op).toBe(Op.BGEU);
  });

  it("decodes JAL offsets: 21-bit, even, sign-extended, with scrambled bits", () => {
    // jal ra, -2: imm[20] = 1, imm[10:1] = all ones, imm[11] = 1, imm[19:12] = all ones
    expect(decode(0xfffff0ef)).toEqual(insn({ op: Op.JAL, rd: 1, imm: -2, raw: 0xfffff0ef }));
    // j +1048574: everything but imm[20]
    expect(decode(0x7ffff06f)).toEqual(insn({ op: Op.JAL, rd: 0, imm: 1048574, raw: 0x7ffff06f }));
    // only imm[11] (bit 20): +2048; only imm[20] (bit 31): -1 MiB
    expect(decode(0x0010006f).imm).toBe(2048);
    expect(decode(0x8000006f).imm).toBe(-1048576);
    expect(decode(0x000ff06f).imm).toBe(0xff000); // imm[19:12]
  });

  it("decodes JALR, and rejects funct3 != 000", () => {
    expect(decode(0x800500e7)).toEqual(insn({ op: Op.JALR, rd: 1, rs1: 10, imm: -2048, raw: 0x800500e7 }));
    expect(decode(0x00008067)).toEqual(insn({ op: Op.JALR, rd: 0, rs1: 1, imm: 0, raw: 0x00008067 }));
    expect(decode(0x00001067)).toEqual(illegal(0x00001067));
  });

  it("decodes LUI and AUIPC immediates as the full, already shifted, signed 32-bit value", () => {
    expect(decode(0x80001537)).toEqual(insn({ op: Op.LUI, rd: 10, imm: 0x80001000 | 0, raw: 0x80001537 }));
    expect(decode(0x80001537).imm).toBe(-2147479552);
    expect(decode(0x7ffff537).imm).toBe(0x7ffff000);
    expect(decode(0xfffff517)).toEqual(insn({ op: Op.AUIPC, rd: 10, imm: -4096, raw: 0xfffff517 }));
  });

  it("decodes immediate shifts with the shift amount as imm, and rejects RV64 and unknown encodings", () => {
    // slli a0, a1, 31
    expect(decode(0x01f59513)).toEqual(insn({ op: Op.SLLI, rd: 10, rs1: 11, imm: 31, raw: 0x01f59513 }));
    expect(decode(0x01f5d513)).toEqual(insn({ op: Op.SRLI, rd: 10, rs1: 11, imm: 31, raw: 0x01f5d513 }));
    expect(decode(0x4005d513)).toEqual(insn({ op: Op.SRAI, rd: 10, rs1: 11, imm: 0, raw: 0x4005d513 }));
    // imm[5] = 1 is shamt[5] on RV64, reserved on RV32 (unpriv §2.4)
    expect(decode(0x02059513)).toEqual(illegal(0x02059513));
    expect(decode(0x0205d513)).toEqual(illegal(0x0205d513));
    expect(decode(0x4205d513)).toEqual(illegal(0x4205d513));
    // srai's funct7 on slli; other funct7 values
    expect(decode(0x40059513)).toEqual(illegal(0x40059513));
    expect(decode(0x2005d513)).toEqual(illegal(0x2005d513));
    expect(decode(0x8005d513)).toEqual(illegal(0x8005d513));
  });

  it("rejects register-register encodings with a wrong funct7", () => {
    expect(decode(0x40c59533)).toEqual(illegal(0x40c59533)); // funct7 0100000 with sll
    expect(decode(0x40c5f533)).toEqual(illegal(0x40c5f533)); // ... with and
    expect(decode(0x04c58533)).toEqual(illegal(0x04c58533)); // funct7 0000010
    expect(decode(0x80c58533)).toEqual(illegal(0x80c58533)); // funct7 1000000
    expect(decode(0x42c58533)).toEqual(illegal(0x42c58533)); // funct7 0100001
  });

  it("rejects RV64-only and unassigned LOAD, STORE and BRANCH funct3 values", () => {
    expect(decode(0x00003003)).toEqual(illegal(0x00003003)); // ld
    expect(decode(0x00006003)).toEqual(illegal(0x00006003)); // lwu
    expect(decode(0x00007003)).toEqual(illegal(0x00007003));
    expect(decode(0x00003023)).toEqual(illegal(0x00003023)); // sd
    expect(decode(0x00004023)).toEqual(illegal(0x00004023));
    expect(decode(0x00002063)).toEqual(illegal(0x00002063));
    expect(decode(0x00003063)).toEqual(illegal(0x00003063));
  });

  it("decodes FENCE with imm = bits 31:20 and accepts any fm, pred, succ, rd and rs1", () => {
    expect(decode(0x0ff0000f)).toEqual(insn({ op: Op.FENCE, imm: 0x0ff, raw: 0x0ff0000f }));
    expect(decode(0x8330000f)).toEqual(insn({ op: Op.FENCE, imm: 0x833, raw: 0x8330000f })); // fence.tso
    expect(decode(0x0100000f)).toEqual(insn({ op: Op.FENCE, imm: 0x010, raw: 0x0100000f })); // pause
    // reserved fm = 0111 and nonzero rd/rs1 must be treated as an ordinary fence (unpriv §2.7)
    expect(decode(0x7ff5050f)).toEqual(insn({ op: Op.FENCE, imm: 0x7ff, raw: 0x7ff5050f }));
    expect(decode(0xfff0000f).imm).toBe(0xfff);
  });

  it("decodes FENCE.I, ignoring its reserved imm, rs1 and rd fields", () => {
    expect(decode(0x0000100f)).toEqual(insn({ op: Op.FENCE_I, raw: 0x0000100f }));
    expect(decode(0xfff5158f)).toEqual(insn({ op: Op.FENCE_I, raw: 0xfff5158f }));
    expect(decode(0x0000200f)).toEqual(illegal(0x0000200f)); // MISC-MEM funct3 010 (Zicbom, not ours)
    expect(decode(0x0000700f)).toEqual(illegal(0x0000700f));
  });

  it("decodes the SYSTEM instructions without operands only from their exact encodings", () => {
    expect(decode(0x00000073)).toEqual(insn({ op: Op.ECALL, raw: 0x00000073 }));
    expect(decode(0x00100073)).toEqual(insn({ op: Op.EBREAK, raw: 0x00100073 }));
    expect(decode(0x30200073)).toEqual(insn({ op: Op.MRET, raw: 0x30200073 }));
    expect(decode(0x10200073)).toEqual(insn({ op: Op.SRET, raw: 0x10200073 }));
    expect(decode(0x10500073)).toEqual(insn({ op: Op.WFI, raw: 0x10500073 }));
    for (const raw of [
      0x000000f3, // ecall with rd = 1
      0x00008073, // ecall with rs1 = 1
      0x00108073, // ebreak with rs1 = 1
      0x302000f3, // mret with rd = 1
      0x30208073, // mret with rs1 = 1
      0x10500573, // wfi with rd = 10
      0x10200173, // sret with rd = 2
      0x00200073, // uret (N extension, gone from priv 1.12)
      0x7b200073, // dret (debug mode only)
      0x10400073, // sfence.vm (priv 1.9.1)
      0x22000073, // hfence.gvma (H extension)
      0x00004073, // SYSTEM funct3 100 (H-extension loads and stores)
    ]) {
      expect(decode(raw)).toEqual(illegal(raw));
    }
  });

  it("decodes SFENCE.VMA with its rs1 and rs2 fields, and rejects rd != 0", () => {
    // sfence.vma a0, a1: 0001001 | 01011 | 01010 | 000 | 00000 | 1110011
    expect(decode(0x12b50073)).toEqual(insn({ op: Op.SFENCE_VMA, rs1: 10, rs2: 11, raw: 0x12b50073 }));
    expect(decode(0x12000073)).toEqual(insn({ op: Op.SFENCE_VMA, raw: 0x12000073 }));
    expect(decode(0x12b500f3)).toEqual(illegal(0x12b500f3));
  });

  it("decodes Zicsr with the CSR address unsigned and the uimm in rs1", () => {
    // csrrw a0, mstatus, a1
    expect(decode(0x30059573)).toEqual(insn({ op: Op.CSRRW, rd: 10, rs1: 11, csr: 0x300, raw: 0x30059573 }));
    expect(decode(0x3005a573).op).toBe(Op.CSRRS);
    expect(decode(0xfff03573)).toEqual(insn({ op: Op.CSRRC, rd: 10, rs1: 0, csr: 0xfff, raw: 0xfff03573 }));
    // csrrsi zero, mstatus, 8
    expect(decode(0x30046073)).toEqual(insn({ op: Op.CSRRSI, rd: 0, rs1: 8, csr: 0x300, raw: 0x30046073 }));
    expect(decode(0xc00fd573)).toEqual(insn({ op: Op.CSRRWI, rd: 10, rs1: 31, csr: 0xc00, raw: 0xc00fd573 }));
    expect(decode(0x3000f073).op).toBe(Op.CSRRCI);
  });
});

describe("decode: M and A extensions", () => {
  it("decodes the eight M operations", () => {
    const ops = [Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU];
    ops.forEach((op, funct3) => {
      const raw = (0x02c58533 | (funct3 << 12)) >>> 0;
      expect(decode(raw)).toEqual(insn({ op, rd: 10, rs1: 11, rs2: 12, raw }));
    });
  });

  it("decodes LR.W/SC.W/AMOs with aq and rl in aqrl", () => {
    // lr.w.aq a0, (a1): 00010 | aq 1 | rl 0 | 00000 | 01011 | 010 | 01010 | 0101111
    expect(decode(0x1405a52f)).toEqual(insn({ op: Op.LR_W, rd: 10, rs1: 11, aqrl: 2, raw: 0x1405a52f }));
    // sc.w.rl a0, a2, (a1)
    expect(decode(0x1ac5a52f)).toEqual(insn({ op: Op.SC_W, rd: 10, rs1: 11, rs2: 12, aqrl: 1, raw: 0x1ac5a52f }));
    // amomaxu.w.aqrl a0, a2, (a1)
    expect(decode(0xe6c5a52f)).toEqual(insn({ op: Op.AMOMAXU_W, rd: 10, rs1: 11, rs2: 12, aqrl: 3, raw: 0xe6c5a52f }));
    const byFunct5: [number, Op][] = [
      [0b00001, Op.AMOSWAP_W], [0b00000, Op.AMOADD_W], [0b00100, Op.AMOXOR_W], [0b01100, Op.AMOAND_W],
      [0b01000, Op.AMOOR_W], [0b10000, Op.AMOMIN_W], [0b10100, Op.AMOMAX_W], [0b11000, Op.AMOMINU_W],
    ];
    for (const [funct5, op] of byFunct5) expect(decode(((funct5 << 27) | 0x00c5a52f) >>> 0).op).toBe(op);
  });

  it("rejects LR.W with rs2 != 0, RV64 AMOs and unassigned funct5 values", () => {
    expect(decode(0x1415a52f)).toEqual(illegal(0x1415a52f)); // lr.w.aq a0, (a1) with rs2 = 1
    expect(decode(0x00c5b52f)).toEqual(illegal(0x00c5b52f)); // amoadd.d
    expect(decode(0x28c5a52f)).toEqual(illegal(0x28c5a52f)); // funct5 00101
    expect(decode(0x00c5c52f)).toEqual(illegal(0x00c5c52f)); // funct3 100
  });
});

describe("decode: encodings outside our ISA", () => {
  it("rejects 48-bit and longer encodings with length 4", () => {
    expect(decode(0x0000001f)).toEqual(illegal(0x0000001f)); // 48-bit: bits 5:0 = 011111
    expect(decode(0x0000003f)).toEqual(illegal(0x0000003f)); // 64-bit
    expect(decode(0x0000007f)).toEqual(illegal(0x0000007f)); // >= 80-bit
    expect(decode(0xffffffff)).toEqual(illegal(0xffffffff));
    expect(decode(-1)).toEqual(illegal(0xffffffff)); // a signed 32-bit view of the same word
  });

  it("rejects F/D, RV64-only and custom opcodes", () => {
    // flw, fsw, OP-FP, FMADD, OP-IMM-32, OP-32, custom-0, custom-2, OP-V
    const outside = [
      0x00002007, 0x00002027, 0x00000053, 0x00000043, 0x0000001b, 0x0000003b, 0x0000000b, 0x0000005b, 0x00000057,
    ];
    for (const raw of outside) {
      expect(decode(raw)).toEqual(illegal(raw));
    }
  });

  it("reports instruction lengths from the first halfword", () => {
    expect(instructionLength(0x4501)).toBe(2);
    expect(instructionLength(0x0513)).toBe(4);
    expect(instructionLength(0x001f)).toBe(6);
    expect(instructionLength(0x003f)).toBe(8);
    expect(instructionLength(0x007f)).toBeUndefined();
  });
});

describe("decode: RV32C expands to the base operation with length 2", () => {
  const c = (fields: Partial<Instruction> & { op: Op; raw: number }): Instruction => insn({ length: 2, ...fields });

  it("treats the all-zero halfword as illegal and looks only at the low 16 bits", () => {
    expect(decode(0x0000)).toEqual(illegal(0, 2));
    expect(decode(0x12340000)).toEqual(illegal(0, 2));
    // c.addi a0, 1 with junk in the upper half
    expect(decode(0xdead0505)).toEqual(c({ op: Op.ADDI, rd: 10, rs1: 10, imm: 1, raw: 0x0505 }));
  });

  it("expands quadrant 0: c.addi4spn, c.lw, c.sw", () => {
    // c.addi4spn s0, sp, 4: nzuimm[2] is bit 6
    expect(decode(0x0040)).toEqual(c({ op: Op.ADDI, rd: 8, rs1: 2, imm: 4, raw: 0x0040 }));
    // c.addi4spn a5, sp, 1020: every nzuimm bit set, rd' = 111
    expect(decode(0x1ffc)).toEqual(c({ op: Op.ADDI, rd: 15, rs1: 2, imm: 1020, raw: 0x1ffc }));
    // c.lw s1, 124(a5): uimm[5:3] = 111 in bits 12:10, uimm[2] in bit 6, uimm[6] in bit 5
    expect(decode(0x5fe4)).toEqual(c({ op: Op.LW, rd: 9, rs1: 15, imm: 124, raw: 0x5fe4 }));
    expect(decode(0x4188)).toEqual(c({ op: Op.LW, rd: 10, rs1: 11, imm: 0, raw: 0x4188 }));
    // c.sw a2, 64(s0)
    expect(decode(0xc030)).toEqual(c({ op: Op.SW, rs1: 8, rs2: 12, imm: 64, raw: 0xc030 }));
  });

  it("rejects reserved and F/D encodings in quadrant 0", () => {
    expect(decode(0x0004)).toEqual(illegal(0x0004, 2)); // c.addi4spn with nzuimm = 0
    expect(decode(0x0010)).toEqual(illegal(0x0010, 2));
    expect(decode(0x8000)).toEqual(illegal(0x8000, 2)); // funct3 100: reserved
    // c.fld, c.flw, c.fsd, c.fsw
    for (const raw of [0x2000, 0x6000, 0xa000, 0xe000]) expect(decode(raw)).toEqual(illegal(raw, 2));
  });

  it("expands c.nop, c.addi and c.li, including their HINT forms writing x0", () => {
    expect(decode(0x0001)).toEqual(c({ op: Op.ADDI, raw: 0x0001 })); // c.nop
    expect(decode(0x0005)).toEqual(c({ op: Op.ADDI, imm: 1, raw: 0x0005 })); // c.nop 1: HINT
    expect(decode(0x1101)).toEqual(c({ op: Op.ADDI, rd: 2, rs1: 2, imm: -32, raw: 0x1101 })); // c.addi sp, -32
    expect(decode(0x0ffd)).toEqual(c({ op: Op.ADDI, rd: 31, rs1: 31, imm: 31, raw: 0x0ffd }));
    expect(decode(0x0501)).toEqual(c({ op: Op.ADDI, rd: 10, rs1: 10, imm: 0, raw: 0x0501 })); // HINT
    expect(decode(0x5281)).toEqual(c({ op: Op.ADDI, rd: 5, rs1: 0, imm: -32, raw: 0x5281 })); // c.li t0, -32
    expect(decode(0x4005)).toEqual(c({ op: Op.ADDI, rd: 0, rs1: 0, imm: 1, raw: 0x4005 })); // c.li zero, 1: HINT
  });

  it("expands c.jal and c.j to JAL with rd = ra and rd = zero", () => {
    // c.jal +74: offset[6] in bit 7, offset[3:1] = 101 in bits 5:3
    expect(decode(0x20a9)).toEqual(c({ op: Op.JAL, rd: 1, imm: 74, raw: 0x20a9 }));
    // all offset bits set: -2
    expect(decode(0x3ffd)).toEqual(c({ op: Op.JAL, rd: 1, imm: -2, raw: 0x3ffd }));
    // c.j +34: offset[3:1] = 001, offset[5] in bit 2
    expect(decode(0xa00d)).toEqual(c({ op: Op.JAL, rd: 0, imm: 34, raw: 0xa00d }));
    expect(decode(0xb001)).toEqual(c({ op: Op.JAL, rd: 0, imm: -2048, raw: 0xb001 })); // only offset[11]
  });

  it("expands c.addi16sp and c.lui, rejecting their zero immediates", () => {
    expect(decode(0x7101)).toEqual(c({ op: Op.ADDI, rd: 2, rs1: 2, imm: -512, raw: 0x7101 }));
    expect(decode(0x617d)).toEqual(c({ op: Op.ADDI, rd: 2, rs1: 2, imm: 496, raw: 0x617d }));
    expect(decode(0x6101)).toEqual(illegal(0x6101, 2)); // c.addi16sp with nzimm = 0: reserved
    // c.lui a0, 1 and c.lui t0, 0xfffe0: imm already << 12 and sign-extended from bit 17
    expect(decode(0x6505)).toEqual(c({ op: Op.LUI, rd: 10, imm: 0x1000, raw: 0x6505 }));
    expect(decode(0x7281)).toEqual(c({ op: Op.LUI, rd: 5, imm: -0x20000, raw: 0x7281 }));
    expect(decode(0x72fd)).toEqual(c({ op: Op.LUI, rd: 5, imm: -0x1000, raw: 0x72fd }));
    expect(decode(0x6005)).toEqual(c({ op: Op.LUI, rd: 0, imm: 0x1000, raw: 0x6005 })); // HINT
    expect(decode(0x6501)).toEqual(illegal(0x6501, 2)); // c.lui a0, 0: reserved
    expect(decode(0x6001)).toEqual(illegal(0x6001, 2)); // c.lui zero, 0: reserved
  });

  it("expands c.srli, c.srai, c.andi and rejects RV32C shifts with shamt[5] = 1", () => {
    expect(decode(0x8005)).toEqual(c({ op: Op.SRLI, rd: 8, rs1: 8, imm: 1, raw: 0x8005 }));
    expect(decode(0x8001)).toEqual(c({ op: Op.SRLI, rd: 8, rs1: 8, imm: 0, raw: 0x8001 })); // shamt 0: HINT
    expect(decode(0x8541)).toEqual(c({ op: Op.SRAI, rd: 10, rs1: 10, imm: 16, raw: 0x8541 }));
    expect(decode(0x99fd)).toEqual(c({ op: Op.ANDI, rd: 11, rs1: 11, imm: -1, raw: 0x99fd }));
    expect(decode(0x9005)).toEqual(illegal(0x9005, 2)); // c.srli s0, 33: NSE
    expect(decode(0x9405)).toEqual(illegal(0x9405, 2)); // c.srai s0, 33: NSE
  });

  it("expands c.sub, c.xor, c.or, c.and and rejects the RV64 and reserved CA encodings", () => {
    expect(decode(0x8c05)).toEqual(c({ op: Op.SUB, rd: 8, rs1: 8, rs2: 9, raw: 0x8c05 }));
    expect(decode(0x8e35)).toEqual(c({ op: Op.XOR, rd: 12, rs1: 12, rs2: 13, raw: 0x8e35 }));
    expect(decode(0x8f5d)).toEqual(c({ op: Op.OR, rd: 14, rs1: 14, rs2: 15, raw: 0x8f5d }));
    expect(decode(0x8ce9)).toEqual(c({ op: Op.AND, rd: 9, rs1: 9, rs2: 10, raw: 0x8ce9 }));
    // c.subw, c.addw (RV64) and the two reserved encodings after them
    for (const raw of [0x9c01, 0x9c21, 0x9c41, 0x9c61]) expect(decode(raw)).toEqual(illegal(raw, 2));
  });

  it("expands c.beqz and c.bnez to BEQ/BNE with rs2 = zero", () => {
    expect(decode(0xc105)).toEqual(c({ op: Op.BEQ, rs1: 10, rs2: 0, imm: 32, raw: 0xc105 }));
    expect(decode(0xf0e9)).toEqual(c({ op: Op.BNE, rs1: 9, rs2: 0, imm: -62, raw: 0xf0e9 }));
    expect(decode(0xd001)).toEqual(c({ op: Op.BEQ, rs1: 8, imm: -256, raw: 0xd001 })); // only offset[8]
  });

  it("expands quadrant 2: c.slli, c.lwsp, c.jr, c.mv, c.ebreak, c.jalr, c.add, c.swsp", () => {
    expect(decode(0x0506)).toEqual(c({ op: Op.SLLI, rd: 10, rs1: 10, imm: 1, raw: 0x0506 }));
    expect(decode(0x0502)).toEqual(c({ op: Op.SLLI, rd: 10, rs1: 10, imm: 0, raw: 0x0502 })); // HINT
    expect(decode(0x0006)).toEqual(c({ op: Op.SLLI, rd: 0, rs1: 0, imm: 1, raw: 0x0006 })); // HINT
    expect(decode(0x557e)).toEqual(c({ op: Op.LW, rd: 10, rs1: 2, imm: 252, raw: 0x557e })); // c.lwsp a0, 252(sp)
    expect(decode(0x8082)).toEqual(c({ op: Op.JALR, rd: 0, rs1: 1, imm: 0, raw: 0x8082 })); // c.jr ra
    expect(decode(0x852e)).toEqual(c({ op: Op.ADD, rd: 10, rs1: 0, rs2: 11, raw: 0x852e })); // c.mv a0, a1
    expect(decode(0x8006)).toEqual(c({ op: Op.ADD, rd: 0, rs1: 0, rs2: 1, raw: 0x8006 })); // c.mv zero, ra: HINT
    expect(decode(0x9002)).toEqual(c({ op: Op.EBREAK, raw: 0x9002 }));
    expect(decode(0x9502)).toEqual(c({ op: Op.JALR, rd: 1, rs1: 10, imm: 0, raw: 0x9502 })); // c.jalr a0
    expect(decode(0x952e)).toEqual(c({ op: Op.ADD, rd: 10, rs1: 10, rs2: 11, raw: 0x952e })); // c.add a0, a1
    expect(decode(0x9006)).toEqual(c({ op: Op.ADD, rd: 0, rs1: 0, rs2: 1, raw: 0x9006 })); // c.add zero, ra: HINT
    expect(decode(0xc606)).toEqual(c({ op: Op.SW, rs1: 2, rs2: 1, imm: 12, raw: 0xc606 })); // c.swsp ra, 12(sp)
    expect(decode(0xdffe)).toEqual(c({ op: Op.SW, rs1: 2, rs2: 31, imm: 252, raw: 0xdffe }));
  });

  it("rejects the reserved and F/D encodings of quadrant 2", () => {
    expect(decode(0x1506)).toEqual(illegal(0x1506, 2)); // c.slli a0, 33: NSE
    expect(decode(0x4002)).toEqual(illegal(0x4002, 2)); // c.lwsp zero: reserved
    expect(decode(0x8002)).toEqual(illegal(0x8002, 2)); // c.jr zero: reserved
    for (const raw of [0x2002, 0x6002, 0xa002, 0xe002]) expect(decode(raw)).toEqual(illegal(raw, 2));
  });

  it("names each compressed form", () => {
    expect(compressedForm(0x0001)).toBe("c.nop");
    expect(compressedForm(0x0505)).toBe("c.addi");
    expect(compressedForm(0x8082)).toBe("c.jr");
    expect(compressedForm(0x9002)).toBe("c.ebreak");
    expect(compressedForm(0x6101)).toBeUndefined();
    expect(compressedForm(0x00000513)).toBeUndefined(); // a 32-bit encoding
  });
});

describe("decodeInto", () => {
  it("fills the given object, overwriting every field, and returns it", () => {
    const out = decode(0x30059573); // csrrw: csr and rd set
    expect(decodeInto(0x1ac5a52f, out)).toBe(out); // sc.w.rl: aqrl set, csr must be cleared
    expect(out).toEqual(insn({ op: Op.SC_W, rd: 10, rs1: 11, rs2: 12, aqrl: 1, raw: 0x1ac5a52f }));
    decodeInto(0x0505, out);
    expect(out).toEqual(insn({ op: Op.ADDI, rd: 10, rs1: 10, imm: 1, length: 2, raw: 0x0505 }));
    decodeInto(0xffffffff, out);
    expect(out).toEqual(illegal(0xffffffff));
  });
});
