import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ExampleCounter, exampleCounter, ExampleCounterRegister, VirtMachine, type ExampleCounterOptions } from "@matryoshka/machine";
import { guestPath } from "@matryoshka/testkit";

const probe = new Uint8Array(readFileSync(guestPath("dt-probe")));

/** Boots guests/dt-probe on a board with (or without) the example counter; returns what it printed. */
function runProbe(counter?: Omit<ExampleCounterOptions, "onCreate">) {
  let output = "";
  const made: ExampleCounter[] = [];
  const machine = new VirtMachine({
    harts: 2,
    console: (byte) => (output += String.fromCharCode(byte)),
    devices: counter === undefined ? [] : [exampleCounter({ ...counter, onCreate: (c) => made.push(c) })],
  });
  machine.boot({ kernel: probe });
  return { outcome: machine.run(10_000_000), output, counter: made[0] };
}

const { value, add, irq } = ExampleCounterRegister;

describe("a guest finds a user device by probing the device tree (guests/dt-probe)", () => {
  it("drives the counter at the address and interrupt its node gives", () => {
    const { outcome, output, counter } = runProbe({});
    expect(outcome).toEqual({ kind: "pass" });
    expect(output).toContain("counter: matryoshka,example-counter counter@4000000 at 0x04000000 (4096 bytes), irq 64, interrupt-parent is the PLIC\n");
    expect(output).toContain("counter: 1000 + 234 = 1234\n");
    expect(output).toContain("counter: raised its line, the PLIC gave interrupt 64, then 0 once it was lowered\n");
    expect(output).toContain("counter: ok\n");
    expect(counter!.accesses.filter((a) => a.kind === "write")).toEqual([
      { kind: "write", offset: value, value: 1000 },
      { kind: "write", offset: add, value: 234 },
      { kind: "write", offset: irq, value: 1 },
      { kind: "write", offset: irq, value: 0 },
    ]);
  });

  it("follows the tree when the device moves: another address and PLIC source", () => {
    const { outcome, output, counter } = runProbe({ base: 0x1001_0000, irq: 40 });
    expect(outcome).toEqual({ kind: "pass" });
    expect(output).toContain("counter@10010000 at 0x10010000 (4096 bytes), irq 40, interrupt-parent is the PLIC\n");
    expect(output).toContain("the PLIC gave interrupt 40, then 0");
    expect(counter!.value).toBe(1234);
  });

  it("reports the counter absent, and passes, on a board without it (as on QEMU)", () => {
    const { outcome, output } = runProbe();
    expect(outcome).toEqual({ kind: "pass" });
    expect(output).toContain("cpus: 2, timebase 10000000 Hz\n");
    expect(output).toContain("counter: no matryoshka,example-counter in the device tree\n");
  });
});
