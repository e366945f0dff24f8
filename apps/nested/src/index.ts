export { runGuest } from "./run.js";
export type { InputSource, LevelReport, RunOptions, RunReport } from "./run.js";
export { buildStack, MAX_DEPTH } from "./stack.js";
export type { GuestMachineOptions, Stack } from "./stack.js";
