import { describe, expect, it } from "vitest";
import { Metrics, readCounters } from "@matryoshka/metrics";

describe("Metrics", () => {
  it("reads the counters components keep in place, as copies, group by group", () => {
    const metrics = new Metrics();
    const exits = { budget: 0, byCause: new Float64Array(4), name: "not a counter" };
    metrics.add("exits", exits);
    exits.budget += 3;
    exits.byCause[2]! += 5;
    const snapshot = metrics.snapshot();
    expect(snapshot).toEqual({ exits: { budget: 3, byCause: [0, 0, 5, 0] } });
    exits.budget++;
    expect(snapshot.exits!.budget).toBe(3);
    expect(metrics.read("exits")!.budget).toBe(4);
  });

  it("computes derived groups when read, and reads Maps and getters", () => {
    const metrics = new Metrics();
    let calls = 0;
    metrics.add("derived", () => ({ calls: ++calls, byExtension: new Map([[0x10, 2], [0x54494d45, 1]]) }));
    class WithGetter {
      private hidden = 7;
      get visible(): number {
        return this.hidden * 2;
      }
    }
    metrics.add("getter", new WithGetter());
    expect(metrics.snapshot()).toEqual({ derived: { calls: 1, byExtension: { 16: 2, 1414090053: 1 } }, getter: { hidden: 7, visible: 14 } });
    expect(metrics.names).toEqual(["derived", "getter"]);
    metrics.remove("derived");
    expect(metrics.read("derived")).toBeUndefined();
  });

  it("refuses a second group of the same name", () => {
    const metrics = new Metrics();
    metrics.add("shadow", {});
    expect(() => metrics.add("shadow", {})).toThrow(/already registered/);
  });

  it("leaves out what is not a number, a numeric array or a Map of numbers", () => {
    expect(readCounters({ a: 1, b: "x", c: [1, "2"], d: { e: 1 }, f: [1, 2], g: undefined })).toEqual({ a: 1, f: [1, 2] });
  });
});
