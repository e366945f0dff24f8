import { describe, expect, it } from "vitest";
import { TestDevice, Uart16550, type FinisherEvent } from "@matryoshka/devices";

function uart() {
  const out: number[] = [];
  const irq: boolean[] = [];
  const device = new Uart16550((b) => out.push(b), (level) => irq.push(level));
  return { device, out, irq, level: () => irq[irq.length - 1] ?? false };
}

describe("ns16550a UART", () => {
  it("transmits bytes at once and always reports THR empty", () => {
    const { device, out } = uart();
    device.write(0, 1, 0x41);
    device.write(0, 1, 0x0a);
    expect(out).toEqual([0x41, 0x0a]);
    expect(device.read(5, 1)! & 0x60).toBe(0x60);
  });

  it("queues host input, sets DR, and raises the RX interrupt when enabled", () => {
    const { device, level } = uart();
    device.receive([0x68, 0x69]);
    expect(device.read(5, 1)! & 1).toBe(1);
    expect(level()).toBe(false);
    device.write(1, 1, 0x01); // IER: received data available
    expect(level()).toBe(true);
    expect(device.read(2, 1)! & 0x0f).toBe(0x04);
    expect(device.read(0, 1)).toBe(0x68);
    expect(device.read(0, 1)).toBe(0x69);
    expect(device.read(5, 1)! & 1).toBe(0);
    expect(level()).toBe(false);
    expect(device.read(2, 1)! & 0x0f).toBe(0x01);
  });

  it("raises THRE when enabled and clears it by reading IIR", () => {
    const { device, level } = uart();
    device.write(1, 1, 0x02);
    expect(level()).toBe(true);
    expect(device.read(2, 1)! & 0x0f).toBe(0x02);
    expect(level()).toBe(false);
    device.write(0, 1, 0x21);
    expect(level()).toBe(true);
  });

  it("exposes the divisor latch under DLAB without transmitting", () => {
    const { device, out } = uart();
    device.write(3, 1, 0x80);
    device.write(0, 1, 0x01);
    device.write(1, 1, 0x02);
    expect(device.read(0, 1)).toBe(0x01);
    expect(device.read(1, 1)).toBe(0x02);
    device.write(3, 1, 0x03);
    expect(out).toEqual([]);
  });
});

describe("test/poweroff device", () => {
  it("reports pass, fail with code, and reset", () => {
    const events: FinisherEvent[] = [];
    const device = new TestDevice((e) => events.push(e));
    device.write(0, 4, 0x5555);
    device.write(0, 4, (42 << 16) | 0x3333);
    device.write(0, 4, 0x7777);
    device.write(0, 4, 0x1234);
    expect(events).toEqual([{ kind: "pass" }, { kind: "fail", code: 42 }, { kind: "reset" }]);
  });
});
