/*
 * The hart's CSR file (privileged spec 1.12 §2.1 address mapping, chapters 3 and 4 registers):
 * how Zicsr instructions reach the CSRs, what each address reads and writes, and the WARL rules
 * applied on every write. The CSR values themselves are fields of `Hart` (engines, hypervisors
 * and the board read and set them directly); this module is the only one that maps addresses to
 * them.
 */
import { CSR, isUserCounter, Op, userSstatusAccessTraps, type IsaProfile } from "@matryoshka/isa";
import { SATP_MODE_SV32, type Pmp } from "@matryoshka/mmu";
import { Cause, COUNTEREN, MIP, MPP_SHIFT, MSTATUS, Priv } from "./constants.js";
import type { Triggers } from "./triggers.js";

/**
 * What the CSR file reads and writes of a hart: the CSR values (fields of `Hart`, which engines
 * and hypervisors use directly), its counters, and the few things a CSR write sets off. `Hart`
 * implements it; naming it here keeps this module from importing hart.ts back.
 */
export interface CsrHart {
  readonly hartId: number;
  readonly x: Int32Array;
  readonly pmp: Pmp;
  readonly profile: IsaProfile;
  readonly compressed: boolean;
  priv: number;
  mstatus: number;
  medeleg: number;
  mideleg: number;
  mie: number;
  mipSoftware: number;
  readonly mip: number;
  mtvec: number;
  mepc: number;
  mcause: number;
  mtval: number;
  mscratch: number;
  stvec: number;
  sepc: number;
  scause: number;
  stval: number;
  sscratch: number;
  satp: number;
  mcounteren: number;
  scounteren: number;
  menvcfg: number;
  senvcfg: number;
  mcountinhibit: number;
  readonly mhpmevent: Int32Array;
  readonly mhpmcounter: Float64Array;
  /** Sdtrig's triggers (triggers.ts); with none, their CSRs do not exist. */
  readonly triggers: Triggers;
  steps: number;
  trapped: number;
  cycleOffset: number;
  instretOffset: number;
  frozenCycle: number | undefined;
  frozenInstret: number | undefined;
  readonly mcycle: number;
  readonly minstret: number;
  readonly epcMask: number;
  needsResync: boolean;
  readTime: () => number;
  flushTlbs(): void;
  flushTranslatedTlbs(): void;
  illegalInstruction(): void;
}


/** The misa bit of an extension, by its letter (§3.1.1). */
const extension = (letter: string): number => 1 << (letter.charCodeAt(0) - 65);
// misa for RV32 (MXL=1) with I, M, A, C, S, U: what QEMU 7.2 reports for the same hart.
const MISA_BASE = 0x4000_0000 | extension("A") | extension("I") | extension("M") | extension("S") | extension("U");
const MISA_C = extension("C");
// QEMU 7.2 reports its version in marchid and mimpid; we do the same so guests print the same.
const MARCHID = 0x0007_0216;
const MIMPID = 0x0007_0216;

// Writable masks, chosen to match QEMU 7.2 wherever the specification leaves the choice open.
const MSTATUS_WRITABLE =
  MSTATUS.SIE | MSTATUS.MIE | MSTATUS.SPIE | MSTATUS.MPIE | MSTATUS.SPP | MSTATUS.VS | MSTATUS.MPP |
  MSTATUS.MPRV | MSTATUS.SUM | MSTATUS.MXR | MSTATUS.TVM | MSTATUS.TW | MSTATUS.TSR;
const SSTATUS_VISIBLE =
  MSTATUS.SIE | MSTATUS.SPIE | MSTATUS.UBE | MSTATUS.SPP | MSTATUS.VS | MSTATUS.FS | MSTATUS.XS |
  MSTATUS.SUM | MSTATUS.MXR | MSTATUS.SD;
const SSTATUS_WRITABLE = SSTATUS_VISIBLE & MSTATUS_WRITABLE;
/**
 * medeleg: causes 0-9, 12, 13 and 15 (0xb3ff). Ecall from M (11) cannot be delegated and is
 * read-only zero (§3.1.8); causes 10 and 20-23 belong to the H extension, absent here. QEMU 7.2
 * lets all of them be written (0x00f0bfff); the specification wins.
 */
const MEDELEG_WRITABLE = [
  Cause.InstructionMisaligned, Cause.InstructionAccessFault, Cause.IllegalInstruction, Cause.Breakpoint,
  Cause.LoadMisaligned, Cause.LoadAccessFault, Cause.StoreMisaligned, Cause.StoreAccessFault,
  Cause.EcallFromU, Cause.EcallFromS, Cause.InstructionPageFault, Cause.LoadPageFault, Cause.StorePageFault,
].reduce<number>((mask, cause) => mask | (1 << cause), 0);
/**
 * mideleg, mie and mip: only the S- and M-level interrupts this hart has. QEMU 7.2 also lets the
 * VS-level (2, 6, 10, H extension) and LCOFI (13, Sscofpmf) bits be written without those
 * extensions; here they are read-only zero, as §3.1.9 requires for interrupts that cannot occur.
 */
const S_LEVEL_INTERRUPTS = MIP.SSIP | MIP.STIP | MIP.SEIP;
const MIDELEG_WRITABLE = S_LEVEL_INTERRUPTS;
const MIE_WRITABLE = S_LEVEL_INTERRUPTS | MIP.MSIP | MIP.MTIP | MIP.MEIP;
/** mip: the M-level bits are read-only, driven by the CLINT and the PLIC (§3.1.9). */
const MIP_WRITABLE = S_LEVEL_INTERRUPTS;
/** mcountinhibit: CY, IR and the hpm counters; TM is read-only zero (priv 1.12 §3.1.13). */
const MCOUNTINHIBIT_WRITABLE = ~COUNTEREN.TM;
/** menvcfg/senvcfg: only FIOM exists without Zicbo*, so only it is writable (§3.1.18). */
const ENVCFG_WRITABLE = 0x1;

const TWO32 = 0x1_0000_0000;
/** The highest hpmcounter index (3 + 16 counters - 1), as QEMU 7.2's pmu-num=16. */
const LAST_HPM_COUNTER = 18;

// CSR addresses as module constants: case labels that are constants keep `readCsr` and `writeCsr`
// a jump table, where labels like `CSR.sstatus` would be property loads on a table of 300 entries.
const CSR_SSTATUS = CSR.sstatus;
const CSR_SIE = CSR.sie;
const CSR_STVEC = CSR.stvec;
const CSR_SCOUNTEREN = CSR.scounteren;
const CSR_SENVCFG = CSR.senvcfg;
const CSR_SSCRATCH = CSR.sscratch;
const CSR_SEPC = CSR.sepc;
const CSR_SCAUSE = CSR.scause;
const CSR_STVAL = CSR.stval;
const CSR_SIP = CSR.sip;
const CSR_SATP = CSR.satp;
const CSR_MSTATUS = CSR.mstatus;
const CSR_MISA = CSR.misa;
const CSR_MEDELEG = CSR.medeleg;
const CSR_MIDELEG = CSR.mideleg;
const CSR_MIE = CSR.mie;
const CSR_MTVEC = CSR.mtvec;
const CSR_MCOUNTEREN = CSR.mcounteren;
const CSR_MENVCFG = CSR.menvcfg;
const CSR_MSTATUSH = CSR.mstatush;
const CSR_MENVCFGH = CSR.menvcfgh;
const CSR_MCOUNTINHIBIT = CSR.mcountinhibit;
const CSR_MSCRATCH = CSR.mscratch;
const CSR_MEPC = CSR.mepc;
const CSR_MCAUSE = CSR.mcause;
const CSR_MTVAL = CSR.mtval;
const CSR_MIP = CSR.mip;
const CSR_MVENDORID = CSR.mvendorid;
const CSR_MARCHID = CSR.marchid;
const CSR_MIMPID = CSR.mimpid;
const CSR_MHARTID = CSR.mhartid;
const CSR_MCONFIGPTR = CSR.mconfigptr;
const CSR_TSELECT = CSR.tselect;
const CSR_TDATA1 = CSR.tdata1;
const CSR_TDATA2 = CSR.tdata2;
const CSR_TDATA3 = CSR.tdata3;
const CSR_TINFO = CSR.tinfo;
const CSR_PMPCFG0 = CSR.pmpcfg0;
const CSR_PMPCFG15 = CSR.pmpcfg15;
const CSR_PMPADDR0 = CSR.pmpaddr0;
const CSR_PMPADDR63 = CSR.pmpaddr63;
const CSR_MHPMEVENT3 = CSR.mhpmevent3;
const CSR_MHPMEVENT31 = CSR.mhpmevent31;
/** Where mhpmevent0 would be: the address of mhpmeventN is this + N (0..2 are other registers). */
const MHPMEVENT_BASE = CSR.mhpmevent3 - 3;
const CSR_MCYCLE = CSR.mcycle;
const CSR_MCYCLEH = CSR.mcycleh;
const CSR_CYCLE = CSR.cycle;
const CSR_CYCLEH = CSR.cycleh;
/** What `...h` adds to a counter's address: the upper half of a 64-bit counter on RV32 (§3.1.11). */
const COUNTER_HIGH = CSR.cycleh - CSR.cycle;
/** A counter's address without its index (bits 4:0) and high-half bit: which family it is. */
const COUNTER_FAMILY = 0xf60;

/**
 * Executes a Zicsr instruction. `source` is the rs1 register number (or the uimm for the I
 * forms). Returns false if it trapped.
 */
export function csrInstruction(hart: CsrHart, op: number, rd: number, source: number, csr: number): boolean {
  const immediate = op === Op.CSRRWI || op === Op.CSRRSI || op === Op.CSRRCI;
  const isWrite = op === Op.CSRRW || op === Op.CSRRWI;
  const writes = isWrite || source !== 0;
  // Non-standard ISA profiles: some U-mode sstatus accesses complete instead of trapping. Reads
  // (if the profile leaks them) see the real sstatus; writes are dropped (x86 PUSHF/POPF).
  if (hart.priv === Priv.U && csr === CSR_SSTATUS) {
    const reads = !(isWrite && rd === 0);
    if (!userSstatusAccessTraps(hart.profile, { reads, writes })) {
      if (rd !== 0 && reads && hart.profile.leakySstatusReads) hart.x[rd] = readCsr(hart, CSR_SSTATUS)!;
      hart.needsResync = true;
      return true;
    }
  }
  // CSR address bits 9:8 give the lowest privilege that may access it; 11:10 = 3 is read-only.
  if (((csr >>> 8) & 3) > hart.priv || (writes && csr >>> 10 === 3) || !csrAccessAllowed(hart, csr)) {
    hart.illegalInstruction();
    return false;
  }
  const old = readCsr(hart, csr);
  if (old === undefined) {
    hart.illegalInstruction();
    return false;
  }
  if (writes) {
    const operand = immediate ? source : hart.x[source]! >>> 0;
    const value = isWrite ? operand : op === Op.CSRRS || op === Op.CSRRSI ? old | operand : old & ~operand;
    // A write to minstret must not be followed by this instruction's own increment (§3.1.11);
    // the CSR write happens before the instruction retires, hence the -1 in setCounter.
    writeCsr(hart, csr, value >>> 0);
  }
  if (rd !== 0) hart.x[rd] = old;
  hart.needsResync = true;
  return true;
}

/** Counter enables (§3.1.11, §4.1.5) and TVM for satp (§3.1.6.5). */
function csrAccessAllowed(hart: CsrHart, csr: number): boolean {
  if (isUserCounter(csr)) {
    const bit = 1 << (csr & 0x1f);
    if (hart.priv < Priv.M && (hart.mcounteren & bit) === 0) return false;
    if (hart.priv === Priv.U && (hart.scounteren & bit) === 0) return false;
  }
  if (csr === CSR_SATP && hart.priv === Priv.S && (hart.mstatus & MSTATUS.TVM) !== 0) return false;
  return true;
}

function counterValue(hart: CsrHart, index: number): number {
  if (index === 0) return hart.mcycle;
  if (index === 1) return hart.readTime();
  if (index === 2) return hart.minstret;
  return hart.mhpmcounter[index]!;
}

/**
 * Sets a counter as of the end of the current instruction. A write to mcycle or minstret
 * replaces the count the writing instruction itself would add (§3.1.11: "the value written
 * takes effect after the writing instruction"); QEMU 7.2 instead counts that instruction too.
 */
function setCounter(hart: CsrHart, index: number, value: number): void {
  if (index === 0) {
    if (hart.frozenCycle !== undefined) hart.frozenCycle = value;
    else hart.cycleOffset = value - hart.steps - 1;
  } else if (index === 2) {
    if (hart.frozenInstret !== undefined) hart.frozenInstret = value;
    else hart.instretOffset = value - (hart.steps - hart.trapped) - 1;
  } else {
    hart.mhpmcounter[index] = value;
  }
}

/** Reads a CSR; undefined if it does not exist. No side effects. */
export function readCsr(hart: CsrHart, csr: number): number | undefined {
  switch (csr) {
    case CSR_SSTATUS: return (hart.mstatus & SSTATUS_VISIBLE) >>> 0;
    case CSR_SIE: return hart.mie & hart.mideleg & S_LEVEL_INTERRUPTS;
    case CSR_STVEC: return hart.stvec >>> 0;
    case CSR_SCOUNTEREN: return hart.scounteren >>> 0;
    case CSR_SENVCFG: return hart.senvcfg;
    case CSR_SSCRATCH: return hart.sscratch >>> 0;
    case CSR_SEPC: return (hart.sepc & hart.epcMask) >>> 0;
    case CSR_SCAUSE: return hart.scause >>> 0;
    case CSR_STVAL: return hart.stval >>> 0;
    case CSR_SIP: return hart.mip & hart.mideleg & S_LEVEL_INTERRUPTS;
    case CSR_SATP: return hart.satp >>> 0;
    case CSR_MSTATUS: return hart.mstatus >>> 0;
    case CSR_MISA: return (MISA_BASE | (hart.compressed ? MISA_C : 0)) >>> 0;
    case CSR_MEDELEG: return hart.medeleg;
    case CSR_MIDELEG: return hart.mideleg;
    case CSR_MIE: return hart.mie;
    case CSR_MTVEC: return hart.mtvec >>> 0;
    case CSR_MCOUNTEREN: return hart.mcounteren >>> 0;
    case CSR_MENVCFG: return hart.menvcfg;
    case CSR_MSTATUSH: return 0; // SBE/MBE: little-endian only
    case CSR_MENVCFGH: return 0; // no Sstc or Svpbmt
    case CSR_MCOUNTINHIBIT: return hart.mcountinhibit >>> 0;
    case CSR_MSCRATCH: return hart.mscratch >>> 0;
    case CSR_MEPC: return (hart.mepc & hart.epcMask) >>> 0;
    case CSR_MCAUSE: return hart.mcause >>> 0;
    case CSR_MTVAL: return hart.mtval >>> 0;
    case CSR_MIP: return hart.mip;
    case CSR_MVENDORID: return 0; // non-commercial
    case CSR_MARCHID: return MARCHID;
    case CSR_MIMPID: return MIMPID;
    case CSR_MHARTID: return hart.hartId;
    case CSR_MCONFIGPTR: return 0; // no configuration structure
  }
  if (csr >= CSR_TSELECT && csr <= CSR_TINFO) return readTrigger(hart.triggers, csr);
  if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
    const register = csr - CSR_PMPCFG0;
    return register * 4 < hart.pmp.count ? hart.pmp.readCfg(register) : undefined;
  }
  if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
    const index = csr - CSR_PMPADDR0;
    return index < hart.pmp.count ? hart.pmp.readAddr(index) : undefined;
  }
  if (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31) return hart.mhpmevent[csr - MHPMEVENT_BASE]! >>> 0;
  // Counters: mcycle/minstret/mhpmcounterN from mcycle, user views from cycle; high halves +0x80.
  const counterBase = csr & COUNTER_FAMILY;
  if (counterBase === CSR_MCYCLE || counterBase === CSR_CYCLE || counterBase === CSR_MCYCLEH || counterBase === CSR_CYCLEH) {
    const index = csr & 0x1f;
    // QEMU 7.2's default hart has 16 programmable counters (pmu-num=16): hpmcounter3..18.
    // The specification allows any number from 0 to 29; the rest do not exist, in every view.
    if (index > LAST_HPM_COUNTER) return undefined;
    if (counterBase === CSR_MCYCLE || counterBase === CSR_MCYCLEH) {
      if (index === 1) return undefined; // there is no mtime CSR
    }
    const value = counterValue(hart, index);
    const high = (csr & COUNTER_HIGH) !== 0;
    return high ? Math.floor(value / TWO32) >>> 0 : value >>> 0;
  }
  return undefined;
}

/** Writes a CSR known to exist and be writable; applies its WARL rules. */
export function writeCsr(hart: CsrHart, csr: number, value: number): void {
  switch (csr) {
    case CSR_SSTATUS:
      writeMstatus(hart, (hart.mstatus & ~SSTATUS_WRITABLE) | (value & SSTATUS_WRITABLE));
      return;
    case CSR_SIE: {
      const mask = hart.mideleg & S_LEVEL_INTERRUPTS;
      hart.mie = (hart.mie & ~mask) | (value & mask);
      return;
    }
    case CSR_STVEC: if ((value & 3) < 2) hart.stvec = value; return;
    case CSR_SCOUNTEREN: hart.scounteren = value; return;
    case CSR_SENVCFG: hart.senvcfg = value & ENVCFG_WRITABLE; return;
    case CSR_SSCRATCH: hart.sscratch = value; return;
    case CSR_SEPC: hart.sepc = value & hart.epcMask; return;
    case CSR_SCAUSE: hart.scause = value; return;
    case CSR_STVAL: hart.stval = value; return;
    case CSR_SIP: {
      // Only SSIP is writable through sip (§4.1.3).
      const mask = hart.mideleg & MIP.SSIP;
      hart.mipSoftware = (hart.mipSoftware & ~mask) | (value & mask);
      return;
    }
    case CSR_SATP:
      hart.satp = value;
      hart.flushTlbs();
      return;
    case CSR_MSTATUS: writeMstatus(hart, value); return;
    case CSR_MISA: return; // misa is read-only here, as on QEMU 7.2
    case CSR_MEDELEG: hart.medeleg = value & MEDELEG_WRITABLE; return;
    case CSR_MIDELEG: hart.mideleg = value & MIDELEG_WRITABLE; return;
    case CSR_MIE: hart.mie = value & MIE_WRITABLE; return;
    // Modes 2 and 3 are reserved: like QEMU, ignore such a write entirely (WARL).
    case CSR_MTVEC: if ((value & 3) < 2) hart.mtvec = value; return;
    case CSR_MCOUNTEREN: hart.mcounteren = value; return;
    case CSR_MENVCFG: hart.menvcfg = value & ENVCFG_WRITABLE; return;
    case CSR_MSTATUSH: case CSR_MENVCFGH: return;
    case CSR_MCOUNTINHIBIT: writeCountInhibit(hart, value & MCOUNTINHIBIT_WRITABLE); return;
    case CSR_MSCRATCH: hart.mscratch = value; return;
    case CSR_MEPC: hart.mepc = value & hart.epcMask; return;
    case CSR_MCAUSE: hart.mcause = value; return;
    case CSR_MTVAL: hart.mtval = value; return;
    case CSR_MIP: hart.mipSoftware = value & MIP_WRITABLE; return;
  }
  if (csr >= CSR_TSELECT && csr <= CSR_TINFO) {
    writeTrigger(hart, csr, value);
    return;
  }
  if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
    hart.pmp.writeCfg(csr - CSR_PMPCFG0, value);
    hart.flushTlbs();
    return;
  }
  if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
    hart.pmp.writeAddr(csr - CSR_PMPADDR0, value);
    hart.flushTlbs();
    return;
  }
  if (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31) {
    hart.mhpmevent[csr - MHPMEVENT_BASE] = value;
    return;
  }
  if ((csr & COUNTER_FAMILY) === CSR_MCYCLE || (csr & COUNTER_FAMILY) === CSR_MCYCLEH) {
    const index = csr & 0x1f;
    const current = counterValue(hart, index);
    const high = Math.floor(current / TWO32);
    const low = current - high * TWO32;
    const next = (csr & COUNTER_HIGH) !== 0 ? (value >>> 0) * TWO32 + low : high * TWO32 + (value >>> 0);
    setCounter(hart, index, next);
  }
}

/**
 * The trigger CSRs (Sdtrig, triggers.ts). A hart built without triggers has none of them: an
 * access is an illegal instruction, as on a hart without Sdtrig.
 */
function readTrigger(triggers: Triggers, csr: number): number | undefined {
  if (triggers.count === 0) return undefined;
  switch (csr) {
    case CSR_TSELECT: return triggers.tselect;
    case CSR_TDATA1: return triggers.tdata1[triggers.tselect]!;
    case CSR_TDATA2: return triggers.tdata2[triggers.tselect]!;
    case CSR_TDATA3: return 0;
    default: return triggers.tinfo;
  }
}

function writeTrigger(hart: CsrHart, csr: number, value: number): void {
  const triggers = hart.triggers;
  if (csr === CSR_TSELECT) triggers.writeTselect(value);
  else if (csr === CSR_TDATA2) triggers.writeTdata2(value);
  else if (csr === CSR_TDATA1) {
    triggers.writeTdata1(value);
    // Loads and stores that hit the TLBs never reach the slow paths, where data triggers are
    // checked: empty them (the hart fills no data entries while a data trigger is armed).
    if (triggers.dataArmed) hart.flushTlbs();
  }
  // tdata3 and tinfo: read-only here, writes ignored (tinfo is read-only by the spec; tdata3's
  // fields are all optional and none is implemented).
}

function writeMstatus(hart: CsrHart, value: number): void {
  let next = (hart.mstatus & ~MSTATUS_WRITABLE) | (value & MSTATUS_WRITABLE);
  // MPP is WARL over implemented modes (§3.1.6.1): 2 is not one, so keep the old MPP. QEMU 7.2
  // stores 2 as written; the specification wins.
  if (((next >>> MPP_SHIFT) & 3) === 2) next = (next & ~MSTATUS.MPP) | (hart.mstatus & MSTATUS.MPP);
  // SD summarizes FS, VS and XS being dirty (only VS is writable here).
  next &= ~MSTATUS.SD;
  if ((next & MSTATUS.VS) === MSTATUS.VS || (next & MSTATUS.FS) === MSTATUS.FS) next |= MSTATUS.SD;
  // SUM and MXR take part in Sv32 leaf checks, so the entries of translated pages must go. Only
  // the S- and U-mode TLBs ever hold translated pages (M-mode data accesses under MPRV use those
  // of MPP), and only while satp selects Sv32 (every satp write flushes all TLBs): with Bare,
  // their entries depend on PMP alone. MPRV and MPP select TLBs (`tlbFor`) rather than fill
  // them, and changing them ends the engine's run, which then picks the TLBs afresh.
  if (((next ^ hart.mstatus) & (MSTATUS.SUM | MSTATUS.MXR)) !== 0 && (hart.satp & SATP_MODE_SV32) !== 0) {
    hart.flushTranslatedTlbs();
  }
  hart.mstatus = next;
}

function writeCountInhibit(hart: CsrHart, value: number): void {
  // Freeze or resume mcycle/minstret by folding the elapsed count into their offsets.
  const changed = value ^ hart.mcountinhibit;
  if (changed & COUNTEREN.CY) {
    if (value & COUNTEREN.CY) hart.frozenCycle = hart.mcycle;
    else {
      hart.cycleOffset = (hart.frozenCycle ?? 0) - hart.steps - 1;
      hart.frozenCycle = undefined;
    }
  }
  if (changed & COUNTEREN.IR) {
    if (value & COUNTEREN.IR) hart.frozenInstret = hart.minstret;
    else {
      hart.instretOffset = (hart.frozenInstret ?? 0) - (hart.steps - hart.trapped) - 1;
      hart.frozenInstret = undefined;
    }
  }
  hart.mcountinhibit = value;
}