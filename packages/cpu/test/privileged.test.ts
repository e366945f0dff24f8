import { describe, expect, it } from "vitest";
import { CSR, Op } from "@matryoshka/isa";
import { Cause, INTERRUPT_BIT, Irq, MIP, MPP_SHIFT, MSTATUS, Priv, StopReason } from "@matryoshka/cpu";
import { SATP_MODE_SV32 } from "@matryoshka/mmu";
import { c, i, li, RAM_BASE, setup } from "./harness.js";
import { guestPhysical as gpa } from "@matryoshka/memory";

const HANDLER = RAM_BASE + 0x400;
const S_HANDLER = RAM_BASE + 0x600;
const csrr = (rd: number, csr: number) => i(Op.CSRRS, { rd, rs1: 0, csr });
const csrw = (csr: number, rs1: number) => i(Op.CSRRW, { rd: 0, rs1, csr });

/** A hart in `priv` with M and S trap vectors set, about to run `program`. */
function at(priv: number, program: Parameters<typeof setup>[0], options: Parameters<typeof setup>[1] = {}) {
  const t = setup(program, options);
  t.hart.mtvec = HANDLER;
  t.hart.stvec = S_HANDLER;
  t.hart.priv = priv;
  // Park every handler and vector entry in a self-loop, so running into one changes nothing.
  const selfLoop = i(Op.JAL, { rd: 0, imm: 0 });
  for (let k = 0; k < 16; k++) {
    place(t, HANDLER + 4 * k, [selfLoop]);
    place(t, S_HANDLER + 4 * k, [selfLoop]);
  }
  return t;
}

describe("CSR access rules (priv. 1.12 §2.1)", () => {
  it("makes M-level CSRs illegal from S, with the instruction bits in mtval (as QEMU)", () => {
    const insn = csrr(5, CSR.mstatus);
    const t = at(Priv.S, [insn]);
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.IllegalInstruction);
    expect(t.hart.mtval >>> 0).toBe(insn >>> 0);
    expect(t.hart.x[5]).toBe(0);
    expect(t.hart.priv).toBe(Priv.M);
    expect(t.hart.pc >>> 0).toBe(HANDLER);
  });

  it("rejects writes to read-only CSRs but allows reading them with csrrs x0", () => {
    const t = at(Priv.M, [csrr(5, CSR.mhartid), i(Op.CSRRW, { rd: 0, rs1: 5, csr: CSR.mvendorid })], { hartId: 3 });
    t.run(2);
    expect(t.hart.x[5]).toBe(3);
    expect(t.hart.mcause).toBe(Cause.IllegalInstruction);
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE + 4);
  });

  it("rejects CSRs that do not exist", () => {
    const t = at(Priv.M, [csrr(5, 0x7c0)]);
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.IllegalInstruction);
  });

  it("gates user counters by mcounteren and scounteren (§3.1.11, §4.1.5)", () => {
    const run = (priv: number, mcounteren: number, scounteren: number) => {
      const t = at(priv, [csrr(5, CSR.cycle)]);
      t.hart.mcounteren = mcounteren;
      t.hart.scounteren = scounteren;
      t.run(1);
      return t.hart.mcause === Cause.IllegalInstruction ? "illegal" : "ok";
    };
    expect(run(Priv.S, 0, 0)).toBe("illegal");
    expect(run(Priv.S, 1, 0)).toBe("ok");
    expect(run(Priv.U, 1, 0)).toBe("illegal");
    expect(run(Priv.U, 1, 1)).toBe("ok");
  });

  it("applies WARL masks: QEMU's where the specification leaves the choice open, the spec's elsewhere", () => {
    const t = at(Priv.M, [
      ...li(1, -1),
      csrw(CSR.mstatus, 1), csrr(10, CSR.mstatus), csrr(11, CSR.sstatus),
      csrw(CSR.medeleg, 1), csrr(12, CSR.medeleg),
      csrw(CSR.mideleg, 1), csrr(13, CSR.mideleg),
      csrw(CSR.mie, 1), csrr(14, CSR.mie), csrr(15, CSR.sie),
      csrr(16, CSR.misa),
    ]);
    t.run(13);
    expect(t.hart.x[10]! >>> 0).toBe(0x807e_1faa);
    expect(t.hart.x[11]! >>> 0).toBe(0x800c_0722);
    expect(t.hart.x[12]! >>> 0).toBe(0xb3ff); // QEMU 7.2: 0x00f0bfff (ecall-from-M and H causes)
    expect(t.hart.x[13]! >>> 0).toBe(0x222); // QEMU 7.2: 0x2666 (VS and LCOFI bits without H/Sscofpmf)
    expect(t.hart.x[14]! >>> 0).toBe(0xaaa); // QEMU 7.2: 0x2eee
    expect(t.hart.x[15]! >>> 0).toBe(0x222); // QEMU 7.2: 0x2222
    expect(t.hart.x[16]! >>> 0).toBe(0x4014_1105);
  });

  it("follows the specification where QEMU 7.2 departs from it", () => {
    const t = at(Priv.M, [
      ...li(1, -1),
      ...li(2, 0x1000), // MPP = 2, which is not a privilege mode
      csrw(CSR.mstatus, 2), csrr(10, CSR.mstatus),
      csrw(CSR.mepc, 1), csrr(11, CSR.mepc), // mepc bit 0 is always zero with C
      csrw(CSR.menvcfg, 1), csrr(12, CSR.menvcfg), // menvcfg: only FIOM without Zicbo*
      csrw(CSR.mcountinhibit, 1), csrr(13, CSR.mcountinhibit), // mcountinhibit.TM is read-only zero
    ]);
    t.run(12);
    expect((t.hart.x[10]! >>> MPP_SHIFT) & 3).toBe(Priv.U); // MPP kept at its old value (QEMU: keeps 2)
    expect(t.hart.x[11]! >>> 0).toBe(0xffff_fffe); // QEMU: 0xffffffff
    expect(t.hart.x[12]! >>> 0).toBe(1); // QEMU: 0xf1
    expect(t.hart.x[13]! >>> 0).toBe(0xffff_fffd); // QEMU: 0xffffffff
  });

  it("ignores mtvec writes with a reserved mode, as QEMU does", () => {
    const t = at(Priv.M, [...li(1, (RAM_BASE | 2) >>> 0), csrw(CSR.mtvec, 1), csrr(5, CSR.mtvec), ...li(1, (RAM_BASE | 1) >>> 0), csrw(CSR.mtvec, 1), csrr(6, CSR.mtvec)]);
    t.run(8);
    expect(t.hart.x[5]! >>> 0).toBe(HANDLER);
    expect(t.hart.x[6]! >>> 0).toBe((RAM_BASE | 1) >>> 0);
  });

  it("does not count the instruction that writes minstret (spec §3.1.11; QEMU 7.2 counts it)", () => {
    const t = at(Priv.M, [
      i(Op.ADDI, { rd: 1, rs1: 0, imm: 100 }),
      csrw(CSR.minstret, 1), // minstret := 100
      csrr(5, CSR.minstret), // reads 100: the write itself is not counted
      csrr(6, CSR.minstret), // 101
    ]);
    t.run(4);
    expect(t.hart.x[5]).toBe(100);
    expect(t.hart.x[6]).toBe(101);
  });

  it("counts mcycle and minstret apart: trapped instructions cycle but do not retire", () => {
    const t = at(Priv.M, [i(Op.ECALL)]);
    place(t, HANDLER, [csrr(5, CSR.mcycle), csrr(6, CSR.minstret)]);
    t.hart.codeCache.clear();
    t.run(3);
    expect(t.hart.x[5]).toBe(1);
    expect(t.hart.x[6]).toBe(1); // the ECALL trapped: only the first csrr retired
  });
});

function place(t: ReturnType<typeof setup>, pa: number, program: Parameters<typeof setup>[0]) {
  let pc = pa;
  for (const item of program) {
    if (typeof item !== "number") throw new Error("place: 32-bit only");
    t.ram.write(gpa(pc), Uint8Array.of(item & 0xff, (item >>> 8) & 0xff, (item >>> 16) & 0xff, item >>> 24));
    pc += 4;
  }
}

describe("traps (§3.1.6.1, §3.3.1)", () => {
  it("gives ECALL a cause per privilege level", () => {
    for (const [priv, cause] of [[Priv.U, Cause.EcallFromU], [Priv.S, Cause.EcallFromS], [Priv.M, Cause.EcallFromM]] as const) {
      const t = at(priv, [i(Op.ECALL)]);
      t.run(1);
      expect(t.hart.mcause).toBe(cause);
      expect((t.hart.mstatus >>> MPP_SHIFT) & 3).toBe(priv);
    }
  });

  it("reports EBREAK (and C.EBREAK) with mtval 0, as QEMU does (the spec allows 0 or the pc)", () => {
    const t = at(Priv.M, [c("c.ebreak")]);
    t.hart.mtval = 123;
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.Breakpoint);
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE);
    expect(t.hart.mtval).toBe(0);
  });

  it("delegates to S through medeleg, saving SPP/SPIE, but never from M", () => {
    const t = at(Priv.U, [i(Op.ECALL)]);
    t.hart.medeleg = 1 << Cause.EcallFromU;
    t.hart.mstatus = MSTATUS.SIE;
    t.run(1);
    expect(t.hart.priv).toBe(Priv.S);
    expect(t.hart.scause).toBe(Cause.EcallFromU);
    expect(t.hart.sepc >>> 0).toBe(RAM_BASE);
    expect(t.hart.pc >>> 0).toBe(S_HANDLER);
    expect(t.hart.mstatus & (MSTATUS.SPP | MSTATUS.SPIE | MSTATUS.SIE)).toBe(MSTATUS.SPIE);
    const fromM = at(Priv.M, [i(Op.ECALL)]);
    fromM.hart.medeleg = 0xffff;
    fromM.run(1);
    expect(fromM.hart.priv).toBe(Priv.M);
    expect(fromM.hart.mcause).toBe(Cause.EcallFromM);
  });

  it("returns with MRET to MPP, setting MPIE and clearing MPRV below M", () => {
    const t = at(Priv.M, [i(Op.MRET)]);
    t.hart.mepc = RAM_BASE + 0x40;
    t.hart.mstatus = (Priv.S << MPP_SHIFT) | MSTATUS.MPIE | MSTATUS.MPRV;
    t.run(1);
    expect(t.hart.priv).toBe(Priv.S);
    expect(t.hart.pc >>> 0).toBe(RAM_BASE + 0x40);
    expect(t.hart.mstatus & (MSTATUS.MIE | MSTATUS.MPIE | MSTATUS.MPRV | MSTATUS.MPP)).toBe(MSTATUS.MIE | MSTATUS.MPIE);
  });

  it("makes SRET illegal in S when TSR is set, and xRET illegal below its level", () => {
    const tsr = at(Priv.S, [i(Op.SRET)]);
    tsr.hart.mstatus = MSTATUS.TSR;
    tsr.run(1);
    expect(tsr.hart.mcause).toBe(Cause.IllegalInstruction);
    const mretInS = at(Priv.S, [i(Op.MRET)]);
    mretInS.run(1);
    expect(mretInS.hart.mcause).toBe(Cause.IllegalInstruction);
    const sretInU = at(Priv.U, [i(Op.SRET)]);
    sretInU.run(1);
    expect(sretInU.hart.mcause).toBe(Cause.IllegalInstruction);
  });

  it("traps WFI in U, and in S under TW; TVM traps satp and SFENCE.VMA in S", () => {
    for (const [priv, mstatus, insn] of [
      [Priv.U, 0, i(Op.WFI)],
      [Priv.S, MSTATUS.TW, i(Op.WFI)],
      [Priv.S, MSTATUS.TVM, csrr(5, CSR.satp)],
      [Priv.S, MSTATUS.TVM, i(Op.SFENCE_VMA, { rs1: 0, rs2: 0 })],
      [Priv.U, 0, i(Op.SFENCE_VMA, { rs1: 0, rs2: 0 })],
    ] as const) {
      const t = at(priv, [insn]);
      t.hart.mstatus = mstatus;
      t.run(1);
      expect(t.hart.mcause).toBe(Cause.IllegalInstruction);
    }
  });

  it("puts the encoding of an illegal instruction in mtval, 16 bits for compressed ones", () => {
    const t = at(Priv.M, [0x0000_0000]);
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.IllegalInstruction);
    expect(t.hart.mtval).toBe(0);
    const t2 = at(Priv.M, [0xffff_ffff | 0]);
    t2.run(1);
    expect(t2.hart.mtval >>> 0).toBe(0xffff_ffff);
  });

  it("raises address-misaligned before access faults for atomics (trap priority, table 3.7)", () => {
    const t = at(Priv.M, [i(Op.ADDI, { rd: 1, rs1: 0, imm: 2 }), i(Op.LR_W, { rd: 5, rs1: 1 })]);
    t.run(2);
    expect(t.hart.mcause).toBe(Cause.LoadMisaligned);
    expect(t.hart.mtval).toBe(2);
  });
});

describe("interrupts (§3.1.9)", () => {
  it("takes the highest-priority pending interrupt: MEI, MSI, MTI, SEI, SSI, STI", () => {
    const t = at(Priv.M, [i(Op.ADDI, { rd: 1, rs1: 0, imm: 1 })]);
    t.hart.mstatus = MSTATUS.MIE;
    t.hart.mie = MIP.MSIP | MIP.MTIP | MIP.SSIP;
    t.hart.mipSoftware = MIP.SSIP;
    t.hart.setInterruptLine(MIP.MTIP, true);
    t.hart.setInterruptLine(MIP.MSIP, true);
    t.run(1);
    expect(t.hart.mcause >>> 0).toBe((INTERRUPT_BIT | Irq.MSI) >>> 0);
    expect(t.hart.x[1]).toBe(0); // taken before the instruction ran
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE);
  });

  it("vectors interrupts to base + 4 × cause in vectored mode, but not exceptions", () => {
    const t = at(Priv.M, [i(Op.ECALL)]);
    t.hart.mtvec = HANDLER | 1;
    t.hart.mstatus = MSTATUS.MIE;
    t.hart.mie = MIP.MTIP;
    t.hart.setInterruptLine(MIP.MTIP, true);
    t.run(1);
    expect(t.hart.pc >>> 0).toBe(HANDLER + 4 * Irq.MTI);
    t.hart.setInterruptLine(MIP.MTIP, false);
    t.hart.mstatus = 0;
    t.hart.pc = RAM_BASE;
    t.run(1);
    expect(t.hart.pc >>> 0).toBe(HANDLER);
  });

  it("always lets M-level interrupts preempt lower privileges, whatever mstatus.MIE says", () => {
    const t = at(Priv.U, [i(Op.ADDI, { rd: 1, rs1: 0, imm: 1 })]);
    t.hart.mie = MIP.MTIP;
    t.hart.setInterruptLine(MIP.MTIP, true);
    t.run(1);
    expect(t.hart.priv).toBe(Priv.M);
    expect(t.hart.mcause >>> 0).toBe((INTERRUPT_BIT | Irq.MTI) >>> 0);
  });

  it("masks delegated interrupts in S by SIE, and delivers them to S", () => {
    const t = at(Priv.S, [i(Op.ADDI, { rd: 1, rs1: 0, imm: 1 }), i(Op.ADDI, { rd: 1, rs1: 0, imm: 2 })]);
    t.hart.mideleg = MIP.STIP;
    t.hart.mie = MIP.STIP;
    t.hart.mipSoftware = MIP.STIP;
    t.run(1);
    expect(t.hart.x[1]).toBe(1); // SIE clear: not taken in S
    t.hart.mstatus = MSTATUS.SIE;
    t.run(1);
    expect(t.hart.priv).toBe(Priv.S);
    expect(t.hart.scause >>> 0).toBe((INTERRUPT_BIT | Irq.STI) >>> 0);
  });

  it("sleeps on WFI with nothing pending, and falls through when something is pending but disabled", () => {
    const sleeping = at(Priv.M, [i(Op.WFI), i(Op.ADDI, { rd: 1, rs1: 0, imm: 1 })]);
    expect(sleeping.run(10)).toBe(StopReason.Wfi);
    expect(sleeping.hart.pc >>> 0).toBe(RAM_BASE + 4);
    const awake = at(Priv.M, [i(Op.WFI), i(Op.ADDI, { rd: 1, rs1: 0, imm: 1 })]);
    awake.hart.mie = MIP.MTIP;
    awake.hart.setInterruptLine(MIP.MTIP, true); // pending, but mstatus.MIE = 0
    expect(awake.run(2)).toBe(StopReason.Budget);
    expect(awake.hart.x[1]).toBe(1);
  });

  it("lets S write only SSIP through sip", () => {
    const t = at(Priv.S, [...li(1, -1), i(Op.CSRRW, { rd: 0, rs1: 1, csr: CSR.sip }), csrr(5, CSR.sip)]);
    t.hart.mideleg = MIP.SSIP | MIP.STIP | MIP.SEIP;
    t.run(4);
    expect(t.hart.x[5]).toBe(MIP.SSIP);
  });
});

describe("atomics (A extension)", () => {
  const ADDR = RAM_BASE + 0x800;
  it("succeeds an SC after an LR to the same address, and fails one without", () => {
    const t = at(Priv.M, [
      ...li(1, ADDR), ...li(2, 42),
      i(Op.LR_W, { rd: 3, rs1: 1 }), i(Op.SC_W, { rd: 4, rs1: 1, rs2: 2 }),
      i(Op.SC_W, { rd: 5, rs1: 1, rs2: 0 }), // reservation consumed: fails
    ]);
    t.run(7);
    expect(t.hart.x[4]).toBe(0);
    expect(t.hart.x[5]).toBe(1);
    expect(t.word(ADDR)).toBe(42);
  });

  it("fails an SC to a different address than the reservation", () => {
    const t = at(Priv.M, [...li(1, ADDR), i(Op.LR_W, { rd: 3, rs1: 1 }), i(Op.SC_W, { rd: 4, rs1: 1, rs2: 1, imm: 0 }), i(Op.ADDI, { rd: 6, rs1: 1, imm: 4 }), i(Op.LR_W, { rd: 3, rs1: 1 }), i(Op.SC_W, { rd: 5, rs1: 6, rs2: 1 })]);
    t.run(7);
    expect(t.hart.x[4]).toBe(0);
    expect(t.hart.x[5]).toBe(1);
  });

  it.each([
    [Op.AMOSWAP_W, 5, -3, -3],
    [Op.AMOADD_W, 5, -3, 2],
    [Op.AMOXOR_W, 5, 3, 6],
    [Op.AMOAND_W, 5, 3, 1],
    [Op.AMOOR_W, 5, 3, 7],
    [Op.AMOMIN_W, 5, -3, -3],
    [Op.AMOMAX_W, 5, -3, 5],
    [Op.AMOMINU_W, 5, -3, 5],
    [Op.AMOMAXU_W, 5, -3, -3],
  ])("op %i: old %i with %i leaves %i and returns the old value", (op, old, operand, result) => {
    const t = at(Priv.M, [...li(1, ADDR), ...li(2, old), i(Op.SW, { rs1: 1, rs2: 2 }), ...li(3, operand), i(op, { rd: 4, rs1: 1, rs2: 3 })]);
    t.run(8);
    expect(t.hart.x[4]).toBe(old);
    expect(t.word(ADDR) | 0).toBe(result);
  });
});

describe("PMP through the hart (§3.7)", () => {
  it("faults S-mode accesses outside every entry with the address in mtval", () => {
    const t = at(Priv.S, [...li(1, RAM_BASE + 0x800), i(Op.LW, { rd: 2, rs1: 1 })], { pmpEntries: 16 });
    // Allow execution of the first page only: TOR [RAM_BASE, RAM_BASE + 0x800) R+X.
    t.hart.pmp.writeAddr(0, RAM_BASE / 4);
    t.hart.pmp.writeAddr(1, (RAM_BASE + 0x800) / 4);
    t.hart.pmp.writeCfg(0, (0x08 | 0x05) << 8);
    t.run(3);
    expect(t.hart.mcause).toBe(Cause.LoadAccessFault);
    expect(t.hart.mtval >>> 0).toBe(RAM_BASE + 0x800);
  });

  it("faults a fetch from memory PMP does not make executable", () => {
    const t = at(Priv.S, [i(Op.ADDI, { rd: 1, rs1: 0, imm: 1 })], { pmpEntries: 16 });
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.InstructionAccessFault);
    expect(t.hart.mtval >>> 0).toBe(RAM_BASE);
  });
});

describe("Sv32 through the hart", () => {
  const ROOT = RAM_BASE + 0x1_0000;
  const L0 = RAM_BASE + 0x1_1000;
  const pte = (pa: number, flags: number) => (((pa >>> 12) << 10) | flags) >>> 0;
  function paged(program: Parameters<typeof setup>[0]) {
    const t = at(Priv.S, program);
    // Identity-map the first 4 MiB of RAM (code) as an S megapage; map va 0x40000000 → RAM+0x20000.
    t.ram.write(gpa(ROOT + 4 * (RAM_BASE >>> 22)), new Uint8Array(new Uint32Array([pte(RAM_BASE, 0xcf)]).buffer));
    t.ram.write(gpa(ROOT + 4 * 0x100), new Uint8Array(new Uint32Array([pte(L0, 0x01)]).buffer));
    t.ram.write(gpa(L0), new Uint8Array(new Uint32Array([pte(RAM_BASE + 0x2_0000, 0x07)]).buffer)); // V R W, no A/D
    t.hart.satp = SATP_MODE_SV32 | (ROOT >>> 12);
    return t;
  }

  it("translates S-mode loads and stores, setting A and D in the PTE", () => {
    const t = paged([...li(1, 0x4000_0000), ...li(2, 99), i(Op.SW, { rs1: 1, rs2: 2, imm: 8 }), i(Op.LW, { rd: 3, rs1: 1, imm: 8 })]);
    t.run(6);
    expect(t.hart.mcause).toBe(0); // nothing trapped
    expect(t.hart.x[3]).toBe(99);
    expect(t.word(RAM_BASE + 0x2_0008)).toBe(99);
    expect(t.word(L0) & 0xc0).toBe(0xc0);
  });

  it("raises page faults with the virtual address in mtval", () => {
    const t = paged([...li(1, 0x4000_1000), i(Op.LW, { rd: 3, rs1: 1 })]);
    t.run(3);
    expect(t.hart.mcause).toBe(Cause.LoadPageFault);
    expect(t.hart.mtval >>> 0).toBe(0x4000_1000);
  });

  it("keeps the LR reservation across an SC that page-faults, so the SC succeeds when retried (unpriv. §8.2)", () => {
    const t = paged([...li(1, 0x4000_0000), i(Op.LR_W, { rd: 3, rs1: 1 }), ...li(5, 42), i(Op.SC_W, { rd: 6, rs1: 1, rs2: 5 })]);
    t.ram.write(gpa(L0), new Uint8Array(new Uint32Array([pte(RAM_BASE + 0x2_0000, 0x43)]).buffer)); // V R A: no W
    t.ram.write(gpa(RAM_BASE + 0x2_0000), Uint8Array.of(7));
    t.run(6);
    expect(t.hart.mcause).toBe(Cause.StorePageFault);
    const sc = t.hart.mepc;
    // The handler (a hypervisor filling a shadow entry, say) makes the page writable and returns.
    t.ram.write(gpa(L0), new Uint8Array(new Uint32Array([pte(RAM_BASE + 0x2_0000, 0xc7)]).buffer));
    t.hart.flushTlbs();
    t.hart.priv = Priv.S;
    t.hart.pc = sc;
    t.hart.x[6] = -1;
    t.run(1);
    expect(t.hart.x[6]).toBe(0); // success
    expect(t.word(RAM_BASE + 0x2_0000)).toBe(42);
  });

  it("keeps using a cached translation until SFENCE.VMA", () => {
    const t = paged([
      ...li(1, 0x4000_0000), i(Op.LW, { rd: 3, rs1: 1 }),
      ...li(4, L0), ...li(5, pte(RAM_BASE + 0x3_0000, 0xc7)), i(Op.SW, { rs1: 4, rs2: 5 }),
      i(Op.LW, { rd: 6, rs1: 1 }), i(Op.SFENCE_VMA, { rs1: 0, rs2: 0 }), i(Op.LW, { rd: 7, rs1: 1 }),
    ]);
    t.ram.write(gpa(RAM_BASE + 0x2_0000), Uint8Array.of(1));
    t.ram.write(gpa(RAM_BASE + 0x3_0000), Uint8Array.of(2));
    t.run(11);
    expect([t.hart.x[3], t.hart.x[6], t.hart.x[7]]).toEqual([1, 1, 2]);
  });
});
