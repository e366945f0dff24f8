export * from "./opcodes.js";
export * from "./decode.js";
export * from "./encode.js";
export * from "./classes.js";
