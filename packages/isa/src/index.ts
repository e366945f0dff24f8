export * from "./opcodes.js";
export * from "./decode.js";
export * from "./encode.js";
export * from "./disasm.js";
export * from "./classes.js";
export * from "./privileged.js";
export * from "./profiles.js";
export * from "./popek-goldberg.js";
