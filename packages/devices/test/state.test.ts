import { describe, expect, it } from "vitest";
import { GoldfishRtc, GoldfishRtcRegister as RTC, MemoryBlockBackend, VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, VirtioBlk, VirtioMmio, VirtioMmioRegister as R } from "@matryoshka/devices";
import { Ram } from "@matryoshka/memory";
import { pattern, RAM_BASE, RAM_SIZE, TestDriver } from "./virtio-driver.js";

/** What a snapshot does with the state: plain data, through JSON. */
const roundTrip = <T>(state: T): T => JSON.parse(JSON.stringify(state)) as T;

describe("virtio-mmio saved state", () => {
  for (const version of [1, 2] as const) {
    it(`version ${version}: a transport restored over the same RAM continues the rings where they were`, () => {
      const ram = new Ram(RAM_BASE, RAM_SIZE);
      const disk = pattern(64 * 512, 3);
      const mmio = new VirtioMmio(new VirtioBlk(new MemoryBlockBackend(disk)), { memory: ram, version });
      const driver = new TestDriver(mmio, ram);
      driver.init();
      if (version === 1) driver.setupLegacyQueue(16, RAM_BASE + 0x1000);
      else driver.setupModernQueue(16, RAM_BASE + 0x2000, RAM_BASE + 0x3000, RAM_BASE + 0x4000);
      driver.driverOk();
      for (let sector = 0; sector < 3; sector++) {
        const request = driver.blkRequest(VIRTIO_BLK_T_IN, sector);
        driver.submit(request.buffers);
        driver.notify();
      }
      expect(driver.usedIdx).toBe(3);
      const saved = roundTrip(mmio.saveState());

      const levels: boolean[] = [];
      const copy = new VirtioMmio(new VirtioBlk(new MemoryBlockBackend(disk)), { memory: ram, version, irq: (level) => levels.push(level) });
      copy.restoreState(saved);
      expect(levels).toEqual([true]); // the used-buffer interrupt was not acknowledged yet
      for (const register of [R.Status, R.InterruptStatus, R.QueueNumMax]) expect(copy.read(register, 4)).toBe(mmio.read(register, 4));
      expect(copy.queue(0)?.usedIndex).toBe(3);
      // The same driver goes on with the restored transport: the fourth request is the fourth used element.
      (driver as unknown as { mmio: VirtioMmio }).mmio = copy;
      const request = driver.blkRequest(VIRTIO_BLK_T_IN, 5);
      driver.submit(request.buffers);
      driver.notify();
      expect(driver.usedIdx).toBe(4);
      expect(driver.u8(request.status)).toBe(VIRTIO_BLK_S_OK);
      expect(driver.bytes(request.dataAddress, 512)).toEqual(disk.subarray(5 * 512, 6 * 512));
      expect((copy.device as VirtioBlk).stats.reads).toBe(4);
    });
  }

  it("refuses the state of another device", () => {
    const ram = new Ram(RAM_BASE, RAM_SIZE);
    const mmio = new VirtioMmio(new VirtioBlk(new MemoryBlockBackend(512)), { memory: ram });
    const state = roundTrip(mmio.saveState());
    state.deviceId = 1;
    expect(() => mmio.restoreState(state)).toThrow(RangeError);
  });
});

describe("goldfish RTC saved state", () => {
  it("reads the saved time and keeps its alarm on a board whose clock starts elsewhere", () => {
    const now = 1_000_000n;
    const rtc = new GoldfishRtc(() => now);
    rtc.write(RTC.TimeLow, 4, 0x1000); // the guest set the time
    rtc.write(RTC.IrqEnabled, 4, 1);
    rtc.write(RTC.AlarmHigh, 4, 0);
    rtc.write(RTC.AlarmLow, 4, 0x5000);
    const time = rtc.now();
    const saved = roundTrip(rtc.saveState());
    let other = 77n;
    const levels: boolean[] = [];
    const copy = new GoldfishRtc(() => other, (level) => levels.push(level));
    copy.restoreState(saved);
    expect(copy.now()).toBe(time);
    expect(copy.read(RTC.AlarmStatus, 4)).toBe(1);
    other += 0x5000n - time; // the alarm's time comes
    copy.update();
    expect(levels.at(-1)).toBe(true);
  });
});
