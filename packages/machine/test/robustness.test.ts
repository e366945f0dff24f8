import { describe, expect, it } from "vitest";
import { CSR, encode, Op } from "@matryoshka/isa";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { VirtMachine } from "@matryoshka/machine";

/** xorshift32: a small deterministic generator, so a failing seed can be replayed. */
function generator(seed: number) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

/**
 * Random machine code in M-mode, where every CSR and device is reachable. Half the words are
 * random; the rest are loads and stores aimed at the devices and RAM, CSR writes with random
 * values, and jumps, so the fuzz reaches far more than illegal-instruction traps.
 */
const HANDLER_OFFSET = 0x400;
const CODE_OFFSET = 0x800;

function randomProgram(seed: number, words: number): Uint8Array {
  const next = generator(seed);
  const image = new Uint32Array((CODE_OFFSET >> 2) + words);
  // Prologue: mtvec → a handler that skips the trapping instruction, then jump to the random code.
  image.set([
    encode(Op.LUI, { rd: 31, imm: 0x8000_0000 | 0 }),
    encode(Op.ADDI, { rd: 31, rs1: 31, imm: HANDLER_OFFSET }),
    encode(Op.CSRRW, { rd: 0, rs1: 31, csr: CSR.mtvec }),
    encode(Op.JAL, { rd: 0, imm: CODE_OFFSET - 12 }),
  ]);
  image.set([
    encode(Op.CSRRS, { rd: 30, rs1: 0, csr: CSR.mepc }),
    encode(Op.ADDI, { rd: 30, rs1: 30, imm: 4 }),
    encode(Op.CSRRW, { rd: 0, rs1: 30, csr: CSR.mepc }),
    encode(Op.MRET),
  ], HANDLER_OFFSET >> 2);
  const program = image.subarray(CODE_OFFSET >> 2);
  const deviceBases = [0x0010_0004, 0x0010_1000, 0x0200_0000, 0x0200_4000, 0x0c00_0000, 0x0c20_0000, 0x1000_0000, 0x1000_8000, 0x8000_0000];
  for (let k = 0; k < words; k += 4) {
    const base = deviceBases[next() % deviceBases.length]!;
    const reg = 5 + (next() % 3);
    program[k] = encode(Op.LUI, { rd: reg, imm: (base & 0xffff_f000) | 0 });
    const choice = next() % 6;
    program[k + 1] =
      choice === 0 ? encode(Op.SW, { rs1: reg, rs2: 8 + (next() % 8), imm: (next() % 256) * 4 - 512 }) :
      choice === 1 ? encode(Op.LW, { rd: 8 + (next() % 8), rs1: reg, imm: (next() % 256) * 4 - 512 }) :
      choice === 2 ? encode(Op.CSRRW, { rd: 8 + (next() % 8), rs1: 8 + (next() % 8), csr: [CSR.mstatus, CSR.mie, CSR.satp, CSR.pmpcfg0, CSR.pmpaddr0, CSR.mip, CSR.medeleg, CSR.mideleg, CSR.sstatus, CSR.mcountinhibit][next() % 10]! }) :
      next();
    program[k + 2] = next();
    program[k + 3] = next() % 4 === 0 ? encode(Op.JALR, { rd: 1, rs1: reg, imm: 0 }) : encode(Op.ADDI, { rd: 8 + (next() % 8), rs1: 8 + (next() % 8), imm: (next() % 4096) - 2048 });
  }
  return new Uint8Array(image.buffer);
}

describe("a guest that misbehaves in every way it can", () => {
  it.each(Array.from({ length: 24 }, (_, seed) => seed + 1))("seed %i: random code never makes the host throw", (seed) => {
    const machine = new VirtMachine({
      harts: 1 + (seed % 2),
      memoryMiB: 16,
      disks: [new MemoryBlockBackend(4096)],
      virtioVersion: seed % 3 === 0 ? 2 : 1,
    });
    machine.boot({ kernel: randomProgram(seed, 2048) });
    const outcome = machine.run(200_000);
    expect(["pass", "fail", "reset", "limit", "idle", "stuck"]).toContain(outcome.kind);
    // Whatever happened, the harts' state is still sane.
    for (const hart of machine.harts) {
      expect(hart.x[0]).toBe(0);
      expect([0, 1, 3]).toContain(hart.priv);
    }
  });
});
