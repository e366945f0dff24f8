import { describe, expect, it } from "vitest";
import { Clint, ClintRegisters, LINE, Plic } from "@matryoshka/interrupts";

class Lines {
  mip = 0;
  setInterruptLine(bit: number, level: boolean): void {
    this.mip = level ? this.mip | bit : this.mip & ~bit;
  }
}

function clock(start = 0) {
  return { t: start, now() { return this.t; } };
}

describe("CLINT", () => {
  it("raises MTIP when mtime reaches mtimecmp, from reset value 0 as QEMU", () => {
    const hart = new Lines();
    const time = clock(100);
    const clint = new Clint([hart], time);
    clint.update();
    expect(hart.mip & LINE.MTIP).toBe(LINE.MTIP);
    clint.write(0x4000, 4, 150);
    clint.write(0x4004, 4, 0);
    expect(hart.mip & LINE.MTIP).toBe(0);
    expect(clint.ticksUntilTimer(0)).toBe(50);
    time.t = 150;
    clint.update();
    expect(hart.mip & LINE.MTIP).toBe(LINE.MTIP);
  });

  it("keeps both 32-bit halves of mtimecmp exactly, even beyond 2^53", () => {
    const clint = new Clint([new Lines()], clock());
    clint.write(0x4004, 4, 0x0123_4567);
    clint.write(0x4000, 4, 0x89ab_cdef);
    expect(clint.read(0x4000, 4)).toBe(0x89ab_cdef);
    expect(clint.read(0x4004, 4)).toBe(0x0123_4567);
  });

  it("keeps 64-bit mtimecmp halves and reads mtime in halves", () => {
    const hart = new Lines();
    const time = clock(0x1_2345_6789);
    const clint = new Clint([hart], time);
    expect(clint.read(0xbff8, 4)).toBe(0x2345_6789);
    expect(clint.read(0xbffc, 4)).toBe(1);
    clint.write(0x4004, 4, 7);
    clint.write(0x4000, 4, 0xffff_ffff);
    expect(clint.read(0x4000, 4)).toBe(0xffff_ffff);
    expect(clint.read(0x4004, 4)).toBe(7);
  });

  it("drives MSIP per hart from msip registers", () => {
    const harts = [new Lines(), new Lines()];
    const clint = new Clint(harts, clock());
    clint.write(4, 4, 1);
    expect(harts[0]!.mip & LINE.MSIP).toBe(0);
    expect(harts[1]!.mip & LINE.MSIP).toBe(LINE.MSIP);
    expect(clint.read(4, 4)).toBe(1);
    clint.write(4, 4, 0);
    expect(harts[1]!.mip & LINE.MSIP).toBe(0);
  });

  it("refuses byte and halfword accesses (an access fault, as on QEMU 7.2), changing nothing", () => {
    const harts = [new Lines()];
    const clint = new Clint(harts, clock(5));
    for (const size of [1, 2] as const) {
      expect(clint.read(0, size)).toBeUndefined();
      expect(clint.read(0xbff8, size)).toBeUndefined();
      expect(clint.write(0, size, 1)).toBe(false);
      expect(clint.write(0x4000, size, 0)).toBe(false);
    }
    expect(harts[0]!.mip & LINE.MSIP).toBe(0);
    expect(clint.read(0x4000, 4)).toBe(0); // mtimecmp as reset
  });

  it("shifts time when software writes mtime", () => {
    const time = clock(1000);
    const clint = new Clint([new Lines()], time);
    clint.write(0xbff8, 4, 10);
    expect(clint.mtime).toBe(10);
    time.t = 1005;
    expect(clint.read(0xbff8, 4)).toBe(15);
  });

  it("keeps its registers in the storage it is given, so two views of one storage agree (as harts on threads do)", () => {
    const storage = new ClintRegisters(2);
    const time = clock(50);
    const harts = [new Lines(), new Lines()];
    // Hart 0's thread sees only its own lines; hart 1's thread, only hart 1's.
    const view0 = new Clint([harts[0]!, { setInterruptLine() {} }], time, storage);
    const view1 = new Clint([{ setInterruptLine() {} }, harts[1]!], time, storage);
    view0.write(0x4008, 4, 80); // hart 1's mtimecmp, written by hart 0
    view0.write(0xbff8, 4, 60); // mtime := 60, for everyone
    expect(storage.mtimecmpLow(1)).toBe(80);
    expect(view1.read(0x4008, 4)).toBe(80);
    expect(view1.mtime).toBe(60);
    view1.update();
    expect(harts[1]!.mip & LINE.MTIP).toBe(0);
    time.t = 70;
    view1.update();
    expect(harts[1]!.mip & LINE.MTIP).toBe(LINE.MTIP);
    view1.write(0, 4, 1); // an IPI to hart 0
    expect(view0.read(0, 4)).toBe(1);
  });
});

describe("PLIC", () => {
  const enable = (plic: Plic, context: number, source: number) => {
    const word = 0x2000 + 0x80 * context + 4 * (source >> 5);
    plic.write(word, 4, (plic.read(word, 4)! | (1 << (source & 31))) >>> 0);
  };

  it("refuses byte and halfword accesses (an access fault, as on QEMU 7.2): a narrow read of the claim register claims nothing", () => {
    const hart = new Lines();
    const plic = new Plic([hart]);
    plic.write(4 * 10, 4, 1);
    enable(plic, 0, 10);
    plic.setLevel(10, true);
    for (const size of [1, 2] as const) {
      expect(plic.read(0x20_0004, size)).toBeUndefined();
      expect(plic.write(4 * 10, size, 7)).toBe(false);
    }
    expect(plic.read(4 * 10, 4)).toBe(1);
    expect(hart.mip & LINE.MEIP).toBe(LINE.MEIP);
    expect(plic.read(0x20_0004, 4)).toBe(10);
  });

  it("delivers an enabled source above threshold to the context's hart line", () => {
    const hart = new Lines();
    const plic = new Plic([hart]);
    plic.write(4 * 10, 4, 1);
    plic.setLevel(10, true);
    expect(hart.mip & LINE.MEIP).toBe(0); // not enabled yet
    enable(plic, 0, 10);
    expect(hart.mip & LINE.MEIP).toBe(LINE.MEIP);
    plic.write(0x20_0000, 4, 1); // threshold 1: priority must exceed it
    expect(hart.mip & LINE.MEIP).toBe(0);
  });

  it("claims the highest priority first, lowest id on ties, and re-pends a still-high line", () => {
    const hart = new Lines();
    const plic = new Plic([hart]);
    for (const source of [3, 5, 7]) {
      plic.write(4 * source, 4, source === 7 ? 2 : 5);
      enable(plic, 1, source);
      plic.setLevel(source, true);
    }
    expect(hart.mip & LINE.SEIP).toBe(LINE.SEIP);
    const claim = 0x20_1004;
    expect(plic.read(claim, 4)).toBe(3);
    expect(plic.read(claim, 4)).toBe(5);
    expect(plic.read(claim, 4)).toBe(7);
    expect(plic.read(claim, 4)).toBe(0);
    expect(hart.mip & LINE.SEIP).toBe(0);
    plic.setLevel(5, false);
    plic.write(claim, 4, 3); // complete 3: its line is still high, so it is pending again
    plic.write(claim, 4, 5);
    expect(plic.read(0x1000, 4)).toBe(1 << 3);
    expect(plic.read(claim, 4)).toBe(3);
  });

  it("masks priorities to 3 bits and has no source 0", () => {
    const plic = new Plic([new Lines()]);
    plic.write(4, 4, 0xff);
    expect(plic.read(4, 4)).toBe(7);
    plic.write(0, 4, 7);
    expect(plic.read(0, 4)).toBe(0);
    plic.write(0x2000, 4, 0xffff_ffff);
    expect(plic.read(0x2000, 4)).toBe(0xffff_fffe);
  });
});
