import { describe, expect, it } from "vitest";
import { CSR, Op } from "@matryoshka/isa";
import { Access } from "@matryoshka/mmu";
import { Cause, MCONTROL, MSTATUS, Priv } from "@matryoshka/cpu";
import { i, li, RAM_BASE, setup } from "./harness.js";

// Sdtrig mcontrol (type 2) triggers, Debug spec 1.0 chapter 5 (see src/triggers.ts).
const TYPE2 = (2 << 28) >>> 0;
const HIT = 1 << 20;
const match = (m: number) => m << 7;
const csrr = (rd: number, csr: number) => i(Op.CSRRS, { rd, rs1: 0, csr });
const csrw = (csr: number, rs1: number) => i(Op.CSRRW, { rd: 0, rs1, csr });
const HANDLER = RAM_BASE + 0x800;
const DATA = RAM_BASE + 0x1000;

/** A hart in `priv` with MIE set and traps to HANDLER (where a loop of nops waits). */
function prepared(program: number[], priv: number = Priv.M) {
  const t = setup(program);
  t.hart.mtvec = HANDLER;
  t.hart.mstatus |= MSTATUS.MIE;
  t.hart.priv = priv;
  return t;
}

function arm(hart: ReturnType<typeof setup>["hart"], index: number, tdata1: number, address: number) {
  hart.writeCsr(CSR.tselect, index);
  hart.writeCsr(CSR.tdata1, tdata1);
  hart.writeCsr(CSR.tdata2, address);
}

describe("trigger CSRs", () => {
  it("read back what riscv-tests writes, and keep their WARL fields legal", () => {
    const t = setup([
      ...li(1, TYPE2 | MCONTROL.M | MCONTROL.EXECUTE),
      csrw(CSR.tdata1, 1),
      csrr(2, CSR.tdata1),
      csrr(3, CSR.tinfo),
      csrr(4, CSR.tdata3),
    ]);
    t.run(5);
    expect(t.hart.x[2]! >>> 0).toBe(TYPE2 | MCONTROL.M | MCONTROL.EXECUTE);
    expect(t.hart.x[3]).toBe(1 << 2); // type 2 only
    expect(t.hart.x[4]).toBe(0);
    const { hart } = t;
    // match 1 (napot) is not implemented: it reads back 0; 2 and 3 stay. action 1 (debug mode), dmode,
    // timing, select, chain and sizelo are all read-only 0 here.
    hart.writeCsr(CSR.tdata1, TYPE2 | match(1) | MCONTROL.LOAD | (1 << 12) | (1 << 27) | (1 << 18) | (1 << 19) | (1 << 11));
    expect(hart.readCsr(CSR.tdata1)).toBe(TYPE2 | MCONTROL.LOAD);
    hart.writeCsr(CSR.tdata1, TYPE2 | match(3) | MCONTROL.S);
    expect(hart.readCsr(CSR.tdata1)).toBe(TYPE2 | match(3) | MCONTROL.S);
    // Another type disables the trigger.
    hart.writeCsr(CSR.tdata1, 0);
    expect(hart.readCsr(CSR.tdata1)).toBe(TYPE2);
    expect(hart.triggers.executeArmed || hart.triggers.dataArmed).toBe(false);
  });

  it("select one of two triggers; larger indexes are ignored", () => {
    const { hart } = setup([]);
    hart.writeCsr(CSR.tselect, 1);
    hart.writeCsr(CSR.tdata2, 0x1234);
    expect(hart.readCsr(CSR.tselect)).toBe(1);
    hart.writeCsr(CSR.tselect, 2);
    expect(hart.readCsr(CSR.tselect)).toBe(1);
    hart.writeCsr(CSR.tselect, 0);
    expect(hart.readCsr(CSR.tdata2)).toBe(0);
    hart.writeCsr(CSR.tselect, 1);
    expect(hart.readCsr(CSR.tdata2)).toBe(0x1234);
  });

  it("are illegal instructions on a hart built without triggers (a VM's virtual hart)", () => {
    const t = setup([csrr(1, CSR.tselect)], { triggers: 0 });
    t.hart.mtvec = HANDLER;
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.IllegalInstruction);
  });

  it("are M-mode only", () => {
    const t = prepared([csrr(1, CSR.tdata1)], Priv.S);
    t.run(1);
    expect(t.hart.mcause).toBe(Cause.IllegalInstruction);
  });
});

describe("execute triggers", () => {
  const program = [i(Op.ADDI, { rd: 1, rs1: 0, imm: 1 }), i(Op.ADDI, { rd: 2, rs1: 0, imm: 2 }), i(Op.ADDI, { rd: 3, rs1: 0, imm: 3 })];

  it("raise a breakpoint before the instruction, with its address in mtval and the hit bit set", () => {
    const t = prepared(program);
    arm(t.hart, 1, TYPE2 | MCONTROL.M | MCONTROL.EXECUTE, RAM_BASE + 4);
    t.run(2);
    expect(t.hart.x[1]).toBe(1);
    expect(t.hart.x[2]).toBe(0); // did not execute
    expect(t.hart.mcause).toBe(Cause.Breakpoint);
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE + 4);
    expect(t.hart.mtval >>> 0).toBe(RAM_BASE + 4);
    expect(t.hart.pc >>> 0).toBe(HANDLER);
    expect(t.hart.readCsr(CSR.tdata1)! & HIT).toBe(HIT);
    expect(t.hart.triggers.tselect).toBe(1);
  });

  it("do not fire in M-mode while mstatus.MIE is clear (Sdtrig 1.0 §5.4), nor in modes they do not select", () => {
    const t = prepared(program);
    t.hart.mstatus &= ~MSTATUS.MIE;
    arm(t.hart, 0, TYPE2 | MCONTROL.M | MCONTROL.EXECUTE, RAM_BASE + 4);
    t.run(3);
    expect(t.hart.x[3]).toBe(3);
    const u = prepared(program, Priv.U);
    arm(u.hart, 0, TYPE2 | MCONTROL.M | MCONTROL.S | MCONTROL.EXECUTE, RAM_BASE + 4);
    u.run(3);
    expect(u.hart.x[3]).toBe(3);
  });

  it("fire in U-mode with u set, and compare with ≥ (match 2)", () => {
    const t = prepared(program, Priv.U);
    arm(t.hart, 0, TYPE2 | MCONTROL.U | MCONTROL.EXECUTE | match(2), RAM_BASE + 8);
    t.run(3);
    expect([t.hart.x[1], t.hart.x[2], t.hart.x[3]]).toEqual([1, 2, 0]);
    expect(t.hart.mcause).toBe(Cause.Breakpoint);
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE + 8);
    expect(t.hart.priv).toBe(Priv.M);
  });

  it("go to S-mode when breakpoints are delegated", () => {
    const t = prepared(program, Priv.U);
    t.hart.medeleg = 1 << Cause.Breakpoint;
    t.hart.stvec = HANDLER;
    arm(t.hart, 0, TYPE2 | MCONTROL.U | MCONTROL.EXECUTE, RAM_BASE);
    t.run(1);
    expect(t.hart.scause).toBe(Cause.Breakpoint);
    expect(t.hart.stval >>> 0).toBe(RAM_BASE);
    expect(t.hart.x[1]).toBe(0);
  });
});

describe("load and store triggers", () => {
  const program = [
    ...li(5, DATA),
    i(Op.LW, { rd: 1, rs1: 5, imm: 0 }), // warms the TLB before the trigger is armed
    i(Op.ADDI, { rd: 7, rs1: 0, imm: 99 }),
    i(Op.LW, { rd: 2, rs1: 5, imm: 4 }),
    i(Op.SW, { rs1: 5, rs2: 7, imm: 8 }),
  ];

  it("raise a breakpoint before a load, with the data address in mtval, even on a page the TLB held", () => {
    const t = prepared(program);
    t.ram.i32[(DATA + 4 - RAM_BASE) >> 2] = 42;
    t.run(3);
    expect(t.hart.tlbFor(Access.Load, Priv.M).tag.includes(DATA >>> 12)).toBe(true);
    arm(t.hart, 0, TYPE2 | MCONTROL.M | MCONTROL.LOAD, DATA + 4);
    t.run(2);
    expect(t.hart.x[2]).toBe(0);
    expect(t.hart.mcause).toBe(Cause.Breakpoint);
    expect(t.hart.mtval >>> 0).toBe(DATA + 4);
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE + 16);
  });

  it("raise a breakpoint before a store, leaving memory alone; a load trigger ignores stores", () => {
    const t = prepared(program);
    arm(t.hart, 0, TYPE2 | MCONTROL.M | MCONTROL.LOAD, DATA + 8);
    arm(t.hart, 1, TYPE2 | MCONTROL.M | MCONTROL.STORE | match(3), DATA + 9);
    t.run(6);
    expect(t.word(DATA + 8)).toBe(0);
    expect(t.hart.mcause).toBe(Cause.Breakpoint);
    expect(t.hart.mtval >>> 0).toBe(DATA + 8);
    expect(t.hart.mepc >>> 0).toBe(RAM_BASE + 20);
    expect(t.hart.readCsr(CSR.tdata1)! & HIT).toBe(HIT);
    t.hart.writeCsr(CSR.tselect, 0);
    expect(t.hart.readCsr(CSR.tdata1)! & HIT).toBe(0);
  });

  it("match AMOs as loads and stores", () => {
    const t = prepared([...li(5, DATA), i(Op.ADDI, { rd: 6, rs1: 0, imm: 5 }), i(Op.AMOADD_W, { rd: 1, rs1: 5, rs2: 6 })]);
    arm(t.hart, 0, TYPE2 | MCONTROL.M | MCONTROL.STORE, DATA);
    t.run(4);
    expect(t.hart.mcause).toBe(Cause.Breakpoint);
    expect(t.word(DATA)).toBe(0);
  });
});

describe("lending triggers to a guest (a hypervisor's platform hart)", () => {
  it("match in U-mode what the guest's match in its own mode, and nothing else", () => {
    const guest = setup([]).hart.triggers;
    const platform = setup([]).hart.triggers;
    guest.writeTselect(0);
    guest.writeTdata1(TYPE2 | MCONTROL.S | MCONTROL.EXECUTE | match(2));
    guest.writeTdata2(0x1000);
    guest.writeTselect(1);
    guest.writeTdata1(TYPE2 | MCONTROL.M | MCONTROL.LOAD);
    guest.writeTdata2(0x2000);
    platform.lend(guest, Priv.S, false);
    expect(platform.tdata1[0]).toBe(TYPE2 | MCONTROL.U | MCONTROL.EXECUTE | match(2));
    expect(platform.tdata2[0]).toBe(0x1000);
    expect(platform.tdata1[1]).toBe(TYPE2);
    expect([platform.executeArmed, platform.dataArmed]).toEqual([true, false]);
    // M-mode with MIE clear: nothing fires; with MIE set, the M-mode load trigger does.
    platform.lend(guest, Priv.M, false);
    expect([platform.executeArmed, platform.dataArmed]).toEqual([false, false]);
    platform.lend(guest, Priv.M, true);
    expect(platform.tdata1[1]).toBe(TYPE2 | MCONTROL.U | MCONTROL.LOAD);
    expect(platform.match(MCONTROL.LOAD, 0x2000, Priv.U, false)).toBe(1);
  });
});
