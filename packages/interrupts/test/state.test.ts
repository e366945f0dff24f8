import { describe, expect, it } from "vitest";
import { Clint, LINE, Plic } from "@matryoshka/interrupts";

class Lines {
  mip = 0;
  setInterruptLine(bit: number, level: boolean): void {
    this.mip = level ? this.mip | bit : this.mip & ~bit;
  }
}

/** What a snapshot does with the state: plain data, through JSON. */
const roundTrip = <T>(state: T): T => JSON.parse(JSON.stringify(state)) as T;

describe("interrupt controllers' saved state", () => {
  it("a CLINT restored on a fresh one reads the same msip, mtimecmp and mtime, and drives the same lines", () => {
    const harts = [new Lines(), new Lines()];
    const time = { now: () => 1000 };
    const clint = new Clint(harts, time);
    clint.write(0x4, 4, 1); // msip of hart 1
    clint.write(0x4000, 4, 5000); // hart 0's timer, not due
    clint.write(0x4008, 4, 10); // hart 1's timer, due
    clint.write(0xbff8, 4, 1234); // mtime shifted by a write
    const copies = [new Lines(), new Lines()];
    const copy = new Clint(copies, time);
    copy.restoreState(roundTrip(clint.saveState()));
    for (const offset of [0x0, 0x4, 0x4000, 0x4004, 0x4008, 0xbff8, 0xbffc]) expect(copy.read(offset, 4), `offset 0x${offset.toString(16)}`).toBe(clint.read(offset, 4));
    expect(copies.map((hart) => hart.mip)).toEqual(harts.map((hart) => hart.mip));
    expect(copies[1]!.mip & LINE.MSIP).toBe(LINE.MSIP);
    expect(() => new Clint([new Lines()], time).restoreState(roundTrip(clint.saveState()))).toThrow(RangeError);
  });

  it("a PLIC restored mid-claim completes the claimed source and keeps the pending one", () => {
    const hart = new Lines();
    const plic = new Plic([hart]);
    plic.write(4 * 1, 4, 1); // priority of source 1
    plic.write(4 * 10, 4, 3); // priority of source 10
    plic.write(0x2000, 4, (1 << 1) | (1 << 10)); // context 0 enables both
    plic.setLevel(10, true);
    plic.setLevel(1, true);
    expect(plic.read(0x20_0004, 4)).toBe(10); // claimed: the higher priority
    const copyHart = new Lines();
    const copy = new Plic([copyHart]);
    copy.restoreState(roundTrip(plic.saveState()));
    expect(copyHart.mip).toBe(hart.mip);
    expect(copy.read(0x1000, 4)).toBe(plic.read(0x1000, 4)); // pending bits: source 1 only
    expect(copy.read(0x20_0004, 4)).toBe(1);
    copy.write(0x20_0004, 4, 10); // complete 10: its line is still high, so it is pending again
    expect(copy.read(0x1000, 4)! & (1 << 10)).toBe(1 << 10);
  });
});
