export { runGuest } from "./run.js";
export type { InputSource, RunOptions, RunReport } from "./run.js";
