import { describe, expect, it } from "vitest";
import { CSR, encode, Op } from "@matryoshka/isa";
import { guestPhysical as gpa } from "@matryoshka/memory";
import { fuzz, fuzzBudgetMs, fuzzSeed, type Random } from "@matryoshka/testkit";
import { bootStack, buildStack, ConsoleCapture, runSliced } from "./support.js";

// Random instruction streams run at depth 2 and at depth 0 must end in the same state: the same
// registers, the same scratch memory, the same traps. Each stream runs in M-mode: random ALU, M
// and A instructions, loads and stores into a scratch area, forward branches and jumps, CSR
// accesses to mscratch and the ID registers, and instructions that trap (ecall, ebreak, illegal,
// misaligned accesses), which a handler counts and skips.

const RAM_BASE = 0x8000_0000;
const SCRATCH = RAM_BASE + 0x4_0000;
const DUMP = 1024; // registers are stored at SCRATCH + DUMP + 4 × number
const HANDLER_TEMP = 28;
const TRAPS = 30;
const BASE = 31;

function li(rd: number, value: number): number[] {
  const low = (value << 20) >> 20;
  const high = (value - low) | 0;
  return [encode(Op.LUI, { rd, imm: high >>> 0 }), encode(Op.ADDI, { rd, rs1: rd, imm: low })];
}

const R_OPS = [Op.ADD, Op.SUB, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.SRA, Op.OR, Op.AND, Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU];
const I_OPS = [Op.ADDI, Op.SLTI, Op.SLTIU, Op.XORI, Op.ORI, Op.ANDI];
const SHIFTS = [Op.SLLI, Op.SRLI, Op.SRAI];
const LOADS = [Op.LB, Op.LH, Op.LW, Op.LBU, Op.LHU];
const STORES = [Op.SB, Op.SH, Op.SW];
const AMOS = [Op.AMOSWAP_W, Op.AMOADD_W, Op.AMOXOR_W, Op.AMOAND_W, Op.AMOOR_W, Op.AMOMIN_W, Op.AMOMAX_W, Op.AMOMINU_W, Op.AMOMAXU_W];
const BRANCHES = [Op.BEQ, Op.BNE, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU];
const READABLE_CSRS = [CSR.mscratch, CSR.misa, CSR.mhartid, CSR.mvendorid, CSR.marchid, CSR.mimpid, CSR.mtvec];

/** One random instruction at index `at` of a block of `length` (branches and jumps only go forward, inside it). */
function instruction(random: Random, at: number, length: number): number {
  const rd = random.between(1, 27);
  const rs1 = random.below(32);
  const rs2 = random.below(32);
  const forward = () => 4 * random.between(1, Math.max(1, Math.min(8, length - at)));
  switch (random.below(14)) {
    case 0: case 1: case 2: return encode(random.pick(R_OPS), { rd, rs1, rs2 });
    case 3: case 4: return encode(random.pick(I_OPS), { rd, rs1, imm: random.between(-2048, 2047) });
    case 5: return encode(random.pick(SHIFTS), { rd, rs1, imm: random.below(32) });
    case 6: return encode(random.pick([Op.LUI, Op.AUIPC]), { rd, imm: (random.u32() & 0xfffff000) >>> 0 });
    case 7: return encode(random.pick(LOADS), { rd, rs1: BASE, imm: random.below(1021) });
    case 8: return encode(random.pick(STORES), { rs1: BASE, rs2, imm: random.below(1021) });
    case 9: {
      const op = random.pick([...AMOS, Op.LR_W, Op.SC_W]);
      return encode(op, { rd, rs1: BASE, rs2: op === Op.LR_W ? 0 : rs2, aqrl: random.below(4) });
    }
    case 10: return encode(random.pick(BRANCHES), { rs1, rs2, imm: forward() });
    case 11: return random.chance(0.5) ? encode(Op.JAL, { rd, imm: forward() }) : encode(Op.CSRRS, { rd, rs1: 0, csr: random.pick(READABLE_CSRS) });
    case 12: return encode(random.pick([Op.CSRRW, Op.CSRRS, Op.CSRRC]), { rd, rs1, csr: CSR.mscratch });
    default: return random.pick([encode(Op.ECALL), encode(Op.EBREAK), 0, encode(Op.FENCE, { imm: 0x0ff }), encode(Op.FENCE_I)]);
  }
}

/** A program: set up, the random block, then the registers dumped to the scratch area, and a pass. */
function program(random: Random): Uint8Array {
  const words: number[] = [];
  const handlerFixup = words.length;
  words.push(0, 0, encode(Op.CSRRW, { rd: 0, rs1: HANDLER_TEMP, csr: CSR.mtvec }));
  words.push(...li(BASE, SCRATCH), ...li(TRAPS, 0));
  for (let r = 1; r <= 27; r++) words.push(...li(r, random.interesting()));
  const length = random.between(10, 200);
  for (let i = 0; i < length; i++) words.push(instruction(random, i, length));
  for (let r = 1; r <= 30; r++) words.push(encode(Op.SW, { rs1: BASE, rs2: r, imm: DUMP + 4 * r }));
  words.push(...li(HANDLER_TEMP, 0x10_0000), ...li(29, 0x5555), encode(Op.SW, { rs1: HANDLER_TEMP, rs2: 29, imm: 0 }), encode(Op.JAL, { rd: 0, imm: 0 }));
  const handler = 4 * words.length;
  words.push(encode(Op.CSRRS, { rd: HANDLER_TEMP, rs1: 0, csr: CSR.mepc }), encode(Op.ADDI, { rd: HANDLER_TEMP, rs1: HANDLER_TEMP, imm: 4 }));
  words.push(encode(Op.CSRRW, { rd: 0, rs1: HANDLER_TEMP, csr: CSR.mepc }), encode(Op.ADDI, { rd: TRAPS, rs1: TRAPS, imm: 1 }), encode(Op.MRET));
  words.splice(handlerFixup, 2, ...li(HANDLER_TEMP, RAM_BASE + handler));
  return new Uint8Array(new Uint32Array(words).buffer);
}

/** The program's end state at `depth`: outcome, output and the scratch area with the registers. */
function runAt(depth: number, kernel: Uint8Array) {
  const console = new ConsoleCapture();
  const stack = buildStack(depth, { memoryMiB: 4, console: console.sink });
  bootStack(stack, kernel);
  const target = stack.vms.at(-1) ?? stack.guest;
  const { outcome } = runSliced((n) => target.run(n), 100_000, 20);
  const state = Array.from({ length: (DUMP + 4 * 31) / 4 }, (_, i) => stack.guest.ram.readU32(gpa(SCRATCH + 4 * i)));
  return { outcome, output: console.text, state };
}

describe("fuzzing the hart with random instruction streams", () => {
  it("ends every stream at depth 2 in the state it ends in at depth 0", () => {
    let trapped = 0;
    const cases = fuzz(fuzzSeed(0x15a), fuzzBudgetMs(4000), (random, index) => {
      const kernel = program(random);
      const reference = runAt(0, kernel);
      expect(reference.outcome).toEqual({ kind: "pass" });
      const nested = runAt(2, kernel);
      expect({ index, ...nested }).toEqual({ index, ...reference });
      trapped += reference.state[(DUMP + 4 * TRAPS) / 4]!;
    }, 3);
    expect(cases).toBeGreaterThanOrEqual(3);
    expect(trapped).toBeGreaterThan(0); // the streams do exercise traps
  });
});
