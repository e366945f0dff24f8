import { describe, expect, it } from "vitest";
import { CSR } from "@matryoshka/isa";
import { MCONTROL } from "@matryoshka/cpu";
import { VirtMachine } from "@matryoshka/machine";

describe("a saved machine", () => {
  it("keeps its harts' debug triggers (tselect, tdata1, tdata2, the hit bit) and their armed state", () => {
    const board = new VirtMachine({ memoryMiB: 16 });
    const hart = board.harts[0]!;
    const type2 = (2 << 28) >>> 0;
    hart.writeCsr(CSR.tselect, 0);
    hart.writeCsr(CSR.tdata1, type2 | MCONTROL.S | MCONTROL.EXECUTE | (1 << 20));
    hart.writeCsr(CSR.tdata2, 0x8000_1000);
    hart.writeCsr(CSR.tselect, 1);
    hart.writeCsr(CSR.tdata1, type2 | MCONTROL.U | MCONTROL.LOAD | (3 << 7));
    hart.writeCsr(CSR.tdata2, 0x8000_2000);
    const state = JSON.parse(JSON.stringify(board.saveState())) as ReturnType<VirtMachine["saveState"]>;

    const copy = new VirtMachine({ memoryMiB: 16 });
    copy.restoreState(state);
    const restored = copy.harts[0]!;
    expect(restored.readCsr(CSR.tselect)).toBe(1);
    expect(restored.readCsr(CSR.tdata1)).toBe(type2 | MCONTROL.U | MCONTROL.LOAD | (3 << 7));
    expect(restored.readCsr(CSR.tdata2)).toBe(0x8000_2000);
    restored.writeCsr(CSR.tselect, 0);
    expect(restored.readCsr(CSR.tdata1)).toBe(type2 | MCONTROL.S | MCONTROL.EXECUTE | (1 << 20));
    expect(restored.readCsr(CSR.tdata2)).toBe(0x8000_1000);
    expect([restored.triggers.executeArmed, restored.triggers.dataArmed]).toEqual([true, true]);
  });
});
