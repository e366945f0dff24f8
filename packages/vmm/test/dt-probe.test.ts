import { describe, expect, it } from "vitest";
import { exampleCounter, type ExampleCounter } from "@matryoshka/machine";
import { bootStack, buildStack, ConsoleCapture, guestImage, runSliced } from "./support.js";

/** guests/dt-probe at `depth`, the example counter on the guest's own board (MachineOptions.devices through buildStack). */
function probeAt(depth: number) {
  const console = new ConsoleCapture();
  const made: ExampleCounter[] = [];
  const stack = buildStack(depth, { harts: 2, memoryMiB: 64, console: console.sink, devices: [exampleCounter({ onCreate: (c) => made.push(c) })] });
  bootStack(stack, guestImage("dt-probe"));
  const target = stack.vms.at(-1) ?? stack.guest;
  const { outcome } = runSliced((n) => target.run(n), 100_000);
  return { outcome, output: console.text, counter: made, stack };
}

describe("a user device on a VM's board, found by a guest probing its device tree", () => {
  const reference = probeAt(0);

  it.each([1, 2])("at depth %i: the guest's board has the counter, the levels beneath do not, and the transcript is depth 0's", (depth) => {
    const { outcome, output, counter, stack } = probeAt(depth);
    expect(outcome).toEqual({ kind: "pass" });
    expect(output).toContain("counter: matryoshka,example-counter counter@4000000 at 0x04000000 (4096 bytes), irq 64, interrupt-parent is the PLIC\n");
    expect(output).toContain("counter: ok\n");
    expect(output).toBe(reference.output);
    expect(counter).toHaveLength(1);
    expect(counter[0]!.accesses).toEqual(reference.counter[0]!.accesses);
    expect(stack.guest.devices.get("counter")).toBe(counter[0]);
    for (const board of [stack.host, ...stack.vms.slice(0, -1).map((vm) => vm.board)]) expect(board.devices.get("counter")).toBeUndefined();
  });
});
