import type { Hart } from "@matryoshka/cpu";
import type { BootInfo, VirtMachine } from "@matryoshka/machine";
import type { PagedMemory } from "@matryoshka/memory";
import type { ShadowPageTables } from "@matryoshka/mmu";
import type { Platform } from "./platform.js";

/**
 * How a VM gets its guest's sensitive instructions: "trap-and-emulate" (they trap, as Popek and
 * Goldberg's theorem 1 needs), "bt" (binary translation: the translating engine beneath turns each
 * into a call to the hypervisor, trapping or not), or "pv" (paravirtual: the guest kernel starts
 * in S-mode with no firmware and asks the hypervisor by SBI calls; the rest traps).
 */
export type VmBackend = "trap-and-emulate" | "bt" | "pv";

/** What a backend sees of the VM it serves (an interface, so backends and `VM` do not import each other). */
export interface BackendVm {
  readonly name: string;
  readonly board: VirtMachine;
  /** The VM's RAM: its pages and the platform frames behind them. */
  readonly memory: PagedMemory;
  readonly platform: Platform;
  /** The VM's shadow page tables. */
  readonly shadow: ShadowPageTables;
  /** Guest-physical [pa, pa + length) was written behind the engines' backs: code there may be stale. */
  memoryWritten(pa: number, length: number): void;
}

/** One exit of a vCPU, as its handlers see it (one object per vCPU, reused: nothing is allocated per exit). */
export interface VcpuExit {
  /** mcause of the trap (the interrupt bit included). */
  cause: number;
  tval: number;
  /** The instruction's bits for illegal instruction, ecall and virtual instruction exits, else 0. */
  instruction: number;
  /** Instructions the guest retired before the exit. */
  retired: number;
}

/**
 * What handling an exit decided: `Resume` the guest, `NotHandled` (a backend leaves the exit to the
 * common handling), or a `StopReason` of `@matryoshka/cpu` (≥ 0) that ends the vCPU's run.
 */
export const ExitOutcome = {
  Resume: -1,
  NotHandled: -2,
} as const;

/**
 * A virtualization backend: the strategy a VM's vCPUs use for what differs between trap-and-
 * emulate, binary translation and paravirtualization. Everything else (shadow paging, emulating
 * one instruction on the virtual hart, interrupt injection, passing exits up to a hypervisor
 * running in the VM) is common, in `Vcpu`.
 */
export interface VirtualizationBackend {
  readonly name: VmBackend;
  /**
   * Whether the guest's contexts run with their sensitive instructions turned into calls (exit
   * cause 22) by the translating engine beneath: only on a platform whose `sensitiveCalls` is true.
   */
  readonly sensitiveCalls: boolean;
  /** The VM it serves; called once, when the VM is made. */
  attach(vm: BackendVm): void;
  /** After the board loaded the guest: put the harts where the backend's boot protocol leaves them. */
  boot(info: BootInfo): void;
  /** Before a vCPU runs its guest: false if the hart is stopped (it does not run). */
  prepare(vhart: Hart): boolean;
  /**
   * Whether the guest masked its interrupts through memory it shares with the hypervisor (no trap
   * needed to disable them, as Xen's event-channel mask): then nothing is injected now.
   */
  interruptsMasked(vhart: Hart): boolean;
  /**
   * The Sv32 root (an unsigned satp value in the platform's memory) the vCPU's current context runs
   * on with no shadowing, or -1 to shadow the guest's tables as usual (direct paging).
   */
  directSatp(vhart: Hart): number;
  /**
   * First look at a trap of the guest's own code (not of a context of a hypervisor running in the
   * VM): an `ExitOutcome` or `StopReason`, or `ExitOutcome.NotHandled` for the common handling.
   */
  handleExit(vhart: Hart, exit: VcpuExit): number;
  /** Whether shadow paging must leave a guest page unmapped, so every access to it traps. */
  protectsPage(guestPage: number): boolean;
  /** Guest RAM at [ramOffset, ramOffset + length) was written by an emulated store or a device. */
  written(ramOffset: number, length: number): void;
  /**
   * The backend's own state as plain data, for a snapshot (none: a backend with no state, as
   * trap-and-emulate and bt). `restoreState` puts it back on a backend attached to a VM of the same
   * shape whose memory and board were already restored.
   */
  saveState?(): unknown;
  restoreState?(state: unknown): void;
}

/** Trap and emulate: the guest's sensitive instructions trap, and nothing else differs. */
export class TrapAndEmulateBackend implements VirtualizationBackend {
  readonly name: VmBackend = "trap-and-emulate";
  readonly sensitiveCalls: boolean = false;
  attach(): void {}
  boot(): void {}
  prepare(): boolean {
    return true;
  }
  interruptsMasked(): boolean {
    return false;
  }
  directSatp(): number {
    return -1;
  }
  handleExit(): number {
    return ExitOutcome.NotHandled;
  }
  protectsPage(): boolean {
    return false;
  }
  written(): void {}
}

/**
 * Binary translation (VMware's way): the translating engine beneath turns each sensitive
 * instruction of the guest into a call to the hypervisor (exit cause 22), trapping or not, so it
 * also works on ISA profiles that are not classically virtualizable. The call is then emulated as
 * a trapped instruction would be.
 */
export class BinaryTranslationBackend extends TrapAndEmulateBackend {
  override readonly name: VmBackend = "bt";
  override readonly sensitiveCalls: boolean = true;
}
