import { Op } from "@matryoshka/isa";
import { Access } from "@matryoshka/mmu";
import { div, divu, mulh, mulhsu, mulhu, rem, remu } from "./arith.js";
import type { Engine } from "./engine.js";
import { missPage } from "./code-cache.js";
import { InternalOp, StopReason, type Hart } from "./hart.js";

const MISS_PAGE = missPage();

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
  private stop: StopReason | -1 = -1;

  run(hart: Hart, budget: number): StopReason {
    let remaining = budget;
    while (remaining > 0) {
      if (hart.stopRequested) return this.consumeStop(hart);
      const irq = hart.pendingInterrupt();
      if (irq >= 0) {
        hart.takeInterrupt(irq);
        if (hart.stopRequested) return this.consumeStop(hart);
      }
      this.stop = -1;
      remaining -= this.inner(hart, remaining);
      if (this.stop !== -1) {
        const reason = this.stop;
        this.stop = -1;
        if (reason === StopReason.Wfi) return reason;
      }
      if (hart.stopRequested) return this.consumeStop(hart);
    }
    return StopReason.Budget;
  }

  private consumeStop(hart: Hart): StopReason {
    hart.stopRequested = false;
    const reason = hart.pendingStopReason;
    hart.pendingStopReason = StopReason.Halt;
    return reason;
  }

  /** Runs at most `limit` instructions; returns how many were started. */
  private inner(hart: Hart, limit: number): number {
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
        case Op.ADDI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! + code[at + 1]!; at += length; break;
        case Op.SLTI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! < code[at + 1]! ? 1 : 0; at += length; break;
        case Op.SLTIU: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> 0 < code[at + 1]! >>> 0 ? 1 : 0; at += length; break;
        case Op.XORI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! ^ code[at + 1]!; at += length; break;
        case Op.ORI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! | code[at + 1]!; at += length; break;
        case Op.ANDI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! & code[at + 1]!; at += length; break;
        case Op.SLLI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! << code[at + 1]!; at += length; break;
        case Op.SRLI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> code[at + 1]!; at += length; break;
        case Op.SRAI: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >> code[at + 1]!; at += length; break;
        case Op.LUI: x[(w >>> 8) & 31] = code[at + 1]!; at += length; break;
        case Op.AUIPC: x[(w >>> 8) & 31] = pageVa + at + code[at + 1]!; at += length; break;

        // ---- Integer register-register ---------------------------------------------------------
        case Op.ADD: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! + x[(w >>> 18) & 31]!; at += length; break;
        case Op.SUB: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! - x[(w >>> 18) & 31]!; at += length; break;
        case Op.SLL: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! << (x[(w >>> 18) & 31]! & 31); at += length; break;
        case Op.SLT: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! < x[(w >>> 18) & 31]! ? 1 : 0; at += length; break;
        case Op.SLTU: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> 0 < x[(w >>> 18) & 31]! >>> 0 ? 1 : 0; at += length; break;
        case Op.XOR: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! ^ x[(w >>> 18) & 31]!; at += length; break;
        case Op.SRL: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >>> (x[(w >>> 18) & 31]! & 31); at += length; break;
        case Op.SRA: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! >> (x[(w >>> 18) & 31]! & 31); at += length; break;
        case Op.OR: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! | x[(w >>> 18) & 31]!; at += length; break;
        case Op.AND: x[(w >>> 8) & 31] = x[(w >>> 13) & 31]! & x[(w >>> 18) & 31]!; at += length; break;
        case Op.MUL: x[(w >>> 8) & 31] = Math.imul(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case Op.MULH: x[(w >>> 8) & 31] = mulh(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case Op.MULHSU: x[(w >>> 8) & 31] = mulhsu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case Op.MULHU: x[(w >>> 8) & 31] = mulhu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case Op.DIV: x[(w >>> 8) & 31] = div(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case Op.DIVU: x[(w >>> 8) & 31] = divu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case Op.REM: x[(w >>> 8) & 31] = rem(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case Op.REMU: x[(w >>> 8) & 31] = remu(x[(w >>> 13) & 31]!, x[(w >>> 18) & 31]!); at += length; break;
        case InternalOp.NOP: at += length; break;

        // ---- Control transfer -------------------------------------------------------------------
        case Op.JAL: {
          const target = (pageVa + at + code[at + 1]!) | 0;
          if ((target & misaligned) !== 0) {
            // Without C, the target must be 4-byte aligned; rd is not written (unpriv. §2.5).
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            hart.raiseException(0, target);
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
        case Op.JALR: {
          const target = (x[(w >>> 13) & 31]! + code[at + 1]!) & ~1;
          if ((target & misaligned) !== 0) {
            hart.pc = (pageVa + at) | 0;
            hart.steps = base + n - 1;
            hart.raiseException(0, target);
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
        case Op.BEQ:
          if (x[(w >>> 13) & 31]! === x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(0, target);
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
        case Op.BNE:
          if (x[(w >>> 13) & 31]! !== x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(0, target);
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
        case Op.BLT:
          if (x[(w >>> 13) & 31]! < x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(0, target);
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
        case Op.BGE:
          if (x[(w >>> 13) & 31]! >= x[(w >>> 18) & 31]!) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(0, target);
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
        case Op.BLTU:
          if (x[(w >>> 13) & 31]! >>> 0 < x[(w >>> 18) & 31]! >>> 0) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(0, target);
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
        case Op.BGEU:
          if (x[(w >>> 13) & 31]! >>> 0 >= x[(w >>> 18) & 31]! >>> 0) {
            const target = (pageVa + at + code[at + 1]!) | 0;
            if ((target & misaligned) !== 0) {
              hart.pc = (pageVa + at) | 0;
              hart.steps = base + n - 1;
              hart.raiseException(0, target);
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
        case Op.LW: {
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
        case Op.LH: case Op.LHU: {
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
          x[(w >>> 8) & 31] = (w & 0x7f) === Op.LH ? (value << 16) >> 16 : value;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }
        case Op.LB: case Op.LBU: {
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
          x[(w >>> 8) & 31] = (w & 0x7f) === Op.LB ? (value << 24) >> 24 : value;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }

        // ---- Stores -----------------------------------------------------------------------------
        case Op.SW: {
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
        case Op.SH: {
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
        case Op.SB: {
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
        case Op.LR_W: {
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
        case Op.SC_W: {
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          const va = x[(w >>> 13) & 31]!;
          const reserved = hart.reservation === va;
          hart.reservation = -1;
          let failed = 1;
          if ((va & 3) !== 0 || reserved) {
            // Like QEMU, an SC whose address does not match the reservation fails without
            // touching memory; a matching one succeeds if the word still holds what LR read.
            const index = hart.atomicAddress(va, false);
            if (index < 0) { trapped = true; break loop; }
            const expected = hart.reservationValue;
            if (Atomics.compareExchange(i32, index, expected, x[(w >>> 18) & 31]!) === expected) failed = 0;
          }
          x[(w >>> 8) & 31] = failed;
          x[0] = 0;
          at += length;
          if (hart.needsResync) break loop;
          break;
        }
        case Op.AMOSWAP_W: case Op.AMOADD_W: case Op.AMOXOR_W: case Op.AMOAND_W: case Op.AMOOR_W:
        case Op.AMOMIN_W: case Op.AMOMAX_W: case Op.AMOMINU_W: case Op.AMOMAXU_W: {
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          const index = hart.atomicAddress(x[(w >>> 13) & 31]!, false);
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
        case Op.FENCE: at += length; break;
        case Op.FENCE_I:
          hart.fenceI();
          at += length;
          break loop;
        case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          if (hart.csrInstruction(w & 0x7f, (w >>> 8) & 31, (w >>> 13) & 31, code[at + 1]!)) at += length;
          else trapped = true;
          break loop;
        case Op.ECALL:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          hart.ecall();
          trapped = true;
          break loop;
        case Op.EBREAK:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          hart.ebreak();
          trapped = true;
          break loop;
        case Op.MRET: case Op.SRET:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          if ((w & 0x7f) === Op.MRET) hart.mret();
          else hart.sret();
          trapped = true;
          break loop;
        case Op.WFI: {
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          const sleep = hart.wfi();
          if (hart.faulted) { trapped = true; break loop; }
          at += length;
          if (sleep) this.stop = StopReason.Wfi;
          break loop;
        }
        case Op.SFENCE_VMA:
          hart.pc = (pageVa + at) | 0;
          hart.steps = base + n - 1;
          hart.sfenceVma((w >>> 13) & 31, (w >>> 18) & 31);
          if (hart.faulted) trapped = true; else at += length;
          break loop;
        case InternalOp.DECODE:
          // First execution of this slot: decode it in place and dispatch again.
          n--;
          hart.decodeSlot(code, codeRamOffset, at >>> 1);
          continue loop;
        case InternalOp.PAGE_END: {
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
        case InternalOp.STRADDLE: {
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
          // Op.ILLEGAL, and any encoding an engine does not know.
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
    case Op.AMOSWAP_W: return Atomics.exchange(memory, index, operand);
    case Op.AMOADD_W: return Atomics.add(memory, index, operand);
    case Op.AMOXOR_W: return Atomics.xor(memory, index, operand);
    case Op.AMOAND_W: return Atomics.and(memory, index, operand);
    case Op.AMOOR_W: return Atomics.or(memory, index, operand);
  }
  // min/max have no Atomics primitive: compare-and-swap until no other thread interferes.
  for (;;) {
    const old = Atomics.load(memory, index);
    let next: number;
    if (op === Op.AMOMIN_W) next = old < operand ? old : operand;
    else if (op === Op.AMOMAX_W) next = old > operand ? old : operand;
    else if (op === Op.AMOMINU_W) next = old >>> 0 < operand >>> 0 ? old : operand;
    else next = old >>> 0 > operand >>> 0 ? old : operand;
    if (Atomics.compareExchange(memory, index, old, next) === old) return old;
  }
}
