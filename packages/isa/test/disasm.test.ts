/*
 * Disassembler unit tests, independent of the toolchain: the expected strings are objdump 2.40's
 * output for these encodings (see objdump.test.ts for the exhaustive comparison).
 */
import { describe, expect, it } from "vitest";
import { disassemble, Disassembler, encode, Op } from "@matryoshka/isa";

const symbols = new Map([
  [0x80000000, "_start"],
  [0x80000010, "main"],
  [0x80001000, "message"],
]);
const symbolize = (address: number): string | undefined => symbols.get(address);

describe("disassemble", () => {
  it("prints objdump's aliases for the base ISA", () => {
    expect(disassemble(0x00000513, 0)).toBe("li\ta0,0");
    expect(disassemble(0x00000013, 0)).toBe("nop");
    expect(disassemble(0x00058513, 0)).toBe("mv\ta0,a1");
    // binutils 2.40 prints ADDI/ANDI/ORI/XORI and the immediate shifts without the "i"
    expect(disassemble(0xff010113, 0)).toBe("add\tsp,sp,-16");
    expect(disassemble(0x0207f793, 0)).toBe("and\ta5,a5,32");
    expect(disassemble(0x0ff57793, 0)).toBe("zext.b\ta5,a0");
    expect(disassemble(0xfff5c513, 0)).toBe("not\ta0,a1");
    expect(disassemble(0x0015b513, 0)).toBe("seqz\ta0,a1");
    expect(disassemble(0x00261793, 0)).toBe("sll\ta5,a2,0x2");
    expect(disassemble(0x40a00533, 0)).toBe("neg\ta0,a0");
    expect(disassemble(0x00b03533, 0)).toBe("snez\ta0,a1");
    expect(disassemble(0x0005a533, 0)).toBe("sltz\ta0,a1");
    expect(disassemble(0x00b02533, 0)).toBe("sgtz\ta0,a1");
    expect(disassemble(0x80001537, 0)).toBe("lui\ta0,0x80001");
    expect(disassemble(0x00004117, 0)).toBe("auipc\tsp,0x4");
    expect(disassemble(0x00008067, 0)).toBe("ret");
    expect(disassemble(0x00078067, 0)).toBe("jr\ta5");
    expect(disassemble(0x000780e7, 0)).toBe("jalr\ta5");
    expect(disassemble(0x00c580e7, 0)).toBe("jalr\t12(a1)");
    expect(disassemble(0x00c582e7, 0)).toBe("jalr\tt0,12(a1)");
    expect(disassemble(0xfea12e23, 0)).toBe("sw\ta0,-4(sp)");
    expect(disassemble(0x00574783, 0)).toBe("lbu\ta5,5(a4)");
    expect(disassemble(0x02b57733, 0)).toBe("remu\ta4,a0,a1");
  });

  it("prints branch and jump targets as absolute hex addresses with the symbol, if any", () => {
    expect(disassemble(encode(Op.JAL, { rd: 1, imm: 0x10 }), 0x80000000, symbolize)).toBe("jal\t80000010 <main>");
    expect(disassemble(encode(Op.JAL, { rd: 0, imm: 0x10 }), 0x80000000, symbolize)).toBe("j\t80000010 <main>");
    expect(disassemble(encode(Op.JAL, { rd: 10, imm: 0x14 }), 0x80000000, symbolize)).toBe("jal\ta0,80000014");
    expect(disassemble(encode(Op.BEQ, { rs1: 10, imm: -4 }), 0x80000014, symbolize)).toBe("beqz\ta0,80000010 <main>");
    expect(disassemble(encode(Op.BNE, { rs1: 10, rs2: 11, imm: 8 }), 0x80000000)).toBe("bne\ta0,a1,80000008");
    expect(disassemble(encode(Op.BGE, { rs2: 10, imm: 8 }), 0)).toBe("blez\ta0,8");
    expect(disassemble(encode(Op.BLT, { rs2: 10, imm: 8 }), 0)).toBe("bgtz\ta0,8");
    expect(disassemble(encode(Op.BLTU, { rs1: 10, imm: 8 }), 0)).toBe("bltu\ta0,zero,8");
    // targets wrap around the 32-bit address space
    expect(disassemble(encode(Op.BEQ, { rs1: 1, rs2: 2, imm: -4 }), 0)).toBe("beq\tra,sp,fffffffc");
  });

  it("prints CSR instructions with objdump's names and aliases", () => {
    expect(disassemble(0xf14022f3, 0)).toBe("csrr\tt0,mhartid");
    expect(disassemble(encode(Op.CSRRW, { rs1: 10, csr: 0x180 }), 0)).toBe("csrw\tsatp,a0");
    expect(disassemble(encode(Op.CSRRW, { rd: 5, rs1: 10, csr: 0x180 }), 0)).toBe("csrrw\tt0,satp,a0");
    expect(disassemble(encode(Op.CSRRS, { rs1: 10, csr: 0x304 }), 0)).toBe("csrs\tmie,a0");
    expect(disassemble(encode(Op.CSRRC, { rs1: 10, csr: 0x344 }), 0)).toBe("csrc\tmip,a0");
    expect(disassemble(encode(Op.CSRRS, { rd: 10, csr: 0xc00 }), 0)).toBe("rdcycle\ta0");
    expect(disassemble(encode(Op.CSRRS, { rd: 10, csr: 0xc81 }), 0)).toBe("rdtimeh\ta0");
    expect(disassemble(encode(Op.CSRRS, { rd: 10, csr: 0x7c0 }), 0)).toBe("csrr\ta0,0x7c0");
    expect(disassemble(encode(Op.CSRRS, { rd: 10, csr: 0x3ef }), 0)).toBe("csrr\ta0,pmpaddr63");
    // objdump 2.40 names the immediate forms after the register forms
    expect(disassemble(encode(Op.CSRRSI, { rs1: 8, csr: 0x300 }), 0)).toBe("csrs\tmstatus,8");
    expect(disassemble(encode(Op.CSRRWI, { rd: 10, rs1: 31, csr: 0x340 }), 0)).toBe("csrrw\ta0,mscratch,31");
    expect(disassemble(0xc0001073, 0)).toBe("unimp");
  });

  it("prints fences, system and atomic instructions", () => {
    expect(disassemble(0x0ff0000f, 0)).toBe("fence");
    expect(disassemble(0x0330000f, 0)).toBe("fence\trw,rw");
    expect(disassemble(0x0100000f, 0)).toBe("fence\tw,unknown");
    expect(disassemble(0x8330000f, 0)).toBe("fence.tso");
    expect(disassemble(0x0000100f, 0)).toBe("fence.i");
    expect(disassemble(0x00000073, 0)).toBe("ecall");
    expect(disassemble(0x30200073, 0)).toBe("mret");
    expect(disassemble(0x12000073, 0)).toBe("sfence.vma");
    expect(disassemble(0x12050073, 0)).toBe("sfence.vma\ta0");
    expect(disassemble(0x12b50073, 0)).toBe("sfence.vma\ta0,a1");
    expect(disassemble(0x1405a52f, 0)).toBe("lr.w.aq\ta0,(a1)");
    expect(disassemble(0xe6c5a52f, 0)).toBe("amomaxu.w.aqrl\ta0,a2,(a1)");
  });

  it("prints the fences objdump does not decode as the fences they execute as", () => {
    expect(disassemble(0x7ff0000f, 0)).toBe("fence"); // reserved fm: an ordinary fence (unpriv §2.7)
    expect(disassemble(0x0335050f, 0)).toBe("fence\trw,rw"); // nonzero rd and rs1
    expect(disassemble(0xfff5158f, 0)).toBe("fence.i"); // reserved fence.i fields
  });

  it("prints compressed instructions as objdump does", () => {
    expect(disassemble(0x4501, 0)).toBe("li\ta0,0");
    expect(disassemble(0x1141, 0)).toBe("add\tsp,sp,-16"); // c.addi sp, -16
    expect(disassemble(0x7101, 0)).toBe("add\tsp,sp,-512"); // c.addi16sp
    expect(disassemble(0x0040, 0)).toBe("add\ts0,sp,4"); // c.addi4spn
    expect(disassemble(0x8082, 0)).toBe("ret");
    expect(disassemble(0x8782, 0)).toBe("jr\ta5");
    expect(disassemble(0x9782, 0)).toBe("jalr\ta5");
    expect(disassemble(0x852e, 0)).toBe("mv\ta0,a1");
    expect(disassemble(0x952e, 0)).toBe("add\ta0,a0,a1");
    expect(disassemble(0x0001, 0)).toBe("nop");
    expect(disassemble(0x9002, 0)).toBe("ebreak");
    expect(disassemble(0x40b2, 0)).toBe("lw\tra,12(sp)");
    expect(disassemble(0xc606, 0)).toBe("sw\tra,12(sp)");
    expect(disassemble(0x6785, 0)).toBe("lui\ta5,0x1");
    expect(disassemble(0x7281, 0)).toBe("lui\tt0,0xfffe0");
    expect(disassemble(0x83ad, 0)).toBe("srl\ta5,a5,0xb");
    expect(disassemble(0x8b8d, 0)).toBe("and\ta5,a5,3");
    expect(disassemble(0x8c05, 0)).toBe("sub\ts0,s0,s1");
    expect(disassemble(0x2029, 0x8000002c, symbolize)).toBe("jal\t80000036");
    expect(disassemble(0xbfdd, 0x8000002a)).toBe("j\t80000020");
    expect(disassemble(0xdfe5, 0x800000ac)).toBe("beqz\ta5,800000a4");
  });

  it("prints the compressed HINTs with objdump's c. names", () => {
    expect(disassemble(0x0005, 0)).toBe("c.nop\t1");
    expect(disassemble(0x4005, 0)).toBe("c.li\tzero,1");
    expect(disassemble(0x6005, 0)).toBe("c.lui\tzero,0x1");
    expect(disassemble(0x8006, 0)).toBe("c.mv\tzero,ra");
    expect(disassemble(0x9006, 0)).toBe("c.add\tzero,ra");
    expect(disassemble(0x0006, 0)).toBe("c.slli\tzero,0x1");
    expect(disassemble(0x0502, 0)).toBe("c.slli64\ta0");
    expect(disassemble(0x8001, 0)).toBe("c.srli64\ts0");
    expect(disassemble(0x8401, 0)).toBe("c.srai64\ts0");
  });

  it("prints illegal encodings as .2byte/.4byte, and the zero halfword as unimp", () => {
    expect(disassemble(0x0000, 0)).toBe("unimp");
    expect(disassemble(0x2000, 0)).toBe(".2byte\t0x2000");
    expect(disassemble(0x6101, 0)).toBe(".2byte\t0x6101"); // c.addi16sp 0: reserved (objdump: add sp,sp,0)
    expect(disassemble(0x1082, 0)).toBe(".2byte\t0x1082"); // c.slli ra, 32: reserved on RV32
    expect(disassemble(0x00002007, 0)).toBe(".4byte\t0x2007");
    expect(disassemble(0x02051513, 0)).toBe(".4byte\t0x2051513"); // slli a0, a0, 32: reserved on RV32
    expect(disassemble(0xffffffff, 0)).toBe(".4byte\t0xffffffff");
  });

  it("notes x0- and tp-relative addresses even without history", () => {
    expect(disassemble(0x00402503, 0)).toBe("lw\ta0,4(zero) # 4");
    expect(disassemble(0xff822a03, 0)).toBe("lw\ts4,-8(tp) # fffffff8");
    expect(disassemble(0x00020067, 0)).toBe("jr\ttp # 0");
    expect(disassemble(0x00402503, 0, symbolize)).toBe("lw\ta0,4(zero) # 4");
  });
});

describe("Disassembler", () => {
  it("notes the address an AUIPC/LUI + ADDI/load/store/JALR pair builds, once", () => {
    const d = new Disassembler({ symbolize });
    // auipc a0, 0x1 at 0x80000004, then addi a0, a0, -4: 0x80000004 + 0x1000 - 4 = 0x80001000
    expect(d.disassemble(0x00001517, 0x80000004)).toBe("auipc\ta0,0x1");
    expect(d.disassemble(0xffc50513, 0x80000008)).toBe("add\ta0,a0,-4 # 80001000 <message>");
    expect(d.disassemble(0x00850513, 0x8000000c)).toBe("add\ta0,a0,8"); // consumed
    // lui a4, 0x10000 ; lbu a5, 5(a4)
    expect(d.disassemble(0x10000737, 0x80000010)).toBe("lui\ta4,0x10000");
    expect(d.disassemble(0x00574783, 0x80000014)).toBe("lbu\ta5,5(a4) # 10000005");
    // c.lui a5, 0x3 ; c.addi a5, 4
    expect(d.disassemble(0x678d, 0x80000018)).toBe("lui\ta5,0x3");
    expect(d.disassemble(0x0791, 0x8000001a)).toBe("add\ta5,a5,4 # 3004");
    // auipc ra, 0 ; jalr ra (the expansion of call with an unresolved offset)
    expect(d.disassemble(0x00000097, 0x80000010)).toBe("auipc\tra,0x0");
    expect(d.disassemble(0x000080e7, 0x80000014)).toBe("jalr\tra # 80000010 <main>");
  });

  it("keeps a pending address across instructions that do not use it, as objdump does", () => {
    const d = new Disassembler();
    d.disassemble(0x12345737, 0); // lui a4, 0x12345
    expect(d.disassemble(0x00070793, 4)).toBe("mv\ta5,a4"); // mv does not consume it
    expect(d.disassemble(0x00872803, 8)).toBe("lw\ta6,8(a4) # 12345008");
    d.reset();
    d.disassemble(0x12345737, 0);
    d.reset();
    expect(d.disassemble(0x00872803, 8)).toBe("lw\ta6,8(a4)");
  });

  it("lets tp-relative notes win over a pending AUIPC for JALR, as objdump does", () => {
    const d = new Disassembler();
    d.disassemble(0x00001217, 0); // auipc tp, 0x1
    expect(d.disassemble(0x004200e7, 4)).toBe("jalr\t4(tp) # 4");
  });

  it("notes gp-relative addresses when the global pointer is known", () => {
    const d = new Disassembler({ globalPointer: 0x80000800, symbolize });
    expect(d.disassemble(0x8001a503, 0)).toBe("lw\ta0,-2048(gp) # 80000000 <_start>");
    expect(new Disassembler().disassemble(0x8001a503, 0)).toBe("lw\ta0,-2048(gp)");
  });

  it("prints 16-bit encodings as .2byte when C is off", () => {
    const d = new Disassembler({ compressed: false });
    expect(d.disassemble(0x4501, 0)).toBe(".2byte\t0x4501");
    expect(d.disassemble(0x0000, 0)).toBe(".2byte\t0x0");
    d.compressed = true;
    expect(d.disassemble(0x4501, 0)).toBe("li\ta0,0");
  });

  it("names CSRs as of the chosen privileged spec", () => {
    const v111 = new Disassembler({ privSpec: "1.11" });
    const v112 = new Disassembler({ privSpec: "1.12" });
    const mconfigptr = encode(Op.CSRRS, { rd: 5, csr: 0xf15 });
    const ustatus = encode(Op.CSRRS, { rd: 5, csr: 0x000 });
    expect(v111.disassemble(mconfigptr, 0)).toBe("csrr\tt0,0xf15");
    expect(v112.disassemble(mconfigptr, 0)).toBe("csrr\tt0,mconfigptr");
    expect(v111.disassemble(ustatus, 0)).toBe("csrr\tt0,ustatus");
    expect(v112.disassemble(ustatus, 0)).toBe("csrr\tt0,0x0");
  });
});
