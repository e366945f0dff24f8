import type { Hart } from "@matryoshka/cpu";
import type { BoardDebugger } from "@matryoshka/machine";
import { Cause } from "@matryoshka/isa";
import type { GuestMemory } from "@matryoshka/memory";
import type { PlatformBalloon } from "./balloon.js";

/** Why `PlatformHart.enter` returned. */
export const ExitKind = {
  /** The instruction budget ran out: the hypervisor's deadline (deterministic time is counted in instructions). */
  Budget: 0,
  /** The guest trapped: `cause`, `tval` and, for illegal instructions and ecall, `instruction` say how. */
  Trap: 1,
  /** The platform wants control back (its machine is stopping, or input arrived): not the guest's doing. */
  Stop: 2,
} as const;
export type ExitKind = (typeof ExitKind)[keyof typeof ExitKind];

/**
 * One hart of a platform, seen by a hypervisor: a register file and pc to load a guest context
 * into, and `enter`, which runs that context deprivileged (hardware U-mode, the hart's own
 * translation rooted at `satp`) until an exit. The hypervisor is host code, not guest code: the
 * hart's registers belong wholly to the context it enters.
 */
export interface PlatformHart {
  /** Integer registers of the context (x[0] stays zero). */
  readonly x: Int32Array;
  /** pc of the context; after a trap, the pc of the instruction that trapped. */
  pc: number;
  /** LR/SC reservation of the running context, saved and restored with it across context switches. */
  reservation: number;
  reservationValue: number;
  /**
   * Runs the loaded context in U-mode with `satp` (an Sv32 root in the platform's memory) until a
   * trap, or until `budget` instructions have started. Allocates nothing.
   *
   * `sensitiveCalls` (only where `Platform.sensitiveCalls` says the platform can): the context's
   * sensitive instructions must not execute, trapping or not; each one is an exit with cause 22
   * (VirtualInstruction) and its encoding in `exitInstruction`, for the hypervisor to emulate.
   * This is the binary-translation backend, and it works on ISA profiles where some sensitive
   * instructions do not trap in U-mode.
   */
  enter(satp: number, budget: number, sensitiveCalls?: boolean): ExitKind;
  /**
   * Maps a virtual hart's debug triggers onto this hart's for the contexts entered next (see
   * `ContextHart.lendTriggers`); a platform without triggers leaves it out, and guests' triggers
   * then fire only in emulated instructions.
   */
  lendTriggers?(from: Hart): void;
  /** A debugger watching the contexts this hart runs (`ContextHart.debugger`). */
  debugger?: BoardDebugger | undefined;
  /** Instructions the last `enter` retired (a trapping instruction does not retire). */
  readonly retired: number;
  /** After ExitKind.Trap: mcause (interrupt bit included), mtval and the instruction bits (0 if not known). */
  readonly exitCause: number;
  readonly exitTval: number;
  readonly exitInstruction: number;
}

/** Exit causes whose `exitInstruction` holds the instruction: illegal instruction, ecall from U, virtual instruction. */
export function carriesInstruction(cause: number): boolean {
  return cause === Cause.IllegalInstruction || cause === Cause.EcallFromU || cause === Cause.VirtualInstruction;
}

/** What a hypervisor runs on: bare metal (`bareMetal`) or a VM of a hypervisor below (`VM`). */
export interface Platform {
  /** For reports: "bare metal", "vm1", … */
  readonly name: string;
  /** Nesting level of the platform: 0 for the hardware, k for a VM of level k. */
  readonly level: number;
  /** The platform's physical memory: where a hypervisor carves out VM RAM and shadow tables. */
  readonly memory: GuestMemory;
  readonly harts: readonly PlatformHart[];
  /**
   * Whether its harts can run contexts with `sensitiveCalls`: the hardware can when its engine
   * translates code (`--engine bt`), a VM can when the platform beneath it can.
   */
  readonly sensitiveCalls: boolean;
  /**
   * Every hart forgets its cached translations of one page (`va`) or all of them: tables a
   * hypervisor built changed. One call per change for the whole platform, not one per hart: in a
   * VM, a flush invalidates the VM's shared shadow tables and passes one flush further down, so
   * its cost grows with depth, not with harts to the power of depth.
   */
  flushTlbs(va?: number): void;
  /** Code may have changed at [pa, pa + length) behind the engines' backs (DMA, loaders, emulated stores). */
  memoryWritten(pa: number, length: number): void;
  /** The platform's memory balloon, if it has one (a VM with a virtio-balloon): the hypervisor on it is its driver. */
  readonly balloon?: PlatformBalloon;
}
