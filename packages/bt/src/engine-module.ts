// What a worker thread imports to build a translator of its own (`Translator.module`).
import type { Engine } from "@matryoshka/cpu";
import { Translator } from "./translator.js";

export function createEngine(): Engine {
  return new Translator();
}
