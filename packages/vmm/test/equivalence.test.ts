import { describe, expect, it } from "vitest";
import { runGuestAt, type GuestRun } from "./support.js";

// DESIGN.md §5: "the exits seen by the level-k hypervisor, and the guest's output, are identical
// whatever the depth". Level 1 runs on bare metal and the innermost VM's board runs the guest, so
// at depth d the guest's own hypervisor is level d, and "level j from the top" is level d - j.
// Everything that level counted (the running hash of every exit in order, exits by cause, budget
// exits, emulated instructions, traps reflected upward, shadow-table work, interrupts injected and
// instructions run) must not depend on how many levels lie beneath it.

/** Stack depths every guest runs at; with 1, 2, 3 and 5, levels 0..2 from the top occur at least twice. */
const DEPTHS = [1, 2, 3, 5];
/** Guests: CPU traps, interrupts, and the test kernel with its disk (virtio DMA, timer, U-mode tasks). */
const GUESTS = ["traps", "interrupts", "kernel"];

const runs = new Map<string, GuestRun>();
function runAt(name: string, depth: number, input?: string): GuestRun {
  const key = `${name}@${depth}${input === undefined ? "" : `+${JSON.stringify(input)}`}`;
  let run = runs.get(key);
  if (run === undefined) {
    run = runGuestAt(name, depth, { input });
    runs.set(key, run);
  }
  return run;
}

/** Level `fromTop` levels below the guest's own hypervisor (0 = the guest's own), if the stack has it. */
function levelFromTop(run: GuestRun, fromTop: number) {
  return run.levels[run.levels.length - 1 - fromTop];
}

function expectLevelsIndependentOfDepth(name: string, depths: number[], input?: string): number {
  let compared = 0;
  const deepest = Math.max(...depths);
  for (let fromTop = 0; fromTop < deepest; fromTop++) {
    const having = depths.filter((depth) => depth > fromTop);
    const reference = levelFromTop(runAt(name, having[0]!, input), fromTop)!;
    for (const depth of having.slice(1)) {
      const level = levelFromTop(runAt(name, depth, input), fromTop)!;
      expect({ guest: name, depth, fromTop, ...level }).toEqual({ guest: name, depth, fromTop, ...reference });
      compared++;
    }
  }
  return compared;
}

describe.each(GUESTS)("%s: what a hypervisor level sees does not depend on the levels beneath it", (name) => {
  it("the guest's outcome and console output are the same at depth 0 and at every depth", () => {
    const bare = runAt(name, 0);
    expect(bare.outcome).toEqual({ kind: "pass" });
    expect(bare.output.length).toBeGreaterThan(0);
    for (const depth of DEPTHS) {
      const run = runAt(name, depth);
      expect({ depth, outcome: run.outcome, output: run.output, instructions: run.instructions }).toEqual({
        depth,
        outcome: bare.outcome,
        output: bare.output,
        instructions: bare.instructions,
      });
    }
  });

  it("each level, counted from the top, has identical exit statistics and trace at every depth that has it", () => {
    // 3 pairs for the guest's own level, 2 for the one below it, 1 for the one below that.
    expect(expectLevelsIndependentOfDepth(name, DEPTHS)).toBe(6);
    const own = levelFromTop(runAt(name, 1), 0)!;
    // The guest really exits: privileged instructions, shadow faults and so on reached its hypervisor.
    expect(own.byCause.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(own.emulated).toBeGreaterThan(0);
    expect(own.shadow.fills).toBeGreaterThan(0);
    // The guest's own hypervisor runs no hypervisor above it: nothing is reflected.
    expect(own.reflected).toBe(0);
  });

  it("the levels beneath see more than the guest's own level (the comparison is not vacuous)", () => {
    const run = runAt(name, 5);
    const traces = run.levels.map((level) => level.trace);
    // Each level sees a different sequence of exits: the shadow-on-shadow work of the levels above.
    expect(new Set(traces).size).toBe(traces.length);
    for (let fromTop = 1; fromTop < run.levels.length; fromTop++) {
      const level = levelFromTop(run, fromTop)!;
      const above = levelFromTop(run, fromTop - 1)!;
      // Every trap exit the level above handled came up from this level, which reflected it
      // (the level above runs its contexts on this level's harts, with interrupts masked).
      expect(level.reflected).toBeGreaterThan(0);
      expect(level.reflected).toBe(above.byCause.reduce((sum, count) => sum + count, 0));
    }
  });
});

describe("the kernel with console input", () => {
  it("is also depth-independent, and its exits differ from the run without input (the trace is sensitive)", () => {
    const input = "hello\n";
    expect(expectLevelsIndependentOfDepth("kernel", [1, 2], input)).toBe(1);
    const withInput = runAt("kernel", 1, input);
    const without = runAt("kernel", 1);
    expect(withInput.outcome).toEqual({ kind: "pass" });
    expect(withInput.output).toContain("input: hello");
    expect(without.output).toContain("input: (none)");
    expect(runAt("kernel", 2, input).output).toBe(withInput.output);
    expect(levelFromTop(withInput, 0)!.trace).not.toBe(levelFromTop(without, 0)!.trace);
  });
});

describe("negative control", () => {
  it("different guests give different exit traces at their own level", () => {
    const traces = GUESTS.map((name) => levelFromTop(runAt(name, 1), 0)!.trace);
    expect(new Set(traces).size).toBe(GUESTS.length);
    // hello exits a handful of times only: yet another sequence.
    expect(traces).not.toContain(levelFromTop(runAt("hello", 1), 0)!.trace);
  });

  it("the trace depends on where the budget ran out, not only on the counts", () => {
    // Slicing the same run differently moves the budget exits: same guest, same output, other trace.
    const coarse = runAt("interrupts", 1);
    const fine = runGuestAt("interrupts", 1, { slice: 7_777 });
    expect(fine.output).toBe(coarse.output);
    expect(levelFromTop(fine, 0)!.trace).not.toBe(levelFromTop(coarse, 0)!.trace);
  });
});
