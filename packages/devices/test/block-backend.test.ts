import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CopyOnWriteBlockBackend,
  FileBlockBackend,
  MemoryBlockBackend,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VirtioBlk,
  VirtioMmio,
} from "@matryoshka/devices";
import { Ram } from "@matryoshka/memory";
import { RAM_BASE, RAM_SIZE, TestDriver, pattern } from "./virtio-driver.js";

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "matryoshka-blk-"));
  file = path.join(dir, "disk.img");
  fs.writeFileSync(file, pattern(8192, 5));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("MemoryBlockBackend", () => {
  it("reads copies and writes in place, refusing out-of-range access", () => {
    const disk = new MemoryBlockBackend(1024);
    expect(disk.size).toBe(1024);
    disk.write(1000, Uint8Array.of(1, 2, 3));
    const copy = disk.read(999, 4);
    expect([...copy]).toEqual([0, 1, 2, 3]);
    copy[1] = 9;
    expect(disk.bytes[1000]).toBe(1);
    expect(() => disk.read(1022, 4)).toThrow(RangeError);
    expect(() => disk.write(-1, Uint8Array.of(0))).toThrow(RangeError);
  });

  it("refuses writes when read-only", () => {
    const disk = new MemoryBlockBackend(Uint8Array.of(7, 7), { readOnly: true });
    expect(() => disk.write(0, Uint8Array.of(1))).toThrow();
    expect([...disk.bytes]).toEqual([7, 7]);
  });
});

describe("CopyOnWriteBlockBackend", () => {
  it("reads the image until a block is written, keeps partial blocks whole, and never writes the image", () => {
    const image = pattern(5 * 4096 + 512, 3);
    fs.writeFileSync(file, image);
    const scratch = path.join(dir, "scratch.img");
    const disk = new CopyOnWriteBlockBackend(file, scratch);
    try {
      expect(disk.size).toBe(image.length);
      expect(disk.read(100, 9000)).toEqual(image.subarray(100, 9100));
      // A write inside block 1 that spills into block 2, and one into the short last block.
      const data = pattern(5000, 77);
      disk.write(4096 + 3000, data);
      disk.write(5 * 4096 + 10, Uint8Array.of(1, 2, 3));
      const expected = image.slice();
      expected.set(data, 4096 + 3000);
      expected.set([1, 2, 3], 5 * 4096 + 10);
      expect(disk.read(0, expected.length)).toEqual(expected);
      expect(disk.read(4096, 100)).toEqual(image.subarray(4096, 4196)); // the rest of block 1: the image's
      disk.flush();
      expect(new Uint8Array(fs.readFileSync(file))).toEqual(image);
      expect(() => disk.write(image.length - 1, Uint8Array.of(1, 2))).toThrow(RangeError);
    } finally {
      disk.close();
    }
  });

  it("opens a 3 GiB image at once, holding a bit per block", () => {
    const big = path.join(dir, "big.img");
    fs.writeFileSync(big, "");
    fs.truncateSync(big, 3 * 1024 ** 3);
    const start = performance.now();
    const disk = new CopyOnWriteBlockBackend(big, path.join(dir, "big-scratch.img"));
    try {
      expect(performance.now() - start).toBeLessThan(500);
      disk.write(3 * 1024 ** 3 - 512, pattern(512, 9));
      expect(disk.read(3 * 1024 ** 3 - 1024, 1024)).toEqual(new Uint8Array([...new Uint8Array(512), ...pattern(512, 9)]));
      expect(fs.statSync(big).size).toBe(3 * 1024 ** 3);
    } finally {
      disk.close();
    }
  });
});

describe("FileBlockBackend", () => {
  it("takes its size from the file, reads, writes at offsets and flushes to disk", () => {
    const disk = new FileBlockBackend(file);
    try {
      expect(disk.size).toBe(8192);
      expect(disk.read(4096, 16)).toEqual(pattern(8192, 5).subarray(4096, 4112));
      disk.write(512, pattern(1024, 77));
      expect(disk.read(512, 1024)).toEqual(pattern(1024, 77));
      disk.flush();
      const onDisk = fs.readFileSync(file);
      expect(new Uint8Array(onDisk.subarray(512, 1536))).toEqual(pattern(1024, 77));
      expect(new Uint8Array(onDisk.subarray(0, 512))).toEqual(pattern(8192, 5).subarray(0, 512));
      expect(onDisk.length).toBe(8192);
      expect(() => disk.read(8000, 512)).toThrow(RangeError);
    } finally {
      disk.close();
    }
    expect(() => disk.read(0, 1)).toThrow(/closed/);
  });

  it("opens read-only and refuses writes", () => {
    const disk = new FileBlockBackend(file, { readOnly: true });
    try {
      expect(disk.readOnly).toBe(true);
      expect(() => disk.write(0, Uint8Array.of(1))).toThrow(/read-only/);
      disk.flush(); // nothing to make durable; must not fail
      expect(fs.readFileSync(file)[0]).toBe(5);
    } finally {
      disk.close();
    }
  });

  it("serves a virtio-blk driver: OUT, FLUSH, then IN from a fresh open", () => {
    const ram = new Ram(RAM_BASE, RAM_SIZE);
    const disk = new FileBlockBackend(file);
    const mmio = new VirtioMmio(new VirtioBlk(disk), { memory: ram, version: 2 });
    const driver = new TestDriver(mmio, ram);
    driver.init();
    driver.setupModernQueue(8, RAM_BASE + 0x2000, RAM_BASE + 0x3000, RAM_BASE + 0x4000);
    driver.driverOk();
    const write = driver.blkRequest(VIRTIO_BLK_T_OUT, 15, { write: pattern(512, 200) });
    const flush = driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    const beyond = driver.blkRequest(VIRTIO_BLK_T_IN, 16, { readLength: 512 });
    driver.submit(write.buffers);
    driver.submit(flush.buffers);
    driver.submit(beyond.buffers);
    driver.notify();
    expect([write, flush, beyond].map((r) => driver.u8(r.status))).toEqual([VIRTIO_BLK_S_OK, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_IOERR]);
    disk.close();

    const reopened = new FileBlockBackend(file, { readOnly: true });
    try {
      expect(reopened.read(15 * 512, 512)).toEqual(pattern(512, 200));
      const blk = new VirtioBlk(reopened);
      expect(blk.readOnly).toBe(true);
      const again = new VirtioMmio(blk, { memory: ram, version: 1 });
      const d = new TestDriver(again, ram);
      d.init();
      d.setupLegacyQueue(8, RAM_BASE + 0x6000);
      d.driverOk();
      const read = d.blkRequest(VIRTIO_BLK_T_IN, 15, { readLength: 512 });
      d.submit(read.buffers);
      d.notify();
      expect(d.u8(read.status)).toBe(VIRTIO_BLK_S_OK);
      expect(d.bytes(read.dataAddress, 512)).toEqual(pattern(512, 200));
    } finally {
      reopened.close();
    }
  });
});
