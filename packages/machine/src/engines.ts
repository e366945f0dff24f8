import type { Engine } from "@matryoshka/cpu";

/**
 * An execution engine as plain data, for a worker thread (which cannot be handed the object): its
 * name, and the module whose `createEngine()` builds one like it (`Engine.module`). The board
 * names no engine package; engines say how they are rebuilt.
 */
export interface EngineModule {
  name: string;
  module: string;
}

/** `engine` as a worker rebuilds it; throws for an engine that names no module. */
export function engineModule(engine: Engine): EngineModule {
  if (engine.module === undefined) {
    throw new Error(`the ${engine.name} engine cannot run on worker threads: it names no module that builds it (Engine.module)`);
  }
  return { name: engine.name, module: engine.module };
}

/** Builds the engine `spec` describes, in this thread. */
export async function loadEngine(spec: EngineModule): Promise<Engine> {
  const exports = (await import(spec.module)) as { createEngine?: () => Engine };
  if (typeof exports.createEngine !== "function") throw new Error(`${spec.module} has no createEngine (engine ${spec.name})`);
  return exports.createEngine();
}
