// Networking benchmark for `pnpm bench`: net-ping and net-echo (guests/net-ping/README.md) on one
// learning switch in this process, each under `depth` hypervisors, run in turns of 20,000
// instructions. The exchange is 16 round trips of 214-byte frames: latency is wall time per round
// trip, throughput the frames' bits (both ways) per wall second of the whole exchange. These are
// ping-pong numbers (one frame in flight), not bulk transfer: they measure the device, switch and
// nesting cost per frame. Medians of interleaved rounds.
import { readFileSync } from "node:fs";
import { NetSwitch, defaultMac } from "@matryoshka/devices";
import { createEngine, type EngineName } from "@matryoshka/engines";
import { buildStack } from "@matryoshka/runner";
import { guestPath } from "@matryoshka/testkit";

const ROUND_TRIPS = 16;
const FRAME_BYTES = 214;
const SLICE = 20_000;

export interface NetBenchRow {
  depth: number;
  engine: EngineName;
  /** Median wall milliseconds of the 16 round trips (boot included, a few thousand instructions). */
  wall: number;
  /** Wall microseconds per round trip. */
  roundTripMicros: number;
  /** Frame bits both ways per wall second, in Mbit/s. */
  mbits: number;
}

function exchange(depth: number, engine: EngineName): number {
  const lan = new NetSwitch("bench");
  let output = "";
  const stacks = ["net-echo", "net-ping"].map((name, i) => {
    const stack = buildStack(depth, {
      memoryMiB: 16,
      engine: createEngine(engine),
      console: (b) => (output += String.fromCharCode(b)),
      net: [{ backend: lan.port(), mac: defaultMac(i) }],
    });
    (stack.vms.at(-1) ?? stack.guest).boot({ kernel: new Uint8Array(readFileSync(guestPath(name))) });
    return stack;
  });
  const started = performance.now();
  const done = [false, false];
  while (!done[0] || !done[1]) {
    stacks.forEach((stack, i) => {
      if (done[i]) return;
      const outcome = stack.guest.run(SLICE);
      if (outcome.kind === "pass") done[i] = true;
      else if (outcome.kind !== "limit") throw new Error(`net bench: ${i === 0 ? "net-echo" : "net-ping"} at depth ${depth} ended ${JSON.stringify(outcome)}: ${output}`);
    });
  }
  const wall = performance.now() - started;
  if (!output.includes(`${ROUND_TRIPS}/${ROUND_TRIPS} replies`)) throw new Error(`net bench: net-ping did not finish: ${output}`);
  return wall;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export function benchNet(depths: readonly number[] = [1, 5], engine: EngineName = "bt", rounds = 3): NetBenchRow[] {
  for (const depth of depths) exchange(depth, engine); // warm-up
  const walls = depths.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) depths.forEach((depth, i) => walls[i]!.push(exchange(depth, engine)));
  return depths.map((depth, i) => {
    const wall = median(walls[i]!);
    return {
      depth,
      engine,
      wall,
      roundTripMicros: (wall * 1000) / ROUND_TRIPS,
      mbits: (ROUND_TRIPS * 2 * FRAME_BYTES * 8) / (wall / 1000) / 1e6,
    };
  });
}
