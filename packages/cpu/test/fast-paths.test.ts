import { describe, expect, it } from "vitest";
import { CSR, Op } from "@matryoshka/isa";
import { Access, SATP_MODE_SV32 } from "@matryoshka/mmu";
import { Cause, CodeCache, InternalOp, MPP_SHIFT, MSTATUS, Priv } from "@matryoshka/cpu";
import { i, li, place, RAM_BASE, RAM_SIZE, setup } from "./harness.js";
import { guestPhysical as gpa } from "@matryoshka/memory";

const HANDLER = RAM_BASE + 0x400;
const addi = (rd: number, rs1: number, imm: number) => i(Op.ADDI, { rd, rs1, imm });
const csrr = (rd: number, csr: number) => i(Op.CSRRS, { rd, rs1: 0, csr });
const csrs = (csr: number, rs1: number) => i(Op.CSRRS, { rd: 0, rs1, csr });
const csrc = (csr: number, rs1: number) => i(Op.CSRRC, { rd: 0, rs1, csr });
const selfLoop = i(Op.JAL, { rd: 0, imm: 0 });

/** A decode page as `emptyDecodePage` makes it: every slot "decode me", the guards "next page". */
function pristineDecodePage(): Int32Array {
  const page = new Int32Array(4096 + 4);
  for (let k = 0; k < 4096; k += 2) page[k] = InternalOp.DECODE;
  page[4096] = InternalOp.PAGE_END;
  page[4098] = InternalOp.PAGE_END;
  return page;
}

describe("transient code cache (a VM's virtual harts)", () => {
  it("never runs a stale decoding: code changed between runs, or another page at the same offset", () => {
    const cache = new CodeCache(RAM_BASE, RAM_SIZE, { transient: true });
    const t = setup([addi(1, 1, 1)], { codeCache: cache });
    t.run(1);
    expect(t.hart.x[1]).toBe(1);
    // The guest rewrites its code behind the virtual hart's back.
    place(t.ram, RAM_BASE, [addi(1, 1, 10)]);
    t.hart.pc = RAM_BASE;
    t.run(1);
    expect(t.hart.x[1]).toBe(11);
    // Another page, same slot.
    place(t.ram, RAM_BASE + 0x1000, [addi(2, 2, 5)]);
    t.hart.pc = RAM_BASE + 0x1000;
    t.run(1);
    expect(t.hart.x[2]).toBe(5);
    t.hart.pc = RAM_BASE;
    t.run(1);
    expect([t.hart.x[1], t.hart.x[2]]).toEqual([21, 5]);
  });

  it("hands out the scratch page exactly as fresh every time, however many slots were decoded", () => {
    const cache = new CodeCache(RAM_BASE, RAM_SIZE, { transient: true });
    const t = setup([], { codeCache: cache });
    // Arbitrary halfwords: every slot decodes to something other than "decode me".
    for (let k = 0; k < 2048; k++) t.ram.u16[k] = (k * 0x9e37 + 0x13) & 0xffff;
    const fresh = pristineDecodePage();
    for (const decoded of [[0, 1, 2047], Array.from({ length: 64 }, (_, k) => k * 31), Array.from({ length: 2048 }, (_, k) => k), [5, 5, 5]]) {
      const page = cache.page(0);
      expect(page).toEqual(fresh);
      for (const slot of decoded) t.hart.decodeSlot(page, 0, slot);
      expect(page[decoded[0]! * 2]).not.toBe(InternalOp.DECODE);
      expect(cache.page(3)).toBe(page);
      expect(page).toEqual(fresh);
    }
  });

  it("sees code the emulated instructions themselves store, within one run", () => {
    const cache = new CodeCache(RAM_BASE, RAM_SIZE, { transient: true });
    // x1 += 1, then overwrite that instruction with x1 += 100 and jump back to it.
    const t = setup(
      [addi(1, 1, 1), ...li(5, addi(1, 1, 100)), ...li(6, RAM_BASE), i(Op.SW, { rs1: 6, rs2: 5 }), i(Op.JAL, { rd: 0, imm: -24 })],
      { codeCache: cache },
    );
    t.run(8);
    expect(t.hart.x[1]).toBe(101);
  });
});

describe("mtval of an illegal instruction, read through the fetch TLB", () => {
  const ROOT = RAM_BASE + 0x1_0000;
  const L0 = RAM_BASE + 0x1_1000;
  const CODE_A = RAM_BASE + 0x2_0000; // va 0x40000000
  const CODE_B = RAM_BASE + 0x5_0000; // va 0x40001000: not the frame after CODE_A
  const pte = (pa: number, flags: number) => (((pa >>> 12) << 10) | flags) >>> 0;
  const V = 0x01, R = 0x02, X = 0x08, A = 0x40;

  function paged(code: Parameters<typeof setup>[0], options: Parameters<typeof setup>[1] = {}) {
    const t = setup([], options);
    t.hart.mtvec = HANDLER;
    place(t.ram, HANDLER, [selfLoop]);
    t.ram.write(gpa(ROOT + 4 * 0x100), new Uint8Array(new Uint32Array([pte(L0, V)]).buffer));
    t.ram.write(gpa(L0), new Uint8Array(new Uint32Array([pte(CODE_A, V | R | X | A), pte(CODE_B, V | R | X | A)]).buffer));
    place(t.ram, CODE_A, code);
    t.hart.satp = SATP_MODE_SV32 | (ROOT >>> 12);
    t.hart.priv = Priv.S;
    t.hart.pc = 0x4000_0000;
    return t;
  }

  it("gives the 32 bits of a translated instruction", () => {
    const t = paged([addi(1, 0, 1), csrr(2, CSR.mstatus)]);
    t.run(2);
    expect([t.hart.mcause, t.hart.mepc >>> 0, t.hart.mtval >>> 0]).toEqual([Cause.IllegalInstruction, 0x4000_0004, csrr(2, CSR.mstatus) >>> 0]);
  });

  it("gives 16 bits for a compressed one, at any halfword", () => {
    const t = paged([]);
    t.ram.u16[(CODE_A - RAM_BASE + 0x7e) >>> 1] = 0x0001; // c.nop
    t.ram.u16[(CODE_A - RAM_BASE + 0x80) >>> 1] = 0x4002; // c.lwsp with rd = 0: reserved
    t.ram.u16[(CODE_A - RAM_BASE + 0x82) >>> 1] = 0xffff;
    t.hart.pc = 0x4000_007e;
    t.run(2);
    expect([t.hart.mcause, t.hart.mepc >>> 0, t.hart.mtval >>> 0]).toEqual([Cause.IllegalInstruction, 0x4000_0080, 0x4002]);
  });

  it("gives 16 bits for a compressed encoding on a hart without C", () => {
    const t = paged([0x0000_0001], { compressed: false });
    t.run(1);
    expect([t.hart.mcause, t.hart.mtval >>> 0]).toEqual([Cause.IllegalInstruction, 0x0001]);
  });

  it("joins both halves of an instruction that straddles two pages in unrelated frames", () => {
    const t = paged([]);
    const bits = csrr(2, CSR.mstatus) >>> 0;
    t.ram.u16[(CODE_A - RAM_BASE + 0xffe) >>> 1] = bits & 0xffff;
    t.ram.u16[(CODE_B - RAM_BASE) >>> 1] = bits >>> 16;
    t.hart.pc = 0x4000_0ffe;
    t.run(1);
    expect([t.hart.mcause, t.hart.mepc >>> 0, t.hart.mtval >>> 0]).toEqual([Cause.IllegalInstruction, 0x4000_0ffe, bits]);
  });

  it("gives the bits of the instruction that ran, from the frame it was fetched from", () => {
    const t = paged([addi(1, 0, 1), csrr(2, CSR.mstatus)]);
    t.run(1);
    // The PTE goes away without SFENCE.VMA: the hart may still run the page through its TLB, and
    // mtval describes what it ran (a fresh walk would fault and report nothing).
    t.ram.write(gpa(L0), new Uint8Array(4));
    t.run(1);
    expect([t.hart.mcause, t.hart.mtval >>> 0]).toEqual([Cause.IllegalInstruction, csrr(2, CSR.mstatus) >>> 0]);
  });

  it("is the same from ROM-like memory outside the TLB (a page PMP splits)", () => {
    const t = setup([addi(1, 0, 1), csrr(2, 0xc00 + 0x100)], { pmpEntries: 16 });
    t.hart.mtvec = HANDLER;
    place(t.ram, HANDLER, [selfLoop]);
    // TOR [RAM_BASE, RAM_BASE + 0x800) R+X: the code page is split, so it is never in the TLB.
    t.hart.pmp.writeAddr(0, RAM_BASE / 4);
    t.hart.pmp.writeAddr(1, (RAM_BASE + 0x800) / 4);
    t.hart.pmp.writeCfg(0, (0x08 | 0x05) << 8);
    t.hart.priv = Priv.U;
    t.run(2);
    expect(t.hart.tlbFor(Access.Fetch, Priv.U).tag[(RAM_BASE >>> 12) & 255]).toBe(-1);
    expect([t.hart.mcause, t.hart.mtval >>> 0]).toEqual([Cause.IllegalInstruction, csrr(2, 0xc00 + 0x100) >>> 0]);
  });
});

describe("SUM and MXR changes (mstatus/sstatus writes)", () => {
  const ROOT = RAM_BASE + 0x1_0000;
  const L0 = RAM_BASE + 0x1_1000;
  const USER = RAM_BASE + 0x2_0000; // va 0x40000000: a user page
  const EXEC = RAM_BASE + 0x3_0000; // va 0x40001000: execute-only
  const pte = (pa: number, flags: number) => (((pa >>> 12) << 10) | flags) >>> 0;

  function paged(program: Parameters<typeof setup>[0], priv: number) {
    const t = setup(program);
    t.hart.mtvec = HANDLER;
    place(t.ram, HANDLER, [selfLoop]);
    // RAM identity-mapped as an S megapage (code), and the two test pages.
    t.ram.write(gpa(ROOT + 4 * (RAM_BASE >>> 22)), new Uint8Array(new Uint32Array([pte(RAM_BASE, 0xcf)]).buffer));
    t.ram.write(gpa(ROOT + 4 * 0x100), new Uint8Array(new Uint32Array([pte(L0, 0x01)]).buffer));
    t.ram.write(gpa(L0), new Uint8Array(new Uint32Array([pte(USER, 0xd7), pte(EXEC, 0x49)]).buffer));
    t.ram.write(gpa(USER), Uint8Array.of(7));
    t.ram.write(gpa(EXEC), Uint8Array.of(9));
    t.hart.satp = SATP_MODE_SV32 | (ROOT >>> 12);
    t.hart.priv = priv;
    return t;
  }

  it("takes effect on the next access: clearing SUM makes a user page fault again in S-mode", () => {
    const t = paged([...li(1, 0x4000_0000), ...li(7, MSTATUS.SUM), csrs(CSR.sstatus, 7), i(Op.LW, { rd: 3, rs1: 1 }), csrc(CSR.sstatus, 7), i(Op.LW, { rd: 4, rs1: 1 })], Priv.S);
    t.run(9);
    expect(t.hart.x[3]).toBe(7);
    expect([t.hart.mcause, t.hart.mtval >>> 0, t.hart.mepc >>> 0]).toEqual([Cause.LoadPageFault, 0x4000_0000, RAM_BASE + 0x1c]);
  });

  it("takes effect on the next access: clearing MXR makes an execute-only page fault again", () => {
    const t = paged([...li(1, 0x4000_1000), ...li(7, MSTATUS.MXR), csrs(CSR.sstatus, 7), i(Op.LW, { rd: 3, rs1: 1 }), csrc(CSR.sstatus, 7), i(Op.LW, { rd: 4, rs1: 1 })], Priv.S);
    t.run(9);
    expect(t.hart.x[3]).toBe(9);
    expect([t.hart.mcause, t.hart.mtval >>> 0]).toEqual([Cause.LoadPageFault, 0x4000_1000]);
  });

  it("takes effect for M-mode accesses through MPRV, which use the TLBs of MPP", () => {
    const t = paged([...li(1, 0x4000_0000), ...li(7, MSTATUS.SUM), i(Op.LW, { rd: 3, rs1: 1 }), csrc(CSR.mstatus, 7), i(Op.LW, { rd: 4, rs1: 1 })], Priv.M);
    t.hart.mstatus = MSTATUS.MPRV | MSTATUS.SUM | (Priv.S << MPP_SHIFT);
    t.run(8);
    expect(t.hart.x[3]).toBe(7);
    expect([t.hart.mcause, t.hart.mtval >>> 0, t.hart.mepc >>> 0]).toEqual([Cause.LoadPageFault, 0x4000_0000, RAM_BASE + 0x18]);
  });

  it("keeps the TLB entries SUM and MXR cannot affect: untranslated ones", () => {
    const DATA = RAM_BASE + 0x4_0000;
    const vpn = DATA >>> 12;
    const program = [...li(1, DATA), i(Op.LW, { rd: 3, rs1: 1 }), ...li(7, MSTATUS.SUM | MSTATUS.MXR), csrs(CSR.mstatus, 7), csrc(CSR.mstatus, 7)];

    // satp Bare: S-mode entries map physical pages and stay.
    const bare = setup(program);
    bare.hart.priv = Priv.S;
    bare.run(3);
    const sLoad = bare.hart.tlbFor(Access.Load, Priv.S);
    expect(sLoad.tag[vpn & 255]).toBe(vpn);
    // (csrs on mstatus is M-only: run it from M with the S entry in place.)
    bare.hart.priv = Priv.M;
    bare.run(3);
    expect(bare.hart.mstatus & (MSTATUS.SUM | MSTATUS.MXR)).toBe(MSTATUS.SUM | MSTATUS.MXR);
    expect(sLoad.tag[vpn & 255]).toBe(vpn);

    // satp Sv32: M-mode's own entries stay, S- and U-mode ones go.
    const sv32 = paged(program, Priv.M);
    const uFetch = sv32.hart.tlbFor(Access.Fetch, Priv.U);
    const sStore = sv32.hart.tlbFor(Access.Store, Priv.S);
    uFetch.fill(0x4000_0000, 0x2_0000, USER >>> 12);
    sStore.fill(0x4000_0000, 0x2_0000, USER >>> 12);
    sv32.run(program.length - 1);
    expect(sv32.hart.mstatus & MSTATUS.SUM).toBe(MSTATUS.SUM);
    expect(sv32.hart.tlbFor(Access.Load, Priv.M).tag[vpn & 255]).toBe(vpn);
    expect(uFetch.tag[0x40000 & 255]).toBe(-1);
    expect(sStore.tag[0x40000 & 255]).toBe(-1);
  });
});
