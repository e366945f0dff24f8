export * from "./constants.js";
export { CodeCache } from "./code-cache.js";
export type { CodeCacheOptions } from "./code-cache.js";
export type { Engine } from "./engine.js";
export { Hart, InternalOp, StopReason } from "./hart.js";
export type { HartOptions } from "./hart.js";
export { Interpreter } from "./interpreter.js";
export { div, divu, mulh, mulhsu, mulhu, rem, remu } from "./arith.js";
