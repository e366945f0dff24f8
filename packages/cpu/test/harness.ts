import { encode, encodeCompressed, Op, type CompressedForm, type InstructionFields } from "@matryoshka/isa";
import { Bus, Ram, guestPhysical as gpa } from "@matryoshka/memory";
import { createDefaultEngine, Hart, StopReason, type Engine, type HartOptions } from "@matryoshka/cpu";

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 1 << 20;

/** One instruction: a 32-bit encoding, or a compressed one (as {c: form}). */
export type Item = number | { c: CompressedForm; f?: InstructionFields };

export const i = (op: Op, fields: InstructionFields = {}): number => encode(op, fields);
export const c = (form: CompressedForm, f: InstructionFields = {}): Item => ({ c: form, f });

/** A hart on 1 MiB of RAM at 0x80000000 with a program placed at `at` (default RAM base). */
export function setup(program: Item[], options: HartOptions & { at?: number; engine?: Engine } = {}) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const bus = new Bus(ram);
  const hart = new Hart(bus, { pmpEntries: 0, ...options });
  const engine = options.engine ?? createDefaultEngine();
  const at = options.at ?? RAM_BASE;
  place(ram, at, program);
  hart.reset(at);
  return {
    ram,
    bus,
    hart,
    /** Runs exactly `n` instructions (fewer if the hart stops). */
    run: (n: number): StopReason => engine.run(hart, n),
    word: (pa: number) => ram.i32[(pa - RAM_BASE) >> 2]! >>> 0,
  };
}

export function place(ram: Ram, at: number, program: Item[]): number {
  let pc = at;
  for (const item of program) {
    if (typeof item === "number") {
      ram.write(gpa(pc), Uint8Array.of(item & 0xff, (item >>> 8) & 0xff, (item >>> 16) & 0xff, item >>> 24));
      pc += 4;
    } else {
      const half = encodeCompressed(item.c, item.f ?? {});
      ram.write(gpa(pc), Uint8Array.of(half & 0xff, half >>> 8));
      pc += 2;
    }
  }
  return pc;
}

/** `li rd, value` as LUI + ADDI. */
export function li(rd: number, value: number): number[] {
  const low = (value << 20) >> 20;
  const high = (value - low) | 0;
  return [i(Op.LUI, { rd, imm: high }), i(Op.ADDI, { rd, rs1: rd, imm: low })];
}
