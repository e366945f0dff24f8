import { describe, expect, it } from "vitest";
import {
  EmptyVirtioSlot,
  MemoryBlockBackend,
  SplitVirtqueue,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_MMIO_SIZE,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VirtioBalloon,
  VirtioBlk,
  VirtioConsole,
  VirtioMmio,
  VirtioMmioRegister as R,
  VirtioNet,
  VirtioRng,
  seededEntropy,
  type NetBackend,
  type VirtioDevice,
} from "@matryoshka/devices";
import { guestPhysical as gpa, observedMemory, Ram } from "@matryoshka/memory";
import { fuzz, fuzzBudgetMs, fuzzSeed, type Random } from "@matryoshka/testkit";

// The virtqueue and the virtio devices against a hostile driver: whatever guest memory and the
// registers hold, nothing throws, every chain handed out lies in guest memory, and the device
// writes only guest memory.

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 0x4_0000; // 256 KiB: small, so random addresses often land inside

/** A guest address: mostly inside RAM, sometimes just outside or anywhere. */
function address(random: Random): number {
  switch (random.below(8)) {
    case 0: return random.u32();
    case 1: return RAM_BASE + RAM_SIZE - random.below(64);
    case 2: return RAM_BASE - random.below(64);
    default: return RAM_BASE + random.below(RAM_SIZE);
  }
}

/** Fills part of RAM with descriptors that look real: addresses mostly in RAM, sane flags and links. */
function plausibleDescriptors(random: Random, ram: Ram, table: number, count: number, size: number): void {
  const view = new DataView(ram.buffer);
  for (let i = 0; i < count; i++) {
    const at = table - RAM_BASE + 16 * i;
    if (at < 0 || at + 16 > RAM_SIZE) return;
    view.setUint32(at, address(random), true);
    view.setUint32(at + 4, random.chance(0.05) ? random.u32() : 0, true);
    view.setUint32(at + 8, random.chance(0.2) ? random.interesting() : random.below(600), true);
    view.setUint16(at + 12, random.chance(0.1) ? random.u32() & 0xffff : (random.chance(0.6) ? VIRTQ_DESC_F_NEXT : 0) | (random.chance(0.5) ? VIRTQ_DESC_F_WRITE : 0) | (random.chance(0.05) ? VIRTQ_DESC_F_INDIRECT : 0), true);
    view.setUint16(at + 14, random.chance(0.1) ? random.u32() & 0xffff : random.below(size), true);
  }
}

describe("fuzzing the virtqueue", () => {
  it("hands out only chains inside guest memory, and never throws, whatever the rings hold", () => {
    const cases = fuzz(fuzzSeed(0x7a9), fuzzBudgetMs(1000), (random) => {
      const ram = new Ram(RAM_BASE, RAM_SIZE);
      if (random.chance(0.3)) ram.u8.set(random.bytes(RAM_SIZE));
      const size = random.chance(0.9) ? 2 ** random.below(9) : random.interesting() & 0xffff;
      const base = RAM_BASE + random.below(RAM_SIZE / 2);
      const layout = { size, descTable: base, availRing: base + 16 * size, usedRing: random.chance(0.8) ? base + 16 * size + 6 + 2 * size : address(random) };
      plausibleDescriptors(random, ram, base, Math.min(size, 512), size);
      const view = new DataView(ram.buffer);
      const avail = layout.availRing - RAM_BASE;
      if (avail >= 0 && avail + 4 + 2 * Math.min(size, 512) <= RAM_SIZE) {
        view.setUint16(avail + 2, random.chance(0.8) ? random.below(size + 1) : random.u32() & 0xffff, true);
        for (let i = 0; i < Math.min(size, 512); i++) view.setUint16(avail + 4 + 2 * i, random.chance(0.9) ? random.below(size) : random.u32() & 0xffff, true);
      }
      const queue = new SplitVirtqueue(ram, layout, { indirectDescriptors: random.chance(0.5) });
      if (queue.validate() !== undefined) return;
      for (let i = 0; i <= size + 1; i++) {
        const chain = queue.pop();
        if (chain === undefined) break;
        for (const segment of [...chain.readable, ...chain.writable]) expect(ram.contains(gpa(segment.address), segment.length)).toBe(true);
        expect(chain.readableLength + chain.writableLength).toBeLessThanOrEqual(0xffff_ffff);
        queue.push(chain, random.below(chain.writableLength + 1));
      }
    }, 100);
    expect(cases).toBeGreaterThanOrEqual(100);
  });
});

describe("fuzzing the virtio devices", () => {
  it("virtio-blk and an empty slot over virtio-mmio, legacy and modern: no exception, DMA only into guest RAM", () => {
    const registers = Object.values(R);
    let requests = 0;
    fuzz(fuzzSeed(0xb1c), fuzzBudgetMs(1500), (random) => {
      const ram = new Ram(RAM_BASE, RAM_SIZE);
      const writes: [number, number][] = [];
      const memory = observedMemory(ram, (pa, length) => writes.push([pa, length]));
      const version = random.chance(0.5) ? 1 : 2;
      const disk = new MemoryBlockBackend(random.bytes(512 * random.between(1, 64)), { readOnly: random.chance(0.2) });
      const blk = new VirtioBlk(disk, { queueSize: 2 ** random.between(2, 8) });
      const device = random.chance(0.9) ? new VirtioMmio(blk, { memory, version }) : new EmptyVirtioSlot(version);
      if (random.chance(0.7)) {
        // A driver that sets the device up properly first (§3.1.1), so requests get processed.
        const queue = RAM_BASE + 0x1000 * random.below(RAM_SIZE / 0x1000 - 8);
        device.write(R.Status, 4, 1);
        device.write(R.Status, 4, 3);
        device.write(R.DriverFeaturesSel, 4, 1);
        device.write(R.DriverFeatures, 4, version === 2 ? 1 : 0);
        device.write(R.Status, 4, version === 2 ? 11 : 3);
        device.write(R.QueueSel, 4, 0);
        device.write(R.QueueNum, 4, 16);
        if (version === 1) {
          device.write(R.GuestPageSize, 4, 4096);
          device.write(R.QueuePFN, 4, queue >>> 12);
        } else {
          device.write(R.QueueDescLow, 4, queue);
          device.write(R.QueueDriverLow, 4, queue + 0x100);
          device.write(R.QueueDeviceLow, 4, queue + 0x1000);
          device.write(R.QueueReady, 4, 1);
        }
        device.write(R.Status, 4, version === 2 ? 15 : 7);
        plausibleDescriptors(random, ram, queue, 16, 16);
        for (let i = 0; i < 16; i++) ram.writeU16(gpa(queue + 0x100 + 4 + 2 * i), random.below(16));
        ram.writeU16(gpa(queue + 0x100 + 2), random.below(17));
        device.write(R.QueueNotify, 4, 0);
      }
      for (let step = 0; step < 200; step++) {
        const roll = random.below(10);
        if (roll < 5) {
          // A register write, mostly of a plausible value.
          const offset = random.chance(0.9) ? random.pick(registers) : random.below(VIRTIO_MMIO_SIZE + 8);
          const value = random.chance(0.5) ? random.below(16) : random.chance(0.5) ? address(random) : random.interesting();
          device.write(offset, random.chance(0.9) ? 4 : random.pick([1, 2] as const), value);
        } else if (roll < 7) {
          device.read(random.chance(0.9) ? random.pick(registers) : random.below(VIRTIO_MMIO_SIZE + 8), random.chance(0.9) ? 4 : random.pick([1, 2] as const));
        } else if (roll < 9) {
          // Queue-shaped memory: descriptors, a request header, an available index.
          const at = RAM_BASE + random.below(RAM_SIZE - 64);
          if (random.chance(0.5)) plausibleDescriptors(random, ram, at, random.between(1, 16), 256);
          else {
            ram.writeU32(gpa(at), random.pick([VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, random.u32()]));
            ram.writeU32(gpa(at + 8), random.chance(0.8) ? random.below(80) : random.u32());
          }
        } else {
          device.write(R.QueueNotify, 4, random.chance(0.9) ? 0 : random.below(4));
        }
      }
      for (const [pa, length] of writes) expect(ram.contains(gpa(pa), length)).toBe(true);
      requests += blk.stats.reads + blk.stats.writes + blk.stats.flushes + blk.stats.errors;
    }, 20);
    // The driver got far enough for requests to be carried out (or refused), not only rejected chains.
    expect(requests).toBeGreaterThan(0);
  });
});

describe("fuzzing the other virtio devices", () => {
  it("virtio-balloon, virtio-net, virtio-rng and virtio-console over virtio-mmio, legacy and modern: no exception, DMA only into guest RAM", () => {
    const registers = Object.values(R);
    const served = { balloon: 0, net: 0, rng: 0, console: 0 };
    fuzz(fuzzSeed(0xd3f), fuzzBudgetMs(2000), (random) => {
      const ram = new Ram(RAM_BASE, RAM_SIZE);
      const writes: [number, number][] = [];
      const memory = observedMemory(ram, (pa, length) => writes.push([pa, length]));
      const version = random.chance(0.5) ? 1 : 2;
      // Backends that check what they are given, and answer like real ones.
      const pages = new Set<number>();
      const net: NetBackend = { send: (frame) => expect(frame.length).toBeLessThanOrEqual(65550), onReceive: undefined };
      const kind = random.pick(["balloon", "net", "rng", "console"] as const);
      let device: VirtioDevice;
      switch (kind) {
        case "balloon":
          device = new VirtioBalloon({
            inflate: (numbers) => numbers.filter((n) => (pages.has(n) ? true : (pages.add(n), false))).length,
            deflate: (numbers) => numbers.filter((n) => !pages.delete(n)).length,
          }, { statsQueue: random.chance(0.7), deflateOnOom: random.chance(0.7) });
          break;
        case "net":
          device = new VirtioNet(net, { queueSize: 2 ** random.between(4, 8), backlog: random.between(0, 8) });
          break;
        case "rng":
          device = new VirtioRng(seededEntropy(random.u32()));
          break;
        case "console":
          device = new VirtioConsole((bytes) => expect(bytes.length).toBeLessThanOrEqual(RAM_SIZE));
          break;
      }
      const transport = new VirtioMmio(device, { memory, version });
      if (random.chance(0.7)) {
        // A driver that sets every queue up properly first (§3.1.1), so requests get processed.
        transport.write(R.Status, 4, 1);
        transport.write(R.Status, 4, 3);
        transport.write(R.DriverFeaturesSel, 4, 0);
        transport.write(R.DriverFeatures, 4, random.u32());
        transport.write(R.DriverFeaturesSel, 4, 1);
        transport.write(R.DriverFeatures, 4, version === 2 ? 1 : 0);
        transport.write(R.Status, 4, version === 2 ? 11 : 3);
        if (version === 1) transport.write(R.GuestPageSize, 4, 4096);
        for (let q = 0; q < device.queueCount; q++) {
          const queue = RAM_BASE + 0x1000 * random.below(RAM_SIZE / 0x1000 - 2);
          transport.write(R.QueueSel, 4, q);
          transport.write(R.QueueNum, 4, 16);
          if (version === 1) transport.write(R.QueuePFN, 4, queue >>> 12);
          else {
            transport.write(R.QueueDescLow, 4, queue);
            transport.write(R.QueueDriverLow, 4, queue + 0x100);
            transport.write(R.QueueDeviceLow, 4, queue + 0x1000);
            transport.write(R.QueueReady, 4, 1);
          }
          plausibleDescriptors(random, ram, queue, 16, 16);
          for (let i = 0; i < 16; i++) ram.writeU16(gpa(queue + 0x100 + 4 + 2 * i), random.below(16));
          ram.writeU16(gpa(queue + 0x100 + 2), random.below(17));
        }
        transport.write(R.Status, 4, version === 2 ? 15 : 7);
      }
      for (let step = 0; step < 200; step++) {
        const roll = random.below(12);
        if (roll < 5) {
          const offset = random.chance(0.9) ? random.pick(registers) : random.below(VIRTIO_MMIO_SIZE + 8);
          const value = random.chance(0.5) ? random.below(16) : random.chance(0.5) ? address(random) : random.interesting();
          transport.write(offset, random.chance(0.9) ? 4 : random.pick([1, 2] as const), value);
        } else if (roll < 7) {
          transport.read(random.chance(0.9) ? random.pick(registers) : random.below(VIRTIO_MMIO_SIZE + 8), random.chance(0.9) ? 4 : random.pick([1, 2] as const));
        } else if (roll < 9) {
          const at = RAM_BASE + random.below(RAM_SIZE - 64);
          if (random.chance(0.5)) plausibleDescriptors(random, ram, at, random.between(1, 16), 256);
          else ram.u8.set(random.bytes(random.between(1, 64)), at - RAM_BASE);
        } else if (roll < 11) {
          transport.write(R.QueueNotify, 4, random.chance(0.9) ? random.below(device.queueCount) : random.below(8));
        } else {
          // The host side: a frame arrives, console input is typed, the balloon's target changes.
          if (kind === "net") net.onReceive?.(random.bytes(random.chance(0.9) ? random.between(14, 1600) : random.below(70_000)));
          else if (kind === "console") (device as VirtioConsole).receive(random.bytes(random.between(1, 300)));
          else if (kind === "balloon") {
            (device as VirtioBalloon).setTarget(random.chance(0.8) ? random.below(64) : random.u32());
            if (random.chance(0.3)) (device as VirtioBalloon).requestStats();
          }
        }
      }
      for (const [pa, length] of writes) expect(ram.contains(gpa(pa), length)).toBe(true);
      const stats = device.stats as Record<string, number> | undefined;
      if (stats !== undefined) served[kind] += Object.values(stats).reduce((sum, value) => sum + (typeof value === "number" ? value : 0), 0);
    }, 40);
    // Every device saw requests it carried out or refused, not only rejected setups.
    for (const count of Object.values(served)) expect(count).toBeGreaterThan(0);
  });
});
