import { describe, expect, it } from "vitest";
import {
  ALL_OPS,
  classify,
  CSR,
  csrAccess,
  csrName,
  csrPrivilege,
  decode,
  encode,
  isBehaviorSensitive,
  isControlSensitive,
  isPrivileged,
  isSensitive,
  isUserCounter,
  Op,
  OP_COUNT,
  opName,
} from "@matryoshka/isa";

const csrr = (csr: number) => decode(encode(Op.CSRRS, { rd: 10, csr })); // csrr a0, csr
const csrw = (csr: number) => decode(encode(Op.CSRRW, { rs1: 10, csr })); // csrw csr, a0

/** The expected classes: privileged, control-sensitive, behaviour-sensitive (sensitive follows). */
function classes(privileged: boolean, controlSensitive: boolean, behaviorSensitive: boolean) {
  return { privileged, controlSensitive, behaviorSensitive, sensitive: controlSensitive || behaviorSensitive };
}

describe("Popek-Goldberg classes", () => {
  it("classifies the examples", () => {
    expect(classify(csrr(CSR.mstatus))).toEqual({
      privileged: true, controlSensitive: false, behaviorSensitive: true, sensitive: true,
    });
    expect(classify(csrw(CSR.mstatus))).toEqual(classes(true, true, false));
    expect(classify(csrr(CSR.cycle))).toEqual({
      privileged: false, controlSensitive: false, behaviorSensitive: true, sensitive: true,
    });
    expect(classify(decode(0x00c58533))).toEqual(classes(false, false, false)); // add
    expect(classify(decode(0x10200073))).toEqual(classes(true, true, true)); // sret
    expect(classify(decode(0x30200073))).toEqual(classes(true, true, true)); // mret
  });

  it("treats WFI and SFENCE.VMA as privileged and control-sensitive", () => {
    for (const raw of [0x10500073, 0x12b50073]) {
      expect(classify(decode(raw))).toEqual(classes(true, true, false));
    }
  });

  it("treats ECALL, EBREAK, FENCE.I, FENCE, memory accesses, AMOs and illegal encodings as innocuous", () => {
    const innocuous = [
      0x00000073, 0x00100073, 0x9002, // ecall, ebreak, c.ebreak
      0x0000100f, 0x0ff0000f, // fence.i, fence
      0xffc12503, 0xfea12e23, 0x1405a52f, 0xe6c5a52f, // lw, sw, lr.w.aq, amomaxu.w.aqrl
      0x00002007, 0x0000, // illegal
    ];
    for (const raw of innocuous) {
      expect({ raw, ...classify(decode(raw)) }).toEqual({ raw, ...classes(false, false, false) });
    }
  });

  it("follows the CSR address bits 9:8 and the read/write rules of Zicsr", () => {
    // supervisor CSRs are privileged too (bits 9:8 = 01)
    expect(isPrivileged(csrr(CSR.sstatus))).toBe(true);
    expect(isPrivileged(csrr(CSR.satp))).toBe(true);
    expect(isPrivileged(csrr(CSR.mhartid))).toBe(true);
    expect(isPrivileged(csrr(0x7c0))).toBe(true); // custom machine CSR
    expect(isPrivileged(csrr(0x800))).toBe(false); // custom user CSR
    // csrw (rd = x0) does not read; csrr (rs1 = x0) does not write
    expect(isBehaviorSensitive(csrw(CSR.satp))).toBe(false);
    expect(isControlSensitive(csrr(CSR.satp))).toBe(false);
    // csrrs a0, mstatus, a1 reads and writes; csrrsi with uimm = 0 only reads
    const both = decode(encode(Op.CSRRS, { rd: 10, rs1: 11, csr: CSR.mstatus }));
    expect([isControlSensitive(both), isBehaviorSensitive(both)]).toEqual([true, true]);
    const readOnly = decode(encode(Op.CSRRSI, { rd: 10, rs1: 0, csr: CSR.mstatus }));
    expect([isControlSensitive(readOnly), isBehaviorSensitive(readOnly)]).toEqual([false, true]);
    const writeOnly = decode(encode(Op.CSRRWI, { rd: 0, rs1: 3, csr: CSR.sie }));
    expect([isControlSensitive(writeOnly), isBehaviorSensitive(writeOnly)]).toEqual([true, false]);
    expect(csrAccess(decode(encode(Op.CSRRC, { rd: 0, rs1: 0, csr: 1 })))).toEqual({ reads: true, writes: false });
    expect(csrAccess(decode(0x00c58533))).toBeUndefined();
    expect(csrPrivilege(CSR.sepc)).toBe(1);
    expect(csrPrivilege(0x600)).toBe(2);
    expect(csrPrivilege(CSR.mepc)).toBe(3);
  });

  it("finds the user counters to be the only sensitive, unprivileged CSR reads (RISC-V's known P&G gap)", () => {
    const gap: number[] = [];
    for (let csr = 0; csr < 4096; csr++) {
      const read = csrr(csr);
      if (isSensitive(read) && !isPrivileged(read)) gap.push(csr);
    }
    const counters = [0xc00, 0xc80].flatMap((base) => Array.from({ length: 32 }, (_, i) => base + i));
    expect(gap).toEqual(counters);
    expect(counters.every(isUserCounter)).toBe(true);
    expect(isUserCounter(0xca0)).toBe(false);
  });

  it("finds every other sensitive instruction privileged", () => {
    // One instance of every operation (and every CSR op on a privileged CSR): sensitive implies privileged.
    for (const op of ALL_OPS) {
      if (op === Op.ILLEGAL) continue;
      const isCsr = op >= Op.CSRRW && op <= Op.CSRRCI;
      const insn = decode(encode(op, isCsr ? { rd: 1, rs1: 1, csr: CSR.mstatus } : {}));
      if (!isSensitive(insn)) continue;
      expect({ op: opName(op), privileged: isPrivileged(insn) }).toEqual({ op: opName(op), privileged: true });
    }
  });
});

describe("operation names", () => {
  it("gives lowercase mnemonics", () => {
    expect(opName(Op.ADDI)).toBe("addi");
    expect(opName(Op.LR_W)).toBe("lr.w");
    expect(opName(Op.AMOSWAP_W)).toBe("amoswap.w");
    expect(opName(Op.FENCE_I)).toBe("fence.i");
    expect(opName(Op.SFENCE_VMA)).toBe("sfence.vma");
    expect(opName(Op.ILLEGAL)).toBe("illegal");
    expect(() => opName(0 as Op)).toThrow(RangeError);
  });

  it("lists every operation once, in numeric order", () => {
    expect(ALL_OPS).toHaveLength(OP_COUNT - 1);
    expect(ALL_OPS).toEqual(Array.from({ length: OP_COUNT - 1 }, (_, i) => i + 1));
    expect(new Set(ALL_OPS.map(opName)).size).toBe(OP_COUNT - 1);
  });
});

describe("CSR table", () => {
  it("has the priv 1.12 addresses", () => {
    expect(CSR.sstatus).toBe(0x100);
    expect(CSR.satp).toBe(0x180);
    expect(CSR.mstatus).toBe(0x300);
    expect(CSR.mtval2).toBe(0x34b);
    expect(CSR.menvcfgh).toBe(0x31a);
    expect(CSR.mseccfg).toBe(0x747);
    expect(CSR.pmpcfg0).toBe(0x3a0);
    expect(CSR.pmpcfg15).toBe(0x3af);
    expect(CSR.pmpaddr63).toBe(0x3ef);
    expect(CSR.mhpmcounter3).toBe(0xb03);
    expect(CSR.mhpmcounter31h).toBe(0xb9f);
    expect(CSR.mhpmevent31).toBe(0x33f);
    expect(CSR.mcountinhibit).toBe(0x320);
    expect(CSR.hpmcounter31).toBe(0xc1f);
    expect(CSR.timeh).toBe(0xc81);
    expect(CSR.mconfigptr).toBe(0xf15);
    expect(CSR.dscratch1).toBe(0x7b3);
    expect(Object.keys(CSR)).toHaveLength(6 + 12 + 5 + 15 + 4 + 5 + 8 + 4 + 2 * 29 + 16 + 64 + 2 * 29 + 29);
  });

  it("maps every CSR back to its name, as objdump prints it", () => {
    for (const [name, address] of Object.entries(CSR)) expect(csrName(address)).toBe(name);
    expect(csrName(0x7c0)).toBeUndefined();
    expect(csrName(0x001)).toBe("fflags"); // known to objdump, though this ISA has no F
    expect(csrName(CSR.mconfigptr, "1.11")).toBeUndefined();
    expect(csrName(0x102, "1.11")).toBe("sedeleg");
    expect(csrName(0x102)).toBeUndefined();
  });
});
