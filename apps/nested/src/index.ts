export { runGuest } from "./run.js";
export { createEngine, ENGINE_NAMES, type EngineName } from "@matryoshka/engines";
export type { InputSource, LevelReport, RunOptions, RunReport } from "./run.js";
export { buildStack, MAX_DEPTH } from "@matryoshka/vmm";
export type { GuestMachineOptions, Stack, VmBackend } from "@matryoshka/vmm";
export { compareRuns, DepthListError, describeOutcome, GuestStatus, guestStatus, parseDepths, summarizeLevel, sweep, sweepJson } from "./sweep.js";
export type { DepthResult, Difference, DiskImage, LevelSummary, SweepJson, SweepOptions, SweepProgress, SweepResult } from "./sweep.js";
