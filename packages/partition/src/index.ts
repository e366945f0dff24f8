export {
  loadPartitionConfig,
  MAX_HARTS_PER_MACHINE,
  MAX_MACHINE_HARTS,
  parsePartitionConfig,
  PartitionConfigError,
  SCHEDULER_NAMES,
  validatePartitionConfig,
  type MemoryConfig,
  type MemoryPlan,
  type PartitionConfig,
  type PartitionPlan,
  type PlannedVm,
  type SchedulerName,
  type VmConfigEntry,
} from "./config.js";
export { createScheduler, INSTRUCTIONS_PER_MS, prepareJob, type Job, type JobResult, type OutcomeData, type VmMemoryUse, type VmRunResult, type VmSpec } from "./jobs.js";
export { FileSwapStore } from "./file-swap.js";
export { runPartitions, type GuestState, type PartitionReport, type PartitionRunOptions, type VmReport } from "./partition.js";
export { promisedShares, type ShareClaim } from "./shares.js";
