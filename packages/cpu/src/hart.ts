import { decodeInto, ISA_PROFILES, Op, OP_COUNT, type Instruction, type IsaProfile } from "@matryoshka/isa";
import { BUS_ERROR, type Bus, type GuestPhysicalAddress } from "@matryoshka/memory";
import {
  Access,
  ACCESS_FAULT_CAUSE,
  PAGE_FAULT_CAUSE,
  Pmp,
  PMP_R,
  PMP_W,
  PMP_X,
  SATP_MODE_SV32,
  Tlb,
  WALK_ACCESS_FAULT,
  WALK_PAGE_FAULT,
  WalkInfo,
  walkSv32,
  type PageWalker,
  type TranslationState,
} from "@matryoshka/mmu";
import { CodeCache, missPage, pack } from "./code-cache.js";
import { Cause, INTERRUPT_BIT, Irq, MPP_SHIFT, MSTATUS, Priv } from "./constants.js";
import * as csrFile from "./csr-file.js";
import { TriggerAccess, Triggers } from "./triggers.js";

/** Internal operations of the pre-decode cache, beyond the `isa` operations. */
export const InternalOp = {
  /** An ALU instruction whose destination is x0: it retires and does nothing. */
  NOP: OP_COUNT,
  /** A 4-byte instruction starting in the last halfword of a page: decoded on every execution. */
  STRADDLE: OP_COUNT + 1,
  /** A slot not decoded yet (pages start filled with it, see CodeCache). */
  DECODE: OP_COUNT + 2,
  /** Past the end of a page, or on a page the engine has not fetched: translate the pc. */
  PAGE_END: OP_COUNT + 3,
} as const;

/** Why an engine returned control. */
export const StopReason = {
  /** The instruction budget ran out (or the run was cut short for the caller to update time). */
  Budget: 0,
  /** WFI with nothing pending: the machine may skip time to the next event. */
  Wfi: 1,
  /** A trap was intercepted for the host (see `Hart.interceptTraps`). */
  Intercept: 2,
  /** A device asked the machine to stop (e.g. the test device). */
  Halt: 3,
} as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

export interface HartOptions {
  hartId?: number;
  /** Number of PMP entries, 0..64; 0 means no PMP (QEMU's pmp=false). Default 16, as QEMU. */
  pmpEntries?: number;
  /** Whether the C extension is present (misa.C). Default true. */
  compressed?: boolean;
  /** Shared pre-decode cache (one per machine); created if absent. */
  codeCache?: CodeCache;
  /**
   * How U-mode accesses to sensitive state behave (see `IsaProfile` in @matryoshka/isa). Default
   * ISA_PROFILES.standard, RISC-V as specified.
   */
  profile?: IsaProfile;
  /**
   * Sdtrig triggers (triggers.ts), 0..16; 0 means no trigger CSRs at all (accessing them is an
   * illegal instruction). Default 2, as QEMU 7.2.
   */
  triggers?: number;
}

/** Interrupts in priority order (§3.1.9): MEI, MSI, MTI, SEI, SSI, STI. */
const INTERRUPT_PRIORITY = [Irq.MEI, Irq.MSI, Irq.MTI, Irq.SEI, Irq.SSI, Irq.STI] as const;

const TWO32 = 0x1_0000_0000;

/**
 * One RV32IMAC + Zicsr + Zifencei hart with M, S and U modes (privileged spec 1.12). It holds the
 * architectural state and implements everything off the fast path: CSRs, traps, interrupts,
 * translation misses and MMIO. Engines (the interpreter here, the translator in `bt`) run it.
 */
export class Hart implements csrFile.CsrHart {
  readonly hartId: number;
  readonly bus: Bus;
  readonly pmp: Pmp;
  readonly codeCache: CodeCache;
  readonly compressed: boolean;
  /** How U-mode accesses to sstatus behave: trap (standard), or not (the x86-like profiles). */
  readonly profile: IsaProfile;

  /** Integer registers; x[0] is kept zero. */
  readonly x = new Int32Array(32);
  /** Program counter (held as a signed 32-bit integer; use `pc >>> 0` for the address). */
  pc = 0;
  priv: number = Priv.M;

  // Machine and supervisor CSRs.
  mstatus = 0;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** The software-writable bits of mip. */
  mipSoftware = 0;
  /** Interrupt lines driven by devices: MSIP and MTIP (CLINT), MEIP and SEIP (PLIC). */
  mipLines = 0;
  mtvec = 0;
  stvec = 0;
  mepc = 0;
  sepc = 0;
  mcause = 0;
  scause = 0;
  mtval = 0;
  stval = 0;
  mscratch = 0;
  sscratch = 0;
  satp = 0;
  mcounteren = 0;
  scounteren = 0;
  menvcfg = 0;
  senvcfg = 0;
  mcountinhibit = 0;
  readonly mhpmevent = new Int32Array(32);
  readonly mhpmcounter = new Float64Array(32);
  /** Sdtrig's trigger registers: tselect, tdata1..3, tinfo (see triggers.ts). */
  readonly triggers: Triggers;

  /** Traps taken, by cause: exceptions and interrupts separately (for statistics). */
  readonly exceptionCounts = new Float64Array(32);
  readonly interruptCounts = new Float64Array(32);

  /** Instructions started (retired or trapped): the basis of mcycle and of deterministic time. */
  steps = 0;
  /** Instructions that trapped instead of retiring. */
  trapped = 0;
  // How mcycle and minstret relate to `steps` and `trapped` (the counters' writes and inhibits in
  // csr-file.ts keep them): offsets while counting, the frozen value while inhibited.
  cycleOffset = 0;
  instretOffset = 0;
  frozenCycle: number | undefined = undefined;
  frozenInstret: number | undefined = undefined;
  /**
   * Machine time for the `time` CSR. The board replaces this with its CLINT's mtime; alone, a
   * hart counts one tick per ten instructions.
   */
  readTime: () => number = () => Math.floor(this.steps / 10);

  /** LR/SC: reserved physical address (-1 for none) and the value LR read there. */
  reservation = -1;
  reservationValue = 0;

  /** TLBs indexed [access * 3 + privilegeIndex], privilegeIndex 0 U, 1 S, 2 M. */
  readonly tlbs: Tlb[];
  private readonly walkInfo = new WalkInfo();
  /**
   * The walk used when translation is on: null for the architectural Sv32 walk over this hart's
   * bus (always, on hardware). A hypervisor sets one on a virtual hart whose guest's page tables
   * are not in guest-physical terms (see `PageWalker`); changing it requires `flushTlbs`.
   */
  pageWalker: PageWalker | null = null;
  private readonly translation: TranslationState = { satp: 0, priv: 0, sum: false, mxr: false };
  private pmpVersion = 0;

  /** Set by slow paths when they raised an exception, for the engine to notice. */
  faulted = false;
  /** Set when the engine must leave its inner loop (state it caches changed). */
  needsResync = false;
  /** A device or the host asked the engine to stop; `pendingStopReason` says why. */
  stopRequested = false;
  pendingStopReason: StopReason = StopReason.Halt;

  /** Asks the running engine to return at the next instruction boundary it checks. */
  requestStop(reason: StopReason = StopReason.Halt): void {
    this.pendingStopReason = reason;
    this.stopRequested = true;
    this.needsResync = true;
  }

  /** Ends a stop request (see `requestStop`): what an engine returns when it notices one. */
  consumeStop(): StopReason {
    this.stopRequested = false;
    const reason = this.pendingStopReason;
    this.pendingStopReason = StopReason.Halt;
    return reason;
  }

  /**
   * Host interception (for a hypervisor running on bare metal): when set, a trap is not delivered
   * to the guest's CSRs; the engine stops with StopReason.Intercept and the trap is described in
   * `intercepted*`. Interrupts are intercepted too.
   */
  interceptTraps = false;
  /**
   * What watches this hart's traps and page walks (`--trace int,mmu`): null unless tracing, so
   * that the only cost when off is one check on paths that are slow anyway (trap delivery, TLB misses).
   */
  observer: HartObserver | null = null;
  /**
   * Set by a hypervisor entering a guest context that must not execute sensitive instructions
   * natively (the binary-translation backend): an engine that translates code turns each one into
   * `hypervisorCall` instead of executing it. Engines that do not translate (the interpreter)
   * ignore it; on an ISA profile that is not classically virtualizable they cannot do better.
   */
  sensitiveCalls = false;
  interceptedCause = 0;
  interceptedTval = 0;
  interceptedInstruction = 0;

  /**
   * Scratch decode page for one instruction that is not in a cacheable RAM page (ROM, a page PMP
   * splits, a 4-byte instruction across a page boundary). Every other slot says PAGE_END, so the
   * engine fetches again right after executing it.
   */
  readonly scratchCode = missPage();
  /** The slot of `scratchCode` that may hold an instruction (all others say PAGE_END), or -1. */
  private scratchCodeSlot = -1;
  private readonly decoded: Instruction = { op: Op.ILLEGAL, rd: 0, rs1: 0, rs2: 0, imm: 0, csr: 0, aqrl: 0, length: 4, raw: 0 };

  constructor(bus: Bus, options: HartOptions = {}) {
    this.bus = bus;
    this.hartId = options.hartId ?? 0;
    this.pmp = new Pmp(options.pmpEntries ?? 16);
    this.compressed = options.compressed ?? true;
    this.profile = options.profile ?? ISA_PROFILES.standard;
    this.triggers = new Triggers(options.triggers);
    this.codeCache = options.codeCache ?? new CodeCache(bus.ram.base, bus.ram.size);
    this.tlbs = [];
    for (let i = 0; i < 9; i++) this.tlbs.push(new Tlb());
    for (let p = 0; p < 3; p++) this.codeCache.registerStoreTlb(this.tlbs[Access.Store * 3 + p]!);
  }

  // ---------------------------------------------------------------------------------------------
  // Counters

  get mcycle(): number {
    return this.frozenCycle ?? this.steps + this.cycleOffset;
  }
  get minstret(): number {
    return this.frozenInstret ?? this.steps - this.trapped + this.instretOffset;
  }

  // ---------------------------------------------------------------------------------------------
  // Privilege and TLB selection

  /** Effective privilege of loads and stores: MPRV in M-mode uses MPP (§3.1.6.3). */
  get dataPriv(): number {
    if (this.priv === Priv.M && (this.mstatus & MSTATUS.MPRV) !== 0) return (this.mstatus >>> MPP_SHIFT) & 3;
    return this.priv;
  }

  tlbFor(access: Access, priv: number): Tlb {
    return this.tlbs[access * 3 + (priv === Priv.M ? 2 : priv)]!;
  }

  flushTlbs(): void {
    const tlbs = this.tlbs;
    for (let i = 0; i < tlbs.length; i++) tlbs[i]!.flush();
  }

  /** Flushes the TLBs of S- and U-mode accesses, the only ones that hold translated pages. */
  flushTranslatedTlbs(): void {
    const tlbs = this.tlbs;
    for (let access = 0; access < 3; access++) {
      tlbs[access * 3]!.flush();
      tlbs[access * 3 + 1]!.flush();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Traps and interrupts (§3.1.6.1, §3.1.7, §3.1.9, §4.1.1)

  /** Raises a synchronous exception at the current pc. */
  raiseException(cause: number, tval: number): void {
    this.trapped++;
    this.faulted = true;
    this.needsResync = true;
    if (this.interceptTraps) {
      this.interceptedCause = cause;
      this.interceptedTval = tval >>> 0;
      this.requestStop(StopReason.Intercept);
      return;
    }
    this.deliverTrap(cause, tval, false);
  }

  private deliverTrap(cause: number, tval: number, interrupt: boolean): void {
    (interrupt ? this.interruptCounts : this.exceptionCounts)[cause & 31]!++;
    const delegation = interrupt ? this.mideleg : this.medeleg;
    const pc = this.pc;
    const from = this.priv;
    if (this.priv !== Priv.M && ((delegation >>> cause) & 1) !== 0) {
      this.scause = (interrupt ? INTERRUPT_BIT | cause : cause) >>> 0;
      this.sepc = pc & this.epcMask;
      this.stval = tval >>> 0;
      let s = this.mstatus & ~(MSTATUS.SPP | MSTATUS.SPIE | MSTATUS.SIE);
      if (this.priv === Priv.S) s |= MSTATUS.SPP;
      if (this.mstatus & MSTATUS.SIE) s |= MSTATUS.SPIE;
      this.mstatus = s;
      this.priv = Priv.S;
      this.pc = trapVector(this.stvec, cause, interrupt);
    } else {
      this.mcause = (interrupt ? INTERRUPT_BIT | cause : cause) >>> 0;
      this.mepc = pc & this.epcMask;
      this.mtval = tval >>> 0;
      let s = this.mstatus & ~(MSTATUS.MPP | MSTATUS.MPIE | MSTATUS.MIE);
      s |= this.priv << MPP_SHIFT;
      if (this.mstatus & MSTATUS.MIE) s |= MSTATUS.MPIE;
      this.mstatus = s;
      this.priv = Priv.M;
      this.pc = trapVector(this.mtvec, cause, interrupt);
    }
    if (this.observer !== null) this.observer.trap(this, cause, interrupt, pc, tval >>> 0, from);
  }

  get mip(): number {
    return this.mipSoftware | this.mipLines;
  }

  /** Drives an interrupt line (MSIP, MTIP, MEIP or SEIP bit) from a device. */
  setInterruptLine(bit: number, level: boolean): void {
    const before = this.mipLines;
    this.mipLines = level ? before | bit : before & ~bit;
    if (this.mipLines !== before) this.needsResync = true;
  }

  /** The interrupt to take now, or -1 (§3.1.9: enable rules and priority). */
  pendingInterrupt(): number {
    const pending = (this.mipSoftware | this.mipLines) & this.mie;
    if (pending === 0) return -1;
    const mEnabled = this.priv < Priv.M || (this.mstatus & MSTATUS.MIE) !== 0;
    const sEnabled = this.priv < Priv.S || (this.priv === Priv.S && (this.mstatus & MSTATUS.SIE) !== 0);
    const mLevel = mEnabled ? pending & ~this.mideleg : 0;
    const sLevel = sEnabled ? pending & this.mideleg : 0;
    const candidates = mLevel !== 0 ? mLevel : sLevel;
    if (candidates === 0) return -1;
    for (const irq of INTERRUPT_PRIORITY) if ((candidates >>> irq) & 1) return irq;
    return -1;
  }

  /** Takes an interrupt (the current pc is the instruction that has not run yet). */
  takeInterrupt(irq: number): void {
    this.needsResync = true;
    if (this.interceptTraps) {
      this.interceptedCause = (INTERRUPT_BIT | irq) >>> 0;
      this.interceptedTval = 0;
      this.requestStop(StopReason.Intercept);
      return;
    }
    this.deliverTrap(irq, 0, true);
  }

  /** Whether any enabled-in-mie interrupt is pending, regardless of global enables: WFI wakes on it. */
  get wakeable(): boolean {
    return ((this.mipSoftware | this.mipLines) & this.mie) !== 0;
  }

  /** The bits of mepc and sepc that exist: IALIGN is 16 with C, 32 without (§3.1.14). */
  get epcMask(): number {
    return this.compressed ? ~1 : ~3;
  }

  /**
   * Checks the execute triggers against the instruction at the pc, before it runs (timing 0), and
   * raises the breakpoint exception (tval = the pc, priv. spec §3.1.16) if one fires: the
   * instruction then started and trapped. Engines call this before each instruction only while
   * `triggers.executeArmed`. Returns whether it fired.
   */
  executeTriggerFired(): boolean {
    const pc = this.pc >>> 0;
    if (this.triggers.match(TriggerAccess.Execute, pc, this.priv, (this.mstatus & MSTATUS.MIE) !== 0) < 0) return false;
    this.steps++;
    this.raiseException(Cause.Breakpoint, pc);
    return true;
  }

  /**
   * Checks the load or store triggers against a data access (the slow paths call it while
   * `triggers.dataArmed`): a match raises the breakpoint exception before the access, with the
   * address in tval. Returns whether one fired.
   */
  private dataTriggerFired(access: number, address: number): boolean {
    if (this.triggers.match(access, address, this.priv, (this.mstatus & MSTATUS.MIE) !== 0) < 0) return false;
    this.raiseException(Cause.Breakpoint, address);
    return true;
  }

  /** Raises an illegal-instruction exception with the instruction bits in tval, as QEMU does. */
  illegalInstruction(): void {
    const bits = this.instructionBitsAt(this.pc);
    this.interceptedInstruction = bits;
    this.raiseException(Cause.IllegalInstruction, bits);
  }

  /**
   * The encoding at an address (fetch permissions assumed already checked), 0 if unreadable: 16
   * bits for a compressed instruction, 32 otherwise.
   *
   * The instruction just executed was normally fetched through the fetch TLB, and so was decoded
   * from the RAM frame the TLB holds for its page: read it from there. Only instructions that
   * straddle a page, lie outside the TLB (ROM, pages PMP splits, TLB flushed since) or in a page
   * with a device overlay take a translation.
   */
  instructionBitsAt(pc: number): number {
    const address = pc >>> 0;
    const offset = address & 0xfff;
    const tlb = this.tlbFor(Access.Fetch, this.priv);
    const vpn = address >>> 12;
    const index = vpn & 255;
    if (tlb.tag[index] === vpn && offset !== 0xffe) {
      const frameOffset = tlb.frameOffset[index]!;
      const bus = this.bus;
      if (bus.overlayPages.size === 0 || !bus.overlayPages.has(tlb.framePage[index]!)) {
        const u16 = bus.ram.u16;
        const halfword = (frameOffset + offset) >>> 1;
        const low = u16[halfword]!;
        return (low & 3) !== 3 ? low : (low | (u16[halfword + 1]! << 16)) >>> 0;
      }
    }
    return this.instructionBitsByWalk(pc);
  }

  private instructionBitsByWalk(pc: number): number {
    const pa = this.translateNoFault(pc, Access.Fetch);
    if (pa < 0) return 0;
    const low = this.bus.fetch(pa, 2);
    if (low === BUS_ERROR) return 0;
    if ((low & 3) !== 3) return low;
    const highPa = ((pc + 2) & 0xfff) === 0 ? this.translateNoFault(pc + 2, Access.Fetch) : pa + 2;
    const high = highPa < 0 ? BUS_ERROR : this.bus.fetch(highPa, 2);
    return high === BUS_ERROR ? low : (low | (high << 16)) >>> 0;
  }

  // ---------------------------------------------------------------------------------------------
  // System instructions

  mret(): void {
    if (this.priv < Priv.M) return this.illegalInstruction();
    const s = this.mstatus;
    const previous = (s >>> MPP_SHIFT) & 3;
    let next = s & ~(MSTATUS.MPP | MSTATUS.MIE);
    if (s & MSTATUS.MPIE) next |= MSTATUS.MIE;
    next |= MSTATUS.MPIE;
    if (previous !== Priv.M) next &= ~MSTATUS.MPRV;
    this.mstatus = next;
    this.priv = previous;
    this.pc = this.mepc & this.epcMask;
    this.needsResync = true;
  }

  sret(): void {
    if (this.priv === Priv.U || (this.priv === Priv.S && (this.mstatus & MSTATUS.TSR) !== 0)) {
      return this.illegalInstruction();
    }
    const s = this.mstatus;
    const previous = s & MSTATUS.SPP ? Priv.S : Priv.U;
    let next = s & ~(MSTATUS.SPP | MSTATUS.SIE);
    if (s & MSTATUS.SPIE) next |= MSTATUS.SIE;
    next |= MSTATUS.SPIE;
    next &= ~MSTATUS.MPRV; // the new privilege is below M (§3.1.6.1)
    this.mstatus = next;
    this.priv = previous;
    this.pc = this.sepc & this.epcMask;
    this.needsResync = true;
  }

  /**
   * WFI (§3.3.3): illegal in U-mode (S-mode exists) and in S-mode when TW=1, as QEMU does with a
   * zero time limit. Returns true if the hart should sleep (nothing pending locally).
   */
  wfi(): boolean {
    if (this.priv === Priv.U || (this.priv === Priv.S && (this.mstatus & MSTATUS.TW) !== 0)) {
      this.illegalInstruction();
      return false;
    }
    return !this.wakeable;
  }

  /**
   * Observer of executed sfence.vma instructions: the virtual address (undefined: all) and ASID
   * (undefined: all). A hypervisor emulating a guest's fences uses it to drop shadow page-table
   * entries.
   */
  onSfenceVma: ((va: number | undefined, asid: number | undefined) => void) | undefined = undefined;

  sfenceVma(rs1: number, rs2: number): void {
    if (this.priv === Priv.U || (this.priv === Priv.S && (this.mstatus & MSTATUS.TVM) !== 0)) {
      return this.illegalInstruction();
    }
    this.onSfenceVma?.(rs1 !== 0 ? this.x[rs1]! >>> 0 : undefined, rs2 !== 0 ? this.x[rs2]! & 0x1ff : undefined);
    // Our TLBs are not tagged by ASID, so an ASID-specific fence flushes like a global one.
    if (rs1 !== 0) {
      const va = this.x[rs1]!;
      for (const tlb of this.tlbs) tlb.flushPage(va);
    } else {
      this.flushTlbs();
    }
    this.needsResync = true;
  }

  fenceI(): void {
    this.codeCache.clear();
    this.needsResync = true;
  }

  ecall(): void {
    const cause = this.priv === Priv.U ? Cause.EcallFromU : this.priv === Priv.S ? Cause.EcallFromS : Cause.EcallFromM;
    this.interceptedInstruction = 0x73;
    this.raiseException(cause, 0);
  }

  /**
   * Hands the sensitive instruction at the pc (its encoding: `bits`) to the hypervisor instead of
   * executing it: an exit with cause VirtualInstruction, or, with no hypervisor intercepting, that
   * exception. The instruction does not retire; the hypervisor emulates it.
   */
  hypervisorCall(bits: number): void {
    this.interceptedInstruction = bits >>> 0;
    this.raiseException(Cause.VirtualInstruction, bits);
  }

  /** EBREAK: mtval may be 0 or the pc (§3.1.16); QEMU 7.2 writes 0, so do we. */
  ebreak(): void {
    this.raiseException(Cause.Breakpoint, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // CSRs: addresses, access rules and WARL behaviour are in csr-file.ts

  /**
   * Executes a Zicsr instruction. `source` is the rs1 register number (or the uimm for the I
   * forms). Returns false if it trapped.
   */
  csrInstruction(op: number, rd: number, source: number, csr: number): boolean {
    return csrFile.csrInstruction(this, op, rd, source, csr);
  }

  /** Reads a CSR; undefined if it does not exist. No side effects. */
  readCsr(csr: number): number | undefined {
    return csrFile.readCsr(this, csr);
  }

  /** Writes a CSR known to exist and be writable; applies its WARL rules. */
  writeCsr(csr: number, value: number): void {
    csrFile.writeCsr(this, csr, value);
  }

  // ---------------------------------------------------------------------------------------------
  // Translation and the memory slow paths

  private translationState(priv: number): TranslationState {
    const t = this.translation;
    t.satp = this.satp;
    t.priv = priv;
    t.sum = (this.mstatus & MSTATUS.SUM) !== 0;
    t.mxr = (this.mstatus & MSTATUS.MXR) !== 0;
    return t;
  }

  /**
   * Translates a virtual address for an access at the privilege that access uses, checks PMP, and
   * returns the physical address, or a negative number after raising the fault. `size` is the
   * width for the PMP check.
   */
  translate(va: number, access: Access, size: number): number {
    const priv = access === Access.Fetch ? this.priv : this.dataPriv;
    const address = va >>> 0;
    let pa = address;
    if (priv !== Priv.M && (this.satp & SATP_MODE_SV32) !== 0) {
      const walker = this.pageWalker;
      const state = this.translationState(priv);
      pa = walker === null ? walkSv32(this.bus, this.pmp, address, access, state, this.walkInfo) : walker.walk(address, access, state, this.walkInfo);
      if (this.observer !== null) this.observer.walk(this, address, pa, access);
      if (pa === WALK_PAGE_FAULT) {
        this.raiseException(PAGE_FAULT_CAUSE[access], address);
        return -1;
      }
      if (pa === WALK_ACCESS_FAULT) {
        this.raiseException(ACCESS_FAULT_CAUSE[access], address);
        return -1;
      }
    }
    const perm = access === Access.Fetch ? PMP_X : access === Access.Load ? PMP_R : PMP_W;
    if (pa + size > TWO32 || !this.pmp.check(pa, size, perm, priv)) {
      this.raiseException(ACCESS_FAULT_CAUSE[access], address);
      return -1;
    }
    return pa;
  }

  /**
   * A debugger's view of a virtual address: the physical address the hart's current privilege
   * and satp map it to (untranslated in M-mode or with satp Bare), or -1. The walk reads the page
   * tables as a load would, with SUM and MXR set (a debugger reads what the mode could reach with
   * them), raises nothing, and does not read a PTE outside plain RAM; like a load, it may set
   * the A bit of the leaf.
   */
  debugTranslate(va: number): number {
    const priv = this.priv;
    if (priv === Priv.M || (this.satp & SATP_MODE_SV32) === 0) return va >>> 0;
    const savedFault = this.faulted;
    const state = this.translationState(priv);
    state.sum = true;
    state.mxr = true;
    const walker = this.pageWalker;
    const pa = walker === null ? walkSv32(this.bus, this.pmp, va >>> 0, Access.Load, state, this.walkInfo, true) : walker.walk(va >>> 0, Access.Load, state, this.walkInfo);
    this.faulted = savedFault;
    return pa < 0 ? -1 : pa;
  }

  /** Translation without side effects on failure (no exception, no A/D). */
  private translateNoFault(va: number, access: Access): number {
    const priv = access === Access.Fetch ? this.priv : this.dataPriv;
    if (priv === Priv.M || (this.satp & SATP_MODE_SV32) === 0) return va >>> 0;
    const savedFault = this.faulted;
    const walker = this.pageWalker;
    const state = this.translationState(priv);
    const pa = walker === null ? walkSv32(this.bus, this.pmp, va >>> 0, access, state, this.walkInfo) : walker.walk(va >>> 0, access, state, this.walkInfo);
    this.faulted = savedFault;
    return pa;
  }

  /**
   * Fills the TLB for the page of `va` if the page is plain RAM that PMP treats uniformly, and (for
   * stores) holds no decoded code. Called after a successful `translate`.
   */
  private maybeFillTlb(va: number, pa: number, access: Access): void {
    const ram = this.bus.ram;
    const pagePa = pa - (pa & 0xfff);
    if (pagePa < ram.base || pagePa + 4096 > ram.base + ram.size) return;
    // While a data trigger is armed, every load and store must reach the slow paths.
    if (access !== Access.Fetch && this.triggers.dataArmed) return;
    const priv = access === Access.Fetch ? this.priv : this.dataPriv;
    const perms = this.pmp.pagePermissions(pagePa, priv);
    const perm = access === Access.Fetch ? PMP_X : access === Access.Load ? PMP_R : PMP_W;
    if (perms < 0 || (perms & perm) === 0) return;
    if (access === Access.Store && this.codeCache.hasCode((pagePa - ram.base) >>> 12)) return;
    if (access !== Access.Fetch && this.bus.overlayPages.size > 0 && this.bus.overlayPages.has(pagePa / 4096)) return;
    // Where the page's frame is now; a store entry is a write permission, which the memory grants
    // (and logs) only when asked for one. Entries stay valid while `ram.remaps` does not move.
    const frameOffset = ram.frameOffset(pagePa / 4096, access === Access.Store);
    if (frameOffset < 0) return;
    this.tlbFor(access, priv).fill(va, frameOffset, pagePa / 4096);
  }

  /** `bus.ram.remaps.count` when the TLBs last matched the memory's frames (see `forgetStaleFrames`). */
  private seenRemaps = 0;

  /**
   * Empties the TLBs if a page of the hart's memory, or of a memory beneath it, moved to another
   * frame since they were filled (or write permissions were revoked for the dirty log). Only a
   * VM's virtual harts need this: hardware RAM never moves, and what runs on the hardware reaches a
   * VM's pages through shadow tables, which their hypervisor keeps right.
   */
  forgetStaleFrames(): void {
    const count = this.bus.ram.remaps.count;
    if (count !== this.seenRemaps) {
      this.seenRemaps = count;
      this.flushTlbs();
    }
  }

  /** A load that missed the TLB or is misaligned or MMIO. Returns the unsigned value. */
  loadSlow(va: number, size: 1 | 2 | 4): number {
    const address = va >>> 0;
    if (this.triggers.dataArmed && this.dataTriggerFired(TriggerAccess.Load, address)) return 0;
    if ((address & 0xfff) + size > 4096) return this.loadStraddling(address, size);
    const pa = this.translate(address, Access.Load, size);
    if (pa < 0) return 0;
    this.maybeFillTlb(address, pa, Access.Load);
    const value = this.bus.load(pa, size);
    if (value === BUS_ERROR) {
      this.raiseException(Cause.LoadAccessFault, address);
      return 0;
    }
    if (!this.bus.ram.contains(pa as GuestPhysicalAddress, size)) this.needsResync = true; // a device may have changed state
    return value;
  }

  private loadStraddling(address: number, size: number): number {
    let value = 0;
    for (let i = 0; i < size; i++) {
      const pa = this.translate((address + i) >>> 0, Access.Load, 1);
      if (pa < 0) return 0;
      const byte = this.bus.load(pa, 1);
      if (byte === BUS_ERROR) {
        this.raiseException(Cause.LoadAccessFault, (address + i) >>> 0);
        return 0;
      }
      value |= byte << (8 * i);
    }
    return value >>> 0;
  }

  /** A store that missed the TLB, or is misaligned, MMIO, or to a page holding decoded code. */
  storeSlow(va: number, size: 1 | 2 | 4, value: number): void {
    const address = va >>> 0;
    if (this.triggers.dataArmed && this.dataTriggerFired(TriggerAccess.Store, address)) return;
    if ((address & 0xfff) + size > 4096) {
      // Translate every byte before writing any, so a fault leaves memory untouched.
      const pas: number[] = [];
      for (let i = 0; i < size; i++) {
        const pa = this.translate((address + i) >>> 0, Access.Store, 1);
        if (pa < 0) return;
        pas.push(pa);
      }
      for (let i = 0; i < size; i++) {
        if (!this.bus.isMapped(pas[i]!)) {
          this.raiseException(Cause.StoreAccessFault, (address + i) >>> 0);
          return;
        }
      }
      for (let i = 0; i < size; i++) this.storePhysical(pas[i]!, 1, (value >>> (8 * i)) & 0xff);
      return;
    }
    const pa = this.translate(address, Access.Store, size);
    if (pa < 0) return;
    this.maybeFillTlb(address, pa, Access.Store);
    if (!this.storePhysical(pa, size, value)) this.raiseException(Cause.StoreAccessFault, address);
  }

  /** Stores to a physical address, keeping the decode cache coherent. */
  private storePhysical(pa: number, size: 1 | 2 | 4, value: number): boolean {
    const ram = this.bus.ram;
    const inRam = ram.contains(pa as GuestPhysicalAddress, size);
    if (inRam) this.codeCache.invalidateBytes(pa - ram.base, size);
    // Outside RAM, or in a page with a device overlay: a device may have changed state.
    if (!inRam || this.bus.overlayPages.has(pa >>> 12)) this.needsResync = true;
    return this.bus.store(pa, size, value);
  }

  /**
   * Translates for an atomic read-modify-write and returns the RAM word index, or -1 after raising
   * a fault. AMOs need write permission and natural alignment (QEMU raises store/AMO misaligned);
   * they are only supported on RAM (an AMO to MMIO is a store/AMO access fault).
   */
  atomicAddress(va: number, isLoadReserved: boolean, amo = false): number {
    const address = va >>> 0;
    // Data triggers: LR loads, SC stores, an AMO does both (the load trigger is checked first).
    if (this.triggers.dataArmed) {
      if ((isLoadReserved || amo) && this.dataTriggerFired(TriggerAccess.Load, address)) return -1;
      if (!isLoadReserved && this.dataTriggerFired(TriggerAccess.Store, address)) return -1;
    }
    if ((address & 3) !== 0) {
      this.raiseException(isLoadReserved ? Cause.LoadMisaligned : Cause.StoreMisaligned, address);
      return -1;
    }
    const access = isLoadReserved ? Access.Load : Access.Store;
    const pa = this.translate(address, access, 4);
    if (pa < 0) return -1;
    const ram = this.bus.ram;
    const frameOffset = ram.contains(pa as GuestPhysicalAddress, 4) ? ram.frameOffset(pa >>> 12, !isLoadReserved) : -1;
    if (frameOffset < 0) {
      this.raiseException(isLoadReserved ? Cause.LoadAccessFault : Cause.StoreAccessFault, address);
      return -1;
    }
    if (!isLoadReserved) this.codeCache.invalidateBytes(pa - ram.base, 4);
    return (frameOffset + (pa & 0xfff)) >>> 2;
  }

  // ---------------------------------------------------------------------------------------------
  // Instruction fetch and decode

  /**
   * Finds the decode page for the pc: translates it (raising a fetch fault if needed) and returns
   * the shared page for RAM, or the scratch page with this one instruction decoded for anything
   * else (ROM). Returns undefined if fetching faulted.
   * `fetchRamOffset` is set to the page's RAM byte offset, or -1 for the scratch page.
   */
  fetchPage(pc: number): Int32Array | undefined {
    const address = pc >>> 0;
    if ((address & 1) !== 0 || (!this.compressed && (address & 2) !== 0)) {
      this.raiseException(Cause.InstructionMisaligned, address);
      return undefined;
    }
    const tlb = this.tlbFor(Access.Fetch, this.priv);
    const vpn = address >>> 12;
    const index = vpn & 255;
    if (tlb.tag[index] === vpn) {
      this.fetchRamOffset = tlb.frameOffset[index]!;
      return this.codeCache.page(tlb.framePage[index]! - (this.bus.ram.base >>> 12));
    }
    const pa = this.translate(address, Access.Fetch, 2);
    if (pa < 0) return undefined;
    this.maybeFillTlb(address, pa, Access.Fetch);
    if (tlb.tag[index] === vpn) {
      this.fetchRamOffset = tlb.frameOffset[index]!;
      return this.codeCache.page(tlb.framePage[index]! - (this.bus.ram.base >>> 12));
    }
    // Not cacheable (ROM, or RAM that PMP splits): decode just this instruction.
    this.fetchRamOffset = -1;
    const slot = (address & 0xfff) >>> 1;
    const scratch = this.emptyScratchCode(slot);
    if (!this.decodeFromBus(address, pa, scratch, slot)) return undefined;
    return scratch;
  }

  /**
   * Where in the memory's views the page `fetchPage` last returned lies (its frame offset, which
   * is also its RAM offset on hardware); -1 for the scratch page.
   */
  fetchRamOffset = -1;

  /** Decodes the instruction at a RAM page slot into a page array. */
  decodeSlot(page: Int32Array, ramOffset: number, slot: number): void {
    this.codeCache.noteDecode(page, slot);
    const u16 = this.bus.ram.u16;
    const halfword = (ramOffset >>> 1) + slot;
    const low = u16[halfword]!;
    if ((low & 3) === 3) {
      if (slot === 2047) {
        page[slot * 2] = InternalOp.STRADDLE;
        page[slot * 2 + 1] = 0;
        return;
      }
      this.packInto(page, slot, (low | (u16[halfword + 1]! << 16)) >>> 0);
    } else {
      this.packInto(page, slot, low);
    }
  }

  /**
   * Decodes an instruction that straddles a page boundary, or lies outside cacheable RAM, into the
   * scratch page. Returns false if fetching its second half faulted.
   */
  decodeStraddling(pc: number): boolean {
    const address = pc >>> 0;
    const pa = this.translate(address, Access.Fetch, 2);
    if (pa < 0) return false;
    const slot = (address & 0xfff) >>> 1;
    return this.decodeFromBus(address, pa, this.emptyScratchCode(slot), slot);
  }

  /**
   * Returns `scratchCode` with every slot saying PAGE_END again, as `missPage` made it, for one
   * instruction to be decoded into `slot`: only the slot used last time needs resetting.
   */
  private emptyScratchCode(slot: number): Int32Array {
    const scratch = this.scratchCode;
    const previous = this.scratchCodeSlot;
    if (previous >= 0) {
      scratch[previous * 2] = InternalOp.PAGE_END;
      scratch[previous * 2 + 1] = 0;
    }
    this.scratchCodeSlot = slot;
    return scratch;
  }

  private decodeFromBus(address: number, pa: number, page: Int32Array, slot: number): boolean {
    const low = this.bus.fetch(pa, 2);
    if (low === BUS_ERROR) {
      this.raiseException(Cause.InstructionAccessFault, address);
      return false;
    }
    let raw = low;
    if ((low & 3) === 3) {
      const nextAddress = (address + 2) >>> 0;
      const highPa = (nextAddress & 0xfff) === 0 ? this.translate(nextAddress, Access.Fetch, 2) : pa + 2;
      if (highPa < 0) return false;
      const high = this.bus.fetch(highPa, 2);
      if (high === BUS_ERROR) {
        this.raiseException(Cause.InstructionAccessFault, nextAddress);
        return false;
      }
      raw = (low | (high << 16)) >>> 0;
    }
    this.packInto(page, slot, raw);
    return true;
  }

  private packInto(page: Int32Array, slot: number, raw: number): void {
    const insn = decodeInto(raw, this.decoded);
    let op: number = insn.op;
    if (insn.length === 2 && !this.compressed) op = Op.ILLEGAL;
    if (insn.rd === 0 && writesOnlyRd(op)) op = InternalOp.NOP;
    page[slot * 2] = pack(op, insn.length, insn.rd, insn.rs1, insn.rs2, insn.aqrl);
    page[slot * 2 + 1] = op === Op.CSRRW || op === Op.CSRRS || op === Op.CSRRC || op === Op.CSRRWI || op === Op.CSRRSI || op === Op.CSRRCI
      ? insn.csr
      : insn.imm;
  }

  /** Resets to the state after power-on (§3.4): M-mode, pc at the reset vector. */
  reset(pc: number): void {
    this.x.fill(0);
    this.pc = pc | 0;
    this.priv = Priv.M;
    this.mstatus = 0;
    this.mcause = 0;
    this.reservation = -1;
    this.satp = 0;
    this.triggers.reset();
    this.flushTlbs();
    this.needsResync = true;
  }
}

/** ALU operations with no effect but writing rd, which become NOPs when rd is x0. */
function writesOnlyRd(op: number): boolean {
  return (op >= Op.ADDI && op <= Op.AND) || op === Op.LUI || op === Op.AUIPC || (op >= Op.MUL && op <= Op.REMU);
}

/** Watches a hart for tracing (see `Hart.observer`); called after the event, with the hart's new state. */
export interface HartObserver {
  /** A trap taken into the hart's own CSRs: `epc` the pc it left, `from` the privilege it left (§3.1.7). */
  trap(hart: Hart, cause: number, interrupt: boolean, epc: number, tval: number, from: number): void;
  /** An Sv32 walk on a TLB miss (§4.3.2): `pa` the physical address, or negative for a fault. */
  walk(hart: Hart, va: number, pa: number, access: number): void;
}

/** Trap target (§3.1.7): vectored mode sends interrupts to base + 4 × cause. */
function trapVector(tvec: number, cause: number, interrupt: boolean): number {
  const base = tvec & ~3;
  return interrupt && (tvec & 3) === 1 ? (base + 4 * cause) | 0 : base | 0;
}
