import { Interpreter, MPP_SHIFT, MSTATUS, Priv, StopReason, type Engine, type Hart } from "@matryoshka/cpu";
import { Cause } from "@matryoshka/isa";
import type { FrameTable } from "@matryoshka/memory";
import { Access, Fill, SATP_MODE_SV32, ShadowPageTables, type ShadowContext } from "@matryoshka/mmu";
import { ExitOutcome, type VcpuExit, type VirtualizationBackend } from "./backend.js";
import { ExitKind, type PlatformHart } from "./platform.js";

/** Exit counters of one VM's vCPUs. */
export interface ExitStats {
  /** Exits by exception cause (0..31). */
  readonly byCause: Float64Array;
  /** Exits because the instruction budget (the VM's next deadline) ran out. */
  budget: number;
  /** Exits the platform asked for (its machine stopping). */
  platform: number;
  /** Guest instructions emulated one at a time on the virtual hart. */
  emulated: number;
  /** Exits the backend answered itself (the paravirtual backend's SBI calls). */
  hypercalls: number;
  /**
   * Traps passed up to the hypervisor running in this VM (when the VM is its platform): exits this
   * level did not handle itself.
   */
  reflected: number;
  /**
   * A running hash of every exit in order (kind, cause, tval, pc, instructions retired before it):
   * two runs saw the same sequence of exits exactly when their hashes agree, which is how tests
   * check that a level's view does not depend on the levels beneath it.
   */
  trace: number;
}

const FETCH_FAULTS = (1 << Cause.InstructionPageFault) | (1 << Cause.InstructionAccessFault);
const LOAD_FAULTS = (1 << Cause.LoadPageFault) | (1 << Cause.LoadAccessFault);
const STORE_FAULTS = (1 << Cause.StorePageFault) | (1 << Cause.StoreAccessFault);
const PAGE_FAULTS = FETCH_FAULTS | LOAD_FAULTS | STORE_FAULTS;

/** What the vCPUs of one VM share: its shadow tables, frames, backend, counters and emulator. */
export interface VcpuShared {
  readonly shadow: ShadowPageTables;
  readonly frames: FrameTable;
  readonly backend: VirtualizationBackend;
  readonly exits: ExitStats;
  readonly emulator: Interpreter;
  /** What watches the VM's exits and shadow fills (`--trace exits,mmu`); null unless tracing. */
  observer: VmObserver | null;
  /** The kind of the last exit any vCPU of the VM took (-1 before the first). */
  lastExit: number;
  /** The virtual hart that took it, and its instructions started then. */
  lastExitHart: Hart | undefined;
  lastExitSteps: number;
}

/** Watches a VM's vCPUs for tracing (see `VmEngine.observer`); called after the event. */
export interface VmObserver {
  /**
   * An exit of the virtual hart `vhart` (its pc is where the guest stopped): `kind` an `ExitKind`,
   * `cause` and `tval` the trap's for a trap exit, `retired` the instructions run since entering.
   */
  exit(vhart: Hart, kind: number, cause: number, tval: number, retired: number): void;
  /** A shadow entry filled for the guest's `va` on a page fault (`access` an `Access`). */
  shadowFill(vhart: Hart, va: number, access: number): void;
}

/**
 * One virtual CPU: a virtual hart (a real `Hart` of `@matryoshka/cpu`, keeping the virtual
 * privilege mode and CSR file) and the platform hart its instructions run on, with the enter/exit
 * loop between them (trap and emulate, Popek and Goldberg's theorem 1):
 *
 * - before entering: inject a pending virtual interrupt the virtual hart would take; pick the root
 *   the context runs on (the shadow root of its address space and virtual privilege, or a root the
 *   backend validated);
 * - enter: the guest's instructions run on the platform hart in U-mode until an exit;
 * - each exit goes through `handleExit`, which returns one outcome: resume, or end the run.
 *
 * What differs between trap-and-emulate, binary translation and paravirtualization is the VM's
 * `VirtualizationBackend`. The hot path allocates nothing.
 */
export class Vcpu {
  readonly vhart: Hart;
  readonly platformHart: PlatformHart;
  /** The virtual hart's current translation, as a shadow context. */
  readonly context: ShadowContext = { satp: 0, priv: 0, sum: false, mxr: false, translated: false };
  private readonly shared: VcpuShared;
  private readonly exit: VcpuExit = { cause: 0, tval: 0, instruction: 0, retired: 0 };
  /** The last shadow fill, to spot a fault that a fill did not cure. */
  private lastFillPc = -1;
  private lastFillVa = -1;
  private lastFillCause = -1;
  /** Set for the exit being handled: the shadow root's key, and whether the context runs on a validated root. */
  private key = 0;
  private direct = false;

  constructor(vhart: Hart, platformHart: PlatformHart, shared: VcpuShared) {
    this.vhart = vhart;
    this.platformHart = platformHart;
    this.shared = shared;
  }

  /**
   * Runs the virtual hart for up to `budget` instructions. A virtual hart that intercepts its traps
   * is a platform hart of a hypervisor running in this VM, running one of that hypervisor's
   * contexts: its traps go up to that hypervisor, and this VM's backend stays out of it.
   */
  run(budget: number): StopReason {
    const vhart = this.vhart;
    const platformHart = this.platformHart;
    const { shadow, backend, exits } = this.shared;
    const context = this.context;
    const own = !vhart.interceptTraps;
    const start = vhart.steps;
    while (vhart.steps - start < budget) {
      if (vhart.stopRequested) return vhart.consumeStop();
      // A page of the VM's memory (or of one beneath) moved since the virtual hart's TLBs were filled.
      vhart.forgetStaleFrames();
      if (own && !backend.prepare(vhart)) return StopReason.Wfi;
      const irq = own && backend.interruptsMasked(vhart) ? -1 : vhart.pendingInterrupt();
      if (irq >= 0) {
        vhart.takeInterrupt(irq);
        if (vhart.stopRequested) {
          // Intercepted: the hypervisor running in this VM takes it.
          exits.reflected++;
          return vhart.consumeStop();
        }
      }
      if (!loadContext(vhart, context)) {
        // M-mode with MPRV: fetches are untranslated but data is translated, which one shadow
        // table cannot express. Interpret until the guest leaves that state (firmware does this
        // briefly, to read a trapping instruction).
        const outcome = this.emulate();
        if (outcome !== ExitOutcome.Resume) return outcome as StopReason;
        continue;
      }
      this.key = ShadowPageTables.contextKey(context);
      const directSatp = own && context.translated ? backend.directSatp(vhart) : -1;
      this.direct = directSatp !== -1;
      const satp = this.direct ? directSatp : shadow.rootSatp(this.key, context);
      if (satp < 0) throw new Error("shadow frame pool too small for a single root and table");
      platformHart.x.set(vhart.x);
      platformHart.pc = vhart.pc;
      // The reservation is the context's, like its registers: an SC the platform cannot finish is
      // emulated against the reservation the platform's LR made.
      platformHart.reservation = vhart.reservation;
      platformHart.reservationValue = vhart.reservationValue;
      platformHart.lendTriggers?.(vhart);
      const kind = platformHart.enter(satp, budget - (vhart.steps - start), own ? backend.sensitiveCalls : vhart.sensitiveCalls);
      vhart.x.set(platformHart.x);
      vhart.pc = platformHart.pc;
      vhart.reservation = platformHart.reservation;
      vhart.reservationValue = platformHart.reservationValue;
      const exit = this.exit;
      exit.retired = platformHart.retired;
      exit.cause = platformHart.exitCause;
      exit.tval = platformHart.exitTval;
      exit.instruction = platformHart.exitInstruction;
      vhart.steps += exit.retired;
      this.record(kind);
      if (this.shared.observer !== null) this.shared.observer.exit(vhart, kind, exit.cause, exit.tval, exit.retired);
      const outcome = this.handleExit(kind, own);
      if (outcome !== ExitOutcome.Resume) return outcome as StopReason;
    }
    return StopReason.Budget;
  }

  /** The one place exits are handled: what to do after an exit of `kind`. */
  private handleExit(kind: ExitKind, own: boolean): number {
    const vhart = this.vhart;
    const exit = this.exit;
    const exits = this.shared.exits;
    if (kind === ExitKind.Budget) {
      exits.budget++;
      return ExitOutcome.Resume;
    }
    if (kind === ExitKind.Stop) {
      exits.platform++;
      return StopReason.Budget;
    }
    const cause = exit.cause;
    if (cause < 0 || cause >= 32) {
      // An interrupt of the platform itself: not the guest's; let the board loop come round.
      exits.platform++;
      return StopReason.Budget;
    }
    exits.byCause[cause]!++;
    // Under direct paging a page fault is never the hypervisor's to fix: the emulation below
    // walks the guest's own tables and raises the guest's fault or performs its MMIO access.
    if (!this.direct && ((1 << cause) & PAGE_FAULTS) !== 0 && this.fillShadow(cause)) return ExitOutcome.Resume;
    this.lastFillPc = -1;
    if (own) {
      const outcome = this.shared.backend.handleExit(vhart, exit);
      if (outcome !== ExitOutcome.NotHandled) {
        exits.hypercalls++;
        return outcome;
      }
    }
    if (cause === Cause.VirtualInstruction && vhart.interceptTraps) {
      // A sensitive instruction of a context that a hypervisor running in this VM entered with
      // `sensitiveCalls`: that hypervisor's to emulate. Passed up as it came.
      vhart.steps++;
      vhart.hypervisorCall(exit.instruction);
      exits.reflected++;
      return vhart.consumeStop();
    }
    // A breakpoint may come from the triggers lent to the platform (`lendTriggers`), not from an
    // ebreak: with triggers armed, emulation decides whether the guest's own trigger fires.
    const triggersArmed = vhart.triggers.executeArmed || vhart.triggers.dataArmed;
    if (
      vhart.priv === Priv.U &&
      (cause === Cause.EcallFromU || (cause === Cause.Breakpoint && !triggersArmed) || (cause === Cause.IllegalInstruction && vhart.interceptTraps))
    ) {
      // The context ran at the virtual hart's own privilege (U), so executing the instruction
      // there would raise the very same trap: raise it without interpreting. ecall and ebreak
      // trap in U whatever the CSRs say; an illegal instruction does too while a hypervisor
      // above runs its context here (its counters are closed as the platform's are), but not
      // for a guest's own user code, which its kernel may let read the counters.
      vhart.steps++;
      vhart.interceptedInstruction = exit.instruction;
      vhart.raiseException(cause, exit.tval);
      if (vhart.stopRequested) {
        exits.reflected++;
        return vhart.consumeStop();
      }
      return ExitOutcome.Resume;
    }
    return this.emulate();
  }

  /**
   * A page fault the guest's own tables may allow: fill the shadow entry. False when the access
   * must be emulated instead (the guest's fault, MMIO, a fill that did not cure the fault).
   */
  private fillShadow(cause: number): boolean {
    const vhart = this.vhart;
    const va = this.exit.tval;
    const bit = 1 << cause;
    const repeated = this.exit.retired === 0 && this.lastFillPc === vhart.pc && this.lastFillVa === va && this.lastFillCause === cause;
    if (repeated) return false;
    const access = (bit & FETCH_FAULTS) !== 0 ? Access.Fetch : (bit & LOAD_FAULTS) !== 0 ? Access.Load : Access.Store;
    if (this.shared.shadow.fill(this.key, this.context, va, access, vhart.bus, vhart.pmp, this.shared.frames) !== Fill.Mapped) return false;
    if (this.shared.observer !== null) this.shared.observer.shadowFill(vhart, va, access);
    this.lastFillPc = vhart.pc;
    this.lastFillVa = va;
    this.lastFillCause = cause;
    return true;
  }

  private record(kind: number): void {
    const exits = this.shared.exits;
    let h = exits.trace;
    h = Math.imul(h ^ kind, 0x01000193);
    if (kind === ExitKind.Trap) {
      h = Math.imul(h ^ this.exit.cause, 0x01000193);
      h = Math.imul(h ^ this.exit.tval, 0x01000193);
    }
    h = Math.imul(h ^ this.vhart.pc, 0x01000193);
    h = Math.imul(h ^ this.exit.retired, 0x01000193);
    exits.trace = h;
    this.shared.lastExit = kind;
    this.shared.lastExitHart = this.vhart;
    this.shared.lastExitSteps = this.vhart.steps;
  }

  /**
   * Executes the instruction at the virtual hart's pc with its full semantics (translation through
   * the guest's tables, PMP, CSRs, traps into the guest, device access). Returns `Resume`, or the
   * StopReason that ends the run (WFI, a halt, an intercepted trap).
   */
  private emulate(): number {
    const vhart = this.vhart;
    const { exits, shadow, emulator } = this.shared;
    exits.emulated++;
    const pmpVersion = vhart.pmp.version;
    const reason = emulator.run(vhart, 1);
    if (reason === StopReason.Intercept) exits.reflected++;
    // PMP decides what untranslated contexts may touch, and caps every shadow entry.
    if (vhart.pmp.version !== pmpVersion) shadow.invalidateEverything();
    return reason === StopReason.Budget ? ExitOutcome.Resume : reason;
  }
}

/**
 * A VM's engine: what its board runs its virtual harts with. Each virtual hart is a `Vcpu` on one
 * of the platform's harts (vCPU v on platform hart v mod the platform's count); the board keeps
 * scheduling, time and devices exactly as the bare board does.
 */
export class VmEngine implements Engine {
  readonly name = "trap-and-emulate";
  readonly exits: ExitStats = { byCause: new Float64Array(32), budget: 0, platform: 0, emulated: 0, hypercalls: 0, reflected: 0, trace: 0 };
  readonly shadow: ShadowPageTables;
  readonly backend: VirtualizationBackend;
  private readonly shared: VcpuShared;
  private readonly platformHarts: readonly PlatformHart[];
  private readonly vcpus: Vcpu[] = [];

  /**
   * Whether the VM's last exit was a budget exit and nothing ran since: a run paused mid-quantum
   * ended that way, an exit an uninterrupted run does not take (a snapshot leaves it out).
   */
  get lastExitWasBudget(): boolean {
    const shared = this.shared;
    return shared.lastExit === ExitKind.Budget && shared.lastExitHart !== undefined && shared.lastExitHart.steps === shared.lastExitSteps;
  }

  constructor(platformHarts: readonly PlatformHart[], shadow: ShadowPageTables, frames: FrameTable, backend: VirtualizationBackend) {
    this.platformHarts = platformHarts;
    this.shadow = shadow;
    this.backend = backend;
    this.shared = { shadow, frames, backend, exits: this.exits, emulator: new Interpreter(), observer: null, lastExit: -1, lastExitHart: undefined, lastExitSteps: 0 };
  }

  /** Watches this VM's exits and shadow fills (null: nothing watches, the default). */
  set observer(observer: VmObserver | null) {
    this.shared.observer = observer;
  }

  run(vhart: Hart, budget: number): StopReason {
    let vcpu = this.vcpus[vhart.hartId];
    if (vcpu === undefined) {
      vcpu = new Vcpu(vhart, this.platformHarts[vhart.hartId % this.platformHarts.length]!, this.shared);
      this.vcpus[vhart.hartId] = vcpu;
    }
    return vcpu.run(budget);
  }
}

/**
 * Describes the virtual hart's current translation as a shadow context. Returns false when it
 * cannot run directly: M-mode with MPRV and a lower MPP translates loads and stores but not
 * fetches (§3.1.6.3).
 */
function loadContext(vhart: Hart, context: ShadowContext): boolean {
  const priv = vhart.priv;
  const mstatus = vhart.mstatus;
  if (priv === Priv.M) {
    if ((mstatus & MSTATUS.MPRV) !== 0 && ((mstatus >>> MPP_SHIFT) & 3) !== Priv.M) return false;
    context.translated = false;
    context.priv = Priv.M;
    context.satp = 0;
    context.sum = false;
    context.mxr = false;
  } else if ((vhart.satp & SATP_MODE_SV32) === 0) {
    context.translated = false;
    context.priv = priv;
    context.satp = 0;
    context.sum = false;
    context.mxr = false;
  } else {
    context.translated = true;
    context.priv = priv;
    context.satp = vhart.satp;
    context.sum = (mstatus & MSTATUS.SUM) !== 0;
    context.mxr = (mstatus & MSTATUS.MXR) !== 0;
  }
  return true;
}
