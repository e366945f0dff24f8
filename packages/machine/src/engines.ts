import { Interpreter, type Engine } from "@matryoshka/cpu";

/** The execution engines a thread can build by name (a worker cannot be handed an object). */
export const THREAD_ENGINE_NAMES = ["interpreter", "bt"] as const;

/** A new engine of that name; the translator is loaded only when asked for. */
export async function engineNamed(name: string): Promise<Engine> {
  if (name === "interpreter") return new Interpreter();
  if (name === "bt") {
    const { Translator } = await import("@matryoshka/bt");
    return new Translator();
  }
  throw new Error(`no execution engine "${name}" (known: ${THREAD_ENGINE_NAMES.join(", ")})`);
}
