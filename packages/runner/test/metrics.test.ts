import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { guestPath } from "@matryoshka/testkit";
import { runGuest } from "../src/index.js";

// One metrics interface (DESIGN.md §8): what the run's report says comes from the counters every
// layer registered with its board's metrics.

const kernel = (name: string) => new Uint8Array(readFileSync(guestPath(name)));
const disk = () => new MemoryBlockBackend(new Uint8Array(readFileSync(guestPath("kernel").replace(/kernel\.elf$/, "disk.img"))));

describe("the run's metrics", () => {
  it("has every layer's counters at every level, and the report's figures are read from them", async () => {
    const report = await runGuest({ kernel: kernel("kernel"), depth: 2, engine: "bt", disks: [disk()], console: () => {} });
    expect(report.outcome).toEqual({ kind: "pass" });
    const { hardware, levels } = report.metrics;
    expect(Object.keys(hardware)).toEqual(expect.arrayContaining(["harts", "engine"]));
    expect(hardware.engine!.blocksTranslated).toBeGreaterThan(0);
    expect(levels).toHaveLength(2);
    for (const level of levels) expect(Object.keys(level)).toEqual(expect.arrayContaining(["harts", "exits", "shadow", "memory"]));
    // The guest's own VM has its disk; the VM beneath runs a hypervisor, and has none.
    const guest = levels[1]!;
    const virtio = Object.keys(guest).filter((name) => name.startsWith("virtio"));
    expect(virtio).toHaveLength(1);
    expect(guest[virtio[0]!]!.reads).toBeGreaterThan(0);
    expect(Object.keys(levels[0]!).some((name) => name.startsWith("virtio"))).toBe(false);
    // The report's own figures are views of the same counters.
    report.levels.forEach((level, i) => {
      expect(Array.from(level.exits.byCause)).toEqual(levels[i]!.exits!.byCause);
      expect(level.shadow.fills).toBe(levels[i]!.shadow!.fills);
      expect(levels[i]!.memory!.resident).toBeGreaterThan(0);
    });
    expect(report.instructions).toBe(guest.harts!.instructions);
    expect([...report.exceptions.values()].reduce((a, b) => a + b, 0)).toBe((guest.harts!.exceptions as number[]).reduce((a, b) => a + b, 0));
  });

  it("counts a paravirtual guest's SBI calls in its VM's sbi group", async () => {
    const report = await runGuest({ kernel: kernel("kernel-pv"), depth: 1, backend: "pv", disks: [disk()], console: () => {} });
    expect(report.outcome).toEqual({ kind: "pass" });
    const sbi = report.metrics.levels[0]!.sbi!;
    expect(sbi.calls).toBeGreaterThan(10);
    expect(sbi.calls).toBe(report.levels[0]!.exits.hypercalls);
  });
});
