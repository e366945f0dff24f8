// What a worker thread imports to build an interpreter of its own (`Interpreter.module`).
import type { Engine } from "./engine.js";
import { Interpreter } from "./interpreter.js";

export function createEngine(): Engine {
  return new Interpreter();
}
