import type { CodeInvalidationListener, Hart } from "@matryoshka/cpu";

/**
 * A translated block: `(h, x, m32, m16, m8, lt, lf, st, sf, limit, base, S) => started`.
 * `x` is the register file, `m*` views of RAM, `lt/lf` and `st/sf` the tag and frame arrays of the
 * load and store TLBs, `limit` how many instructions it may start (a block only loops while a
 * whole pass fits), `base` the hart's step count at entry, `S` the exit record (S[0]: which exit it
 * took, -1 for one without a known target; S[1]: set when a store dropped translated code). It
 * returns the instructions it started, and leaves `h.pc` at the next instruction (or at the trap
 * handler after a trap).
 */
export type BlockFunction = (
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
export const NO_TARGET = 1;

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
export class TranslationCache implements CodeInvalidationListener {
  /** Per RAM page, the block starting at each halfword slot. */
  private readonly slots: (Array<Block | undefined> | undefined)[];
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

  /** The block cached at RAM offset `offset` if it was translated at virtual address `pc`. */
  find(offset: number, pc: number): Block | undefined {
    const slots = this.slots[offset >>> 12];
    const block = slots === undefined ? undefined : slots[(offset & 0xfff) >>> 1];
    return block !== undefined && block.pc === pc ? block : undefined;
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
