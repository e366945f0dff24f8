import { describe, expect, it } from "vitest";
import { Op } from "@matryoshka/isa";
import { Cause } from "@matryoshka/cpu";
import { c, i, li, RAM_BASE, setup } from "./harness.js";

/** Runs a program and returns the registers. */
function regs(program: (number | ReturnType<typeof c>)[], steps = program.length) {
  const t = setup(program.flat());
  t.run(steps);
  return { x: t.hart.x, t };
}

describe("RV32I arithmetic", () => {
  it("wraps on overflow and compares signed and unsigned", () => {
    const { x } = regs([
      ...li(1, 0x7fff_ffff), i(Op.ADDI, { rd: 2, rs1: 1, imm: 1 }),
      ...li(3, -1), i(Op.SLTU, { rd: 4, rs1: 0, rs2: 3 }), i(Op.SLT, { rd: 5, rs1: 0, rs2: 3 }),
      i(Op.SLTIU, { rd: 6, rs1: 0, imm: -1 }), i(Op.SLTI, { rd: 7, rs1: 3, imm: 0 }),
      i(Op.SUB, { rd: 8, rs1: 0, rs2: 1 }),
    ]);
    expect(x[2]).toBe(-0x8000_0000);
    expect(x[4]).toBe(1); // 0 < 0xffffffff unsigned
    expect(x[5]).toBe(0); // 0 < -1 signed is false
    expect(x[6]).toBe(1); // sltiu compares against the sign-extended immediate as unsigned
    expect(x[7]).toBe(1);
    expect(x[8]).toBe(-0x7fff_ffff);
  });

  it("shifts by the low five bits of rs2 and sign-extends SRA", () => {
    const { x } = regs([
      ...li(1, 0x8000_0001), i(Op.ADDI, { rd: 2, rs1: 0, imm: 33 }),
      i(Op.SLL, { rd: 3, rs1: 1, rs2: 2 }), i(Op.SRL, { rd: 4, rs1: 1, rs2: 2 }), i(Op.SRA, { rd: 5, rs1: 1, rs2: 2 }),
      i(Op.SRAI, { rd: 6, rs1: 1, imm: 31 }), i(Op.SRLI, { rd: 7, rs1: 1, imm: 31 }), i(Op.SLLI, { rd: 8, rs1: 1, imm: 31 }),
    ]);
    expect(x[3]! >>> 0).toBe(0x0000_0002);
    expect(x[4]! >>> 0).toBe(0x4000_0000);
    expect(x[5]! >>> 0).toBe(0xc000_0000);
    expect(x[6]).toBe(-1);
    expect(x[7]).toBe(1);
    expect(x[8]! >>> 0).toBe(0x8000_0000);
  });

  it("ignores writes to x0, and LUI/AUIPC build upper immediates relative to the pc", () => {
    const { x } = regs([
      i(Op.ADDI, { rd: 0, rs1: 0, imm: 5 }), i(Op.LUI, { rd: 0, imm: 0x12345000 }),
      i(Op.ADD, { rd: 1, rs1: 0, rs2: 0 }), i(Op.LUI, { rd: 2, imm: 0xfffff000 | 0 }), i(Op.AUIPC, { rd: 3, imm: 0x1000 }),
    ]);
    expect(x[0]).toBe(0);
    expect(x[1]).toBe(0);
    expect(x[2]! >>> 0).toBe(0xffff_f000);
    expect(x[3]! >>> 0).toBe(RAM_BASE + 16 + 0x1000);
  });
});

describe("RV32M", () => {
  const cases: [string, Op, number, number, number][] = [
    ["mul wraps", Op.MUL, 0x7fff_ffff, 2, -2],
    ["mulh signed", Op.MULH, -2, 3, -1],
    ["mulh of INT_MIN squared", Op.MULH, -0x8000_0000, -0x8000_0000, 0x4000_0000],
    ["mulhu", Op.MULHU, -1, -1, -2],
    ["mulhsu negative × unsigned", Op.MULHSU, -1, -1, -1],
    ["mulhsu positive × large unsigned", Op.MULHSU, 2, -1, 1],
    ["div truncates toward zero", Op.DIV, -7, 2, -3],
    ["div by zero gives -1", Op.DIV, 5, 0, -1],
    ["div overflow gives INT_MIN", Op.DIV, -0x8000_0000, -1, -0x8000_0000],
    ["divu by zero gives all ones", Op.DIVU, 5, 0, -1],
    ["divu is unsigned", Op.DIVU, -2, 2, 0x7fff_ffff],
    ["rem takes the dividend's sign", Op.REM, -7, 2, -1],
    ["rem by zero gives the dividend", Op.REM, -7, 0, -7],
    ["rem overflow gives 0", Op.REM, -0x8000_0000, -1, 0],
    ["remu by zero gives the dividend", Op.REMU, -7, 0, -7],
    ["remu is unsigned", Op.REMU, -1, 10, 5],
  ];
  it.each(cases)("%s", (_name, op, a, b, expected) => {
    const { x } = regs([...li(1, a), ...li(2, b), i(op, { rd: 3, rs1: 1, rs2: 2 })]);
    expect(x[3]).toBe(expected);
  });
});

describe("control transfer", () => {
  it("links the return address and clears bit 0 of JALR targets", () => {
    const t = setup([
      ...li(1, RAM_BASE + 0x101), // odd target: JALR clears bit 0
      i(Op.JALR, { rd: 5, rs1: 1, imm: 0 }),
    ]);
    t.run(3);
    expect(t.hart.x[5]! >>> 0).toBe(RAM_BASE + 12);
    expect(t.hart.pc >>> 0).toBe(RAM_BASE + 0x100);
  });

  it("computes JALR's target before writing rd when rd = rs1", () => {
    const t = setup([...li(1, RAM_BASE + 0x40), i(Op.JALR, { rd: 1, rs1: 1, imm: 4 })]);
    t.run(3);
    expect(t.hart.pc >>> 0).toBe(RAM_BASE + 0x44);
    expect(t.hart.x[1]! >>> 0).toBe(RAM_BASE + 12);
  });

  it("takes branches by signed and unsigned comparison", () => {
    const t = setup([
      ...li(1, -1), // x1 = -1
      i(Op.BLTU, { rs1: 0, rs2: 1, imm: 8 }), // 0 < 0xffffffff: taken
      i(Op.ADDI, { rd: 2, rs1: 0, imm: 1 }), // skipped
      i(Op.BLT, { rs1: 0, rs2: 1, imm: 8 }), // 0 < -1: not taken
      i(Op.ADDI, { rd: 3, rs1: 0, imm: 1 }),
    ]);
    t.run(5);
    expect(t.hart.x[2]).toBe(0);
    expect(t.hart.x[3]).toBe(1);
  });

  it("executes compressed code with its 2-byte pc increments and links", () => {
    const t = setup([
      c("c.li", { rd: 8, imm: -3 }),
      c("c.addi", { rd: 8, imm: 5 }),
      c("c.mv", { rd: 9, rs2: 8 }),
      c("c.jal", { imm: 6 }),
      c("c.nop"),
      c("c.nop"),
      c("c.slli", { rd: 9, imm: 4 }),
    ]);
    t.run(5);
    expect(t.hart.x[8]).toBe(2);
    expect(t.hart.x[9]).toBe(32);
    expect(t.hart.x[1]! >>> 0).toBe(RAM_BASE + 8); // c.jal links pc + 2
  });

  it("traps a jump to a 2-byte-aligned target without C and leaves rd unwritten (spec; QEMU 7.2 writes rd)", () => {
    const t = setup([i(Op.ADDI, { rd: 5, rs1: 0, imm: 7 }), i(Op.JAL, { rd: 5, imm: 6 })], { compressed: false });
    t.hart.mtvec = RAM_BASE + 0x200;
    t.run(2);
    expect(t.hart.mcause).toBe(Cause.InstructionMisaligned);
    expect(t.hart.mtval >>> 0).toBe(RAM_BASE + 4 + 6);
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE + 4);
    expect(t.hart.x[5]).toBe(7);
  });
});

describe("loads and stores", () => {
  it("sign- and zero-extends bytes and halfwords", () => {
    const t = setup([
      ...li(1, RAM_BASE + 0x800), ...li(2, 0x8081_f0f1),
      i(Op.SW, { rs1: 1, rs2: 2, imm: 0 }),
      i(Op.LB, { rd: 3, rs1: 1, imm: 0 }), i(Op.LBU, { rd: 4, rs1: 1, imm: 0 }),
      i(Op.LH, { rd: 5, rs1: 1, imm: 2 }), i(Op.LHU, { rd: 6, rs1: 1, imm: 2 }),
      i(Op.SB, { rs1: 1, rs2: 0, imm: 1 }), i(Op.SH, { rs1: 1, rs2: 0, imm: 2 }), i(Op.LW, { rd: 7, rs1: 1, imm: 0 }),
    ]);
    t.run(12);
    expect(t.hart.x[3]).toBe(-15);
    expect(t.hart.x[4]).toBe(0xf1);
    expect(t.hart.x[5]).toBe(-32639);
    expect(t.hart.x[6]).toBe(0x8081);
    expect(t.hart.x[7]! >>> 0).toBe(0x0000_00f1);
  });

  it("performs misaligned loads and stores in RAM, even across pages, as QEMU does", () => {
    const t = setup([
      ...li(1, RAM_BASE + 0x1ffe), ...li(2, 0x1122_3344),
      i(Op.SW, { rs1: 1, rs2: 2, imm: 0 }), i(Op.LW, { rd: 3, rs1: 1, imm: 0 }), i(Op.LH, { rd: 4, rs1: 1, imm: 1 }),
    ]);
    t.run(7);
    expect(t.hart.x[3]).toBe(0x1122_3344);
    expect(t.hart.x[4]).toBe(0x2233);
    expect(t.hart.mcause).toBe(0); // nothing trapped
  });

  it("still performs a load into x0 (and faults on a bad address)", () => {
    const t = setup([i(Op.LW, { rd: 0, rs1: 0, imm: 0 })]);
    t.hart.mtvec = RAM_BASE + 0x100;
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.LoadAccessFault);
    expect(t.hart.mtval).toBe(0);
  });
});

describe("self-modifying code", () => {
  it("sees a store to an instruction that already ran", () => {
    // The loop body's ADDI is rewritten from +1 to +100 after its first execution.
    const patched = i(Op.ADDI, { rd: 5, rs1: 5, imm: 100 });
    const t = setup([
      ...li(6, patched), //             0, 4
      ...li(7, RAM_BASE + 16), //        8, 12
      i(Op.ADDI, { rd: 5, rs1: 5, imm: 1 }), // 16: the instruction to patch
      i(Op.SW, { rs1: 7, rs2: 6, imm: 0 }), //  20
      i(Op.FENCE_I), //                          24
      i(Op.JAL, { rd: 0, imm: -12 }), //         28: back to 16
    ]);
    t.run(4 + 4 + 1);
    expect(t.hart.x[5]).toBe(101);
  });
});
