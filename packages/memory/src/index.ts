export { Ram } from "./ram.js";
export { BUS_ERROR, Bus, Rom } from "./bus.js";
export type { AccessSize, MmioDevice, MmioRegion } from "./bus.js";
