import { describe, expect, it } from "vitest";
import { Clint } from "@matryoshka/interrupts";
import { CONTROL_WORDS, hartWord, SharedClintStorage, TIME_WORDS, WAKE } from "../src/threaded-shared.js";

describe("the CLINT over shared words (threaded mode)", () => {
  const setup = () => {
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    const times = new BigInt64Array(new SharedArrayBuffer(TIME_WORDS * 8));
    return { control, times, storage: new SharedClintStorage(control, times, 3) };
  };
  const wakes = (control: Int32Array) => [0, 1, 2].map((h) => Atomics.load(control, hartWord(h, WAKE)));

  it("wakes the hart whose registers a store changed, and every hart when mtime moves", () => {
    const { control, storage } = setup();
    const clint = new Clint([0, 1, 2].map(() => ({ setInterruptLine() {} })), { now: () => 0 }, storage);
    clint.write(4 * 2, 4, 1); // IPI to hart 2
    expect(wakes(control)).toEqual([0, 0, 1]);
    clint.write(0x4000 + 8 * 1 + 4, 4, 0xffff_ffff); // hart 1's mtimecmp, high half
    expect(wakes(control)).toEqual([0, 1, 1]);
    expect(storage.mtimecmpHigh(1)).toBe(0xffff_ffff);
    expect(clint.mtimecmp(1)).toBe(Number.POSITIVE_INFINITY);
    clint.write(0xbff8, 4, 500);
    expect(wakes(control)).toEqual([1, 2, 2]);
    expect(storage.timeOffset).toBe(500);
    expect(clint.mtime).toBe(500);
  });
});
