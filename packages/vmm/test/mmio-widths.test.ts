import { describe, expect, it } from "vitest";
import { mmioWidthsProgram, QEMU_RECORD } from "./mmio-widths-program.js";
import { bootStack, buildStack, ConsoleCapture, runSliced } from "./support.js";

// MMIO access widths and fetch faults as QEMU 7.2's virt board gives them, at every depth: CLINT,
// PLIC and RTC take whole words only, the test device halfwords and words, and a fetch from any
// device is an instruction access fault that does not read it.

function widthsAt(depth: number) {
  const console = new ConsoleCapture();
  const stack = buildStack(depth, { memoryMiB: 16, console: console.sink });
  bootStack(stack, mmioWidthsProgram());
  // A byte waiting in the UART: the fetch from its receive register must not take it.
  stack.guest.uart.receive(new TextEncoder().encode("z"));
  const target = stack.vms.at(-1) ?? stack.guest;
  const { outcome } = runSliced((n) => target.run(n), 100_000, 50);
  return { outcome, output: console.text, waiting: stack.guest.uart.read(0, 1) };
}

describe("MMIO access widths and fetches from devices", () => {
  it.each([0, 1, 2])("fault as on QEMU 7.2 at depth %i, and a fetch does not read the device", (depth) => {
    const { outcome, output, waiting } = widthsAt(depth);
    expect(output).toBe(`${QEMU_RECORD}\n`);
    expect(outcome).toEqual({ kind: "pass" });
    expect(String.fromCharCode(waiting!)).toBe("z");
  });
});
