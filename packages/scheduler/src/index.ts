export type { Decision, Scheduler, VcpuId, VcpuParams } from "./types.js";
export { DEFAULT_WEIGHT, type BaseOptions } from "./base.js";
export { RoundRobin } from "./round-robin.js";
export { CreditScheduler, type CreditOptions, type CreditPriority } from "./credit.js";
export { StrideScheduler, type StrideOptions } from "./stride.js";
export {
  simulate,
  type Segment,
  type SimOptions,
  type SimResult,
  type SimVcpu,
  type SimVcpuResult,
  type Workload,
} from "./simulate.js";
