export * from "./pmp.js";
export * from "./sv32.js";
export * from "./tlb.js";
export * from "./shadow.js";
