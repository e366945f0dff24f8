import { Translator } from "@matryoshka/bt";
import { Interpreter, type Engine } from "@matryoshka/cpu";

/**
 * The one registry of execution engines: every name `--engine` takes, and what it builds. It lives
 * here, above `cpu` and `bt`, so that everyone who picks an engine by name (the runner, the
 * partitioner's workers, a VM's vCPU threads, the benchmarks) shares it, while the board
 * (`@matryoshka/machine`) names no engine package: its worker threads rebuild the board's engine
 * from `Engine.module`.
 */
const ENGINES = {
  interpreter: () => new Interpreter(),
  bt: () => new Translator(),
} satisfies Record<string, () => Engine>;

export type EngineName = keyof typeof ENGINES;

/** The engine names, the interpreter first (the default wherever no engine is named). */
export const ENGINE_NAMES = Object.keys(ENGINES) as readonly EngineName[];

export function isEngineName(name: string): name is EngineName {
  return Object.hasOwn(ENGINES, name);
}

/**
 * A fresh engine by name. Names arrive as plain data too (a worker's job), hence a string and an
 * error for names no engine has.
 */
export function createEngine(name: string): Engine {
  if (!isEngineName(name)) throw new Error(`no execution engine "${name}" (known: ${ENGINE_NAMES.join(", ")})`);
  return ENGINES[name]();
}
