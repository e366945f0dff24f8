import type { Engine } from "./engine.js";
import { Interpreter } from "./interpreter.js";

let factory: () => Engine = () => new Interpreter();

/**
 * The engine for harts whose owner names none (a board built without `engine`): the interpreter,
 * unless a program changes it. The test suite switches it to the translator of `@matryoshka/bt`
 * to run every test on both engines.
 */
export function createDefaultEngine(): Engine {
  return factory();
}

/** Changes what `createDefaultEngine` makes, for boards created from now on. */
export function setDefaultEngine(create: () => Engine): void {
  factory = create;
}
