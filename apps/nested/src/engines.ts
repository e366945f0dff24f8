import { Translator } from "@matryoshka/bt";
import { Interpreter, type Engine } from "@matryoshka/cpu";

/** The execution engines the hardware can run: `--engine` on the command line. */
export const ENGINE_NAMES = ["interpreter", "bt"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** A fresh engine by name: the interpreter, or the binary translator of `@matryoshka/bt`. */
export function createEngine(name: EngineName): Engine {
  switch (name) {
    case "interpreter":
      return new Interpreter();
    case "bt":
      return new Translator();
  }
}
