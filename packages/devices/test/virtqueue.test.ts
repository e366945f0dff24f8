import { describe, expect, it } from "vitest";
import {
  SplitVirtqueue,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  legacyQueueLayout,
} from "@matryoshka/devices";
import { guestPhysical as gpa, observedMemory, Ram } from "@matryoshka/memory";

const BASE = 0x8000_0000;

/** A queue of `size` at fixed places in a fresh RAM, with helpers to fill it like a driver. */
function fixture(size = 8, ramSize = 0x10_0000, indirect = true) {
  const ram = new Ram(BASE, ramSize);
  const memory = ram;
  const view = new DataView(ram.buffer);
  const layout = { size, descTable: BASE + 0x1000, availRing: BASE + 0x2000, usedRing: BASE + 0x3000 };
  const queue = new SplitVirtqueue(memory, layout, { indirectDescriptors: indirect });
  let availIdx = 0;
  const at = (pa: number) => pa - BASE;
  const desc = (table: number, index: number, address: number, length: number, flags = 0, next = 0) => {
    const p = at(table + 16 * index);
    view.setUint32(p, address % 2 ** 32, true);
    view.setUint32(p + 4, Math.floor(address / 2 ** 32), true);
    view.setUint32(p + 8, length, true);
    view.setUint16(p + 12, flags, true);
    view.setUint16(p + 14, next, true);
  };
  const offer = (head: number) => {
    view.setUint16(at(layout.availRing + 4 + 2 * (availIdx % size)), head, true);
    availIdx = (availIdx + 1) & 0xffff;
    view.setUint16(at(layout.availRing + 2), availIdx, true);
  };
  const used = (i: number) => ({
    id: view.getUint32(at(layout.usedRing + 4 + 8 * (i % size)), true),
    len: view.getUint32(at(layout.usedRing + 8 + 8 * (i % size)), true),
  });
  const usedIdx = () => view.getUint16(at(layout.usedRing + 2), true);
  return { ram, memory, view, layout, queue, desc, offer, used, usedIdx, table: layout.descTable };
}

describe("split virtqueue", () => {
  it("pops chains in order, splits readable and writable parts, and pushes used elements", () => {
    const f = fixture();
    f.desc(f.table, 3, BASE + 0x8000, 16, VIRTQ_DESC_F_NEXT, 5);
    f.desc(f.table, 5, BASE + 0x8100, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    f.desc(f.table, 1, BASE + 0x8200, 1, VIRTQ_DESC_F_WRITE);
    f.desc(f.table, 0, BASE + 0x9000, 8);
    f.offer(3);
    f.offer(0);
    const first = f.queue.pop()!;
    expect(first.head).toBe(3);
    expect(first.readable).toEqual([{ address: BASE + 0x8000, length: 16 }]);
    expect(first.writable).toEqual([{ address: BASE + 0x8100, length: 100 }, { address: BASE + 0x8200, length: 1 }]);
    expect(first.readableLength).toBe(16);
    expect(first.writableLength).toBe(101);
    const second = f.queue.pop()!;
    expect(second.head).toBe(0);
    expect(f.queue.pop()).toBeUndefined();
    expect(f.queue.push(first, 101)).toBe(true);
    expect(f.queue.push(second, 0)).toBe(true);
    expect(f.usedIdx()).toBe(2);
    expect(f.used(0)).toEqual({ id: 3, len: 101 });
    expect(f.used(1)).toEqual({ id: 0, len: 0 });
    expect(f.queue.takeNotification()).toBe(true);
    expect(f.queue.takeNotification()).toBe(false); // nothing new since
    expect(f.queue.failure).toBeUndefined();
  });

  it("reads and writes a chain's bytes as one run across descriptors", () => {
    const f = fixture();
    f.ram.write(gpa(BASE + 0x8000), Uint8Array.of(1, 2, 3));
    f.ram.write(gpa(BASE + 0x8100), Uint8Array.of(4, 5));
    f.desc(f.table, 0, BASE + 0x8000, 3, VIRTQ_DESC_F_NEXT, 1);
    f.desc(f.table, 1, BASE + 0x8100, 2, VIRTQ_DESC_F_NEXT, 2);
    f.desc(f.table, 2, BASE + 0x8200, 2, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    f.desc(f.table, 3, BASE + 0x8300, 3, VIRTQ_DESC_F_WRITE);
    f.offer(0);
    const chain = f.queue.pop()!;
    expect([...chain.read(0, 5)!]).toEqual([1, 2, 3, 4, 5]);
    expect([...chain.read(2, 2)!]).toEqual([3, 4]);
    expect(chain.read(4, 2)).toBeUndefined(); // past the readable part
    expect(chain.write(1, Uint8Array.of(9, 8, 7))).toBe(true);
    expect([...f.ram.read(gpa(BASE + 0x8200), 2)!]).toEqual([0, 9]);
    expect([...f.ram.read(gpa(BASE + 0x8300), 3)!]).toEqual([8, 7, 0]);
    expect(chain.write(3, Uint8Array.of(1, 2, 3))).toBe(false); // past the writable part
  });

  it("accepts a chain using every descriptor of the queue, and stops one past it", () => {
    const f = fixture(8);
    for (let i = 0; i < 8; i++) f.desc(f.table, i, BASE + 0x8000 + 16 * i, 16, i < 7 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    f.offer(0);
    expect(f.queue.pop()?.readableLength).toBe(128);
    f.desc(f.table, 7, BASE + 0x8070, 16, VIRTQ_DESC_F_NEXT, 0); // now the chain loops
    f.offer(0);
    expect(f.queue.pop()).toBeUndefined();
    expect(f.queue.failure).toMatch(/chain from 0 is longer than the queue size 8/);
  });

  it("keeps zero-length descriptors out of the segment lists", () => {
    const f = fixture();
    f.desc(f.table, 0, BASE + 0x8000, 0, VIRTQ_DESC_F_NEXT, 1);
    f.desc(f.table, 1, BASE + 0x8000, 4);
    f.offer(0);
    expect(f.queue.pop()!.readable).toEqual([{ address: BASE + 0x8000, length: 4 }]);
  });

  it("wraps the 16-bit ring indices", () => {
    const f = fixture(2);
    f.desc(f.table, 0, BASE + 0x8000, 4);
    for (let i = 0; i < 70_000; i++) {
      f.offer(0);
      const chain = f.queue.pop();
      expect(chain?.head).toBe(0);
      f.queue.push(chain!, i & 0xff);
    }
    expect(f.queue.failure).toBeUndefined();
    expect(f.usedIdx()).toBe(70_000 & 0xffff);
    expect(f.queue.usedIndex).toBe(70_000 & 0xffff);
    expect(f.used(69_999)).toEqual({ id: 0, len: 69_999 & 0xff });
  });

  it("follows an indirect table placed after direct descriptors", () => {
    const f = fixture();
    const table = BASE + 0x5000;
    f.desc(f.table, 0, BASE + 0x8000, 16, VIRTQ_DESC_F_NEXT, 1);
    // The WRITE flag on the descriptor naming the table is ignored (§2.6.5.3.1).
    f.desc(f.table, 1, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE);
    f.desc(table, 0, BASE + 0x8100, 8, VIRTQ_DESC_F_NEXT, 1);
    f.desc(table, 1, BASE + 0x8200, 9, VIRTQ_DESC_F_WRITE);
    f.offer(0);
    const chain = f.queue.pop()!;
    expect(chain.readable).toEqual([{ address: BASE + 0x8000, length: 16 }, { address: BASE + 0x8100, length: 8 }]);
    expect(chain.writable).toEqual([{ address: BASE + 0x8200, length: 9 }]);
  });

  const broken: Array<[string, (f: ReturnType<typeof fixture>) => void, RegExp, boolean?]> = [
    ["an INDIRECT descriptor without the feature", (f) => {
      f.desc(f.table, 0, BASE + 0x5000, 16, VIRTQ_DESC_F_INDIRECT);
      f.desc(BASE + 0x5000, 0, BASE + 0x8000, 4);
      f.offer(0);
    }, /without VIRTIO_F_INDIRECT_DESC/, false],
    ["INDIRECT together with NEXT", (f) => {
      f.desc(f.table, 0, BASE + 0x5000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
      f.offer(0);
    }, /both INDIRECT and NEXT/],
    ["an indirect table inside an indirect table", (f) => {
      f.desc(f.table, 0, BASE + 0x5000, 16, VIRTQ_DESC_F_INDIRECT);
      f.desc(BASE + 0x5000, 0, BASE + 0x6000, 16, VIRTQ_DESC_F_INDIRECT);
      f.offer(0);
    }, /inside an indirect table/],
    ["an indirect table whose length is not a multiple of 16", (f) => {
      f.desc(f.table, 0, BASE + 0x5000, 24, VIRTQ_DESC_F_INDIRECT);
      f.offer(0);
    }, /not a non-zero multiple of 16/],
    ["an indirect table outside RAM", (f) => {
      f.desc(f.table, 0, BASE + 0x10_0000 - 16, 32, VIRTQ_DESC_F_INDIRECT);
      f.offer(0);
    }, /indirect table 0x800ffff0\+32 lies outside/],
    ["a loop inside an indirect table", (f) => {
      f.desc(f.table, 0, BASE + 0x5000, 32, VIRTQ_DESC_F_INDIRECT);
      f.desc(BASE + 0x5000, 0, BASE + 0x8000, 4, VIRTQ_DESC_F_NEXT, 1);
      f.desc(BASE + 0x5000, 1, BASE + 0x8000, 4, VIRTQ_DESC_F_NEXT, 0);
      f.offer(0);
    }, /longer than its table of 2/],
    ["a next index past an indirect table", (f) => {
      f.desc(f.table, 0, BASE + 0x5000, 32, VIRTQ_DESC_F_INDIRECT);
      f.desc(BASE + 0x5000, 0, BASE + 0x8000, 4, VIRTQ_DESC_F_NEXT, 2);
      f.offer(0);
    }, /index 2 is outside its table of 2/],
  ];
  for (const [name, arrange, reason, indirect = true] of broken) {
    it(`fails the queue on ${name}`, () => {
      const f = fixture(8, 0x10_0000, indirect);
      arrange(f);
      expect(f.queue.pop()).toBeUndefined();
      expect(f.queue.failure).toMatch(reason);
      // A failed queue hands out nothing more and refuses pushes.
      expect(f.queue.pop()).toBeUndefined();
      expect(f.usedIdx()).toBe(0);
    });
  }

  it("fails the queue when a chain's lengths overflow 32 bits", () => {
    // 1025 indirect descriptors each naming all 4 MiB of RAM: 4100 MiB in total.
    const ramSize = 0x40_0000;
    const f = fixture(8, ramSize);
    const table = BASE + 0x10000;
    for (let i = 0; i < 1025; i++) f.desc(table, i, BASE, ramSize, i < 1024 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    f.desc(f.table, 0, table, 1025 * 16, VIRTQ_DESC_F_INDIRECT);
    f.offer(0);
    expect(f.queue.pop()).toBeUndefined();
    expect(f.queue.failure).toMatch(/overflow 32 bits/);
  });

  it("validates the layout: size and rings inside memory", () => {
    const f = fixture();
    expect(f.queue.validate()).toBeUndefined();
    const bad = (layout: Partial<typeof f.layout>) => new SplitVirtqueue(f.memory, { ...f.layout, ...layout }).validate();
    expect(bad({ size: 0 })).toMatch(/power of two/);
    expect(bad({ size: 65536 })).toMatch(/power of two/);
    expect(bad({ descTable: 0x1000 })).toMatch(/descriptor table at 0x1000/);
    expect(bad({ availRing: BASE + 0x10_0000 - 8 })).toMatch(/available ring/);
    expect(bad({ usedRing: 2 ** 32 + BASE })).toMatch(/used ring/);
  });

  it("computes the legacy layout with the used ring aligned", () => {
    expect(legacyQueueLayout(0x8000_1000, 256, 4096)).toEqual({
      size: 256,
      descTable: 0x8000_1000,
      availRing: 0x8000_2000,
      usedRing: 0x8000_3000, // 0x8000_2000 + 6 + 512 rounded up
    });
    expect(legacyQueueLayout(0, 4, 4).usedRing).toBe(64 + 16); // 64 + 14 rounded to 4
  });

  it("fails, without throwing, when guest memory stops answering mid-request", () => {
    const f = fixture();
    f.desc(f.table, 0, BASE + 0x8000, 4, VIRTQ_DESC_F_NEXT, 1);
    f.desc(f.table, 1, BASE + 0x8100, 4, VIRTQ_DESC_F_WRITE);
    f.offer(0);
    // Memory that can be withdrawn, as a hypervisor might unmap a page under a device.
    let withdrawn = false;
    const flaky = new (class extends Ram {
      override frameOffset(page: number, write: boolean) { return withdrawn ? -1 : super.frameOffset(page, write); }
    })(f.ram.base, f.ram.size, f.ram.buffer);
    const queue = new SplitVirtqueue(flaky, f.layout);
    const chain = queue.pop()!;
    withdrawn = true;
    expect(chain.read(0, 4)).toBeUndefined();
    expect(queue.failure).toMatch(/0x80008000\+4 became unreachable/);
    expect(chain.write(0, Uint8Array.of(1))).toBe(false);
    expect(queue.push(chain, 1)).toBe(false);
    expect(f.usedIdx()).toBe(0);
  });

  it("fails when the used ring is unreachable at push time", () => {
    const f = fixture();
    f.desc(f.table, 0, BASE + 0x8000, 4);
    f.offer(0);
    let refuseWrites = false;
    const memory = new (class extends Ram {
      override frameOffset(page: number, write: boolean) { return write && refuseWrites ? -1 : super.frameOffset(page, write); }
    })(f.ram.base, f.ram.size, f.ram.buffer);
    const queue = new SplitVirtqueue(memory, f.layout);
    const chain = queue.pop()!;
    refuseWrites = true;
    expect(queue.push(chain, 4)).toBe(false);
    expect(queue.failure).toMatch(/used ring at 0x80003000/);
    expect(queue.usedIndex).toBe(0);
  });
});

describe("RAM as a device sees it (observedMemory over Ram)", () => {
  it("copies in and out of RAM and refuses anything outside", () => {
    const ram = new Ram(BASE, 0x1000);
    const writes: Array<[number, number]> = [];
    const memory = observedMemory(ram, (pa, length) => writes.push([pa, length]));
    expect(memory.write(gpa(BASE + 0xffc), Uint8Array.of(1, 2, 3, 4))).toBe(true);
    expect([...memory.read(gpa(BASE + 0xffc), 4)!]).toEqual([1, 2, 3, 4]);
    expect(memory.readU32(gpa(BASE + 0xffc))).toBe(0x04030201);
    expect(memory.readU16(gpa(BASE + 0xffe))).toBe(0x0403);
    expect(memory.writeU16(gpa(BASE), 0xbeef)).toBe(true);
    expect(memory.writeU32(gpa(BASE + 4), 0xdeadbeef)).toBe(true);
    expect(memory.readU32(gpa(BASE + 4))).toBe(0xdeadbeef);
    expect(memory.readU16(gpa(BASE))).toBe(0xbeef);
    expect(writes).toEqual([[BASE + 0xffc, 4], [BASE, 2], [BASE + 4, 4]]);

    // Straddling the end, below the start, beyond 4 GiB, non-integers: all refused, nothing written.
    expect(memory.write(gpa(BASE + 0xffe), Uint8Array.of(9, 9, 9, 9))).toBe(false);
    expect([...ram.read(gpa(BASE + 0xffe), 2)!]).toEqual([3, 4]);
    expect(memory.read(gpa(BASE + 0xffd), 4)).toBeUndefined();
    expect(memory.read(gpa(BASE - 1), 1)).toBeUndefined();
    expect(memory.readU32(gpa(BASE + 0xffd))).toBeUndefined();
    expect(memory.writeU32(gpa(BASE + 0xffd), 0)).toBe(false);
    expect(memory.writeU16(gpa(BASE + 0xfff), 0)).toBe(false);
    expect(memory.read(gpa(BASE + 2 ** 32), 1)).toBeUndefined();
    expect(memory.contains(gpa(BASE + 0.5), 1)).toBe(false);
    expect(memory.contains(gpa(BASE), -1)).toBe(false);
    expect(memory.contains(gpa(BASE), 0x1000)).toBe(true);
    expect(memory.contains(gpa(BASE), 0x1001)).toBe(false);
    expect(writes).toHaveLength(3);
  });

  it("returns copies, not views of RAM", () => {
    const ram = new Ram(BASE, 0x1000);
    const memory = observedMemory(ram, () => {});
    const copy = memory.read(gpa(BASE), 4)!;
    copy[0] = 0xaa;
    expect(ram.u8[0]).toBe(0);
  });
});
