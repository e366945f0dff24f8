export * from "./lines.js";
export { CLINT_SIZE, Clint } from "./clint.js";
export { PLIC_PRIORITY_BITS, PLIC_SOURCES, Plic, plicSize } from "./plic.js";
