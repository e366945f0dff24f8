export * from "./opcodes.js";
export * from "./decode.js";
