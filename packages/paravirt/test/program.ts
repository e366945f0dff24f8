import { encode, Op } from "@matryoshka/isa";
import type { Ram } from "@matryoshka/memory";
import type { VM } from "@matryoshka/vmm";

/** `li rd, value` as LUI + ADDI. */
export function li(rd: number, value: number): number[] {
  const low = (value << 20) >> 20;
  const high = (value - low) | 0;
  return [encode(Op.LUI, { rd, imm: high >>> 0 }), encode(Op.ADDI, { rd, rs1: rd, imm: low })];
}

/** A guest kernel (raw binary, S-mode, no firmware) making SBI calls and saving each result. */
export class Program {
  readonly words: number[];
  private readonly results: number;
  private calls = 0;

  /** `results`: where call k saves a0 and a1 (at results + 8k; s0 holds it). */
  constructor(results: number) {
    this.results = results;
    this.words = [...li(8, results)];
  }

  /** ecall with a7 = extension, a6 = function, a0.. = args; then a0, a1 saved at RESULTS + 8k. */
  call(extension: number, fn: number, ...args: number[]): number {
    this.words.push(...li(17, extension), ...li(16, fn));
    args.forEach((value, i) => this.words.push(...li(10 + i, value)));
    this.words.push(encode(Op.ECALL));
    this.words.push(encode(Op.SW, { rs1: 8, rs2: 10, imm: this.calls * 8 }), encode(Op.SW, { rs1: 8, rs2: 11, imm: this.calls * 8 + 4 }));
    return this.calls++;
  }

  /** The program, ending in a jump to itself. */
  bytes(): Uint8Array {
    return new Uint8Array(new Uint32Array([...this.words, encode(Op.JAL, { rd: 0, imm: 0 })]).buffer);
  }
}

/**
 * Words of host RAM that differ from `before` outside the pages the VM owns now (its RAM's frames
 * and its shadow tables' frames): what a VM on the hardware may never change.
 */
export function hostChangedOutside(vm: VM, before: Int32Array): number {
  const host = vm.platform.memory as Ram;
  const owned = new Set<number>(vm.shadow.frames());
  for (let page = 0; page < vm.memory.pages; page++) {
    const frame = vm.memory.currentFrame((vm.memory.base >>> 12) + page);
    if (frame >= 0) owned.add(frame);
  }
  let changed = 0;
  for (let i = 0; i < before.length; i++) {
    if (!owned.has((host.base >>> 12) + (i >>> 10)) && host.i32[i] !== before[i]) changed++;
  }
  return changed;
}
