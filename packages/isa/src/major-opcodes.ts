/** Major opcodes, bits 6:0 (unpriv table 24.1, "RISC-V base opcode map"); shared by decode and encode. */
export const OPCODE_LOAD = 0x03;
export const OPCODE_MISC_MEM = 0x0f;
export const OPCODE_OP_IMM = 0x13;
export const OPCODE_AUIPC = 0x17;
export const OPCODE_STORE = 0x23;
export const OPCODE_AMO = 0x2f;
export const OPCODE_OP = 0x33;
export const OPCODE_LUI = 0x37;
export const OPCODE_BRANCH = 0x63;
export const OPCODE_JALR = 0x67;
export const OPCODE_JAL = 0x6f;
export const OPCODE_SYSTEM = 0x73;
