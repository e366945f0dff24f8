import { describe, expect, it } from "vitest";
import {
  EmptyVirtioSlot,
  MemoryBlockBackend,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_MAX_REQUEST_BYTES,
  VIRTIO_BLK_TRANSFER_CHUNK,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_WRITE,
  VirtioBlk,
  VirtioMmio,
  VirtioMmioRegister as R,
  featureBit,
  type BlockBackend,
  type VirtioBlkOptions,
} from "@matryoshka/devices";
import { Ram, observedMemory } from "@matryoshka/memory";
import { RAM_BASE, RAM_SIZE, TestDriver, pattern } from "./virtio-driver.js";

const DISK_SECTORS = 64;

function machine(version: 1 | 2, options: { backend?: BlockBackend; blk?: VirtioBlkOptions } = {}) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const dmaWrites: Array<[number, number]> = [];
  const memory = observedMemory(ram, (pa, length) => dmaWrites.push([pa, length]));
  const backend = options.backend ?? new MemoryBlockBackend(pattern(DISK_SECTORS * 512, 7));
  const blk = new VirtioBlk(backend, options.blk);
  const levels: boolean[] = [];
  const mmio = new VirtioMmio(blk, { memory, version, irq: (level) => levels.push(level) });
  const driver = new TestDriver(mmio, ram);
  return { ram, memory, backend, blk, mmio, driver, levels, dmaWrites, line: () => levels[levels.length - 1] ?? false };
}

/** A ready legacy device: queue of 16 at RAM_BASE + 0x1000, DRIVER_OK. */
function legacySession(options?: Parameters<typeof machine>[1]) {
  const m = machine(1, options);
  m.driver.init();
  m.driver.setupLegacyQueue(16, RAM_BASE + 0x1000);
  m.driver.driverOk();
  return m;
}

/** A ready modern device: queue of 16 in three separate areas, DRIVER_OK. */
function modernSession(options?: Parameters<typeof machine>[1], accept?: (offered: bigint) => bigint) {
  const m = machine(2, options);
  m.driver.init(accept);
  expect(m.driver.status & VIRTIO_STATUS_FEATURES_OK).toBe(VIRTIO_STATUS_FEATURES_OK);
  m.driver.setupModernQueue(16, RAM_BASE + 0x2000, RAM_BASE + 0x3000, RAM_BASE + 0x4000);
  m.driver.driverOk();
  return m;
}

describe("virtio-mmio registers", () => {
  it("identifies a legacy virtio-blk device as QEMU does", () => {
    const { driver } = machine(1);
    expect(driver.reg(R.MagicValue)).toBe(0x74726976);
    expect(driver.reg(R.Version)).toBe(1);
    expect(driver.reg(R.DeviceID)).toBe(2);
    expect(driver.reg(R.VendorID)).toBe(0x554d4551);
    expect(driver.reg(R.QueueNumMax)).toBe(256);
    driver.setReg(R.DeviceFeaturesSel, 0);
    const low = driver.reg(R.DeviceFeatures);
    const expected = (1 << VIRTIO_BLK_F_SEG_MAX) | (1 << VIRTIO_BLK_F_BLK_SIZE) | (1 << VIRTIO_BLK_F_FLUSH) | (1 << VIRTIO_F_INDIRECT_DESC);
    expect(low).toBe(expected);
    driver.setReg(R.DeviceFeaturesSel, 1);
    expect(driver.reg(R.DeviceFeatures)).toBe(0); // no VERSION_1 in legacy
    // Another queue index does not exist.
    driver.setReg(R.QueueSel, 1);
    expect(driver.reg(R.QueueNumMax)).toBe(0);
  });

  it("offers VERSION_1 in the modern transport", () => {
    const { driver } = machine(2);
    expect(driver.reg(R.Version)).toBe(2);
    driver.setReg(R.DeviceFeaturesSel, 1);
    expect(driver.reg(R.DeviceFeatures)).toBe(1 << (VIRTIO_F_VERSION_1 - 32));
    expect(driver.reg(R.ConfigGeneration)).toBe(0);
    expect(driver.reg(R.SHMLenLow)).toBe(0xffff_ffff);
  });

  it("presents the block configuration space at 0x100", () => {
    const { mmio } = machine(1);
    expect(mmio.read(0x100, 4)).toBe(DISK_SECTORS); // capacity low
    expect(mmio.read(0x104, 4)).toBe(0); // capacity high
    expect(mmio.read(0x10c, 4)).toBe(254); // seg_max = queue size - 2
    expect(mmio.read(0x114, 4)).toBe(512); // blk_size
    expect(mmio.read(0x100, 1)).toBe(DISK_SECTORS);
    expect(mmio.read(0x100 + 36, 4)).toBe(0xffff_ffff); // past the config space
    expect(mmio.read(0x200, 4)).toBeUndefined(); // outside the 0x200-byte transport
    expect(mmio.write(0x200, 4, 0)).toBe(false);
  });

  it("reads registers only as 32-bit accesses", () => {
    const { mmio } = machine(1);
    expect(mmio.read(R.MagicValue, 2)).toBe(0);
    expect(mmio.read(R.MagicValue, 4)).toBe(0x74726976);
  });

  it("keeps legacy and modern queue registers apart", () => {
    const legacy = legacySession();
    legacy.driver.setReg(R.QueueReady, 1);
    expect(legacy.driver.reg(R.QueueReady)).toBe(0);
    expect(legacy.driver.reg(R.ConfigGeneration)).toBe(0);
    // QueuePFN 0 disables the queue (Linux's del_vq).
    legacy.driver.setReg(R.QueuePFN, 0);
    expect(legacy.driver.reg(R.QueuePFN)).toBe(0);
    expect(legacy.mmio.queue(0)).toBeUndefined();

    const modern = modernSession();
    modern.driver.setReg(R.QueuePFN, 0x80001);
    expect(modern.driver.reg(R.QueuePFN)).toBe(0);
    expect(modern.mmio.queue(0)?.layout.descTable).toBe(RAM_BASE + 0x2000);
    // Addresses cannot change under a ready queue; QueueReady 0 disables it.
    modern.driver.setReg(R.QueueDescLow, RAM_BASE + 0x9000);
    modern.driver.setReg(R.QueueReady, 0);
    expect(modern.driver.reg(R.QueueReady)).toBe(0);
    expect(modern.mmio.queue(0)).toBeUndefined();
    modern.driver.setReg(R.QueueReady, 1);
    expect(modern.mmio.queue(0)?.layout.descTable).toBe(RAM_BASE + 0x2000);
  });

  it("ignores a notification for a queue that does not exist", () => {
    const { driver, mmio } = legacySession();
    driver.notify(5);
    expect(mmio.failure).toBeUndefined();
    expect(driver.reg(R.InterruptStatus)).toBe(0);
  });

  it("turns an exception inside a device into DEVICE_NEEDS_RESET", () => {
    const ram = new Ram(RAM_BASE, RAM_SIZE);
    const device = {
      deviceId: 99,
      queueCount: 1,
      queueSizeMax: 8,
      features: 0n,
      readConfig: () => new Uint8Array(0),
      reset: () => {},
      processQueue: () => {
        throw new Error("model bug");
      },
    };
    const levels: boolean[] = [];
    const mmio = new VirtioMmio(device, { memory: ram, irq: (l) => levels.push(l) });
    const driver = new TestDriver(mmio, ram);
    driver.init();
    driver.setupLegacyQueue(8, RAM_BASE + 0x1000);
    driver.driverOk();
    expect(() => driver.notify()).not.toThrow();
    expect(mmio.failure).toBe("queue 0: device error: model bug");
    expect(driver.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    expect(levels).toEqual([true]);
  });

  it("presents an empty slot like QEMU: magic and version but device id 0", () => {
    const slot = new EmptyVirtioSlot(1);
    expect(slot.read(R.MagicValue, 4)).toBe(0x74726976);
    expect(slot.read(R.Version, 4)).toBe(1);
    expect(slot.read(R.DeviceID, 4)).toBe(0);
    expect(slot.read(R.VendorID, 4)).toBe(0x554d4551);
    expect(slot.read(R.QueueNumMax, 4)).toBe(0);
    expect(slot.write(R.Status, 4, 1)).toBe(true);
    expect(slot.read(R.Status, 4)).toBe(0);
    expect(new EmptyVirtioSlot(2).read(R.Version, 4)).toBe(2);
  });
});

describe("virtio-blk over the legacy transport", () => {
  it("lays the queue out contiguously and reports its PFN", () => {
    const { driver } = legacySession();
    expect(driver.reg(R.QueuePFN)).toBe((RAM_BASE + 0x1000) / 4096);
    // 16 descriptors (256 bytes) + avail (6 + 32 bytes) = 294: the used ring is at the next page.
    expect(driver.used).toBe(RAM_BASE + 0x2000);
  });

  it("writes, reads back, flushes and identifies, with used ring and interrupts", () => {
    const { driver, backend, line, levels, blk } = legacySession();
    const data = pattern(1024, 99);

    const write = driver.blkRequest(VIRTIO_BLK_T_OUT, 3, { write: data });
    const writeHead = driver.submit(write.buffers);
    driver.notify();
    expect(driver.u8(write.status)).toBe(VIRTIO_BLK_S_OK);
    expect((backend as MemoryBlockBackend).bytes.slice(3 * 512, 5 * 512)).toEqual(data);
    expect(driver.usedIdx).toBe(1);
    expect(driver.usedElement(0)).toEqual({ id: writeHead, len: 1 });
    expect(driver.reg(R.InterruptStatus)).toBe(1);
    expect(line()).toBe(true);
    driver.setReg(R.InterruptACK, 1);
    expect(driver.reg(R.InterruptStatus)).toBe(0);
    expect(line()).toBe(false);

    const read = driver.blkRequest(VIRTIO_BLK_T_IN, 3, { readLength: 1024 });
    const readHead = driver.submit(read.buffers);
    const flush = driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    const flushHead = driver.submit(flush.buffers);
    const getId = driver.blkRequest(VIRTIO_BLK_T_GET_ID, 0, { readLength: 20 });
    const getIdHead = driver.submit(getId.buffers);
    driver.notify();

    expect(driver.bytes(read.dataAddress, 1024)).toEqual(data);
    expect(driver.u8(read.status)).toBe(VIRTIO_BLK_S_OK);
    expect(driver.u8(flush.status)).toBe(VIRTIO_BLK_S_OK);
    expect(driver.u8(getId.status)).toBe(VIRTIO_BLK_S_OK);
    const id = driver.bytes(getId.dataAddress, 20);
    expect(new TextDecoder().decode(id.subarray(0, 14))).toBe("matryoshka-blk");
    expect([...id.subarray(14)]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(driver.usedIdx).toBe(4);
    expect(driver.usedElement(1)).toEqual({ id: readHead, len: 1025 });
    expect(driver.usedElement(2)).toEqual({ id: flushHead, len: 1 });
    expect(driver.usedElement(3)).toEqual({ id: getIdHead, len: 21 });
    expect(line()).toBe(true);
    expect(levels).toEqual([true, false, true]); // one edge per batch
    expect(blk.stats).toMatchObject({ reads: 1, writes: 1, flushes: 1, bytesRead: 1024, bytesWritten: 1024, errors: 0 });
  });

  it("scatters a read across several writable descriptors", () => {
    const { driver } = legacySession();
    const header = driver.alloc(16);
    driver.setU32(header, VIRTIO_BLK_T_IN);
    driver.setU32(header + 8, 1);
    const a = driver.alloc(100);
    const b = driver.alloc(412);
    const status = driver.alloc(1);
    driver.submit([
      { address: header, length: 16 },
      { address: a, length: 100, writable: true },
      { address: b, length: 411, writable: true },
      // The last writable descriptor holds the final data byte and the status byte.
      { address: status, length: 2, writable: true },
    ]);
    driver.notify();
    const expected = pattern(DISK_SECTORS * 512, 7).subarray(512, 1024);
    expect(driver.bytes(a, 100)).toEqual(expected.subarray(0, 100));
    expect(driver.bytes(b, 411)).toEqual(expected.subarray(100, 511));
    expect(driver.u8(status)).toBe(expected[511]);
    expect(driver.u8(status + 1)).toBe(VIRTIO_BLK_S_OK);
    expect(driver.usedElement(0).len).toBe(513);
  });

  it("answers IOERR beyond capacity, for partial sectors, and UNSUPP for unknown types", () => {
    const { driver, mmio, blk } = legacySession();
    const beyond = driver.blkRequest(VIRTIO_BLK_T_IN, DISK_SECTORS, { readLength: 512 });
    driver.submit(beyond.buffers);
    const straddling = driver.blkRequest(VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, { write: pattern(1024) });
    driver.submit(straddling.buffers);
    const huge = driver.blkRequest(VIRTIO_BLK_T_IN, 2 ** 52, { readLength: 512 });
    driver.submit(huge.buffers);
    const partial = driver.blkRequest(VIRTIO_BLK_T_IN, 0, { readLength: 100 });
    driver.submit(partial.buffers);
    const unknown = driver.blkRequest(11, 0);
    driver.submit(unknown.buffers);
    driver.notify();
    expect(driver.u8(beyond.status)).toBe(VIRTIO_BLK_S_IOERR);
    expect(driver.u8(straddling.status)).toBe(VIRTIO_BLK_S_IOERR);
    expect(driver.u8(huge.status)).toBe(VIRTIO_BLK_S_IOERR);
    expect(driver.u8(partial.status)).toBe(VIRTIO_BLK_S_IOERR);
    expect(driver.u8(unknown.status)).toBe(VIRTIO_BLK_S_UNSUPP);
    expect(driver.bytes(beyond.dataAddress, 512).every((b) => b === 0)).toBe(true);
    expect(driver.usedIdx).toBe(5);
    expect(mmio.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(0);
    expect(blk.stats.errors).toBe(5);
    // The last sector is still readable.
    const last = driver.blkRequest(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, { readLength: 512 });
    driver.submit(last.buffers);
    driver.notify();
    expect(driver.u8(last.status)).toBe(VIRTIO_BLK_S_OK);
  });

  it("offers RO for a read-only disk and refuses writes with IOERR", () => {
    const backend = new MemoryBlockBackend(new Uint8Array(4096));
    const { driver } = legacySession({ backend, blk: { readOnly: true } });
    driver.setReg(R.DeviceFeaturesSel, 0);
    expect(driver.reg(R.DeviceFeatures) & (1 << VIRTIO_BLK_F_RO)).toBe(1 << VIRTIO_BLK_F_RO);
    const write = driver.blkRequest(VIRTIO_BLK_T_OUT, 0, { write: pattern(512, 1) });
    driver.submit(write.buffers);
    driver.notify();
    expect(driver.u8(write.status)).toBe(VIRTIO_BLK_S_IOERR);
    expect(backend.bytes.every((b) => b === 0)).toBe(true);
  });

  it("reports DMA writes to the board (for code-cache invalidation)", () => {
    const { driver, dmaWrites } = legacySession();
    const read = driver.blkRequest(VIRTIO_BLK_T_IN, 0, { readLength: 512 });
    driver.submit(read.buffers);
    dmaWrites.length = 0;
    driver.notify();
    expect(dmaWrites).toContainEqual([read.dataAddress, 512]);
    expect(dmaWrites).toContainEqual([read.status, 1]);
    expect(dmaWrites).toContainEqual([driver.used + 2, 2]); // used->idx
  });

  it("keeps GuestPageSize across a reset, as Linux writes it only at probe", () => {
    const m = machine(1);
    m.driver.setReg(R.GuestPageSize, 4096);
    m.driver.init();
    m.driver.setReg(R.QueueSel, 0);
    m.driver.setReg(R.QueueNum, 8);
    m.driver.setReg(R.QueuePFN, (RAM_BASE + 0x1000) / 4096);
    expect(m.mmio.queue(0)?.layout.descTable).toBe(RAM_BASE + 0x1000);
  });
});

describe("virtio-blk over the modern transport", () => {
  it("refuses FEATURES_OK with unoffered features, and accepts a driver that leaves out VERSION_1, as QEMU 7.2 does (xv6's)", () => {
    const m = machine(2);
    m.driver.init((offered) => offered & ~featureBit(VIRTIO_F_VERSION_1));
    expect(m.driver.status & VIRTIO_STATUS_FEATURES_OK).toBe(VIRTIO_STATUS_FEATURES_OK);
    expect(m.mmio.negotiatedFeatures & featureBit(VIRTIO_F_VERSION_1)).toBe(0n);
    m.driver.init((offered) => offered | featureBit(VIRTIO_BLK_F_RO));
    expect(m.driver.status & VIRTIO_STATUS_FEATURES_OK).toBe(0);
    m.driver.init();
    expect(m.driver.status & VIRTIO_STATUS_FEATURES_OK).toBe(VIRTIO_STATUS_FEATURES_OK);
    expect(m.mmio.negotiatedFeatures & featureBit(VIRTIO_F_VERSION_1)).not.toBe(0n);
  });

  it("runs a full session with separate queue areas", () => {
    const { driver, backend } = modernSession();
    expect(driver.reg(R.QueueReady)).toBe(1);
    const data = pattern(512, 3);
    const write = driver.blkRequest(VIRTIO_BLK_T_OUT, 10, { write: data });
    const read = driver.blkRequest(VIRTIO_BLK_T_IN, 10, { readLength: 512 });
    const getId = driver.blkRequest(VIRTIO_BLK_T_GET_ID, 0, { readLength: 8 }); // shorter than 20: truncated
    const heads = [driver.submit(write.buffers), driver.submit(read.buffers), driver.submit(getId.buffers)];
    driver.notify();
    expect(driver.u8(write.status)).toBe(VIRTIO_BLK_S_OK);
    expect(driver.u8(read.status)).toBe(VIRTIO_BLK_S_OK);
    expect(driver.bytes(read.dataAddress, 512)).toEqual(data);
    expect((backend as MemoryBlockBackend).bytes.slice(5120, 5632)).toEqual(data);
    expect(new TextDecoder().decode(driver.bytes(getId.dataAddress, 8))).toBe("matryosh");
    expect(driver.usedIdx).toBe(3);
    expect([0, 1, 2].map((i) => driver.usedElement(i))).toEqual([
      { id: heads[0], len: 1 },
      { id: heads[1], len: 513 },
      { id: heads[2], len: 9 },
    ]);
    expect(driver.reg(R.InterruptStatus)).toBe(1);
  });

  it("follows an indirect descriptor table when INDIRECT_DESC is negotiated", () => {
    const { driver, mmio } = modernSession();
    expect(mmio.negotiatedFeatures & featureBit(VIRTIO_F_INDIRECT_DESC)).not.toBe(0n);
    const request = driver.blkRequest(VIRTIO_BLK_T_IN, 2, { readLength: 512 });
    const table = driver.alloc(16 * 3);
    request.buffers.forEach((buffer, i) => {
      const flags = (buffer.writable ? VIRTQ_DESC_F_WRITE : 0) | (i < 2 ? 1 : 0);
      driver.writeDescriptor(i, buffer.address, buffer.length, flags, i + 1, table);
    });
    driver.submit([{ address: table, length: 48, flags: VIRTQ_DESC_F_INDIRECT }]);
    driver.notify();
    expect(driver.u8(request.status)).toBe(VIRTIO_BLK_S_OK);
    expect(driver.bytes(request.dataAddress, 512)).toEqual(pattern(DISK_SECTORS * 512, 7).subarray(1024, 1536));
    expect(driver.usedElement(0).len).toBe(513);
  });

  it("moves a request whose buffers alias the same guest memory in bounded pieces, and refuses one above the limit", () => {
    // A disk larger than anything the host could hold for one request; it records what it is asked.
    const asked: number[] = [];
    const backend: BlockBackend = {
      size: 4 * 1024 ** 3,
      read: (_offset, length) => (asked.push(length), new Uint8Array(length)),
      write: (_offset, data) => void asked.push(data.length),
      flush: () => {},
    };
    const { driver, mmio, blk } = modernSession({ backend });
    expect(mmio.negotiatedFeatures & featureBit(VIRTIO_F_INDIRECT_DESC)).not.toBe(0n);
    // An indirect table of `count` descriptors after the header, each the same 256 KiB of guest
    // memory: the chain describes count × 256 KiB, far more than the 1 MiB of guest RAM.
    const header = driver.alloc(16);
    const alias = driver.alloc(256 * 1024);
    const status = driver.alloc(1);
    const submit = (type: number, count: number) => {
      driver.setU32(header, type);
      driver.setU32(header + 8, 0);
      const table = driver.alloc(16 * (count + 2));
      driver.writeDescriptor(0, header, 16, 1, 1, table);
      for (let i = 1; i <= count; i++) driver.writeDescriptor(i, alias, 256 * 1024, (type === VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0) | 1, i + 1, table);
      driver.writeDescriptor(count + 1, status, 1, VIRTQ_DESC_F_WRITE, 0, table);
      driver.setU8(status, 0xff);
      driver.submit([{ address: table, length: 16 * (count + 2), flags: VIRTQ_DESC_F_INDIRECT }]);
      driver.notify();
      return driver.u8(status);
    };
    // 16 MiB each way, 16 times the guest's RAM: the host holds a piece at a time.
    expect(submit(VIRTIO_BLK_T_IN, 64)).toBe(VIRTIO_BLK_S_OK);
    expect(submit(VIRTIO_BLK_T_OUT, 64)).toBe(VIRTIO_BLK_S_OK);
    expect(asked.reduce((sum, n) => sum + n, 0)).toBe(2 * 16 * 1048576);
    expect(Math.max(...asked)).toBe(VIRTIO_BLK_TRANSFER_CHUNK);
    // Above VIRTIO_BLK_MAX_REQUEST_BYTES: IOERR, and the disk is not touched.
    asked.length = 0;
    expect(submit(VIRTIO_BLK_T_IN, VIRTIO_BLK_MAX_REQUEST_BYTES / (256 * 1024) + 4)).toBe(VIRTIO_BLK_S_IOERR);
    expect(asked).toEqual([]);
    expect(blk.stats.errors).toBe(1);
  });

  it("suppresses the interrupt when the driver sets VIRTQ_AVAIL_F_NO_INTERRUPT", () => {
    const { driver, levels } = modernSession();
    driver.setU16(driver.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
    const flush = driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    driver.submit(flush.buffers);
    driver.notify();
    expect(driver.usedIdx).toBe(1);
    expect(driver.u8(flush.status)).toBe(VIRTIO_BLK_S_OK);
    expect(driver.reg(R.InterruptStatus)).toBe(0);
    expect(levels).toEqual([]);
  });

  it("consumes nothing before DRIVER_OK and catches up when it is set", () => {
    const m = machine(2);
    m.driver.init();
    m.driver.setupModernQueue(8, RAM_BASE + 0x2000, RAM_BASE + 0x3000, RAM_BASE + 0x4000);
    const flush = m.driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    m.driver.submit(flush.buffers);
    m.driver.notify();
    expect(m.driver.usedIdx).toBe(0);
    expect(m.driver.u8(flush.status)).toBe(0xff);
    m.driver.driverOk();
    expect(m.driver.usedIdx).toBe(1);
    expect(m.driver.u8(flush.status)).toBe(VIRTIO_BLK_S_OK);
  });

  it("resets queues, status and interrupts on Status = 0", () => {
    const { driver, mmio, line } = modernSession();
    const flush = driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    driver.submit(flush.buffers);
    driver.notify();
    expect(line()).toBe(true);
    driver.setReg(R.Status, 0);
    expect(driver.status).toBe(0);
    expect(driver.reg(R.InterruptStatus)).toBe(0);
    expect(line()).toBe(false);
    expect(driver.reg(R.QueueReady)).toBe(0);
    expect(mmio.queue(0)).toBeUndefined();
    expect(mmio.negotiatedFeatures).toBe(0n);
    // A second session starts its ring indices from zero again.
    driver.init();
    driver.setupModernQueue(8, RAM_BASE + 0x5000, RAM_BASE + 0x6000, RAM_BASE + 0x7000);
    driver.driverOk();
    const again = driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    const head = driver.submit(again.buffers);
    driver.notify();
    expect(driver.usedIdx).toBe(1);
    expect(driver.usedElement(0)).toEqual({ id: head, len: 1 });
  });

  it("signals a configuration change with ConfigGeneration and interrupt bit 1", () => {
    const { driver, mmio, line } = modernSession();
    mmio.notifyConfigChange();
    expect(driver.reg(R.ConfigGeneration)).toBe(1);
    expect(driver.reg(R.InterruptStatus)).toBe(2);
    expect(line()).toBe(true);
    driver.setReg(R.InterruptACK, 2);
    expect(line()).toBe(false);
  });
});

describe("virtio errors: DEVICE_NEEDS_RESET, never an exception", () => {
  /** The device must be broken: status bit, config interrupt, line high, nothing consumed. */
  function expectNeedsReset(m: ReturnType<typeof machine>, reason: RegExp, usedIdx: number | null = 0) {
    expect(m.driver.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    expect(m.driver.reg(R.InterruptStatus) & 2).toBe(2);
    expect(m.line()).toBe(true);
    expect(m.mmio.failure).toMatch(reason);
    if (usedIdx !== null) expect(m.driver.usedIdx).toBe(usedIdx);
  }

  for (const version of [1, 2] as const) {
    const session = () => (version === 1 ? legacySession() : modernSession());

    it(`v${version}: a descriptor address outside RAM`, () => {
      const m = session();
      const status = m.driver.alloc(1);
      const header = m.driver.alloc(16);
      m.driver.submit([
        { address: header, length: 16 },
        { address: 0x1000_0000, length: 512, writable: true }, // the UART, not RAM
        { address: status, length: 1, writable: true },
      ]);
      m.driver.notify();
      expectNeedsReset(m, /outside guest memory/);
      expect(m.driver.u8(status)).toBe(0);
      // The device stays stopped: a good request is not served until reset.
      const flush = m.driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
      m.driver.submit(flush.buffers);
      m.driver.notify();
      expect(m.driver.usedIdx).toBe(0);
      // The driver cannot clear NEEDS_RESET by writing Status…
      m.driver.setReg(R.Status, VIRTIO_STATUS_DRIVER_OK | 3);
      expect(m.driver.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
      // …only a reset does.
      m.driver.setReg(R.Status, 0);
      expect(m.driver.status).toBe(0);
      expect(m.mmio.failure).toBeUndefined();
      expect(m.line()).toBe(false);
    });

    it(`v${version}: a descriptor address above 4 GiB`, () => {
      const m = session();
      const header = m.driver.alloc(16);
      m.driver.submit([
        { address: 0x1_8000_0000, length: 16 },
        { address: header, length: 1, writable: true },
      ]);
      m.driver.notify();
      expectNeedsReset(m, /0x180000000\+16 lies outside/);
    });

    it(`v${version}: a buffer straddling the end of RAM`, () => {
      const m = session();
      const read = m.driver.blkRequest(VIRTIO_BLK_T_IN, 0, { readLength: 512 });
      read.buffers[1] = { address: RAM_BASE + RAM_SIZE - 256, length: 512, writable: true };
      m.driver.submit(read.buffers);
      m.driver.notify();
      expectNeedsReset(m, /lies outside guest memory/);
      expect(m.driver.u8(read.status)).toBe(0xff);
    });

    it(`v${version}: a looping descriptor chain`, () => {
      const m = session();
      const header = m.driver.alloc(16);
      m.driver.writeDescriptor(0, header, 16, 1, 1);
      m.driver.writeDescriptor(1, header, 16, 1, 2);
      m.driver.writeDescriptor(2, header, 16, 1, 0); // back to 0
      m.driver.makeAvailable(0);
      m.driver.notify();
      expectNeedsReset(m, /longer than the queue size/);
    });

    it(`v${version}: a head or next index past the queue size`, () => {
      const m = session();
      m.driver.makeAvailable(16);
      m.driver.notify();
      expectNeedsReset(m, /descriptor index 16 is outside/);

      const n = session();
      const header = n.driver.alloc(16);
      n.driver.writeDescriptor(0, header, 16, 1, 999);
      n.driver.makeAvailable(0);
      n.driver.notify();
      expectNeedsReset(n, /descriptor index 999/);
    });

    it(`v${version}: an available index that ran ahead by more than the queue size`, () => {
      const m = session();
      m.driver.setU16(m.driver.avail + 2, 17);
      m.driver.notify();
      expectNeedsReset(m, /more than the queue size/);
    });

    it(`v${version}: a queue larger than QueueNumMax`, () => {
      const m = machine(version);
      m.driver.init();
      if (version === 1) m.driver.setupLegacyQueue(512, RAM_BASE + 0x1000);
      else m.driver.setupModernQueue(512, RAM_BASE + 0x2000, RAM_BASE + 0x4000, RAM_BASE + 0x6000);
      expectNeedsReset(m, /size 512 exceeds QueueNumMax 256/);
      expect(m.mmio.queue(0)).toBeUndefined();
    });

    it(`v${version}: a queue size that is not a power of two`, () => {
      const m = machine(version);
      m.driver.init();
      if (version === 1) m.driver.setupLegacyQueue(12, RAM_BASE + 0x1000);
      else m.driver.setupModernQueue(12, RAM_BASE + 0x2000, RAM_BASE + 0x4000, RAM_BASE + 0x6000);
      expectNeedsReset(m, /not a power of two/);
    });

    it(`v${version}: a request without a status byte`, () => {
      const m = session();
      const header = m.driver.alloc(16);
      m.driver.setU32(header, VIRTIO_BLK_T_FLUSH);
      m.driver.submit([{ address: header, length: 16 }]);
      m.driver.notify();
      expectNeedsReset(m, /lacks a 16-byte header or a status byte/);
    });

    it(`v${version}: a readable descriptor after a writable one`, () => {
      const m = session();
      const flush = m.driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
      m.driver.submit([flush.buffers[1]!, flush.buffers[0]!]);
      m.driver.notify();
      expectNeedsReset(m, /readable descriptor follows a device-writable/);
    });
  }

  it("legacy: a queue whose rings lie outside RAM", () => {
    const m = machine(1);
    m.driver.init();
    m.driver.setReg(R.QueueSel, 0);
    m.driver.setReg(R.QueueNum, 16);
    m.driver.setReg(R.QueuePFN, (RAM_BASE + RAM_SIZE - 0x1000) / 4096); // used ring falls off the end
    expectNeedsReset(m, /used ring at 0x80100000 lies outside/, null);
    expect(m.mmio.queue(0)).toBeUndefined();
  });

  it("serves the good requests before the bad one, then stops", () => {
    const m = legacySession();
    const flush = m.driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    const head = m.driver.submit(flush.buffers);
    m.driver.makeAvailable(200);
    m.driver.notify();
    expectNeedsReset(m, /descriptor index 200/, 1);
    expect(m.driver.usedElement(0)).toEqual({ id: head, len: 1 });
    expect(m.driver.reg(R.InterruptStatus)).toBe(3);
  });

  it("a backend that throws gives IOERR, not an exception", () => {
    const backend: BlockBackend = {
      size: 4096,
      read: () => {
        throw new Error("EIO");
      },
      write: () => {
        throw new Error("EIO");
      },
      flush: () => {
        throw new Error("EIO");
      },
    };
    const m = legacySession({ backend });
    const read = m.driver.blkRequest(VIRTIO_BLK_T_IN, 0, { readLength: 512 });
    const write = m.driver.blkRequest(VIRTIO_BLK_T_OUT, 0, { write: pattern(512) });
    const flush = m.driver.blkRequest(VIRTIO_BLK_T_FLUSH, 0);
    for (const r of [read, write, flush]) m.driver.submit(r.buffers);
    m.driver.notify();
    expect([read, write, flush].map((r) => m.driver.u8(r.status))).toEqual([VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR]);
    expect(m.driver.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(0);
  });
});

describe("VirtioBlk on its own", () => {
  it("reports capacity in 512-byte sectors, ignoring a partial last sector", () => {
    const blk = new VirtioBlk(new MemoryBlockBackend(512 * 10 + 100));
    expect(blk.capacity).toBe(10);
    expect(new DataView(blk.readConfig().buffer).getBigUint64(0, true)).toBe(10n);
  });

  it("takes the read-only flag from the backend", () => {
    const blk = new VirtioBlk(new MemoryBlockBackend(4096, { readOnly: true }));
    expect(blk.readOnly).toBe(true);
    expect(blk.features & featureBit(VIRTIO_BLK_F_RO)).not.toBe(0n);
    expect(new VirtioBlk(new MemoryBlockBackend(4096)).features & featureBit(VIRTIO_BLK_F_RO)).toBe(0n);
  });

  it("rejects a queue size that is not a power of two", () => {
    expect(() => new VirtioBlk(new MemoryBlockBackend(4096), { queueSize: 100 })).toThrow(RangeError);
  });
});

describe("virtio status bits", () => {
  it("keeps DRIVER_OK state visible in Status", () => {
    const { driver } = legacySession();
    expect(driver.status & VIRTIO_STATUS_DRIVER_OK).toBe(VIRTIO_STATUS_DRIVER_OK);
    expect(driver.status).toBe(7);
  });
});
