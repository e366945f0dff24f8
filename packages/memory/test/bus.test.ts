import { describe, expect, it } from "vitest";
import { BUS_ERROR, Bus, guestPhysical as gpa, Ram, Rom, type MmioDevice } from "@matryoshka/memory";

function recorder(): MmioDevice & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    read: (offset, size) => {
      log.push(`r${size}@${offset}`);
      return 0xa0 + offset;
    },
    write: (offset, size, value) => {
      log.push(`w${size}@${offset}=${value.toString(16)}`);
      return true;
    },
  };
}

describe("Ram", () => {
  it("is backed by a SharedArrayBuffer with little-endian views", () => {
    const ram = new Ram(0x8000_0000, 4096);
    expect(ram.buffer).toBeInstanceOf(SharedArrayBuffer);
    ram.write(gpa(0x8000_0000), Uint8Array.of(0x78, 0x56, 0x34, 0x12));
    expect(ram.i32[0]).toBe(0x12345678);
    expect(ram.u16[1]).toBe(0x1234);
  });

  it("rejects unaligned or oversized layouts and out-of-range copies", () => {
    expect(() => new Ram(0x8000_0001, 4096)).toThrow(/aligned/);
    expect(() => new Ram(0xffff_f000, 8192)).toThrow(/below 4 GiB/);
    const ram = new Ram(0x8000_0000, 4096);
    // Copies that do not fit are refused whole, without a throw: a device turns that into an error the guest sees.
    ram.u8.fill(7);
    expect(ram.write(gpa(0x8000_0ffe), new Uint8Array(4))).toBe(false);
    expect(ram.u8[0xffe]).toBe(7);
    expect(ram.read(gpa(0x7fff_ffff), 1)).toBeUndefined();
    expect(ram.fill(gpa(0x8000_0ff0), 0x20, 0)).toBe(false);
    expect(ram.u8[0xff0]).toBe(7);
  });
});

describe("Bus", () => {
  it("rejects overlapping regions, naming both", () => {
    const bus = new Bus(new Ram(0x8000_0000, 4096));
    bus.addMmio("uart", 0x1000_0000, 0x100, recorder());
    expect(() => bus.addMmio("clash", 0x1000_00f0, 0x100, recorder())).toThrow(/"clash".*overlaps "uart"/);
    expect(() => bus.addMmio("in-ram", 0x8000_0800, 0x10, recorder())).toThrow(/overlaps RAM/);
  });

  it("dispatches MMIO with region-relative offsets", () => {
    const bus = new Bus(new Ram(0x8000_0000, 4096));
    const device = recorder();
    bus.addMmio("dev", 0x1000_0000, 0x100, device);
    expect(bus.load(0x1000_0004, 4)).toBe(0xa4);
    expect(bus.store(0x1000_0008, 2, 0x12345)).toBe(true);
    expect(device.log).toEqual(["r4@4", "w2@8=2345"]);
  });

  it("reports unmapped addresses as bus errors", () => {
    const bus = new Bus(new Ram(0x8000_0000, 4096));
    expect(bus.load(0x0, 4)).toBe(BUS_ERROR);
    expect(bus.store(0x4000_0000, 1, 0)).toBe(false);
  });

  it("handles misaligned RAM accesses byte by byte", () => {
    const ram = new Ram(0x8000_0000, 4096);
    const bus = new Bus(ram);
    bus.store(0x8000_0001, 4, 0xdeadbeef);
    expect(Array.from(ram.u8.subarray(0, 6))).toEqual([0, 0xef, 0xbe, 0xad, 0xde, 0]);
    expect(bus.load(0x8000_0001, 4)).toBe(0xdeadbeef);
    expect(bus.load(0x8000_0003, 2)).toBe(0xdead);
  });

  it("does not half-write a store that runs off the end of RAM", () => {
    const ram = new Ram(0x8000_0000, 4096);
    const bus = new Bus(ram);
    expect(bus.store(0x8000_0ffe, 4, 0xffffffff)).toBe(false);
    expect(ram.u8[0xffe]).toBe(0);
  });

  it("maps ROM that ignores writes", () => {
    const bus = new Bus(new Ram(0x8000_0000, 4096));
    bus.addMmio("rom", 0x1000, 0x10, new Rom(Uint8Array.of(1, 2, 3, 4)));
    expect(bus.load(0x1000, 4)).toBe(0x04030201);
    expect(bus.store(0x1000, 4, 0)).toBe(true);
    expect(bus.load(0x1000, 1)).toBe(1);
  });
});
