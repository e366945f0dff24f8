import { Interpreter, StopReason, type CodeCache, type Engine, type Hart } from "@matryoshka/cpu";
import { decode, isPrivileged, isSensitive } from "@matryoshka/isa";
import { Access } from "@matryoshka/mmu";
import { BlockCompiler } from "./block-compiler.js";
import { Block, NO_TARGET, TranslationCache } from "./translation-cache.js";

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
      if (hart.triggers.executeArmed) {
        // Armed execute triggers: one checked instruction at a time (blocks would have to check
        // every instruction's pc; guests arm triggers rarely). A one-instruction segment still
        // turns a sensitive instruction into a hypervisor call under the bt backend.
        if (hart.executeTriggerFired()) remaining--;
        else remaining -= this.segment(hart, cache, 1);
        if (this.takeStop() === StopReason.Wfi) return StopReason.Wfi;
      } else {
        remaining -= this.segment(hart, cache, remaining);
        if (this.takeStop() === StopReason.Wfi) return StopReason.Wfi;
      }
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
          block = cache.find(offset, pc) ?? this.translate(hart, cache, offset, pc);
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
    return cache.find(offset, pc) ?? this.translate(hart, cache, offset, pc);
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
