import { CSR, encode, Op } from "@matryoshka/isa";

// A raw kernel (M-mode at 0x80000000) that makes loads and stores of each width to the board's
// devices, and fetches from some of them, recording for each the trap it took; then prints the
// record (one character each: '.' no trap, '@' + mcause otherwise) and passes.

const T0 = 5;
const T1 = 6;
const T2 = 7;
const S0 = 8;
const S1 = 9;
const RA = 1;
const RECORD = 0x8001_0000;

function li(rd: number, value: number): number[] {
  const low = (value << 20) >> 20;
  const high = (value - low) | 0;
  return [encode(Op.LUI, { rd, imm: high >>> 0 }), encode(Op.ADDI, { rd, rs1: rd, imm: low })];
}

export type Probe = { address: number; op: "lb" | "lh" | "lw" | "sb" | "sh" | "sw" | "fetch" };

const OPS = { lb: Op.LB, lh: Op.LH, lw: Op.LW, sb: Op.SB, sh: Op.SH, sw: Op.SW } as const;

/** The devices of QEMU's virt board, probed at a harmless register each (stores write 0). */
export const PROBES: Probe[] = [
  ...[0x200_0000, 0x200_4000, 0x200_bff8, 0x0c00_0004, 0x0c00_2000, 0x10_1000, 0x10_0000, 0x1000_0004, 0x1000_1000].flatMap((address) =>
    (["lb", "lh", "lw"] as const).map((op) => ({ address, op })),
  ),
  ...[0x200_0000, 0x0c00_0004, 0x10_1008, 0x10_0000].flatMap((address) => (["sb", "sh"] as const).map((op) => ({ address, op }))),
  ...[0x200_0000, 0x0c00_0000, 0x10_1000, 0x10_0000, 0x1000_0000, 0x1000_1000].map((address) => ({ address, op: "fetch" as const })),
];

/**
 * What QEMU 7.2's virt board gives for PROBES (recorded with this program and
 * `qemu-system-riscv32 -M virt -bios none -kernel`): CLINT, PLIC and RTC take whole words only
 * (E: load access fault, G: store access fault), the test device halfwords and words, the UART
 * and virtio-mmio any width; a fetch from any device is an instruction access fault (A).
 */
export const QEMU_RECORD = "EE.EE.EE.EE.EE.EE.E........GGGGGGG.AAAAAA";

export function mmioWidthsProgram(probes: Probe[] = PROBES): Uint8Array {
  const w: number[] = [];
  // The record starts as '.' everywhere.
  w.push(...li(T0, RECORD), ...li(T1, 0x2e), ...li(T2, probes.length));
  w.push(encode(Op.SB, { rs1: T0, rs2: T1, imm: 0 }), encode(Op.ADDI, { rd: T0, rs1: T0, imm: 1 }), encode(Op.ADDI, { rd: T2, rs1: T2, imm: -1 }), encode(Op.BNE, { rs1: T2, rs2: 0, imm: -12 }));
  const handlerFixup = w.length;
  w.push(0, 0);
  w.push(encode(Op.CSRRW, { rd: 0, rs1: T0, csr: CSR.mtvec }));
  w.push(...li(S1, RECORD));
  for (const { address, op } of probes) {
    w.push(...li(T0, address));
    if (op === "fetch") w.push(encode(Op.JALR, { rd: RA, rs1: T0, imm: 0 }));
    else if (op[0] === "s") w.push(encode(OPS[op], { rs1: T0, rs2: 0, imm: 0 }));
    else w.push(encode(OPS[op], { rd: T1, rs1: T0, imm: 0 }));
    w.push(encode(Op.ADDI, { rd: S1, rs1: S1, imm: 1 }));
  }
  // Print the record and a newline on the UART, then pass.
  w.push(...li(T0, RECORD), ...li(T2, probes.length), ...li(S0, 0x1000_0000));
  w.push(encode(Op.LBU, { rd: T1, rs1: T0, imm: 0 }), encode(Op.SB, { rs1: S0, rs2: T1, imm: 0 }), encode(Op.ADDI, { rd: T0, rs1: T0, imm: 1 }));
  w.push(encode(Op.ADDI, { rd: T2, rs1: T2, imm: -1 }), encode(Op.BNE, { rs1: T2, rs2: 0, imm: -16 }));
  w.push(...li(T1, 10), encode(Op.SB, { rs1: S0, rs2: T1, imm: 0 }));
  w.push(...li(T0, 0x10_0000), ...li(T1, 0x5555), encode(Op.SW, { rs1: T0, rs2: T1, imm: 0 }), encode(Op.JAL, { rd: 0, imm: 0 }));
  // The handler: record '@' + mcause, and resume after the probe (a fetch fault: at ra).
  const handler = 4 * w.length;
  w.push(encode(Op.CSRRS, { rd: T1, rs1: 0, csr: CSR.mcause }), encode(Op.ADDI, { rd: T2, rs1: T1, imm: 0x40 }), encode(Op.SB, { rs1: S1, rs2: T2, imm: 0 }));
  w.push(encode(Op.CSRRS, { rd: T2, rs1: 0, csr: CSR.mepc }), encode(Op.ADDI, { rd: T2, rs1: T2, imm: 4 }));
  w.push(...li(T0, 1), encode(Op.BNE, { rs1: T1, rs2: T0, imm: 8 }), encode(Op.ADDI, { rd: T2, rs1: RA, imm: 0 }));
  w.push(encode(Op.CSRRW, { rd: 0, rs1: T2, csr: CSR.mepc }), encode(Op.MRET));
  w.splice(handlerFixup, 2, ...li(T0, 0x8000_0000 + handler));
  return new Uint8Array(new Uint32Array(w).buffer);
}
