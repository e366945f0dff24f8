import { describe, expect, it } from "vitest";
import { bootStack, buildStack, ConsoleCapture, runSliced } from "./support.js";
import { walkThroughUart } from "./walk-program.js";

// A device's side effects happen once per guest access at every depth: a page-table walk through
// the UART's page reads its receive register once, as on QEMU 7.2 (which prints "bM" for this
// program with input "ab": the walk took "a" as a PTE, a pointer at level 0, so a load page fault).

function walkAt(depth: number) {
  const console = new ConsoleCapture();
  const stack = buildStack(depth, { memoryMiB: 16, console: console.sink });
  bootStack(stack, walkThroughUart());
  stack.guest.uart.receive(new TextEncoder().encode("ab"));
  const target = stack.vms.at(-1) ?? stack.guest;
  const { outcome } = runSliced((n) => target.run(n), 100_000, 50);
  return { outcome, output: console.text };
}

describe("page-table walks through a device", () => {
  it.each([0, 1, 2])("read the device once at depth %i (the guest's handler gets the next byte)", (depth) => {
    const { outcome, output } = walkAt(depth);
    expect(output).toBe("bM\n");
    expect(outcome).toEqual({ kind: "pass" });
  });
});
