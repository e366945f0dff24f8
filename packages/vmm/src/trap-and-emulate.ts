import { Interpreter, MPP_SHIFT, MSTATUS, Priv, StopReason, type Engine, type Hart } from "@matryoshka/cpu";
import type { FrameTable } from "@matryoshka/memory";
import { Access, Fill, ShadowPageTables, type ShadowContext } from "@matryoshka/mmu";
import type { ParavirtualBackend } from "./paravirtual.js";
import { ExitKind, type PlatformHart } from "./platform.js";

/** Exit counters of one VM's trap-and-emulate engine. */
export interface ExitStats {
  /** Exits by exception cause (0..31). */
  readonly byCause: Float64Array;
  /** Exits because the instruction budget (the VM's next deadline) ran out. */
  budget: number;
  /** Exits the platform asked for (its machine stopping). */
  platform: number;
  /** Guest instructions emulated one at a time on the virtual hart. */
  emulated: number;
  /** SBI calls answered by the paravirtual backend (ecalls from the guest's S-mode). */
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

/** The state of one vCPU besides its virtual hart: where it runs and what it was doing there. */
class VcpuState {
  readonly platformHart: PlatformHart;
  readonly context: ShadowContext = { satp: 0, priv: 0, sum: false, mxr: false, translated: false };
  /** LR/SC reservation of the context on the platform (a host-level address). */
  reservation = -1;
  reservationValue = 0;
  /** The last shadow fill, to spot a fault that a fill did not cure. */
  lastFillPc = -1;
  lastFillVa = -1;
  lastFillCause = -1;

  constructor(platformHart: PlatformHart) {
    this.platformHart = platformHart;
  }
}

const FETCH_FAULTS = (1 << 1) | (1 << 12);
const LOAD_FAULTS = (1 << 5) | (1 << 13);
const STORE_FAULTS = (1 << 7) | (1 << 15);
const ILLEGAL_INSTRUCTION = 2;
const BREAKPOINT = 3;
const ECALL_FROM_U = 8;
const VIRTUAL_INSTRUCTION = 22;

/**
 * Trap-and-emulate (Popek and Goldberg's theorem 1) as an execution engine for a VM's virtual
 * harts: `run(vhart, budget)` runs the guest's instructions directly on a platform hart in U-mode
 * under shadow page tables, and handles each exit:
 *
 * - a shadow page fault the guest's own tables allow: fill the shadow entry, resume;
 * - anything else (a privileged instruction, ecall, ebreak, a guest page fault, MMIO, WFI, a
 *   misaligned access): emulate that one instruction on the virtual hart, whose CSR file,
 *   privilege mode and trap logic are the architectural ones of `@matryoshka/cpu`, against the
 *   VM's guest-physical bus and devices.
 *
 * Virtual interrupts are injected before entering whenever the virtual hart would take them.
 * Because it is an `Engine`, the VM's board schedules vCPUs, keeps time and runs devices exactly
 * as the bare board does; only where instructions execute differs. The hot path allocates nothing.
 */
export class TrapAndEmulate implements Engine {
  readonly name = "trap-and-emulate";
  readonly exits: ExitStats = { byCause: new Float64Array(32), budget: 0, platform: 0, emulated: 0, hypercalls: 0, reflected: 0, trace: 0 };
  readonly shadow: ShadowPageTables;
  private readonly emulator = new Interpreter();
  private readonly vcpus: VcpuState[];
  private readonly frames: FrameTable;

  /** The bt backend: this VM's guest runs with its sensitive instructions turned into calls. */
  private readonly sensitiveCalls: boolean;
  /** The pv backend: the hypervisor plays the guest's firmware. */
  private readonly paravirtual: ParavirtualBackend | undefined;

  constructor(
    platformHarts: readonly PlatformHart[],
    vcpuCount: number,
    shadow: ShadowPageTables,
    frames: FrameTable,
    sensitiveCalls = false,
    paravirtual?: ParavirtualBackend,
  ) {
    this.sensitiveCalls = sensitiveCalls;
    this.paravirtual = paravirtual;
    this.vcpus = [];
    for (let i = 0; i < vcpuCount; i++) this.vcpus.push(new VcpuState(platformHarts[i % platformHarts.length]!));
    this.shadow = shadow;
    this.frames = frames;
  }

  /** The platform-level LR/SC reservation of a vCPU's context (for a VM used as a platform). */
  reservationOf(vcpu: number): VcpuState {
    return this.vcpus[vcpu]!;
  }

  run(vhart: Hart, budget: number): StopReason {
    const vcpu = this.vcpus[vhart.hartId]!;
    const platformHart = vcpu.platformHart;
    const context = vcpu.context;
    let remaining = budget;
    const paravirtual = vhart.interceptTraps ? undefined : this.paravirtual;
    while (remaining > 0) {
      if (vhart.stopRequested) return vhart.consumeStop();
      // A page of the VM's memory (or of one beneath) moved since the virtual hart's TLBs were filled.
      vhart.forgetStaleFrames();
      if (paravirtual !== undefined && !paravirtual.prepare(vhart)) return StopReason.Wfi;
      const irq = paravirtual !== undefined && paravirtual.interruptsMasked(vhart) ? -1 : vhart.pendingInterrupt();
      if (irq >= 0) {
        vhart.takeInterrupt(irq);
        if (vhart.stopRequested) {
          // Intercepted: the hypervisor running in this VM takes it.
          this.exits.reflected++;
          return vhart.consumeStop();
        }
      }
      if (!loadContext(vhart, context)) {
        // M-mode with MPRV: fetches are untranslated but data is translated, which one shadow
        // table cannot express. Interpret until the guest leaves that state (firmware does this
        // briefly, to read a trapping instruction).
        const before = vhart.steps;
        const reason = this.emulate(vhart);
        remaining -= vhart.steps - before;
        if (reason !== -1) return reason;
        continue;
      }
      const key = ShadowPageTables.contextKey(context);
      // A context on page tables the pv backend validated runs on them as they are: no shadow.
      const directSatp = paravirtual !== undefined && context.translated ? paravirtual.directSatp?.(vhart) ?? -1 : -1;
      const direct = directSatp !== -1;
      const satp = direct ? directSatp : this.shadow.rootSatp(key, context);
      if (satp < 0) throw new Error("shadow frame pool too small for a single root and table");
      platformHart.x.set(vhart.x);
      platformHart.pc = vhart.pc;
      platformHart.reservation = vcpu.reservation;
      platformHart.reservationValue = vcpu.reservationValue;
      // The guest's own code (no hypervisor above intercepting this virtual hart) runs with this
      // VM's backend; a context of a hypervisor running in this VM, with what that one asked for.
      const kind = platformHart.enter(satp, remaining, vhart.interceptTraps ? vhart.sensitiveCalls : this.sensitiveCalls);
      vhart.x.set(platformHart.x);
      vhart.pc = platformHart.pc;
      vcpu.reservation = platformHart.reservation;
      vcpu.reservationValue = platformHart.reservationValue;
      const retired = platformHart.retired;
      vhart.steps += retired;
      remaining -= retired;
      this.record(kind, platformHart.exitCause, platformHart.exitTval, vhart.pc, retired);
      if (kind === ExitKind.Budget) {
        this.exits.budget++;
        continue;
      }
      if (kind === ExitKind.Stop) {
        this.exits.platform++;
        return StopReason.Budget;
      }
      const cause = platformHart.exitCause;
      if (cause < 0 || cause >= 32) {
        // An interrupt of the platform itself: not the guest's; let the board loop come round.
        this.exits.platform++;
        return StopReason.Budget;
      }
      this.exits.byCause[cause]!++;
      const bit = 1 << cause;
      // Under direct paging a page fault is never the hypervisor's to fix: the emulation below
      // walks the guest's own tables and raises the guest's fault or performs its MMIO access.
      if (!direct && (bit & (FETCH_FAULTS | LOAD_FAULTS | STORE_FAULTS)) !== 0) {
        const va = platformHart.exitTval;
        const repeated = retired === 0 && vcpu.lastFillPc === vhart.pc && vcpu.lastFillVa === va && vcpu.lastFillCause === cause;
        if (!repeated) {
          const access = (bit & FETCH_FAULTS) !== 0 ? Access.Fetch : (bit & LOAD_FAULTS) !== 0 ? Access.Load : Access.Store;
          if (this.shadow.fill(key, context, va, access, vhart.bus, vhart.pmp, this.frames) === Fill.Mapped) {
            vcpu.lastFillPc = vhart.pc;
            vcpu.lastFillVa = va;
            vcpu.lastFillCause = cause;
            continue;
          }
        }
      }
      vcpu.lastFillPc = -1;
      if (paravirtual !== undefined && cause === ECALL_FROM_U && vhart.priv === Priv.S) {
        // An SBI call of the guest kernel: the hypervisor answers it, as firmware would, and
        // the kernel goes on after its ecall (which counts as trapped, as it would natively).
        vhart.steps++;
        vhart.trapped++;
        remaining--;
        vhart.pc = (vhart.pc + 4) | 0;
        this.exits.hypercalls++;
        paravirtual.call(vhart);
        if (vhart.stopRequested) return vhart.consumeStop();
        continue;
      }
      if (cause === VIRTUAL_INSTRUCTION && vhart.interceptTraps) {
        // A sensitive instruction of a context that a hypervisor running in this VM entered with
        // `sensitiveCalls`: that hypervisor's to emulate. Passed up as it came.
        vhart.steps++;
        remaining--;
        vhart.hypervisorCall(platformHart.exitInstruction);
        this.exits.reflected++;
        return vhart.consumeStop();
      }
      if (vhart.priv === Priv.U && (cause === ECALL_FROM_U || cause === BREAKPOINT || (cause === ILLEGAL_INSTRUCTION && vhart.interceptTraps))) {
        // The context ran at the virtual hart's own privilege (U), so executing the instruction
        // there would raise the very same trap: raise it without interpreting. ecall and ebreak
        // trap in U whatever the CSRs say; an illegal instruction does too while a hypervisor
        // above runs its context here (its counters are closed as the platform's are), but not
        // for a guest's own user code, which its kernel may let read the counters.
        vhart.steps++;
        remaining--;
        vhart.interceptedInstruction = platformHart.exitInstruction;
        vhart.raiseException(cause, platformHart.exitTval);
        if (vhart.stopRequested) {
          this.exits.reflected++;
          return vhart.consumeStop();
        }
        continue;
      }
      const before = vhart.steps;
      const reason = this.emulate(vhart);
      remaining -= vhart.steps - before;
      if (reason !== -1) return reason;
    }
    return StopReason.Budget;
  }

  private record(kind: number, cause: number, tval: number, pc: number, retired: number): void {
    let h = this.exits.trace;
    h = Math.imul(h ^ kind, 0x01000193);
    if (kind === ExitKind.Trap) {
      h = Math.imul(h ^ cause, 0x01000193);
      h = Math.imul(h ^ tval, 0x01000193);
    }
    h = Math.imul(h ^ pc, 0x01000193);
    h = Math.imul(h ^ retired, 0x01000193);
    this.exits.trace = h;
  }

  /**
   * Executes the instruction at the virtual hart's pc with its full semantics (translation through
   * the guest's tables, PMP, CSRs, traps into the guest, device access). Returns a StopReason
   * that ends the run (WFI, a halt, an intercepted trap), or -1 to carry on.
   */
  private emulate(vhart: Hart): StopReason | -1 {
    this.exits.emulated++;
    const pmpVersion = vhart.pmp.version;
    const reason = this.emulator.run(vhart, 1);
    if (reason === StopReason.Intercept) this.exits.reflected++;
    // PMP decides what untranslated contexts may touch, and caps every shadow entry.
    if (vhart.pmp.version !== pmpVersion) this.shadow.invalidateEverything();
    return reason === StopReason.Budget ? -1 : reason;
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
  } else if ((vhart.satp & 0x8000_0000) === 0) {
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
