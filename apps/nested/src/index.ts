export { runGuest } from "./run.js";
export type { InputSource, LevelReport, RunOptions, RunReport } from "./run.js";
export { buildStack, MAX_DEPTH } from "./stack.js";
export type { GuestMachineOptions, Stack } from "./stack.js";
export { compareRuns, DepthListError, describeOutcome, GuestStatus, guestStatus, parseDepths, summarizeLevel, sweep, sweepJson } from "./sweep.js";
export type { DepthResult, Difference, DiskImage, LevelSummary, SweepJson, SweepOptions, SweepProgress, SweepResult } from "./sweep.js";
