export * from "./lines.js";
export { CLINT_SIZE, Clint, ClintRegisters } from "./clint.js";
export type { ClintState } from "./clint.js";
export type { ClintStorage } from "./clint.js";
export { PLIC_PRIORITY_BITS, PLIC_SOURCES, Plic, plicSize } from "./plic.js";
export type { PlicState } from "./plic.js";
