import { Cause, div, divu, InternalOp, mulh, mulhsu, mulhu, rem, remu, type Hart } from "@matryoshka/cpu";
import { Op } from "@matryoshka/isa";
import { Block, NO_TARGET, type BlockFunction } from "./translation-cache.js";

/** Instructions per block at most: long enough for loop bodies, short enough to compile fast. */
const MAX_BLOCK_INSTRUCTIONS = 96;

// Operation numbers as module constants (see the interpreter for why).
const OP_NOP = InternalOp.NOP;
const OP_DECODE = InternalOp.DECODE;

/** ALU operations: JavaScript expressions over `a` (rs1), `b` (rs2) and `i` (the immediate). */
const ALU: Partial<Record<number, (a: string, b: string, i: number) => string>> = {
  [Op.ADDI]: (a, _b, i) => `(${a} + ${i}) | 0`,
  [Op.SLTI]: (a, _b, i) => `${a} < ${i} ? 1 : 0`,
  [Op.SLTIU]: (a, _b, i) => `${a} >>> 0 < ${i >>> 0} ? 1 : 0`,
  [Op.XORI]: (a, _b, i) => `${a} ^ ${i}`,
  [Op.ORI]: (a, _b, i) => `${a} | ${i}`,
  [Op.ANDI]: (a, _b, i) => `${a} & ${i}`,
  [Op.SLLI]: (a, _b, i) => `${a} << ${i & 31}`,
  [Op.SRLI]: (a, _b, i) => `(${a} >>> ${i & 31}) | 0`,
  [Op.SRAI]: (a, _b, i) => `${a} >> ${i & 31}`,
  [Op.ADD]: (a, b) => `(${a} + ${b}) | 0`,
  [Op.SUB]: (a, b) => `(${a} - ${b}) | 0`,
  [Op.SLL]: (a, b) => `${a} << ${b}`,
  [Op.SLT]: (a, b) => `${a} < ${b} ? 1 : 0`,
  [Op.SLTU]: (a, b) => `${a} >>> 0 < ${b} >>> 0 ? 1 : 0`,
  [Op.XOR]: (a, b) => `${a} ^ ${b}`,
  [Op.SRL]: (a, b) => `(${a} >>> ${b}) | 0`,
  [Op.SRA]: (a, b) => `${a} >> ${b}`,
  [Op.OR]: (a, b) => `${a} | ${b}`,
  [Op.AND]: (a, b) => `${a} & ${b}`,
  [Op.MUL]: (a, b) => `Math.imul(${a}, ${b})`,
  [Op.MULH]: (a, b) => `mulh(${a}, ${b})`,
  [Op.MULHSU]: (a, b) => `mulhsu(${a}, ${b})`,
  [Op.MULHU]: (a, b) => `mulhu(${a}, ${b})`,
  [Op.DIV]: (a, b) => `div(${a}, ${b})`,
  [Op.DIVU]: (a, b) => `divu(${a}, ${b})`,
  [Op.REM]: (a, b) => `rem(${a}, ${b})`,
  [Op.REMU]: (a, b) => `remu(${a}, ${b})`,
};

/** Loads: size, and how the raw value read from RAM becomes the register value. */
const LOADS: Partial<Record<number, { size: 1 | 2 | 4; view: string; extend: (v: string) => string }>> = {
  [Op.LW]: { size: 4, view: "m32", extend: (v) => `${v} | 0` },
  [Op.LH]: { size: 2, view: "m16", extend: (v) => `(${v} << 16) >> 16` },
  [Op.LHU]: { size: 2, view: "m16", extend: (v) => v },
  [Op.LB]: { size: 1, view: "m8", extend: (v) => `(${v} << 24) >> 24` },
  [Op.LBU]: { size: 1, view: "m8", extend: (v) => v },
};
const STORES: Partial<Record<number, { size: 1 | 2 | 4; view: string }>> = {
  [Op.SW]: { size: 4, view: "m32" },
  [Op.SH]: { size: 2, view: "m16" },
  [Op.SB]: { size: 1, view: "m8" },
};
/** Branch conditions over `a` (rs1) and `b` (rs2). */
const BRANCHES: Partial<Record<number, (a: string, b: string) => string>> = {
  [Op.BEQ]: (a, b) => `${a} === ${b}`,
  [Op.BNE]: (a, b) => `${a} !== ${b}`,
  [Op.BLT]: (a, b) => `${a} < ${b}`,
  [Op.BGE]: (a, b) => `${a} >= ${b}`,
  [Op.BLTU]: (a, b) => `${a} >>> 0 < ${b} >>> 0`,
  [Op.BGEU]: (a, b) => `${a} >>> 0 >= ${b} >>> 0`,
};

const SPILL = "\u0000SPILL\u0000";
const VIEW_SHIFT: Record<number, string> = { 1: "", 2: " >> 1", 4: " >> 2" };
const ALIGNMENT_CHECK: Record<number, string> = { 1: "", 2: " && (va & 1) === 0", 4: " && (va & 3) === 0" };

/** One decoded instruction of a trace. */
interface Step {
  op: number;
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
  /** Its virtual address, and the next instruction's. */
  here: number;
  next: number;
  /** For a JAL: whether the trace continues at its target. */
  followed: boolean;
}

export interface Trace {
  steps: Step[];
  /** Where execution goes after the last step when it falls through (NO_TARGET: it cannot). */
  fallthrough: number;
  /** Some branch or jump goes back to the start. */
  selfLoop: boolean;
  /** RAM offsets the instructions lie in, [low, high). */
  low: number;
  high: number;
}

function translatable(op: number): boolean {
  return ALU[op] !== undefined || LOADS[op] !== undefined || STORES[op] !== undefined || BRANCHES[op] !== undefined ||
    op === Op.LUI || op === Op.AUIPC || op === OP_NOP || op === Op.FENCE || op === Op.JAL || op === Op.JALR;
}

/**
 * Compiles a trace of decoded instructions into a block function. The generated code mirrors the
 * interpreter case by case (see interpreter.ts), with the register file in locals: every register
 * the block touches is read into a local at entry, and the ones it writes are written back at every
 * exit (`SPILL`), including the slow-path exits, so the hart's state is precise at every trap.
 */
export class BlockCompiler {
  private readonly read = new Set<number>();
  private readonly written = new Set<number>();

  /**
   * The trace starting at RAM offset `offset` (virtual `pc`), decoding slots on the way. Cold
   * blocks keep only its length and extent; `compile` turns it into code.
   */
  walk(hart: Hart, offset: number, pc: number): Trace {
    const code = hart.codeCache.page(offset >>> 12);
    const pageOffset = offset & ~0xfff;
    const pageVa = pc & ~0xfff;
    const strictAlignment = !hart.compressed;
    const steps: Step[] = [];
    const visited = new Set<number>();
    let at = offset & 0xfff;
    let low = at;
    let high = at;
    let selfLoop = false;
    let fallthrough = NO_TARGET;
    for (;;) {
      if (steps.length >= MAX_BLOCK_INSTRUCTIONS || at >= 4096) {
        fallthrough = (pageVa + at) | 0;
        break;
      }
      if ((code[at]! & 0x7f) === OP_DECODE) hart.decodeSlot(code, pageOffset, at >>> 1);
      const w = code[at]!;
      const op = w & 0x7f;
      if (!translatable(op)) {
        // The interpreter runs it: CSRs, system instructions, atomics, a 4-byte instruction
        // across the page end, illegal encodings.
        fallthrough = (pageVa + at) | 0;
        break;
      }
      const length = (w & 0x80) !== 0 ? 4 : 2;
      const here = (pageVa + at) | 0;
      const step: Step = {
        op, rd: (w >>> 8) & 31, rs1: (w >>> 13) & 31, rs2: (w >>> 18) & 31, imm: code[at + 1]!,
        here, next: (here + length) | 0, followed: false,
      };
      steps.push(step);
      visited.add(at);
      low = Math.min(low, at);
      high = Math.max(high, at + length);
      if (op === Op.JALR) break;
      if (op === Op.JAL || BRANCHES[op] !== undefined) {
        const target = (here + step.imm) | 0;
        if (target === pc) selfLoop = true;
        if (op === Op.JAL) {
          const follow = target !== pc && (target & ~0xfff) === pageVa && !visited.has(target & 0xfff) &&
            !(strictAlignment && (target & 2) !== 0);
          if (!follow) break;
          step.followed = true;
          at = target & 0xfff;
          continue;
        }
      }
      at += length;
    }
    return { steps, fallthrough, selfLoop, low: pageOffset + low, high: pageOffset + high };
  }

  compile(hart: Hart, offset: number, pc: number): Block {
    const trace = this.walk(hart, offset, pc);
    const { steps, selfLoop } = trace;
    const count = steps.length;
    const pageVa = pc & ~0xfff;
    const strictAlignment = !hart.compressed;
    this.read.clear();
    this.written.clear();
    const body: string[] = [];
    const exitPcs: number[] = [];
    /** An exit to a direct target: its number, linked if the target is on this page. */
    const exitTo = (target: number): number => {
      exitPcs.push((target & ~0xfff) === pageVa ? target : NO_TARGET);
      return exitPcs.length - 1;
    };
    // In a block that loops to itself, each memory access keeps the page it used last in locals
    // (`pN`, `fN`: virtual page, RAM frame offset), skipping the TLB while it stays on that page.
    // That is sound within one call: translations and the TLBs only change through slow paths that
    // leave the block, or through instructions it does not translate.
    let site = 0;
    const siteLocals: string[] = [];
    /** Leaving by a taken branch or jump to `target`, after the instruction at index k. */
    const jumpTo = (target: number, k: number): string => {
      const exit = exitTo(target);
      if (target === pc) {
        return `n += ${k + 1}; if (n + ${count} <= limit) continue; ${SPILL} h.pc = ${target}; S[0] = ${exit}; return n;`;
      }
      return `${SPILL} h.pc = ${target}; S[0] = ${exit}; return n + ${k + 1};`;
    };
    const misalignedJump = (here: number, target: string, k: number): string =>
      `${SPILL} h.pc = ${here}; h.steps = base + n + ${k}; h.raiseException(${Cause.InstructionMisaligned}, ${target}); S[0] = -1; return n + ${k + 1};`;

    steps.forEach((step, k) => {
      const { op, rd, rs1, rs2, imm, here, next } = step;
      const alu = ALU[op];
      const load = LOADS[op];
      const store = STORES[op];
      const branch = BRANCHES[op];
      if (alu !== undefined) {
        body.push(this.write(rd, alu(this.reg(rs1), this.reg(rs2), imm)));
      } else if (op === Op.LUI) {
        body.push(this.write(rd, `${imm | 0}`));
      } else if (op === Op.AUIPC) {
        body.push(this.write(rd, `${(here + imm) | 0}`));
      } else if (op === OP_NOP || op === Op.FENCE) {
        // Retires and does nothing (FENCE orders memory, which a single thread sees in order).
      } else if (load !== undefined) {
        const rs = this.reg(rs1);
        const target = rd === 0 ? "" : `r${rd}`;
        if (rd !== 0) this.written.add(rd);
        const slow = `{ h.pc = ${here}; h.steps = base + n + ${k}; const v = h.loadSlow(va, ${load.size});`;
        if (selfLoop) {
          const [page, frame] = [`p${site}`, `f${site}`];
          site++;
          siteLocals.push(`${page} = -1`, `${frame} = 0`);
          const fast = load.extend(`${load.view}[(${frame} + (va & 0xfff))${VIEW_SHIFT[load.size]}]`);
          const assign = target === "" ? "" : `${target} = ${fast};`;
          body.push(
            `{ const va = (${rs} + ${imm}) | 0, p = va >>> 12, e = p & 255;`,
            `  if (p === ${page}${ALIGNMENT_CHECK[load.size]}) { ${assign} }`,
            `  else if (lt[e] === p${ALIGNMENT_CHECK[load.size]}) { ${page} = p; ${frame} = lf[e]; ${assign} }`,
            `  else ${slow}`,
          );
        } else {
          const fast = load.extend(`${load.view}[(lf[e] + (va & 0xfff))${VIEW_SHIFT[load.size]}]`);
          body.push(
            `{ const va = (${rs} + ${imm}) | 0, p = va >>> 12, e = p & 255;`,
            `  if (lt[e] === p${ALIGNMENT_CHECK[load.size]}) { ${target === "" ? "" : `${target} = ${fast};`} }`,
            `  else ${slow}`,
          );
        }
        body.push(
          `    if (h.needsResync) { if (h.faulted) { ${SPILL} return n + ${k + 1}; } ${target === "" ? "" : `${target} = ${load.extend("v")};`} ${SPILL} h.pc = ${next}; S[0] = -1; return n + ${k + 1}; }`,
          `    ${target === "" ? "" : `${target} = ${load.extend("v")};`} } }`,
        );
      } else if (store !== undefined) {
        const rs = this.reg(rs1);
        const value = this.reg(rs2);
        if (selfLoop) {
          const [page, frame] = [`p${site}`, `f${site}`];
          site++;
          siteLocals.push(`${page} = -1`, `${frame} = 0`);
          const assign = `${store.view}[(${frame} + (va & 0xfff))${VIEW_SHIFT[store.size]}] = ${value};`;
          body.push(
            `{ const va = (${rs} + ${imm}) | 0, p = va >>> 12, e = p & 255;`,
            `  if (p === ${page}${ALIGNMENT_CHECK[store.size]}) ${assign}`,
            `  else if (st[e] === p${ALIGNMENT_CHECK[store.size]}) { ${page} = p; ${frame} = sf[e]; ${assign} }`,
          );
        } else {
          body.push(
            `{ const va = (${rs} + ${imm}) | 0, p = va >>> 12, e = p & 255;`,
            `  if (st[e] === p${ALIGNMENT_CHECK[store.size]}) ${store.view}[(sf[e] + (va & 0xfff))${VIEW_SHIFT[store.size]}] = ${value};`,
          );
        }
        body.push(
          `  else { h.pc = ${here}; h.steps = base + n + ${k}; h.storeSlow(va, ${store.size}, ${value});`,
          `    if (h.needsResync) { ${SPILL} if (!h.faulted) h.pc = ${next}; S[0] = -1; return n + ${k + 1}; }`,
          // The store dropped translated code (perhaps this block): leave, and look up again.
          `    if (S[1] !== 0) { ${SPILL} h.pc = ${next}; S[0] = -1; return n + ${k + 1}; } } }`,
        );
      } else if (branch !== undefined) {
        // A side exit when taken; the trace goes on with the fall-through.
        const target = (here + imm) | 0;
        const taken = strictAlignment && (target & 2) !== 0 ? misalignedJump(here, `${target}`, k) : jumpTo(target, k);
        body.push(`if (${branch(this.reg(rs1), this.reg(rs2))}) { ${taken} }`);
      } else if (op === Op.JAL) {
        const target = (here + imm) | 0;
        if (strictAlignment && (target & 2) !== 0) {
          // Without C, the target must be 4-byte aligned; rd is not written (unpriv. §2.5).
          body.push(misalignedJump(here, `${target}`, k));
        } else {
          body.push(this.write(rd, `${next}`));
          if (!step.followed) body.push(jumpTo(target, k));
        }
      } else if (op === Op.JALR) {
        const rs = this.reg(rs1);
        body.push(`{ const t = (${rs} + ${imm}) & -2;`);
        if (strictAlignment) body.push(`  if ((t & 2) !== 0) { ${misalignedJump(here, "t", k)} }`);
        body.push(`  ${this.write(rd, `${next}`)}`, `  ${SPILL} h.pc = t; S[0] = -1; return n + ${k + 1}; }`);
      }
    });
    if (trace.fallthrough !== NO_TARGET) {
      body.push(`${SPILL} h.pc = ${trace.fallthrough}; S[0] = ${exitTo(trace.fallthrough)}; return n + ${count};`);
    }
    const spill = [...this.written].sort((a, b) => a - b).map((r) => `x[${r}] = r${r};`).join(" ");
    const locals = [...new Set([...this.read, ...this.written])].sort((a, b) => a - b);
    const lines = [
      locals.length > 0 ? `let ${locals.map((r) => `r${r} = x[${r}]`).join(", ")};` : "",
      "let n = 0;",
      siteLocals.length > 0 ? `let ${siteLocals.join(", ")};` : "",
      selfLoop ? "for (;;) {" : "",
      ...body,
      selfLoop ? "}" : "",
    ];
    const source = lines.join("\n").split(SPILL).join(spill);
    const factory = new Function(
      "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu",
      `"use strict"; return function block_${(pc >>> 0).toString(16)}(h, x, m32, m16, m8, lt, lf, st, sf, limit, base, S) {\n${source}\n};`,
    ) as (...helpers: ((a: number, b: number) => number)[]) => BlockFunction;
    const run = factory(mulh, mulhsu, mulhu, div, divu, rem, remu);
    return new Block(pc, offset, trace.low, trace.high, count, count === 0 ? undefined : run, exitPcs);
  }

  /** A register as an operand: x0 reads as the constant 0. */
  private reg(r: number): string {
    if (r === 0) return "0";
    this.read.add(r);
    return `r${r}`;
  }

  /** An assignment to rd (nothing for x0). */
  private write(rd: number, expression: string): string {
    if (rd === 0) return "";
    this.written.add(rd);
    return `r${rd} = ${expression};`;
  }
}
