import { encodeCompressed, type CompressedForm, type InstructionFields } from "@matryoshka/isa";
import { Bus, Ram } from "@matryoshka/memory";
import { Hart, Interpreter, type Engine, type HartOptions } from "@matryoshka/cpu";
import { Translator } from "@matryoshka/bt";

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 1 << 20;

/** One instruction: a 32-bit encoding, or a compressed one. */
export type Item = number | { c: CompressedForm; f?: InstructionFields };

export function place(ram: Ram, at: number, program: Item[]): number {
  let pc = at;
  for (const item of program) {
    if (typeof item === "number") {
      ram.write(pc, Uint8Array.of(item & 0xff, (item >>> 8) & 0xff, (item >>> 16) & 0xff, item >>> 24));
      pc += 4;
    } else {
      const half = encodeCompressed(item.c, item.f ?? {});
      ram.write(pc, Uint8Array.of(half & 0xff, half >>> 8));
      pc += 2;
    }
  }
  return pc;
}

export interface Rig {
  ram: Ram;
  hart: Hart;
  engine: Engine;
}

/** A hart on 1 MiB of RAM with `program` at the RAM base, run by the given engine. */
export function rig(engine: Engine, program: Item[], options: HartOptions = {}): Rig {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const hart = new Hart(new Bus(ram), { pmpEntries: 0, ...options });
  place(ram, RAM_BASE, program);
  hart.reset(RAM_BASE);
  return { ram, hart, engine };
}

/**
 * The same program on the interpreter and on the translator, which compiles every block the first
 * time it runs (so that short tests exercise translated code, not the interpreter it starts with).
 */
export function pair(program: Item[], options: HartOptions = {}): { interpreter: Rig; translator: Rig & { engine: Translator } } {
  const translator = new Translator({ hotThreshold: 1 });
  return {
    interpreter: rig(new Interpreter(), program, options),
    translator: { ...rig(translator, program, options), engine: translator },
  };
}

/** Architectural state worth comparing between engines. */
export function snapshot(hart: Hart) {
  return {
    pc: hart.pc >>> 0,
    x: Array.from(hart.x),
    steps: hart.steps,
    instret: hart.minstret,
    priv: hart.priv,
    mstatus: hart.mstatus >>> 0,
    mcause: hart.mcause >>> 0,
    mepc: hart.mepc >>> 0,
    mtval: hart.mtval >>> 0,
  };
}
