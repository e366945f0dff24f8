import { CSR } from "@matryoshka/isa";
import { MSTATUS, Priv, StopReason, type Hart } from "@matryoshka/cpu";
import type { BoardDebugger } from "@matryoshka/machine";
import { carriesInstruction, ExitKind, type PlatformHart } from "./platform.js";

/** How a `ContextHart` runs the hart it stands for: an engine's `run`. */
export type HartRunner = (hart: Hart, budget: number) => StopReason;

/**
 * A hart as a platform hart (DESIGN.md §3), one implementation for the hardware's harts and a
 * VM's virtual ones: entering a context means putting the hart in U-mode with the context's
 * registers and root, and running it with its traps intercepted, so that they come back as exits
 * instead of going to a trap vector. The registers and the LR/SC reservation are the hart's own.
 *
 * What a hypervisor in M-mode would program once (and does here on the first entry): PMP entry 0
 * lets U-mode reach all memory (the tables decide what a context reaches). On every entry: no
 * SUM/MXR/MPRV, no interrupt enables (the hypervisor injects), and counters that trap in U-mode
 * so the context's reads of cycle, time and instret are emulated.
 */
export class ContextHart implements PlatformHart {
  readonly x: Int32Array;
  retired = 0;
  exitCause = 0;
  exitTval = 0;
  exitInstruction = 0;
  readonly hart: Hart;
  private readonly runner: HartRunner;
  /**
   * A hardware hart belongs to its hypervisor for good: its traps are always intercepted. A
   * virtual hart intercepts only while it runs a context (`enter`): between entries it is its VM's.
   */
  private readonly exclusive: boolean;
  private prepared = false;
  /**
   * A debugger watching this hart's contexts run (`--gdb-level` of a level beneath the guest's):
   * every entry goes through it, as a board's turns go through `VirtMachine.debugger`.
   */
  debugger: BoardDebugger | undefined = undefined;

  constructor(hart: Hart, runner: HartRunner, exclusive: boolean) {
    this.hart = hart;
    this.runner = runner;
    this.exclusive = exclusive;
    this.x = hart.x;
    if (exclusive) {
      hart.interceptTraps = true;
      hart.satp = 0;
      hart.priv = Priv.U;
    }
  }

  get pc(): number {
    return this.hart.pc;
  }
  set pc(value: number) {
    this.hart.pc = value;
  }
  get reservation(): number {
    return this.hart.reservation;
  }
  set reservation(value: number) {
    this.hart.reservation = value;
  }
  get reservationValue(): number {
    return this.hart.reservationValue;
  }
  set reservationValue(value: number) {
    this.hart.reservationValue = value;
  }

  enter(satp: number, budget: number, sensitiveCalls = false): ExitKind {
    const hart = this.hart;
    // Passed down: a VM's vCPU enters its own platform with it for these contexts.
    hart.sensitiveCalls = sensitiveCalls;
    if (!this.prepared) {
      this.prepared = true;
      if (hart.pmp.count > 0) {
        hart.writeCsr(CSR.pmpaddr0, 0xffff_ffff); // NAPOT over the whole 34-bit space
        hart.writeCsr(CSR.pmpcfg0, 0x1f); // entry 0 NAPOT, R W X
      }
    }
    if (hart.satp !== satp) {
      hart.satp = satp;
      hart.flushTlbs(); // the TLBs are not tagged by ASID
    }
    hart.priv = Priv.U;
    hart.mstatus &= ~(MSTATUS.SUM | MSTATUS.MXR | MSTATUS.MPRV);
    hart.mie = 0;
    hart.mcounteren = 0;
    hart.interceptTraps = true;
    hart.needsResync = true;
    const steps = hart.steps;
    const trapped = hart.trapped;
    const debug = this.debugger;
    const reason = debug === undefined ? this.runner(hart, budget) : debug.runHart(hart, budget, this.runner);
    if (!this.exclusive) hart.interceptTraps = false;
    this.retired = hart.steps - steps - (hart.trapped - trapped);
    if (reason === StopReason.Intercept) {
      const cause = hart.interceptedCause;
      this.exitCause = cause;
      this.exitTval = hart.interceptedTval;
      this.exitInstruction = carriesInstruction(cause) ? hart.interceptedInstruction : 0;
      return ExitKind.Trap;
    }
    return reason === StopReason.Budget ? ExitKind.Budget : ExitKind.Stop;
  }

  /** Whether the hart's triggers are lent to a guest's (see `lendTriggers`). */
  private lent = false;

  /**
   * Lends the hart's debug triggers to the virtual hart about to run on it (`Triggers.lend`): the
   * hypervisor owns the platform's triggers, and a vCPU's are mapped onto them while it runs, as a
   * hypervisor on hardware switches trigger state with the vCPU. Nothing is done while neither
   * side has any armed.
   */
  lendTriggers(from: Hart): void {
    const guest = from.triggers;
    const armed = guest.executeArmed || guest.dataArmed;
    if (!armed && !this.lent) return;
    const own = this.hart.triggers;
    const dataBefore = own.dataArmed;
    own.lend(guest, from.priv, (from.mstatus & MSTATUS.MIE) !== 0);
    this.lent = armed;
    // The data TLBs must not hold entries past which loads and stores skip the trigger checks.
    if (own.dataArmed && !dataBefore) this.hart.flushTlbs();
  }

  /** Forgets cached translations of one page (`va`) or of all of them. */
  flushTlb(va?: number): void {
    if (va === undefined) this.hart.flushTlbs();
    else for (const tlb of this.hart.tlbs) tlb.flushPage(va);
    this.hart.needsResync = true;
  }
}
