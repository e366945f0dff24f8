export * from "./opcodes.js";
