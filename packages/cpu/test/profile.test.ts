import { describe, expect, it } from "vitest";
import { CSR, ISA_PROFILES, Op, type IsaProfileName } from "@matryoshka/isa";
import { MSTATUS, Priv } from "@matryoshka/cpu";
import { i, RAM_BASE, setup } from "./harness.js";

const HANDLER = RAM_BASE + 0x400;
const A0 = 10;
const A1 = 11;
const SSTATUS = CSR.sstatus;

const csrrA0 = i(Op.CSRRS, { rd: A0, rs1: 0, csr: SSTATUS }); // csrr a0, sstatus
const csrwA1 = i(Op.CSRRW, { rd: 0, rs1: A1, csr: SSTATUS }); // csrw sstatus, a1
const csrrwA0A1 = i(Op.CSRRW, { rd: A0, rs1: A1, csr: SSTATUS }); // csrrw a0, sstatus, a1
const csrsA1 = i(Op.CSRRS, { rd: 0, rs1: A1, csr: SSTATUS }); // csrs sstatus, a1 (reads, per Zicsr)
const csrwi = i(Op.CSRRWI, { rd: 0, rs1: 0, csr: SSTATUS }); // csrwi sstatus, 0

/** A known mstatus with S-level bits set (so a dropped write is visible) and some M-level bits. */
const MSTATUS_VALUE =
  MSTATUS.SIE | MSTATUS.SPIE | MSTATUS.SPP | MSTATUS.SUM | MSTATUS.MXR | MSTATUS.MPIE | (1 << 11) | MSTATUS.TW;
const SSTATUS_VALUE = MSTATUS.SIE | MSTATUS.SPIE | MSTATUS.SPP | MSTATUS.SUM | MSTATUS.MXR;
const PROFILES = Object.keys(ISA_PROFILES) as IsaProfileName[];

/** Runs one instruction in `priv` on a profile, with a0 = 0x1234 and a1 = 0 (a write would clear sstatus). */
function runOne(profile: IsaProfileName, priv: number, insn: number) {
  const t = setup([insn], { profile: ISA_PROFILES[profile] });
  t.hart.mtvec = HANDLER;
  t.hart.priv = priv;
  t.hart.mstatus = MSTATUS_VALUE;
  t.hart.x[A0] = 0x1234;
  t.hart.x[A1] = 0;
  t.run(1);
  const trapped = (t.hart.pc >>> 0) === HANDLER;
  return {
    hart: t.hart,
    trapped,
    mcause: t.hart.mcause,
    mepc: t.hart.mepc >>> 0,
    pc: t.hart.pc >>> 0,
    priv: t.hart.priv,
    mstatus: t.hart.mstatus >>> 0,
    a0: t.hart.x[A0]! >>> 0,
  };
}

/** The hart completed the instruction in U-mode, changing nothing but rd. */
function completed(a0: number) {
  return { trapped: false, pc: RAM_BASE + 4, priv: Priv.U, mstatus: MSTATUS_VALUE >>> 0, a0, mcause: 0 };
}
const ILLEGAL = { trapped: true, mcause: 2, mepc: RAM_BASE, priv: Priv.M, a0: 0x1234 };

describe("ISA profiles on the hart", () => {
  it("defaults to the standard profile", () => {
    const t = setup([]);
    expect(t.hart.profile).toBe(ISA_PROFILES.standard);
    expect(setup([], { profile: ISA_PROFILES.popf }).hart.profile).toBe(ISA_PROFILES.popf);
  });

  it("standard: every U-mode sstatus access is an illegal instruction", () => {
    for (const insn of [csrrA0, csrwA1, csrrwA0A1, csrsA1, csrwi]) {
      const r = runOne("standard", Priv.U, insn);
      expect(r).toMatchObject(ILLEGAL);
      expect(r.hart.mtval >>> 0).toBe(insn >>> 0);
    }
  });

  it("popf: U-mode sstatus writes that do not read are dropped; reads still trap", () => {
    expect(runOne("popf", Priv.U, csrwA1)).toMatchObject(completed(0x1234));
    expect(runOne("popf", Priv.U, csrwi)).toMatchObject(completed(0x1234));
    expect(runOne("popf", Priv.U, csrrA0)).toMatchObject(ILLEGAL);
    expect(runOne("popf", Priv.U, csrrwA0A1)).toMatchObject(ILLEGAL);
    expect(runOne("popf", Priv.U, csrsA1)).toMatchObject(ILLEGAL); // CSRRS always reads its CSR
  });

  it("pushf-popf: U-mode sstatus reads return the real sstatus and writes are dropped", () => {
    const read = runOne("pushf-popf", Priv.U, csrrA0);
    expect(read).toMatchObject(completed(SSTATUS_VALUE));
    expect(read.a0).toBe(read.hart.readCsr(SSTATUS));
    expect(runOne("pushf-popf", Priv.U, csrwA1)).toMatchObject(completed(0x1234));
    expect(runOne("pushf-popf", Priv.U, csrrwA0A1)).toMatchObject(completed(SSTATUS_VALUE));
    expect(runOne("pushf-popf", Priv.U, csrsA1)).toMatchObject(completed(0x1234));
    expect(runOne("pushf-popf", Priv.U, csrwi)).toMatchObject(completed(0x1234));
  });

  it("leaves other U-mode CSR accesses alone", () => {
    for (const profile of PROFILES) {
      const r = runOne(profile, Priv.U, i(Op.CSRRS, { rd: A0, rs1: 0, csr: CSR.sepc })); // csrr a0, sepc
      expect(r).toMatchObject(ILLEGAL);
    }
  });

  it("leaves S- and M-mode sstatus accesses unchanged on every profile", () => {
    for (const profile of PROFILES) {
      for (const priv of [Priv.S, Priv.M]) {
        const { hart: _read, ...read } = runOne(profile, priv, csrrA0);
        expect({ profile, ...read }).toMatchObject({
          profile, priv, trapped: false, pc: RAM_BASE + 4, mstatus: MSTATUS_VALUE >>> 0, a0: SSTATUS_VALUE,
        });
        const { hart: _write, ...write } = runOne(profile, priv, csrrwA0A1);
        expect({ profile, ...write }).toMatchObject({
          profile, priv, trapped: false, pc: RAM_BASE + 4, a0: SSTATUS_VALUE,
          mstatus: (MSTATUS_VALUE & ~SSTATUS_VALUE) >>> 0, // a1 = 0 cleared every S-level bit
        });
      }
    }
  });
});
