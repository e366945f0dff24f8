export { ExitStatus, UsageError } from "./exit-status.js";
export { buildProgram, main } from "./program.js";
export type { Io } from "./io.js";
