import type { Scheduler, VcpuId } from "./types.js";

/** What a simulated vCPU does with the hart. */
export type Workload =
  /** Always runnable: a CPU hog. */
  | { kind: "cpu" }
  /** Runs `run` units of CPU, then blocks for `block` units (I/O wait), forever. */
  | { kind: "io"; run: number; block: number };

/** One simulated vCPU. */
export interface SimVcpu {
  /** Id registered with the scheduler (default: its index). */
  id?: VcpuId;
  weight?: number;
  cap?: number;
  pin?: number;
  workload: Workload;
}

export interface SimOptions {
  /** A fresh scheduler; the simulator registers the vCPUs and runs on `scheduler.harts` harts. */
  scheduler: Scheduler;
  vcpus: SimVcpu[];
  /** Simulated time to run, in the scheduler's time units. */
  duration: number;
  /** Record every run as a segment (for checking placement and caps). Default false. */
  trace?: boolean;
}

/** A stretch of time a vCPU ran on a hart. */
export interface Segment {
  vcpu: VcpuId;
  hart: number;
  start: number;
  end: number;
}

export interface SimVcpuResult {
  id: VcpuId;
  /** Hart time received. */
  received: number;
  /** received / duration: the fraction of one hart it got. */
  share: number;
  /** Times it was put on a hart. */
  dispatches: number;
  /** For each wake from an I/O wait: time until it was next put on a hart. */
  wakeLatencies: number[];
  meanLatency: number;
  maxLatency: number;
  /** Harts it ever ran on, ascending. */
  harts: number[];
}

export interface SimResult {
  duration: number;
  harts: number;
  vcpus: SimVcpuResult[];
  /** Total hart time nothing ran. */
  idle: number;
  /** Runs in time order of their end, when `trace` was set. */
  segments?: Segment[];
}

/**
 * Deterministic discrete-event simulation of harts driven by a scheduler, following the protocol
 * of `Scheduler`: pick, run for the slice or until the workload blocks or a wake preempts, account,
 * block. Events at the same instant are handled as wakes first, then the end of runs (in hart
 * order), then picks (in hart order). Throws if the scheduler breaks the contract (a vCPU on two
 * harts, off its pin, or a non-positive slice).
 */
export function simulate(options: SimOptions): SimResult {
  const { scheduler, vcpus, duration } = options;
  if (!(duration > 0) || !Number.isFinite(duration)) {
    throw new RangeError(`simulate: duration must be a finite number > 0, got ${duration}`);
  }
  const harts = scheduler.harts;
  const n = vcpus.length;
  const ids = vcpus.map((v, i) => v.id ?? i);
  const index = new Map<VcpuId, number>();
  ids.forEach((id, i) => index.set(id, i));
  for (let i = 0; i < n; i++) {
    const w = vcpus[i]!.workload;
    if (w.kind === "io" && (!(w.run > 0) || !(w.block >= 0))) {
      throw new RangeError(`simulate: vCPU ${String(ids[i])} needs run > 0 and block >= 0, got run ${w.run}, block ${w.block}`);
    }
    const v = vcpus[i]!;
    scheduler.register(ids[i]!, { weight: v.weight, cap: v.cap, pin: v.pin });
  }

  // Per vCPU: CPU time left in the current burst, when a blocked one wakes, when it last woke.
  const burstLeft = vcpus.map((v) => (v.workload.kind === "io" ? v.workload.run : Number.POSITIVE_INFINITY));
  const wakeAt = new Array<number>(n).fill(Number.POSITIVE_INFINITY);
  const wokeAt = new Array<number>(n).fill(-1);
  const onHart = new Array<number>(n).fill(-1);
  const blocked = new Array<boolean>(n).fill(false);
  const received = new Array<number>(n).fill(0);
  const dispatches = new Array<number>(n).fill(0);
  const latencies: number[][] = vcpus.map(() => []);
  const used: Set<number>[] = vcpus.map(() => new Set());
  // Per hart: running vCPU index or -1, when the run started, when the hart must pick again.
  const cur = new Array<number>(harts).fill(-1);
  const start = new Array<number>(harts).fill(0);
  const until = new Array<number>(harts).fill(0);
  const resched = new Array<boolean>(harts).fill(true);
  const segments: Segment[] | undefined = options.trace ? [] : undefined;
  let idle = 0;
  const idleSince = new Array<number>(harts).fill(0);

  const endRun = (h: number, t: number): void => {
    const v = cur[h]!;
    const ran = t - start[h]!;
    scheduler.account(ids[v]!, ran, t);
    received[v] = received[v]! + ran;
    burstLeft[v] = burstLeft[v]! - ran;
    segments?.push({ vcpu: ids[v]!, hart: h, start: start[h]!, end: t });
    cur[h] = -1;
    onHart[v] = -1;
    idleSince[h] = t;
    const w = vcpus[v]!.workload;
    if (w.kind === "io" && burstLeft[v]! <= 0) {
      scheduler.block(ids[v]!, t);
      blocked[v] = true;
      wakeAt[v] = t + w.block;
    }
  };

  let t = 0;
  for (;;) {
    let next = Number.POSITIVE_INFINITY;
    for (let h = 0; h < harts; h++) {
      if (resched[h]) next = t;
      const v = cur[h]!;
      next = Math.min(next, until[h]!, v >= 0 ? start[h]! + burstLeft[v]! : Number.POSITIVE_INFINITY);
    }
    for (let v = 0; v < n; v++) next = Math.min(next, wakeAt[v]!);
    if (next >= duration) break;
    t = next;

    for (let v = 0; v < n; v++) {
      if (wakeAt[v] !== t) continue;
      wakeAt[v] = Number.POSITIVE_INFINITY;
      blocked[v] = false;
      burstLeft[v] = (vcpus[v]!.workload as { run: number }).run;
      wokeAt[v] = t;
      const h = scheduler.wake(ids[v]!, t);
      if (h >= 0) resched[h] = true;
    }
    for (let h = 0; h < harts; h++) {
      const v = cur[h]!;
      if (v < 0) {
        if (until[h]! <= t) resched[h] = true;
        continue;
      }
      if (resched[h] || until[h]! <= t || start[h]! + burstLeft[v]! <= t) {
        endRun(h, t);
        resched[h] = true;
      }
    }
    for (let h = 0; h < harts; h++) {
      if (!resched[h]) continue;
      resched[h] = false;
      const d = scheduler.pick(h, t);
      if (d.vcpu === null) {
        if (!(d.slice > 0)) throw new Error(`simulate: idle hart ${h} told to wait ${d.slice} at ${t}`);
        until[h] = t + d.slice;
        continue;
      }
      const v = index.get(d.vcpu);
      if (v === undefined) throw new Error(`simulate: scheduler picked unknown vCPU ${String(d.vcpu)}`);
      if (onHart[v]! >= 0) {
        throw new Error(`simulate: vCPU ${String(d.vcpu)} picked on hart ${h} while running on hart ${onHart[v]} at ${t}`);
      }
      if (blocked[v]) throw new Error(`simulate: scheduler picked blocked vCPU ${String(d.vcpu)} at ${t}`);
      const pin = vcpus[v]!.pin;
      if (pin !== undefined && pin !== h) throw new Error(`simulate: vCPU ${String(d.vcpu)} pinned to ${pin} ran on ${h}`);
      if (!(d.slice > 0)) throw new Error(`simulate: vCPU ${String(d.vcpu)} given slice ${d.slice} at ${t}`);
      idle += t - idleSince[h]!;
      cur[h] = v;
      onHart[v] = h;
      start[h] = t;
      until[h] = t + d.slice;
      dispatches[v] = dispatches[v]! + 1;
      used[v]!.add(h);
      if (wokeAt[v]! >= 0) {
        latencies[v]!.push(t - wokeAt[v]!);
        wokeAt[v] = -1;
      }
    }
  }

  for (let h = 0; h < harts; h++) {
    if (cur[h]! >= 0) endRun(h, duration);
    idle += duration - idleSince[h]!;
  }

  return {
    duration,
    harts,
    idle,
    segments,
    vcpus: ids.map((id, v) => {
      const lat = latencies[v]!;
      let max = 0;
      for (const l of lat) max = Math.max(max, l);
      return {
        id,
        received: received[v]!,
        share: received[v]! / duration,
        dispatches: dispatches[v]!,
        wakeLatencies: lat,
        meanLatency: lat.length > 0 ? lat.reduce((a, b) => a + b, 0) / lat.length : 0,
        maxLatency: max,
        harts: [...used[v]!].sort((a, b) => a - b),
      };
    }),
  };
}
