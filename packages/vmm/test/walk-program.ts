import { CSR, encode, Op } from "@matryoshka/isa";

// A raw kernel (M-mode at 0x80000000) whose S-mode load walks a page table through the UART's
// page, for the tests of device side effects during walks.

const T0 = 5;
const T1 = 6;
const T2 = 7;
const UART = 0x1000_0000;
const ROOT = 0x8001_0000;
/** The load's virtual address: root entry 0x100 points at the UART's page as a level-0 table. */
export const WALK_VA = 0x4000_0000;

function li(rd: number, value: number): number[] {
  const low = (value << 20) >> 20;
  const high = (value - low) | 0;
  return [encode(Op.LUI, { rd, imm: high >>> 0 }), encode(Op.ADDI, { rd, rs1: rd, imm: low })];
}

/** Spins until the UART has a byte (LSR.DR), then `lbu rd, RBR`. */
function receive(rd: number): number[] {
  return [
    ...li(T2, UART),
    encode(Op.LBU, { rd, rs1: T2, imm: 5 }),
    encode(Op.ANDI, { rd, rs1: rd, imm: 1 }),
    encode(Op.BEQ, { rs1: rd, rs2: 0, imm: -8 }),
    encode(Op.LBU, { rd, rs1: T2, imm: 0 }),
  ];
}

function send(rs: number): number[] {
  return [...li(T2, UART), encode(Op.SB, { rs1: T2, rs2: rs, imm: 0 })];
}

/**
 * Waits for console input, then from S-mode loads from WALK_VA: the walk reads its level-0 PTE
 * from the UART's receive register (the first input byte, which as a PTE is a pointer at level 0:
 * a page fault). The M-mode trap handler then takes the next input byte and prints it, followed by
 * the cause as a letter ('@' + mcause), and passes. With input "ab", a walk that reads the device
 * once prints "bM" (load page fault, 13); one that reads it twice loses the "b".
 */
export function walkThroughUart(): Uint8Array {
  const words: number[] = [];
  const at = () => 4 * words.length;
  // Wait until the first byte has arrived, so the walk sees it.
  words.push(...li(T2, UART), encode(Op.LBU, { rd: T1, rs1: T2, imm: 5 }), encode(Op.ANDI, { rd: T1, rs1: T1, imm: 1 }), encode(Op.BEQ, { rs1: T1, rs2: 0, imm: -8 }));
  const handlerFixup = words.length;
  words.push(0, 0); // li t0, handler (patched below)
  words.push(encode(Op.CSRRW, { rd: 0, rs1: T0, csr: CSR.mtvec }));
  words.push(...li(T0, ROOT));
  // S-mode may access everything (PMP entry 0: TOR up to the top, RWX).
  words.push(...li(T1, -1), encode(Op.CSRRW, { rd: 0, rs1: T1, csr: CSR.pmpaddr0 }), ...li(T1, 0x0f), encode(Op.CSRRW, { rd: 0, rs1: T1, csr: CSR.pmpcfg0 }));
  words.push(...li(T1, 0x2000_00cf), ...li(T2, ROOT + 0x800), encode(Op.SW, { rs1: T2, rs2: T1, imm: 0 })); // entry 0x200: identity 4 MiB leaf for 0x80000000, RWX AD
  words.push(...li(T1, ((UART >>> 12) << 10) | 1), encode(Op.SW, { rs1: T0, rs2: T1, imm: 0x400 })); // entry 0x100: level-0 table at the UART
  words.push(...li(T0, (0x8000_0000 | (ROOT >>> 12)) >>> 0), encode(Op.CSRRW, { rd: 0, rs1: T0, csr: CSR.satp }));
  const sCodeFixup = words.length;
  words.push(0, 0); // li t0, s_code (patched below)
  words.push(encode(Op.CSRRW, { rd: 0, rs1: T0, csr: CSR.mepc }));
  words.push(...li(T0, 1 << 11), encode(Op.CSRRW, { rd: 0, rs1: T0, csr: CSR.mstatus })); // MPP = S
  words.push(encode(Op.MRET));
  const sCode = at();
  words.push(...li(T0, WALK_VA), encode(Op.LW, { rd: T1, rs1: T0, imm: 0 }), encode(Op.JAL, { rd: 0, imm: 0 }));
  const handler = at();
  words.push(...receive(T1), ...send(T1));
  words.push(encode(Op.CSRRS, { rd: T1, rs1: 0, csr: CSR.mcause }), encode(Op.ADDI, { rd: T1, rs1: T1, imm: 0x40 }), ...send(T1));
  words.push(...li(T1, 0x0a), ...send(T1));
  words.push(...li(T0, 0x10_0000), ...li(T1, 0x5555), encode(Op.SW, { rs1: T0, rs2: T1, imm: 0 }), encode(Op.JAL, { rd: 0, imm: 0 }));
  words.splice(handlerFixup, 2, ...li(T0, 0x8000_0000 + handler));
  words.splice(sCodeFixup, 2, ...li(T0, 0x8000_0000 + sCode));
  return new Uint8Array(new Uint32Array(words).buffer);
}
