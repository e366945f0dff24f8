import { describe, expect, it } from "vitest";
import {
  VIRTIO_CONSOLE_F_EMERG_WRITE,
  VIRTIO_CONSOLE_RX_QUEUE,
  VIRTIO_CONSOLE_TX_QUEUE,
  VIRTIO_RNG_MAX_REQUEST,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VirtioConsole,
  VirtioMmio,
  VirtioMmioRegister as R,
  VirtioRng,
  featureBit,
  seededEntropy,
  type EntropySource,
} from "@matryoshka/devices";
import { Ram } from "@matryoshka/memory";
import { RAM_BASE, RAM_SIZE, TestDriver } from "./virtio-driver.js";

function rngMachine(version: 1 | 2, entropy?: EntropySource) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const rng = new VirtioRng(entropy);
  const mmio = new VirtioMmio(rng, { memory: ram, version });
  const driver = new TestDriver(mmio, ram);
  driver.init();
  if (version === 1) driver.setupLegacyQueue(16, RAM_BASE + 0x1000);
  else driver.setupModernQueue(16, RAM_BASE + 0x2000, RAM_BASE + 0x3000, RAM_BASE + 0x4000);
  driver.driverOk();
  const request = (length: number) => {
    const address = driver.alloc(length);
    driver.submit([{ address, length, writable: true }]);
    driver.notify();
    return address;
  };
  return { ram, rng, mmio, driver, request };
}

describe("virtio-rng", () => {
  for (const version of [1, 2] as const) {
    it(`fills the driver's buffers with entropy (virtio-mmio version ${version})`, () => {
      const m = rngMachine(version);
      expect(m.driver.reg(R.DeviceID)).toBe(4);
      const at = m.request(256);
      expect(m.driver.usedElement(0).len).toBe(256);
      const bytes = m.driver.bytes(at, 256);
      // 256 random bytes: not all equal, and many distinct values (a fixed pattern would fail).
      expect(new Set(bytes).size).toBeGreaterThan(100);
      expect(m.rng.stats).toMatchObject({ requests: 1, bytes: 256 });
    });
  }

  it("gives the same bytes for the same seed and different ones for another", () => {
    const read = (seed: number) => {
      const m = rngMachine(2, seededEntropy(seed));
      return [m.driver.bytes(m.request(64), 64), m.driver.bytes(m.request(7), 7)];
    };
    expect(read(42)).toEqual(read(42));
    expect(read(42)[0]).not.toEqual(read(43)[0]);
  });

  it("caps a huge request and returns an empty chain without throwing", () => {
    const m = rngMachine(2);
    m.request(VIRTIO_RNG_MAX_REQUEST + 4096);
    expect(m.driver.usedElement(0).len).toBe(VIRTIO_RNG_MAX_REQUEST);
    const readOnly = m.driver.alloc(16);
    m.driver.submit([{ address: readOnly, length: 16 }]);
    m.driver.notify();
    expect(m.driver.usedElement(1).len).toBe(0);
    expect(m.rng.stats.empty).toBe(1);
    // A buffer off the end of RAM breaks the queue, not the host.
    m.driver.submit([{ address: RAM_BASE + RAM_SIZE - 8, length: 64, writable: true }]);
    expect(() => m.driver.notify()).not.toThrow();
    expect(m.driver.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  });
});

describe("virtio-console", () => {
  function consoleMachine() {
    const ram = new Ram(RAM_BASE, RAM_SIZE);
    const out: number[] = [];
    const device = new VirtioConsole((bytes) => out.push(...bytes));
    const mmio = new VirtioMmio(device, { memory: ram, version: 2 });
    device.attach(mmio);
    const rx = new TestDriver(mmio, ram, RAM_BASE + 0x8_0000);
    const tx = new TestDriver(mmio, ram, RAM_BASE + 0xc_0000);
    rx.init();
    rx.setupModernQueue(16, RAM_BASE + 0x10000, RAM_BASE + 0x11000, RAM_BASE + 0x12000, VIRTIO_CONSOLE_RX_QUEUE);
    tx.setupModernQueue(16, RAM_BASE + 0x14000, RAM_BASE + 0x15000, RAM_BASE + 0x16000, VIRTIO_CONSOLE_TX_QUEUE);
    rx.driverOk();
    return { device, mmio, rx, tx, out, text: () => String.fromCharCode(...out) };
  }

  it("outputs what the driver transmits and delivers input into receive buffers", () => {
    const m = consoleMachine();
    expect(m.rx.reg(R.DeviceID)).toBe(3);
    expect(m.mmio.offeredFeatures & featureBit(VIRTIO_CONSOLE_F_EMERG_WRITE)).not.toBe(0n);
    const hello = new TextEncoder().encode("hvc0 says hi\n");
    const at = m.tx.alloc(hello.length, hello);
    m.tx.submit([{ address: at, length: hello.length }]);
    m.tx.notify(VIRTIO_CONSOLE_TX_QUEUE);
    expect(m.text()).toBe("hvc0 says hi\n");
    // Input before buffers waits; a posted buffer gets it at once.
    m.device.receive(new TextEncoder().encode("typed"));
    const buffer = m.rx.alloc(64);
    m.rx.submit([{ address: buffer, length: 64, writable: true }]);
    m.rx.notify(VIRTIO_CONSOLE_RX_QUEUE);
    expect(m.rx.usedElement(0).len).toBe(5);
    expect(String.fromCharCode(...m.rx.bytes(buffer, 5))).toBe("typed");
    // Input while a buffer is posted goes straight in.
    const second = m.rx.alloc(2);
    m.rx.submit([{ address: second, length: 2, writable: true }]);
    m.rx.notify(VIRTIO_CONSOLE_RX_QUEUE);
    m.device.receive(new TextEncoder().encode("ok!"));
    expect(m.rx.usedElement(1).len).toBe(2);
    expect(m.device.stats.bytesIn).toBe(7);
  });

  it("writes emerg_wr bytes at once", () => {
    const m = consoleMachine();
    m.mmio.write(R.Config + 8, 4, 0x21);
    expect(m.text()).toBe("!");
  });
});
