import { Bus, Ram } from "@matryoshka/memory";
import { Hart, Interpreter, type Engine, type HartOptions } from "@matryoshka/cpu";
import { Translator } from "@matryoshka/bt";
import { place, RAM_BASE, RAM_SIZE, type Item } from "../../cpu/test/harness.js";

// Programs are laid out in RAM exactly as the interpreter's own tests do.
export { place, RAM_BASE, RAM_SIZE, type Item };

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
