import { describe, expect, it } from "vitest";
import {
  VIRTIO_BALLOON_F_DEFLATE_ON_OOM, VIRTIO_BALLOON_F_STATS_VQ, VirtioBalloon, VirtioBalloonStat, VirtioMmio, VirtioMmioRegister as R,
  VIRTIO_INTERRUPT_CONFIG_CHANGE, VIRTIO_STATUS_DEVICE_NEEDS_RESET, type BalloonBackend,
} from "@matryoshka/devices";
import { Ram } from "@matryoshka/memory";
import { RAM_BASE, RAM_SIZE, TestDriver } from "./virtio-driver.js";

/** A backend that accepts pages of [RAM_BASE, RAM_BASE + RAM_SIZE) once, as a VM would. */
function recordingBackend() {
  const held = new Set<number>();
  const log: string[] = [];
  const backend: BalloonBackend = {
    inflate: (pages) => {
      let refused = 0;
      for (const page of pages) {
        const ok = page >= RAM_BASE / 4096 && page < (RAM_BASE + RAM_SIZE) / 4096 && !held.has(page);
        if (ok) held.add(page);
        else refused++;
        log.push(`${ok ? "+" : "!+"}${page.toString(16)}`);
      }
      return refused;
    },
    deflate: (pages) => {
      let refused = 0;
      for (const page of pages) {
        const ok = held.delete(page);
        if (!ok) refused++;
        log.push(`${ok ? "-" : "!-"}${page.toString(16)}`);
      }
      return refused;
    },
  };
  return { backend, held, log };
}

/** A balloon on a transport of `version`, its three queues set up by test drivers. */
function balloon(version: 1 | 2) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const { backend, held, log } = recordingBackend();
  const device = new VirtioBalloon(backend);
  let irq = false;
  const mmio = new VirtioMmio(device, { memory: ram, version, irq: (level) => (irq = level) });
  const queues = [0, 1, 2].map((index) => {
    const driver = new TestDriver(mmio, ram);
    driver.queueIndex = index;
    return driver;
  });
  const features = queues[0]!.init();
  queues.forEach((driver, index) => {
    const base = RAM_BASE + 0x1_0000 + index * 0x4000;
    if (version === 1) driver.setupLegacyQueue(8, base);
    else driver.setupModernQueue(8, base, base + 0x1000, base + 0x2000);
  });
  queues[0]!.driverOk();
  return { device, mmio, queues, held, log, features, irq: () => irq, ram };
}

/** Submits a buffer of page numbers on queue `driver` and notifies. */
function sendPages(driver: TestDriver, pages: number[]): void {
  const buffer = driver.alloc(4 * pages.length);
  pages.forEach((page, i) => driver.setU32(buffer + 4 * i, page));
  driver.submit([{ address: buffer, length: 4 * pages.length }]);
  driver.notify();
}

describe.each([1, 2] as const)("virtio-balloon, virtio-mmio version %i", (version) => {
  it("offers the statistics queue and deflate-on-OOM, and tells the driver of a new target with a config interrupt", () => {
    const b = balloon(version);
    expect(b.features & (1n << BigInt(VIRTIO_BALLOON_F_STATS_VQ))).not.toBe(0n);
    expect(b.features & (1n << BigInt(VIRTIO_BALLOON_F_DEFLATE_ON_OOM))).not.toBe(0n);
    expect(b.mmio.read(R.DeviceID, 4)).toBe(5);
    b.device.setTarget(300);
    expect(b.mmio.read(0x100, 4)).toBe(300); // num_pages
    expect(b.mmio.read(R.InterruptStatus, 4)! & VIRTIO_INTERRUPT_CONFIG_CHANGE).toBe(VIRTIO_INTERRUPT_CONFIG_CHANGE);
    expect(b.irq()).toBe(true);
    // The driver reports what it holds in `actual`.
    expect(b.mmio.write(0x104, 4, 120)).toBe(true);
    expect(b.device.stats.actualPages).toBe(120);
    // num_pages is the host's: a driver write to it changes nothing.
    b.mmio.write(0x100, 4, 7);
    expect(b.mmio.read(0x100, 4)).toBe(300);
  });

  it("hands inflated and deflated page numbers to the backend, and counts the ones it refuses", () => {
    const b = balloon(version);
    const first = RAM_BASE / 4096;
    sendPages(b.queues[0]!, [first + 4, first + 5, first + 4, 0x10, 0xffff_ffff]);
    expect(b.queues[0]!.usedIdx).toBe(1);
    expect([...b.held].sort()).toEqual([first + 4, first + 5]);
    sendPages(b.queues[1]!, [first + 5, first + 9]);
    expect(b.queues[1]!.usedIdx).toBe(1);
    expect([...b.held]).toEqual([first + 4]);
    expect(b.device.stats).toMatchObject({ inflated: 5, deflated: 2, refused: 4 });
    expect(b.log).toEqual([`+${(first + 4).toString(16)}`, `+${(first + 5).toString(16)}`, `!+${(first + 4).toString(16)}`, "!+10", "!+ffffffff", `-${(first + 5).toString(16)}`, `!-${(first + 9).toString(16)}`]);
  });

  it("breaks the queue (never throws) on a buffer that is not whole page numbers", () => {
    const b = balloon(version);
    const driver = b.queues[0]!;
    const buffer = driver.alloc(6);
    driver.submit([{ address: buffer, length: 6 }]);
    driver.notify();
    expect(b.mmio.read(R.Status, 4)! & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    expect(b.mmio.failure).toMatch(/not a list of at most/);
    expect(b.held.size).toBe(0);
  });

  it("keeps the guest's statistics buffer, reads it, and gives it back when it wants new statistics", () => {
    const b = balloon(version);
    const driver = b.queues[2]!;
    const entries = [[VirtioBalloonStat.MEMFREE, 123_456_789n], [VirtioBalloonStat.MEMTOT, 1n << 33n]] as const;
    const buffer = driver.alloc(10 * entries.length);
    entries.forEach(([tag, value], i) => {
      driver.setU16(buffer + 10 * i, tag);
      driver.setU32(buffer + 10 * i + 2, Number(value & 0xffff_ffffn));
      driver.setU32(buffer + 10 * i + 6, Number(value >> 32n));
    });
    driver.submit([{ address: buffer, length: 10 * entries.length }]);
    driver.notify();
    expect(b.device.guestStats.get(VirtioBalloonStat.MEMFREE)).toBe(123_456_789n);
    expect(b.device.guestStats.get(VirtioBalloonStat.MEMTOT)).toBe(1n << 33n);
    expect(driver.usedIdx).toBe(0); // held by the device
    b.device.requestStats();
    expect(driver.usedIdx).toBe(1);
    expect(driver.usedElement(0)).toEqual({ id: 0, len: 0 });
    expect(b.device.stats.statsReports).toBe(1);
  });

  it("forgets what the guest held when the driver resets the device, but keeps the target", () => {
    const b = balloon(version);
    b.device.setTarget(64);
    b.mmio.write(0x104, 4, 64);
    b.mmio.write(R.Status, 4, 0);
    expect(b.device.stats.actualPages).toBe(0);
    expect(b.mmio.read(0x100, 4)).toBe(64);
  });
});
