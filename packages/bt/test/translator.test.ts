import { describe, expect, it } from "vitest";
import { CSR, encode, Op } from "@matryoshka/isa";
import { Cause, CodeCache, StopReason } from "@matryoshka/cpu";
import { Translator } from "@matryoshka/bt";
import { pair, place, RAM_BASE, RAM_SIZE, rig, snapshot, type Item, type Rig } from "./harness.js";

const i = (op: Op, fields = {}) => encode(op, fields);
const addi = (rd: number, rs1: number, imm: number) => i(Op.ADDI, { rd, rs1, imm });
const lui = (rd: number, imm: number) => i(Op.LUI, { rd, imm });
const csrr = (rd: number, csr: number) => i(Op.CSRRS, { rd, rs1: 0, csr });
const csrw = (csr: number, rs1: number) => i(Op.CSRRW, { rd: 0, rs1, csr });
const HANDLER = RAM_BASE + 0x3000;
/** mepc += 4; mret: skips the instruction that trapped. */
const SKIP_HANDLER: Item[] = [csrr(31, CSR.mepc), addi(31, 31, 4), csrw(CSR.mepc, 31), i(Op.MRET)];

/** Runs both rigs by the same budgets, comparing their state after each. */
function lockstep(a: Rig, b: Rig, budgets: number[]): void {
  for (const budget of budgets) {
    const reasonA = a.engine.run(a.hart, budget);
    const reasonB = b.engine.run(b.hart, budget);
    expect(reasonB).toBe(reasonA);
    expect(snapshot(b.hart)).toEqual(snapshot(a.hart));
  }
}

/** sum = 0; for (i = n; i != 0; i--) sum += i; then spin. */
function countdown(n: number): Item[] {
  return [
    addi(10, 0, 0),
    addi(11, 0, n),
    i(Op.ADD, { rd: 10, rs1: 10, rs2: 11 }), // loop:
    addi(11, 11, -1),
    i(Op.BNE, { rs1: 11, rs2: 0, imm: -8 }),
    i(Op.JAL, { rd: 0, imm: 0 }), // done: spin
  ];
}

describe("the translator", () => {
  it("translates loops and gets what the interpreter gets, counts included", () => {
    const { interpreter, translator } = pair(countdown(1000));
    lockstep(interpreter, translator, [5000]);
    expect(translator.hart.x[10]).toBe(500500);
    expect(translator.engine.stats.blocksTranslated).toBeGreaterThan(0);
    // Only the first fetch of the page goes through the interpreter.
    expect(translator.engine.stats.interpreted).toBeLessThan(5);
  });

  it("stops after exactly the budget, wherever it falls in a block or loop", () => {
    for (let budget = 1; budget <= 40; budget++) {
      const { interpreter, translator } = pair(countdown(7));
      lockstep(interpreter, translator, [budget, 3, budget, 1000]);
    }
  });

  it("loops over memory with misaligned and page-crossing loads and stores", () => {
    const data = RAM_BASE + 0x10000;
    const program: Item[] = [
      lui(6, data + 0x1000), // x6 = data + 0x1000 - 20: the walk crosses into the next page
      addi(6, 6, -20),
      addi(11, 0, 40),
      i(Op.LW, { rd: 7, rs1: 6, imm: 0 }), // loop: stride 1, so 3 in 4 loads are misaligned
      i(Op.LH, { rd: 8, rs1: 6, imm: 1 }),
      i(Op.ADD, { rd: 10, rs1: 10, rs2: 7 }),
      i(Op.XOR, { rd: 10, rs1: 10, rs2: 8 }),
      i(Op.SW, { rs1: 6, rs2: 10, imm: 0x200 }),
      i(Op.SH, { rs1: 6, rs2: 7, imm: 0x403 }),
      addi(6, 6, 1),
      addi(11, 11, -1),
      i(Op.BNE, { rs1: 11, rs2: 0, imm: -32 }),
      i(Op.JAL, { rd: 0, imm: 0 }),
    ];
    const { interpreter, translator } = pair(program);
    for (const r of [interpreter, translator]) {
      for (let k = 0; k < 0x2000; k += 4) r.ram.i32[(data - RAM_BASE + k) >> 2] = Math.imul(k + 1, 0x9e3779b1);
    }
    lockstep(interpreter, translator, [7, 100, 3, 500]);
    const window = (r: Rig) => r.ram.i32.slice((data - RAM_BASE) >> 2, (data - RAM_BASE + 0x2000) >> 2);
    expect(window(translator)).toEqual(window(interpreter));
    expect(translator.hart.x[11]).toBe(0);
  });

  it("leaves precise state at a fault in the middle of a block: earlier writes done, later ones not", () => {
    const program: Item[] = [
      ...[lui(5, RAM_BASE + 0x3000), csrw(CSR.mtvec, 5)],
      addi(6, 0, 11),
      addi(7, 0, 22),
      i(Op.LW, { rd: 8, rs1: 0, imm: 16 }), // address 16: nothing there, a load access fault
      addi(9, 0, 33),
      i(Op.JAL, { rd: 0, imm: 0 }),
    ];
    const { interpreter, translator } = pair(program);
    for (const r of [interpreter, translator]) place(r.ram, HANDLER, SKIP_HANDLER);
    lockstep(interpreter, translator, [5, 1, 1, 1, 1, 1, 1, 100]);
    expect(translator.hart.mcause).toBe(Cause.LoadAccessFault);
    expect(translator.hart.mtval).toBe(16);
    expect(translator.hart.mepc >>> 0).toBe(RAM_BASE + 16 + 4); // the handler stepped past the load
    expect([translator.hart.x[6], translator.hart.x[7], translator.hart.x[9]]).toEqual([11, 22, 33]);
  });

  it("runs self-modifying code: a store into a translated block drops it, even the running one", () => {
    // loop: addi a0, a0, 1   <- patched to addi a0, a0, 100 by the loop's own store
    const patched = addi(10, 10, 100);
    const program: Item[] = [
      lui(5, patched - ((patched << 20) >> 20)),
      addi(5, 5, (patched << 20) >> 20),
      lui(6, RAM_BASE),
      addi(7, 0, 3),
      addi(10, 10, 1), // +16: loop
      i(Op.SW, { rs1: 6, rs2: 5, imm: 16 }),
      addi(7, 7, -1),
      i(Op.BNE, { rs1: 7, rs2: 0, imm: -12 }),
      i(Op.JAL, { rd: 0, imm: 0 }),
    ];
    const { interpreter, translator } = pair(program);
    lockstep(interpreter, translator, [200]);
    expect(translator.hart.x[10]).toBe(1 + 100 + 100);
    expect(translator.engine.stats.blocksInvalidated).toBeGreaterThan(0);
  });

  it("runs code loaded behind its back (DMA, a loader) and after fence.i", () => {
    const t = rig(new Translator(), countdown(10));
    t.engine.run(t.hart, 100);
    expect(t.hart.x[10]).toBe(55);
    // A loader replaces the code, as DMA would, telling the code cache.
    place(t.ram, RAM_BASE, [addi(10, 0, 42), i(Op.JAL, { rd: 0, imm: 0 })]);
    t.hart.codeCache.invalidateRange(RAM_BASE, 8);
    t.hart.pc = RAM_BASE;
    t.engine.run(t.hart, 10);
    expect(t.hart.x[10]).toBe(42);
    // Written without telling anyone, then made visible by fence.i, as the ISA requires.
    place(t.ram, RAM_BASE, [addi(10, 0, 7)]);
    place(t.ram, RAM_BASE + 0x100, [i(Op.FENCE_I), i(Op.JAL, { rd: 0, imm: -0x104 })]);
    t.hart.pc = RAM_BASE + 0x100;
    t.engine.run(t.hart, 3); // fence.i, jump back, addi
    expect(t.hart.x[10]).toBe(7);
  });

  it("takes interrupts at the same instruction as the interpreter", () => {
    // Enable the machine software interrupt; the handler counts in x20 and returns.
    const program: Item[] = [
      lui(5, RAM_BASE + 0x3000),
      csrw(CSR.mtvec, 5),
      addi(5, 0, 8),
      csrw(CSR.mie, 5), // MSIE
      i(Op.CSRRS, { rd: 0, rs1: 5, csr: CSR.mstatus }), // MIE
      ...countdown(50),
    ];
    const handler: Item[] = [addi(20, 20, 1), addi(6, 0, 8), i(Op.CSRRC, { rd: 0, rs1: 6, csr: CSR.mip }), i(Op.MRET)];
    const { interpreter, translator } = pair(program);
    for (const r of [interpreter, translator]) place(r.ram, HANDLER, handler);
    for (const budget of [37, 13, 58, 101]) {
      lockstep(interpreter, translator, [budget]);
      for (const r of [interpreter, translator]) r.hart.mipSoftware |= 8; // raise MSIP between runs
    }
    expect(translator.hart.x[20]).toBeGreaterThan(1);
  });

  it("sleeps on WFI like the interpreter", () => {
    const program: Item[] = [addi(5, 0, 8), csrw(CSR.mie, 5), addi(6, 0, 1), i(Op.WFI), addi(6, 6, 1), i(Op.JAL, { rd: 0, imm: 0 })];
    const { interpreter, translator } = pair(program);
    expect(translator.engine.run(translator.hart, 100)).toBe(StopReason.Wfi);
    expect(interpreter.engine.run(interpreter.hart, 100)).toBe(StopReason.Wfi);
    expect(snapshot(translator.hart)).toEqual(snapshot(interpreter.hart));
  });

  it("interprets a block until it is hot, then compiles it once", () => {
    const engine = new Translator({ hotThreshold: 10 });
    const r = rig(engine, countdown(100));
    engine.run(r.hart, 2 + 9 * 3); // the prologue, then the loop body 9 times: still cold
    expect(engine.stats.blocksTranslated).toBe(0);
    engine.run(r.hart, 3 * 91 + 10);
    expect(r.hart.x[10]).toBe(5050);
    expect(engine.stats.blocksTranslated).toBeGreaterThanOrEqual(1);
    expect(engine.stats.blocksTranslated).toBeLessThanOrEqual(2); // the loop, perhaps the final spin
    expect(() => new Translator({ hotThreshold: 0 })).toThrow(RangeError);
  });

  it("falls back to the interpreter on harts that keep no decoded code (a VM's virtual harts)", () => {
    const engine = new Translator();
    const r = rig(engine, countdown(5), { codeCache: new CodeCache(RAM_BASE, RAM_SIZE, { transient: true }) });
    engine.run(r.hart, 100);
    expect(r.hart.x[10]).toBe(15);
    expect(engine.stats.blocksTranslated).toBe(0);
  });
});
