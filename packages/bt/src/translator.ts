import {
  div,
  divu,
  InternalOp,
  Interpreter,
  mulh,
  mulhsu,
  mulhu,
  rem,
  remu,
  StopReason,
  type CodeCache,
  type CodeInvalidationListener,
  type Engine,
  type Hart,
} from "@matryoshka/cpu";
import { decode, isPrivileged, isSensitive, Op } from "@matryoshka/isa";
import { Access } from "@matryoshka/mmu";

/**
 * A translated block: `(h, x, m32, m16, m8, lt, lf, st, sf, limit, base, S) => started`.
 * `x` is the register file, `m*` views of RAM, `lt/lf` and `st/sf` the tag and frame arrays of the
 * load and store TLBs, `limit` how many instructions it may start (a block only loops while a
 * whole pass fits), `base` the hart's step count at entry, `S` the exit record (S[0]: which exit it
 * took, -1 for one without a known target; S[1]: set when a store dropped translated code). It
 * returns the instructions it started, and leaves `h.pc` at the next instruction (or at the trap
 * handler after a trap).
 */
type BlockFunction = (
  h: Hart,
  x: Int32Array,
  m32: Int32Array,
  m16: Uint16Array,
  m8: Uint8Array,
  lt: Int32Array,
  lf: Int32Array,
  st: Int32Array,
  sf: Int32Array,
  limit: number,
  base: number,
  S: Int32Array,
) => number;

/** A pc no block can have (odd), standing for "no target on the same page". */
const NO_TARGET = 1;

/** Instructions per block at most: long enough for loop bodies, short enough to compile fast. */
const MAX_BLOCK_INSTRUCTIONS = 96;

/**
 * Times the dispatcher reaches a block before it is compiled (by default). Until then the
 * interpreter runs it (exactly its instructions): compiling costs tens of microseconds, worth it
 * only for code that runs again and again, not for boot code and one-off paths.
 */
export const DEFAULT_HOT_THRESHOLD = 40;

export interface TranslatorOptions {
  /** Times a block runs interpreted before it is compiled; 1 compiles everything at first sight. */
  hotThreshold?: number;
}

/**
 * One block of guest code. A block is a trace: it starts at `pc` and follows straight-line code,
 * past conditional branches (their taken side leaves the block: a side exit) and into the targets of
 * direct jumps on the same page, until an instruction it does not translate, an indirect jump, the
 * end of the page or its length limit. A branch or jump back to its start makes it a loop.
 */
export class Block {
  /** Virtual address it was translated at (AUIPC results and jump targets are baked in). */
  readonly pc: number;
  /** RAM offset of its first instruction. */
  readonly entry: number;
  /** RAM byte offsets its instructions lie in, [low, high): a write there drops it. */
  readonly low: number;
  readonly high: number;
  /** Instructions on its longest path (the interpreter runs this many while it is cold). */
  readonly count: number;
  /**
   * The compiled function; undefined while the block is cold, and for an instruction the
   * translator leaves to the interpreter (`count` 0: CSRs, system instructions, atomics).
   */
  readonly run: BlockFunction | undefined;
  /** Times the dispatcher reached it while cold. */
  hits = 0;
  /**
   * For an instruction left to the interpreter: its encoding, and whether it is sensitive (in the
   * Popek-Goldberg sense, or privileged). In a context with `hart.sensitiveCalls`, such an
   * instruction is never executed: it becomes a call to the hypervisor.
   */
  bits = 0;
  sensitive = false;
  /** Per exit, its virtual target when that is on the same page (else NO_TARGET), and the block found there. */
  readonly exitPcs: readonly number[];
  readonly links: (Block | undefined)[];
  valid = true;

  constructor(pc: number, entry: number, low: number, high: number, count: number, run: BlockFunction | undefined, exitPcs: readonly number[]) {
    this.pc = pc;
    this.entry = entry;
    this.low = low;
    this.high = high;
    this.count = count;
    this.run = run;
    this.exitPcs = exitPcs;
    this.links = exitPcs.map(() => undefined);
  }
}

/**
 * The blocks translated from one machine's RAM, keyed by physical address (RAM page, then
 * halfword slot), and kept coherent with it: the code cache tells it of every write to a page
 * holding decoded code, and of pages dropped whole (DMA, loaders, fence.i).
 */
class TranslationCache implements CodeInvalidationListener {
  /** Per RAM page, the block starting at each halfword slot. */
  readonly slots: (Array<Block | undefined> | undefined)[];
  /** Per RAM page, every block on it (for invalidation by byte range). */
  private readonly blocks: (Block[] | undefined)[];
  private readonly usedPages: number[] = [];
  /** S[0]: exit taken by the last block; S[1]: set when code was dropped (the running block must stop). */
  readonly exitState = new Int32Array(2);
  private readonly stats: { blocksInvalidated: number };

  constructor(ramPages: number, stats: { blocksInvalidated: number }) {
    this.stats = stats;
    this.slots = new Array<Array<Block | undefined> | undefined>(ramPages).fill(undefined);
    this.blocks = new Array<Block[] | undefined>(ramPages).fill(undefined);
  }

  /** Caches a block; `promoted`: it replaces the cold block of the same code (not an invalidation). */
  insert(ramPage: number, block: Block, promoted = false): void {
    let slots = this.slots[ramPage];
    let list = this.blocks[ramPage];
    if (slots === undefined || list === undefined) {
      slots = new Array<Block | undefined>(2048).fill(undefined);
      list = [];
      this.slots[ramPage] = slots;
      this.blocks[ramPage] = list;
      this.usedPages.push(ramPage);
    }
    const slot = (block.entry & 0xfff) >>> 1;
    const previous = slots[slot];
    if (previous !== undefined) this.drop(list, previous, !promoted);
    slots[slot] = block;
    list.push(block);
  }

  private invalidate(block: Block): void {
    block.valid = false;
    if (block.run !== undefined) this.stats.blocksInvalidated++;
  }

  private drop(list: Block[], block: Block, counted = true): void {
    block.valid = false;
    const index = list.indexOf(block);
    if (index >= 0) {
      list[index] = list[list.length - 1]!;
      list.pop();
    }
    if (counted && block.run !== undefined) this.stats.blocksInvalidated++;
  }

  codeWritten(ramOffset: number, length: number): void {
    const page = ramOffset >>> 12;
    const list = this.blocks[page];
    if (list === undefined || list.length === 0) return;
    const slots = this.slots[page]!;
    const end = ramOffset + length;
    for (let i = list.length - 1; i >= 0; i--) {
      const block = list[i]!;
      if (block.low < end && ramOffset < block.high) {
        if (slots[(block.entry & 0xfff) >>> 1] === block) slots[(block.entry & 0xfff) >>> 1] = undefined;
        this.drop(list, block);
        this.exitState[1] = 1;
      }
    }
  }

  pageDropped(ramPage: number): void {
    const list = this.blocks[ramPage];
    if (list === undefined) return;
    for (const block of list) this.invalidate(block);
    if (list.length > 0) this.exitState[1] = 1;
    list.length = 0;
    this.slots[ramPage]!.fill(undefined);
  }

  cleared(): void {
    for (const page of this.usedPages) {
      const list = this.blocks[page]!;
      for (const block of list) this.invalidate(block);
      this.blocks[page] = undefined;
      this.slots[page] = undefined;
    }
    this.usedPages.length = 0;
    this.exitState[1] = 1;
  }
}

export interface TranslatorStats {
  /** Blocks compiled to JavaScript. */
  blocksTranslated: number;
  /** Blocks dropped because their code was written, paged out, or fenced. */
  blocksInvalidated: number;
  /** Instructions run by the interpreter instead (CSRs, system, atomics, fetch misses, budget tails). */
  interpreted: number;
  /** Sensitive instructions turned into calls to the hypervisor (contexts with `Hart.sensitiveCalls`). */
  hypervisorCalls: number;
}

/**
 * The translating engine. Guest code is translated a basic block at a time into a JavaScript
 * function with the registers in locals, loads and stores through the software TLB inline, and the
 * rest (CSRs, traps, atomics, MMIO) left to the hart's slow paths or the interpreter, exactly as the
 * interpreter would run them: same state at every trap and interrupt, same instruction counts.
 *
 * The rule that keeps it equivalent: interrupts and stop requests are only noticed where the
 * interpreter notices them, after something set `hart.needsResync`. A block checks that flag after
 * every slow path and returns at once, and the dispatcher returns to the interrupt check. In
 * between, nothing that decides whether an interrupt is taken can change, so checking more often
 * (after interpreted instructions) changes nothing.
 */
export class Translator implements Engine {
  readonly name = "bt";
  // engine-module beside this file: the source when running from sources, else the built entry.
  readonly module = new URL(`./engine-module.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url).href;
  private readonly interpreter = new Interpreter();
  private readonly caches = new WeakMap<CodeCache, TranslationCache>();
  private stop: StopReason | -1 = -1;
  private blocksTranslated = 0;
  private interpreted = 0;
  private hypervisorCalls = 0;
  private readonly compiler = new BlockCompiler();
  private readonly hotThreshold: number;

  constructor(options: TranslatorOptions = {}) {
    const threshold = options.hotThreshold ?? DEFAULT_HOT_THRESHOLD;
    if (!Number.isInteger(threshold) || threshold < 1) throw new RangeError(`hotThreshold must be a positive integer, got ${threshold}`);
    this.hotThreshold = threshold;
  }
  private readonly invalidation = { blocksInvalidated: 0 };
  /** The translation cache of the code cache `run` saw last (most calls are for the same hart). */
  private lastCodeCache: CodeCache | undefined = undefined;
  private lastCache: TranslationCache | undefined = undefined;

  get stats(): TranslatorStats {
    return {
      blocksTranslated: this.blocksTranslated,
      blocksInvalidated: this.invalidation.blocksInvalidated,
      interpreted: this.interpreted,
      hypervisorCalls: this.hypervisorCalls,
    };
  }

  run(hart: Hart, budget: number): StopReason {
    const codeCache = hart.codeCache;
    // A VM's virtual harts keep no decoded code (they emulate one instruction at a time): nothing
    // to translate there.
    if (codeCache.isTransient) return this.interpreter.run(hart, budget);
    let cache = this.lastCodeCache === codeCache ? this.lastCache : this.caches.get(codeCache);
    if (cache === undefined) {
      cache = new TranslationCache(codeCache.pages.length, this.invalidation);
      codeCache.addInvalidationListener(cache);
      this.caches.set(codeCache, cache);
    }
    this.lastCodeCache = codeCache;
    this.lastCache = cache;
    let remaining = budget;
    while (remaining > 0) {
      if (hart.stopRequested) return hart.consumeStop();
      const irq = hart.pendingInterrupt();
      if (irq >= 0) {
        hart.takeInterrupt(irq);
        if (hart.stopRequested) return hart.consumeStop();
      }
      remaining -= this.segment(hart, cache, remaining);
      if (this.takeStop() === StopReason.Wfi) return StopReason.Wfi;
      if (hart.stopRequested) return hart.consumeStop();
    }
    return StopReason.Budget;
  }

  private takeStop(): StopReason | -1 {
    const reason = this.stop;
    this.stop = -1;
    return reason;
  }

  /** Runs up to `limit` instructions until something needs the interrupt check; returns how many. */
  private segment(hart: Hart, cache: TranslationCache, limit: number): number {
    this.stop = -1;
    const x = hart.x;
    const ram = hart.bus.ram;
    const m32 = ram.i32;
    const m16 = ram.u16;
    const m8 = ram.u8;
    const dataPriv = hart.dataPriv;
    const loadTlb = hart.tlbFor(Access.Load, dataPriv);
    const storeTlb = hart.tlbFor(Access.Store, dataPriv);
    const fetchTlb = hart.tlbFor(Access.Fetch, hart.priv);
    const lt = loadTlb.tag;
    const lf = loadTlb.frameOffset;
    const st = storeTlb.tag;
    const sf = storeTlb.frameOffset;
    const fetchTag = fetchTlb.tag;
    const fetchFrame = fetchTlb.frameOffset;
    const misaligned = hart.compressed ? 1 : 3;
    const exitState = cache.exitState;
    const base = hart.steps;
    hart.needsResync = false;
    hart.faulted = false;
    let n = 0;
    let block: Block | undefined = undefined;

    while (n < limit) {
      const pc: number = hart.pc;
      if (block === undefined || !block.valid || block.pc !== pc) {
        block = undefined;
        const vpn: number = pc >>> 12;
        const entry: number = vpn & 255;
        if (fetchTag[entry] === vpn && (pc & misaligned) === 0) {
          const offset: number = fetchFrame[entry]! + (pc & 0xfff);
          const slots: Array<Block | undefined> | undefined = cache.slots[offset >>> 12];
          block = slots === undefined ? undefined : slots[(offset & 0xfff) >>> 1];
          if (block === undefined || block.pc !== pc) block = this.translate(hart, cache, offset, pc);
        }
      }
      if (hart.sensitiveCalls) {
        // The binary-translation backend: sensitive instructions of this context are calls to the
        // hypervisor, never executed (not even by the interpreter). A fetch that misses the TLB
        // is translated here rather than by interpreting an instruction that might be one.
        if (block === undefined) {
          hart.steps = base + n;
          if (hart.fetchPage(pc) === undefined) {
            n++; // the fetch faulted: that instruction started, and trapped
            break;
          }
          if (fetchTag[(pc >>> 12) & 255] === pc >>> 12) continue;
        } else if (block.count === 0 && block.sensitive) {
          hart.steps = base + n;
          hart.hypervisorCall(block.bits);
          n++;
          this.hypervisorCalls++;
          break;
        }
      }
      if (block !== undefined && block.run === undefined && block.count > 0 && ++block.hits >= this.hotThreshold) {
        block = this.translate(hart, cache, block.entry, pc, true);
      }
      const run = block === undefined ? undefined : block.run;
      if (run === undefined || block!.count > limit - n) {
        // Cold, not translatable, not in the fetch TLB, or longer than what is left of the budget:
        // the interpreter runs it (its instructions, one instruction, or the exact tail of the budget).
        const steps = block === undefined || block.count === 0 ? 1 : Math.min(block.count, limit - n);
        hart.steps = base + n;
        const done = this.interpreter.runSegment(hart, steps);
        n += done;
        this.interpreted += done;
        if (this.interpreter.takeSegmentStop() === StopReason.Wfi) this.stop = StopReason.Wfi;
        if (hart.needsResync || this.stop !== -1) break;
        block = undefined;
        continue;
      }
      exitState[1] = 0;
      n += run(hart, x, m32, m16, m8, lt, lf, st, sf, limit - n, base + n, exitState);
      if (hart.needsResync) break;
      // Chain: a direct exit to the same virtual page reaches the same physical page, so the
      // block found there last time is still the one to run, if nothing dropped it.
      const exit: number = exitState[0]!;
      const current: Block = block!;
      const target = exit >= 0 ? current.exitPcs[exit]! : NO_TARGET;
      if (target !== NO_TARGET) {
        let next: Block | undefined = current.links[exit];
        if (next === undefined || !next.valid) {
          next = this.lookupOnPage(hart, cache, current, target);
          current.links[exit] = next;
        }
        block = next;
      } else {
        block = undefined;
      }
    }
    hart.steps = base + n;
    return n;
  }

  /** The block at `pc`, on the same virtual (hence physical) page as `from`. */
  private lookupOnPage(hart: Hart, cache: TranslationCache, from: Block, pc: number): Block {
    const offset = (from.entry & ~0xfff) + (pc & 0xfff);
    const slots = cache.slots[offset >>> 12];
    const block = slots === undefined ? undefined : slots[(offset & 0xfff) >>> 1];
    if (block !== undefined && block.pc === pc) return block;
    return this.translate(hart, cache, offset, pc);
  }

  /**
   * Makes the block at RAM offset `offset` (virtual address `pc`) and caches it: cold (shape only)
   * the first time, compiled once `hot`.
   */
  private translate(hart: Hart, cache: TranslationCache, offset: number, pc: number, hot = false): Block {
    let block: Block;
    if (hot) {
      block = this.compiler.compile(hart, offset, pc);
      this.blocksTranslated++;
    } else {
      const trace = this.compiler.walk(hart, offset, pc);
      block = new Block(pc, offset, trace.low, trace.high, trace.steps.length, undefined, []);
      if (trace.steps.length === 0) {
        const bits = hart.instructionBitsAt(pc);
        const instruction = decode(bits);
        block.bits = bits;
        block.sensitive = isSensitive(instruction) || isPrivileged(instruction);
      }
    }
    cache.insert(offset >>> 12, block, hot);
    return block;
  }
}

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

interface Trace {
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
class BlockCompiler {
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
      `${SPILL} h.pc = ${here}; h.steps = base + n + ${k}; h.raiseException(0, ${target}); S[0] = -1; return n + ${k + 1};`;

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
