export { Metrics, readCounters } from "./metrics.js";
export type { CounterSource, CounterValue, Counters, MetricsSnapshot } from "./metrics.js";
