/**
 * Operation identifiers for every instruction of RV32IMAC + Zicsr + Zifencei and the privileged
 * instructions. Compressed (C) instructions decode to the base operation they expand to, with
 * `length` 2, so an execution engine needs only one case per operation.
 *
 * Numbers are dense and start at 1 so engines can use them as `switch` labels and typed-array
 * contents; 0 is reserved for "not decoded yet" in pre-decode caches.
 */
export const Op = {
  ILLEGAL: 1,
  LUI: 2, AUIPC: 3, JAL: 4, JALR: 5,
  BEQ: 6, BNE: 7, BLT: 8, BGE: 9, BLTU: 10, BGEU: 11,
  LB: 12, LH: 13, LW: 14, LBU: 15, LHU: 16,
  SB: 17, SH: 18, SW: 19,
  ADDI: 20, SLTI: 21, SLTIU: 22, XORI: 23, ORI: 24, ANDI: 25, SLLI: 26, SRLI: 27, SRAI: 28,
  ADD: 29, SUB: 30, SLL: 31, SLT: 32, SLTU: 33, XOR: 34, SRL: 35, SRA: 36, OR: 37, AND: 38,
  FENCE: 39, FENCE_I: 40, ECALL: 41, EBREAK: 42,
  MUL: 43, MULH: 44, MULHSU: 45, MULHU: 46, DIV: 47, DIVU: 48, REM: 49, REMU: 50,
  LR_W: 51, SC_W: 52, AMOSWAP_W: 53, AMOADD_W: 54, AMOXOR_W: 55, AMOAND_W: 56, AMOOR_W: 57,
  AMOMIN_W: 58, AMOMAX_W: 59, AMOMINU_W: 60, AMOMAXU_W: 61,
  CSRRW: 62, CSRRS: 63, CSRRC: 64, CSRRWI: 65, CSRRSI: 66, CSRRCI: 67,
  MRET: 68, SRET: 69, WFI: 70, SFENCE_VMA: 71,
} as const;

export type Op = (typeof Op)[keyof typeof Op];

/** Number of operation identifiers, for sizing per-op tables (indices 0..OP_COUNT-1). */
export const OP_COUNT = 72;

/**
 * One decoded instruction. Field meanings:
 * - `rd`, `rs1`, `rs2`: register numbers (0 when the format has none). For CSRRWI/CSRRSI/CSRRCI,
 *   `rs1` holds the 5-bit unsigned immediate (uimm), as in the encoding.
 * - `imm`: the sign-extended immediate as the instruction uses it: byte offset for branches, JAL,
 *   loads and stores; the full 32-bit value (already shifted left by 12) for LUI/AUIPC; the shift
 *   amount for SLLI/SRLI/SRAI; for FENCE, bits 31:20 of the encoding (fm, pred, succ); 0 otherwise.
 * - `csr`: the CSR address for Zicsr instructions, else 0.
 * - `aqrl`: for A-extension instructions, bit 1 = aq, bit 0 = rl; else 0.
 * - `length`: 2 for a compressed encoding, 4 otherwise.
 * - `raw`: the encoding itself (16 bits for compressed), as an unsigned number.
 */
export interface Instruction {
  op: Op;
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
  csr: number;
  aqrl: number;
  length: 2 | 4;
  raw: number;
}
