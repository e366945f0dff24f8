export { guestDeviceTree, reportOf, runGuest } from "./run.js";
export { parseTrace, TRACE_CATEGORIES, TraceSpecError, TracingEngine, installTrace } from "./trace.js";
export type { TraceCategory, TraceOptions } from "./trace.js";
export type { InputSource, LevelReport, PausedRun, RunCounters, RunOptions, RunReport } from "./run.js";
export { describeOutcome, GuestStatus, guestStatus } from "./status.js";
export { compareRuns, DepthListError, parseDepths, summarizeLevel, sweep, sweepJson } from "./sweep.js";
export type { DepthResult, Difference, DiskImage, LevelSummary, SweepJson, SweepOptions, SweepProgress, SweepResult } from "./sweep.js";
export { buildStack, MAX_DEPTH } from "@matryoshka/vmm";
export type { GuestMachineOptions, Stack, VmBackend } from "@matryoshka/vmm";
