import { describe, expect, it } from "vitest";
import {
  Bus, describeMemory, FrameAllocator, guestPhysical as gpa, memoryFromDescriptor, mergeIdenticalPages, observedMemory, PagedMemory, Ram,
  type GuestPhysicalAddress,
} from "@matryoshka/memory";

const HOST = 0x8000_0000;
const GUEST = 0x8000_0000;

/** A hardware RAM of `frames` pages, an allocator over it, and a VM memory of `pages` pages on top. */
function stack(frames: number, pages: number, order: "ascending" | "descending" | "interleaved" = "ascending") {
  const host = new Ram(HOST, frames * 4096);
  const allocator = new FrameAllocator(host, { order });
  const vm = new PagedMemory(host, GUEST, pages * 4096, allocator);
  return { host, allocator, vm };
}

const page = (index: number) => (GUEST >>> 12) + index;
const at = (index: number, offset = 0) => gpa(GUEST + index * 4096 + offset);

describe("FrameAllocator", () => {
  it("hands out every frame once, in the order asked, zeroed, and takes them back by reference count", () => {
    for (const [order, first] of [["ascending", [0, 1, 2]], ["descending", [7, 6, 5]], ["interleaved", [0, 2, 4]]] as const) {
      const host = new Ram(HOST, 8 * 4096);
      host.u8.fill(0xee);
      const frames = new FrameAllocator(host, { order });
      const got = [frames.allocateFrame(), frames.allocateFrame(), frames.allocateFrame()];
      expect(got.map((f) => f - (HOST >>> 12))).toEqual(first);
      for (const frame of got) expect(host.read(gpa(frame * 4096), 4096)!.every((b) => b === 0)).toBe(true);
      expect(frames.freeFrames).toBe(5);
      frames.retainFrame(got[0]!);
      frames.releaseFrame(got[0]!);
      expect(frames.references(got[0]!)).toBe(1);
      frames.releaseFrame(got[0]!);
      expect(frames.freeFrames).toBe(6);
      expect(() => frames.releaseFrame(got[0]!)).toThrow(/twice/);
    }
  });

  it("zeroes a recycled frame and says so, so nothing of its last owner survives", () => {
    const host = new Ram(HOST, 2 * 4096);
    const recycled: number[] = [];
    const frames = new FrameAllocator(host, { onRecycled: (address) => recycled.push(address) });
    const frame = frames.allocateFrame();
    host.u8.fill(0x5a, (frame - (HOST >>> 12)) * 4096, (frame - (HOST >>> 12) + 1) * 4096);
    frames.releaseFrame(frame);
    expect(recycled).toEqual([]);
    const again = frames.allocateFrame();
    expect(again).toBe(frame);
    expect(host.read(gpa(again * 4096), 4096)!.every((b) => b === 0)).toBe(true);
    expect(recycled).toEqual([again * 4096]);
  });

  it("runs dry with -1", () => {
    const frames = new FrameAllocator(new Ram(HOST, 4096));
    expect(frames.allocateFrame()).toBeGreaterThan(0);
    expect(frames.allocateFrame()).toBe(-1);
  });
});

describe("PagedMemory", () => {
  it("backs pages on first touch, from wherever the allocator says, and reads them back through the one buffer", () => {
    const { host, allocator, vm } = stack(16, 8, "descending");
    expect(vm.stats.resident).toBe(0);
    expect(vm.readU32(at(3))).toBe(0);
    expect(vm.stats.resident).toBe(1);
    expect(vm.writeU32(at(0, 8), 0x1234_5678)).toBe(true);
    // Page 3 was touched first, so it took the top frame; page 0 the next one down.
    expect(vm.currentFrame(page(3)) - (HOST >>> 12)).toBe(15);
    expect(vm.currentFrame(page(0)) - (HOST >>> 12)).toBe(14);
    expect(host.i32[(14 * 4096 + 8) >>> 2]).toBe(0x1234_5678);
    expect(allocator.usedFrames).toBe(2);
  });

  it("splits accesses across pages whose frames are not adjacent, and refuses what is outside RAM without writing", () => {
    const { vm } = stack(16, 4, "interleaved");
    const bytes = Uint8Array.from({ length: 6000 }, (_, i) => i & 0xff);
    expect(vm.write(at(0, 3000), bytes)).toBe(true);
    expect(vm.currentFrame(page(1)) - vm.currentFrame(page(0))).not.toBe(1);
    expect(vm.read(at(0, 3000), 6000)).toEqual(bytes);
    // A bus sees the same bytes, including a word straddling the page boundary.
    const bus = new Bus(vm);
    expect(bus.load(GUEST + 4094, 4)).toBe((bytes[1094]! | (bytes[1095]! << 8) | (bytes[1096]! << 16) | (bytes[1097]! << 24)) >>> 0);
    expect(bus.store(GUEST + 4094, 4, 0xaabbccdd)).toBe(true);
    expect(vm.readU32(at(0, 4094))).toBe(0xaabbccdd);
    expect(vm.write(gpa(GUEST + 4 * 4096 - 2), new Uint8Array(4))).toBe(false);
    expect(vm.readU16(gpa(GUEST + 4 * 4096 - 2))).toBe(0);
    expect(vm.read(gpa(GUEST - 1), 2)).toBeUndefined();
  });

  it("zero-fills untouched pages for free and reports when it runs out of frames", () => {
    const { vm, allocator } = stack(2, 4);
    const exhausted: number[] = [];
    vm.onExhausted = (p) => exhausted.push(p);
    expect(vm.fill(at(0), 4 * 4096, 0)).toBe(true);
    expect(allocator.usedFrames).toBe(0);
    expect(vm.writeU32(at(0), 1)).toBe(true);
    expect(vm.writeU32(at(1), 2)).toBe(true);
    expect(vm.writeU32(at(2), 3)).toBe(false);
    expect(vm.frameOffset(page(2), false)).toBe(-1);
    expect(exhausted).toEqual([page(2), page(2)]);
    // A multi-page write that cannot get every page writes nothing.
    expect(vm.write(at(1, 4000), new Uint8Array(200).fill(9))).toBe(false);
    expect(vm.read(at(1, 4000), 96)!.every((b) => b === 0)).toBe(true);
  });

  it("shares a frame copy-on-write between two VMs until one writes, then gives the writer a private copy", () => {
    const host = new Ram(HOST, 16 * 4096);
    const allocator = new FrameAllocator(host);
    const a = new PagedMemory(host, GUEST, 4 * 4096, allocator);
    const b = new PagedMemory(host, GUEST, 4 * 4096, allocator);
    a.write(at(1), new Uint8Array(4096).fill(0x11));
    b.write(at(2), new Uint8Array(4096).fill(0x11));
    b.write(at(3), new Uint8Array(4096).fill(0x22));
    const remaps: string[] = [];
    a.onRemap = (p, old) => remaps.push(`a ${p - page(0)} ${old}`);
    b.onRemap = (p, old) => remaps.push(`b ${p - page(0)} ${old}`);
    // Different bytes are never merged.
    expect(mergeIdenticalPages(a, page(1), b, page(3))).toBe(false);
    const frame = a.currentFrame(page(1));
    const bOld = b.currentFrame(page(2));
    const before = allocator.usedFrames;
    expect(mergeIdenticalPages(a, page(1), b, page(2))).toBe(true);
    expect(allocator.usedFrames).toBe(before - 1);
    expect(allocator.references(frame)).toBe(2);
    expect([a.isShared(page(1)), b.isShared(page(2))]).toEqual([true, true]);
    expect([a.mapsWritable(page(1)), b.mapsWritable(page(2))]).toEqual([false, false]);
    expect(b.stats.shared).toBe(1);
    // Both mappings are told: a's writable ones of its frame go, b's old frame is gone.
    expect(remaps).toEqual([`a 1 ${frame}`, `b 2 ${bOld}`]);
    const counter = host.remaps.count;

    // Reads of either see the one frame; a's write stays a's, b's stays b's.
    expect(b.frameOffset(page(2), false)).toBe(a.frameOffset(page(1), false));
    expect(a.writeU32(at(1, 16), 0xdeadbeef)).toBe(true);
    expect(a.currentFrame(page(1))).not.toBe(frame);
    expect(b.readU32(at(2, 16))).toBe(0x11111111);
    expect(a.readU32(at(1, 16))).toBe(0xdeadbeef);
    expect(a.readU32(at(1, 20))).toBe(0x11111111);
    expect(a.stats.copies).toBe(1);
    expect(allocator.references(frame)).toBe(1);
    expect(host.remaps.count).toBeGreaterThan(counter);
    // b is the frame's last user: its first write keeps the frame, with no copy.
    expect(b.writeU32(at(2, 16), 0xfeedface)).toBe(true);
    expect(b.currentFrame(page(2))).toBe(frame);
    expect(b.stats.copies).toBe(0);
    expect(b.isShared(page(2))).toBe(false);
    expect(a.readU32(at(1, 16))).toBe(0xdeadbeef);
    expect(b.readU32(at(2, 16))).toBe(0xfeedface);
  });

  it("gives a discarded page's frame back: it reads as zero and gets a fresh frame when touched", () => {
    const { vm, allocator } = stack(8, 4);
    vm.writeU32(at(1), 42);
    expect(allocator.usedFrames).toBe(1);
    expect(vm.discard(page(1))).toBe(true);
    expect(allocator.usedFrames).toBe(0);
    expect(vm.currentFrame(page(1))).toBe(-1);
    expect(vm.readU32(at(1))).toBe(0);
  });

  it("never moves or shares a pinned page, and maps its frame back to it", () => {
    const { vm, allocator } = stack(8, 4, "descending");
    const frame = vm.pin(page(3));
    expect(frame).toBe(vm.currentFrame(page(3)));
    expect(vm.pinnedPage(frame)).toBe(page(3));
    expect(vm.discard(page(3))).toBe(false);
    const other = allocator.allocateFrame();
    expect(vm.share(page(3), other)).toBe(false);
    expect(vm.makeShared(page(3))).toBe(-1);
    expect(vm.currentFrame(page(3))).toBe(frame);
  });

  it("logs every page written by any path while the log is on, and revokes write permission at each harvest", () => {
    const { vm } = stack(16, 8);
    let protects = 0;
    vm.onWriteProtect = () => protects++;
    vm.writeU32(at(0), 1); // before logging: not recorded
    expect(vm.mapsWritable(page(0))).toBe(true);
    vm.startDirtyLog();
    expect(protects).toBe(1);
    expect(vm.mapsWritable(page(0))).toBe(false);
    expect(vm.readU32(at(1))).toBe(0); // reads are not writes
    vm.writeU32(at(2), 1); // a store
    vm.write(at(3, 4090), new Uint8Array(10)); // DMA across two pages
    vm.fill(at(5), 4096, 0xff); // a loader
    expect(vm.frameOffset(page(6), true)).toBeGreaterThanOrEqual(0); // a write permission handed to a TLB
    expect(vm.platformAddress(page(7), false)).toBeGreaterThanOrEqual(0); // a read-only mapping
    expect(vm.mapsWritable(page(2))).toBe(true);
    expect(vm.mapsWritable(page(7))).toBe(false);
    const log = vm.harvestDirtyLog();
    const dirty = [...Array(8).keys()].filter((i) => (log[i >>> 5]! & (1 << (i & 31))) !== 0);
    expect(dirty).toEqual([2, 3, 4, 5, 6]);
    expect(protects).toBe(2);
    expect(vm.harvestDirtyLog().every((w) => w === 0)).toBe(true);
    vm.stopDirtyLog();
    vm.writeU32(at(1), 5);
    expect(vm.isDirty(page(1))).toBe(false);
  });

  it("reports pinned pages dirty at every harvest: the guest writes them through tables nobody guards", () => {
    const { vm } = stack(8, 4);
    vm.pin(page(2));
    vm.startDirtyLog();
    expect(vm.harvestDirtyLog()[0]).toBe(1 << 2);
    expect(vm.harvestDirtyLog()[0]).toBe(1 << 2);
  });

  it("nests: a VM's memory inside a VM's memory composes both tables down to the hardware's buffer", () => {
    const host = new Ram(HOST, 64 * 4096);
    const level1 = new PagedMemory(host, GUEST, 32 * 4096, new FrameAllocator(host, { order: "descending" }));
    const level2 = new PagedMemory(level1, GUEST, 8 * 4096, new FrameAllocator(level1, { order: "interleaved" }));
    level1.startDirtyLog();
    expect(level2.writeU32(at(5, 12), 0xcafe)).toBe(true);
    const l1Page = level2.currentFrame(page(5));
    const hostFrame = level1.currentFrame(l1Page);
    expect(host.i32[(hostFrame * 4096 - HOST + 12) >>> 2]).toBe(0xcafe);
    // The write is level 2's guest's, and so also level 1's: its log has the page that holds it.
    expect(level1.isDirty(l1Page)).toBe(true);
  });

  it("crosses to another thread as a descriptor: the same table over the same buffer, marking the same log", () => {
    const { vm } = stack(16, 4, "descending");
    expect(vm.populate()).toBe(true);
    vm.startDirtyLog();
    const copy = memoryFromDescriptor(structuredClone(describeMemory(vm))) as PagedMemory;
    expect(copy.stats.resident).toBe(4);
    expect(copy.writeU32(at(2, 4), 77)).toBe(true);
    expect(vm.readU32(at(2, 4))).toBe(77);
    expect(vm.isDirty(page(2))).toBe(true);
    // It cannot take frames of its own.
    const empty = new PagedMemory(new Ram(HOST, 4096), GUEST, 4096, undefined);
    expect(empty.readU32(at(0))).toBeUndefined();
  });
});

describe("observedMemory", () => {
  it("reports each successful write, and only those", () => {
    const writes: [GuestPhysicalAddress, number][] = [];
    const memory = observedMemory(new Ram(HOST, 8192), (address, length) => writes.push([address, length]));
    expect(memory.write(gpa(HOST + 10), new Uint8Array(3))).toBe(true);
    expect(memory.writeU32(gpa(HOST + 8188), 1)).toBe(true);
    expect(memory.writeU16(gpa(HOST + 8191), 1)).toBe(false);
    expect(memory.fill(gpa(HOST), 16, 1)).toBe(true);
    expect(writes).toEqual([[HOST + 10, 3], [HOST + 8188, 4], [HOST, 16]]);
  });
});

describe("FrameAllocator.claim (a snapshot's frames taken back)", () => {
  it("takes exactly the frames named, with their references, and hands the others out in their order", () => {
    const host = new Ram(HOST, 8 * 4096);
    const first = HOST >>> 12;
    const fresh = new FrameAllocator(host);
    const order = Array.from({ length: 8 }, () => fresh.allocateFrame());
    const allocator = new FrameAllocator(host);
    allocator.claim(new Map([[first + 2, 1], [first + 5, 3]]));
    expect(allocator.freeFrames).toBe(6);
    expect(allocator.references(first + 5)).toBe(3);
    const rest = Array.from({ length: 6 }, () => allocator.allocateFrame());
    expect(rest).toEqual(order.filter((frame) => frame !== first + 2 && frame !== first + 5));
    expect(allocator.allocateFrame()).toBe(-1);
  });

  it("refuses a frame that is not free, or not of its memory", () => {
    const host = new Ram(HOST, 4 * 4096);
    const allocator = new FrameAllocator(host);
    const taken = allocator.allocateFrame();
    expect(() => allocator.claim(new Map([[taken, 1]]))).toThrow(/not free/);
    expect(() => allocator.claim(new Map([[(HOST >>> 12) + 99, 1]]))).toThrow(RangeError);
    expect(() => allocator.claim(new Map([[(HOST >>> 12) + 1, 0]]))).toThrow(/references/);
  });
});
