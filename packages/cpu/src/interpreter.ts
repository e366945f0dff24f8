import { Op } from "@matryoshka/isa";
import { Access } from "@matryoshka/mmu";
import { div, divu, mulh, mulhsu, mulhu, rem, remu } from "./arith.js";
import type { Engine } from "./engine.js";
import { missPage } from "./code-cache.js";
import { Cause } from "./constants.js";
import { InternalOp, StopReason, type Hart } from "./hart.js";

const MISS_PAGE = missPage();

// Operation numbers as module constants. The dispatch switch compares against these, and a
// module-level const keeps them constant for V8 however the module is loaded (a bundler or test
// runner may turn `Op.ADD` into a property load on an import object, which would make every
// case label a lookup and the switch a linear search).
const OP_ADD = Op.ADD;
const OP_ADDI = Op.ADDI;
const OP_AMOADD_W = Op.AMOADD_W;
const OP_AMOAND_W = Op.AMOAND_W;
const OP_AMOMAXU_W = Op.AMOMAXU_W;
const OP_AMOMAX_W = Op.AMOMAX_W;
const OP_AMOMINU_W = Op.AMOMINU_W;
const OP_AMOMIN_W = Op.AMOMIN_W;
const OP_AMOOR_W = Op.AMOOR_W;
const OP_AMOSWAP_W = Op.AMOSWAP_W;
const OP_AMOXOR_W = Op.AMOXOR_W;
const OP_AND = Op.AND;
const OP_ANDI = Op.ANDI;
const OP_AUIPC = Op.AUIPC;
const OP_BEQ = Op.BEQ;
const OP_BGE = Op.BGE;
const OP_BGEU = Op.BGEU;
const OP_BLT = Op.BLT;
const OP_BLTU = Op.BLTU;
const OP_BNE = Op.BNE;
const OP_CSRRC = Op.CSRRC;
const OP_CSRRCI = Op.CSRRCI;
const OP_CSRRS = Op.CSRRS;
const OP_CSRRSI = Op.CSRRSI;
const OP_CSRRW = Op.CSRRW;
const OP_CSRRWI = Op.CSRRWI;
const OP_DIV = Op.DIV;
const OP_DIVU = Op.DIVU;
const OP_EBREAK = Op.EBREAK;
const OP_ECALL = Op.ECALL;
const OP_FENCE = Op.FENCE;
const OP_FENCE_I = Op.FENCE_I;
const OP_JAL = Op.JAL;
const OP_JALR = Op.JALR;
const OP_LB = Op.LB;
const OP_LBU = Op.LBU;
const OP_LH = Op.LH;
const OP_LHU = Op.LHU;
const OP_LR_W = Op.LR_W;
const OP_LUI = Op.LUI;
const OP_LW = Op.LW;
const OP_MRET = Op.MRET;
const OP_MUL = Op.MUL;
const OP_MULH = Op.MULH;
const OP_MULHSU = Op.MULHSU;
const OP_MULHU = Op.MULHU;
const OP_OR = Op.OR;
const OP_ORI = Op.ORI;
const OP_REM = Op.REM;
const OP_REMU = Op.REMU;
const OP_SB = Op.SB;
const OP_SC_W = Op.SC_W;
const OP_SFENCE_VMA = Op.SFENCE_VMA;
const OP_SH = Op.SH;
const OP_SLL = Op.SLL;
const OP_SLLI = Op.SLLI;
const OP_SLT = Op.SLT;
const OP_SLTI = Op.SLTI;
const OP_SLTIU = Op.SLTIU;
const OP_SLTU = Op.SLTU;
const OP_SRA = Op.SRA;
const OP_SRAI = Op.SRAI;
const OP_SRET = Op.SRET;
const OP_SRL = Op.SRL;
const OP_SRLI = Op.SRLI;
const OP_SUB = Op.SUB;
const OP_SW = Op.SW;
const OP_WFI = Op.WFI;
const OP_XOR = Op.XOR;
const OP_XORI = Op.XORI;
const OP_DECODE = InternalOp.DECODE;
const OP_NOP = InternalOp.NOP;
const OP_PAGE_END = InternalOp.PAGE_END;
const OP_STRADDLE = InternalOp.STRADDLE;
const CAUSE_INSTRUCTION_MISALIGNED = Cause.InstructionMisaligned;


/**
 * The interpreter: a switch over pre-decoded instructions (see CodeCache), with the register file
 * in an Int32Array, TLB hits for loads and stores inlined, and everything else out of line in
 * `Hart`. The inner loop allocates nothing.
 *
 * Inner-loop contract: it runs until the instruction limit, or until something changed state it
 * holds in locals (privilege, translation, a trap, MMIO, a CSR): then `hart.needsResync` is set and
 * it returns to `run`, which checks interrupts and re-enters.
 */
export class Interpreter implements Engine {
  readonly name = "interpreter";
  // engine-module beside this file: the source when running from sources, else the built entry.
  readonly module = new URL(`./engine-module.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url).href;
  private stop: StopReason | -1 = -1;

  run(hart: Hart, budget: number): StopReason {
    let remaining = budget;
    while (remaining > 0) {
      if (hart.stopRequested) return hart.consumeStop();
      const irq = hart.pendingInterrupt();
      if (irq >= 0) {
        hart.takeInterrupt(irq);
        if (hart.stopRequested) return hart.consumeStop();
      }
      // Armed execute triggers: one instruction at a time, each checked before it runs. The
      // check costs nothing else: arming one is a CSR write, which ends the segment.
      if (hart.triggers.executeArmed) remaining -= stepWithTriggers(this, hart);
      else remaining -= this.runSegment(hart, remaining);
      if (this.takeSegmentStop() === StopReason.Wfi) return StopReason.Wfi;
      if (hart.stopRequested) return hart.consumeStop();
    }
    return StopReason.Budget;
  }

  /**
   * What stopped the last `runSegment` early (StopReason.Wfi: the hart went to sleep), or -1;
   * reading it clears it.
   */
  takeSegmentStop(): StopReason | -1 {
    const reason = this.stop;
    this.stop = -1;
    return reason;
  }

  /**
   * Runs at most `limit` instructions, without checking interrupts first, and returns how many
   * were started. It returns early when state it caches changed (`hart.needsResync`), leaving the
   * interrupt check and stop requests to the caller: `run` here, or another engine (the
   * translator) that interprets what it does not translate.
   */
  runSegment(hart: Hart, limit: number): number {
    this.stop = -1;
    const x = hart.x;
    const ram = hart.bus.ram;
    const u8 = ram.u8;
    const u16 = ram.u16;
    const i32 = ram.i32;
    const dataPriv = hart.dataPriv;
    const loadTlb = hart.tlbFor(Access.Load, dataPriv);
    const storeTlb = hart.tlbFor(Access.Store, dataPriv);
    const loadTag = loadTlb.tag;
    const loadFrame = loadTlb.frameOffset;
    const storeTag = storeTlb.tag;
    const storeFrame = storeTlb.frameOffset;
    const misaligned = hart.compressed ? 0 : 2;
    const base = hart.steps;
    hart.needsResync = false;
    hart.faulted = false;

    // The pc is pageVa + at: `at` is the byte offset in the current page, which is also the word
    // index of the instruction's slot in `code`. Sequential flow only advances `at`; leaving the
    // page (falling off its end, or a jump elsewhere with `code = MISS_PAGE`) lands on a
    // PAGE_END slot, which translates the pc and fetches the next decode page.
    let pageVa = hart.pc & ~0xfff;
    let at = hart.pc & 0xfff;
    let code: Int32Array = MISS_PAGE;
    let codeRamOffset = -1;
    let n = 0;
    let trapped = false;

    loop: while (n < limit) {
      const w = code[at]!;
      const length = 2 + ((w >>> 6) & 2);
      n++;

      switch (w & 0x7f) {
        // ---- Integer register-immediate -------------------------------------------------------
        case OP_ADDI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! + code[at + 1]!; at += length; break;
        case OP_SLTI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! < code[at + 1]! ? 1 : 0; at += length; break;
        case OP_SLTIU: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> 0 < code[at + 1]! >>> 0 ? 1 : 0; at += length; break;
        case OP_XORI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! ^ code[at + 1]!; at += length; break;
        case OP_ORI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! | code[at + 1]!; at += length; break;
        case OP_ANDI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! & code[at + 1]!; at += length; break;
        case OP_SLLI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! << code[at + 1]!; at += length; break;
        case OP_SRLI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> code[at + 1]!; at += length; break;
        case OP_SRAI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >> code[at + 1]!; at += length; break;
        case OP_LUI: x[(w >>> 8) & 31] = code[at + 1]!; at += length; break;
        case OP_AUIPC: x[(w >>> 8) & 31] = pageVa + at + code[at + 1]!; at += length; break;

        // ---- Integer register-register ---------------------------------------------------------
        case OP_ADD: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! + x[(w >>> 18) & 31]!; at += length; break;
        case OP_SUB: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! - x[(w >>> 18) & 31]!; at += length; break;
        case OP_SLL: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! << (x[(w >>> 18) & 31]! & 31); at += length; break;
        case OP_SLT: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! < x[(w >>> 18) & 31]! ? 1 : 0; at += length; break;
        case OP_SLTU: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> 0 < x[(w >>> 18) & 31]! >>> 0 ? 1 : 0; at += length; break;
        case OP_XOR: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! ^ x[(w >>> 18) & 31]!; at += length; break;
        case OP_SRL: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> (x[(w >>> 18) & 31]! & 31); at += length; break;
        case OP_SRA: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >> (x[(w >>> 18) & 31]! & 31); at += length; break;
        case OP_OR: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! | x[(w >>> 18) & 31]!; at += length; break;
        case OP_AND: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! & x[(w >>> 18) & 31]!; at += length; break;
        case OP_MUL: x[(w >>> 8) & 31] = Math.imul(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_MULH: x[(w >>> 8) & 31] = mulh(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_MULHSU: x[(w >>> 8) & 31] = mulhsu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_MULHU: x[(w >>> 8) & 31] = mulhu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_DIV: x[(w >>> 8) & 31] = div(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_DIVU: x[(w >>> 8) & 31] = divu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_REM: x[(w >>> 8) & 31] = rem(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_REMU: x[(w >>> 8) & 31] = remu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case OP_NOP: at += length; break;

        // ---- Control transfer -------------------------------------------------------------------
        case OP_JAL: {
          const target = (pageVa + at + code[at + 1]!) | 0;
          if ((target & misaligned) !== 0) {
            // Without C, the target must be 4-byte aligned; rd is not written (unpriv. §2.5).
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
            trapped = true;
            break loop;
          }
          x[(w >>> 8) & 31] = pageVa + at + length;
          x[0] = 0;
          at = target & 0xfff;
          if ((target & ~0xfff) !== pageVa) {
            pageVa = target & ~0xfff;
            code = MISS_PAGE;
          }
          break;
        }
        case OP_JALR: {
          const target = (x[(w >>> 13) & 31]! + code[at + 1]!) & ~1;
          if ((target & misaligned) !== 0) {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
            trapped = true;
            break loop;
          }
          x[(w >>> 8) & 31] = pageVa + at + length;
          x[0] = 0;
          at = target & 0xfff;
          if ((target & ~0xfff) !== pageVa) {
            pageVa = target & ~0xfff;
            code = MISS_PAGE;
          }
          break;
        }
        case OP_BEQ:
          if (x[(w >>> 13) & 31]! === x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
              trapped = true;
              break loop;
            }
            at = target & 0xfff;
            if ((target & ~0xfff) !== pageVa) {
              pageVa = target & ~0xfff;
              code = MISS_PAGE;
            }
          } else {
            at += length;
          }
          break;
        case OP_BNE:
          if (x[(w >>> 13) & 31]! !== x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
              trapped = true;
              break loop;
            }
            at = target & 0xfff;
            if ((target & ~0xfff) !== pageVa) {
              pageVa = target & ~0xfff;
              code = MISS_PAGE;
            }
          } else {
            at += length;
          }
          break;
        case OP_BLT:
          if (x[(w >>> 13) & 31]! < x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
              trapped = true;
              break loop;
            }
            at = target & 0xfff;
            if ((target & ~0xfff) !== pageVa) {
              pageVa = target & ~0xfff;
              code = MISS_PAGE;
            }
          } else {
            at += length;
          }
          break;
        case OP_BGE:
          if (x[(w >>> 13) & 31]! >= x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
              trapped = true;
              break loop;
            }
            at = target & 0xfff;
            if ((target & ~0xfff) !== pageVa) {
              pageVa = target & ~0xfff;
              code = MISS_PAGE;
            }
          } else {
            at += length;
          }
          break;
        case OP_BLTU:
          if (x[(w >>> 13) & 31]! >>> 0 < x[(w >>> 18) & 31]! >>> 0) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
              trapped = true;
              break loop;
            }
            at = target & 0xfff;
            if ((target & ~0xfff) !== pageVa) {
              pageVa = target & ~0xfff;
              code = MISS_PAGE;
            }
          } else {
            at += length;
          }
          break;
        case OP_BGEU:
          if (x[(w >>> 13) & 31]! >>> 0 >= x[(w >>> 18) & 31]! >>> 0) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(CAUSE_INSTRUCTION_MISALIGNED, target);
              trapped = true;
              break loop;
            }
            at = target & 0xfff;
            if ((target & ~0xfff) !== pageVa) {
              pageVa = target & ~0xfff;
              code = MISS_PAGE;
            }
          } else {
            at += length;
          }
          break;

        // ---- Loads ------------------------------------------------------------------------------
        case OP_LW: {
          const va = (x[(w >>> 13) & 31]! + code[at + 1]!) | 0;
          const page = va >>> 12;
          const entry = page & 255;
          let value: number;
          if (loadTag[entry] === page && (va & 3) === 0) {
            value = i32[(loadFrame[entry]! + (va & 0xfff)) >> 2]!;
          } else {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            value = hart.loadSlow(va, 4) | 0;
            if (hart.needsResync) {
              if (hart.faulted) { trapped = true; break loop; }
              x[(w >>> 8) & 31] = value; x[0] = 0;
              at += length;
              break loop;
            }
          }
          x[(w >>> 8) & 31] = value;
          x[0] = 0;
          at += length;
          break;
        }
        case OP_LH: case OP_LHU: {
          const va = (x[(w >>> 13) & 31]! + code[at + 1]!) | 0;
          const page = va >>> 12;
          const entry = page & 255;
          let value: number;
          if (loadTag[entry] === page && (va & 1) === 0) {
            value = u16[(loadFrame[entry]! + (va & 0xfff)) >> 1]!;
          } else {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            value = hart.loadSlow(va, 2);
            if (hart.needsResync && hart.faulted) { trapped = true; break loop; }
          }
          x[(w >>> 8) & 31] = (w & 0x7f) === OP_LH ? (value << 16) >> 16 : value;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }
        case OP_LB: case OP_LBU: {
          const va = (x[(w >>> 13) & 31]! + code[at + 1]!) | 0;
          const page = va >>> 12;
          const entry = page & 255;
          let value: number;
          if (loadTag[entry] === page) {
            value = u8[loadFrame[entry]! + (va & 0xfff)]!;
          } else {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            value = hart.loadSlow(va, 1);
            if (hart.needsResync && hart.faulted) { trapped = true; break loop; }
          }
          x[(w >>> 8) & 31] = (w & 0x7f) === OP_LB ? (value << 24) >> 24 : value;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }

        // ---- Stores -----------------------------------------------------------------------------
        case OP_SW: {
          const va = (x[(w >>> 13) & 31]! + code[at + 1]!) | 0;
          const page = va >>> 12;
          const entry = page & 255;
          if (storeTag[entry] === page && (va & 3) === 0) {
            i32[(storeFrame[entry]! + (va & 0xfff)) >> 2] = x[(w >>> 18) & 31]!;
          } else {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            hart.storeSlow(va, 4, x[(w >>> 18) & 31]!);
            if (hart.needsResync) {
              if (hart.faulted) trapped = true; else at += length;
              break loop;
            }
          }
          at += length;
          break;
        }
        case OP_SH: {
          const va = (x[(w >>> 13) & 31]! + code[at + 1]!) | 0;
          const page = va >>> 12;
          const entry = page & 255;
          if (storeTag[entry] === page && (va & 1) === 0) {
            u16[(storeFrame[entry]! + (va & 0xfff)) >> 1] = x[(w >>> 18) & 31]!;
          } else {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            hart.storeSlow(va, 2, x[(w >>> 18) & 31]!);
            if (hart.needsResync) {
              if (hart.faulted) trapped = true; else at += length;
              break loop;
            }
          }
          at += length;
          break;
        }
        case OP_SB: {
          const va = (x[(w >>> 13) & 31]! + code[at + 1]!) | 0;
          const page = va >>> 12;
          const entry = page & 255;
          if (storeTag[entry] === page) {
            u8[storeFrame[entry]! + (va & 0xfff)] = x[(w >>> 18) & 31]!;
          } else {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            hart.storeSlow(va, 1, x[(w >>> 18) & 31]!);
            if (hart.needsResync) {
              if (hart.faulted) trapped = true; else at += length;
              break loop;
            }
          }
          at += length;
          break;
        }

        // ---- Atomics (A extension) --------------------------------------------------------------
        case OP_LR_W: {
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          const va = x[(w >>> 13) & 31]!;
          const index = hart.atomicAddress(va, true);
          if (index < 0) { trapped = true; break loop; }
          const value = Atomics.load(i32, index);
          hart.reservation = va;
          hart.reservationValue = value;
          x[(w >>> 8) & 31] = value;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }
        case OP_SC_W: {
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          const va = x[(w >>> 13) & 31]!;
          const reserved = hart.reservation === va;
          let failed = 1;
          if ((va & 3) !== 0 || reserved) {
            // Like QEMU, an SC whose address does not match the reservation fails without
            // touching memory; a matching one succeeds if the word still holds what LR read.
            const index = hart.atomicAddress(va, false);
            // An SC that raises an exception does not execute, so it keeps the reservation for
            // its retry after the handler (unpriv. spec §8.2: executing an SC invalidates it). A
            // page fault that a hypervisor fills unseen must not make the guest's LR/SC loop fail.
            if (index < 0) { trapped = true; break loop; }
            const expected = hart.reservationValue;
            if (Atomics.compareExchange(i32, index, expected, x[(w >>> 18) & 31]!) === expected) failed = 0;
          }
          hart.reservation = -1;
          x[(w >>> 8) & 31] = failed;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }
        case OP_AMOSWAP_W: case OP_AMOADD_W: case OP_AMOXOR_W: case OP_AMOAND_W: case OP_AMOOR_W:
        case OP_AMOMIN_W: case OP_AMOMAX_W: case OP_AMOMINU_W: case OP_AMOMAXU_W: {
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          const index = hart.atomicAddress(x[(w >>> 13) & 31]!, false, true);
          if (index < 0) { trapped = true; break loop; }
          const operand = x[(w >>> 18) & 31]!;
          const old = atomicReadModifyWrite(w & 0x7f, i32, index, operand);
          x[(w >>> 8) & 31] = old;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }

        // ---- System -----------------------------------------------------------------------------
        case OP_FENCE: at += length; break;
        case OP_FENCE_I:
          hart.fenceI();
          at += length;
          break loop;
        case OP_CSRRW: case OP_CSRRS: case OP_CSRRC: case OP_CSRRWI: case OP_CSRRSI: case OP_CSRRCI:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          if (hart.csrInstruction(w & 0x7f, (w >>> 8) & 31, (w >>> 13) & 31, code[at + 1]!)) at += length;
          else trapped = true;
          break loop;
        case OP_ECALL:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          hart.ecall();
          trapped = true;
          break loop;
        case OP_EBREAK:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          hart.ebreak();
          trapped = true;
          break loop;
        case OP_MRET: case OP_SRET:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          if ((w & 0x7f) === OP_MRET) hart.mret();
          else hart.sret();
          trapped = true;
          break loop;
        case OP_WFI: {
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          const sleep = hart.wfi();
          if (hart.faulted) { trapped = true; break loop; }
          at += length;
          if (sleep) this.stop = StopReason.Wfi;
          break loop;
        }
        case OP_SFENCE_VMA:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          hart.sfenceVma((w >>> 13) & 31, (w >>> 18) & 31);
          if (hart.faulted) trapped = true; else at += length;
          break loop;
        case OP_DECODE:
          // First execution of this slot: decode it in place and dispatch again.
          n--;
          hart.decodeSlot(code, codeRamOffset, at >>> 1);
          continue loop;
        case OP_PAGE_END: {
          // Entering a page: translate the pc (which may fault) and fetch its decode page.
          n--;
          const pc = (pageVa + at) | 0;
          hart.pc = pc;
          hart.steps = base + n;
          const page = hart.fetchPage(pc);
          if (page === undefined) {
            // The fetch faulted: that instruction started and trapped.
            n++;
            trapped = true;
            break loop;
          }
          code = page;
          codeRamOffset = hart.fetchRamOffset;
          pageVa = pc & ~0xfff;
          at = pc & 0xfff;
          continue loop;
        }
        case OP_STRADDLE: {
          // A 4-byte instruction across a page boundary: decode it (fetching the next page) into
          // the scratch page, clear the rest of that page so no stale slot survives, and execute
          // it from there on the next iteration.
          n--;
          const pc = (pageVa + at) | 0;
          hart.pc = pc;
          hart.steps = base + n;
          if (!hart.decodeStraddling(pc)) { n++; trapped = true; break loop; }
          code = hart.scratchCode;
          codeRamOffset = -1;
          continue loop;
        }
        default:
          // OP_ILLEGAL, and any encoding an engine does not know.
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          hart.illegalInstruction();
          trapped = true;
          break loop;
      }
    }
    // After a trap the hart already points at the handler (or, intercepted, at the instruction).
    if (!trapped) hart.pc = (pageVa + at) | 0;
    hart.steps = base + n;
    return n;
  }
}

function atomicReadModifyWrite(op: number, memory: Int32Array, index: number, operand: number): number {
  switch (op) {
    case OP_AMOSWAP_W: return Atomics.exchange(memory, index, operand);
    case OP_AMOADD_W: return Atomics.add(memory, index, operand);
    case OP_AMOXOR_W: return Atomics.xor(memory, index, operand);
    case OP_AMOAND_W: return Atomics.and(memory, index, operand);
    case OP_AMOOR_W: return Atomics.or(memory, index, operand);
  }
  // min/max have no Atomics primitive: compare-and-swap until no other thread interferes.
  for (;;) {
    const old = Atomics.load(memory, index);
    let next: number;
    if (op === OP_AMOMIN_W) next = old < operand ? old : operand;
    else if (op === OP_AMOMAX_W) next = old > operand ? old : operand;
    else if (op === OP_AMOMINU_W) next = old >>> 0 < operand >>> 0 ? old : operand;
    else next = old >>> 0 > operand >>> 0 ? old : operand;
    if (Atomics.compareExchange(memory, index, old, next) === old) return old;
  }
}

/**
 * Runs one instruction of a hart whose execute triggers are armed: the breakpoint exception if
 * one matches the pc, else the instruction (through `runSegment`, so that engines which
 * interpret what they do not translate can use it too). Returns the instructions started (1).
 */
export function stepWithTriggers(interpreter: Interpreter, hart: Hart): number {
  if (hart.executeTriggerFired()) return 1;
  return interpreter.runSegment(hart, 1);
}
