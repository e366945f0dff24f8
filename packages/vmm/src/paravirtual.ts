import type { Hart } from "@matryoshka/cpu";
import type { BootInfo } from "@matryoshka/machine";
import type { VM } from "./vm.js";

/**
 * What a paravirtual backend (`@matryoshka/paravirt`) plugs into a VM: the firmware's part,
 * played by the hypervisor. With it the guest kernel starts in S-mode at its entry, with no M-mode
 * firmware in the VM, and its SBI calls (ecall from S-mode) are answered here instead of trapping
 * into virtual M-mode. Everything else the guest does is still trapped and emulated.
 */
export interface ParavirtualBackend {
  /** The VM it serves; called once, when the VM is made. */
  attach(vm: VM): void;
  /** After the board loaded the guest: put the harts where a firmware-less boot leaves them. */
  boot(info: BootInfo): void;
  /**
   * Before a vCPU runs: the firmware's share of interrupt delivery (forwarding machine timer and
   * software interrupts to S-mode). Returns false if the hart is stopped (SBI HSM): it does not run.
   */
  prepare(vhart: Hart): boolean;
  /** The guest's ecall from virtual S-mode; the pc already points past it. */
  call(vhart: Hart): void;
  /**
   * Whether the guest has masked its interrupts through memory it shares with the hypervisor
   * (no trap needed to disable them, as Xen's event-channel mask): then nothing is injected now.
   */
  interruptsMasked(vhart: Hart): boolean;
  /**
   * Direct paging (Xen's "no shadow tables"): the Sv32 root, as an unsigned satp value in the
   * platform's physical memory, that the vCPU's current context runs on with no shadowing, because the guest
   * registered page tables the backend validated; or -1 to shadow the guest's tables as usual.
   * Called before every entry; omitted, everything is shadowed.
   */
  directSatp?(vhart: Hart): number;
  /**
   * Whether the shadow pager must leave a guest page (a page number, guest-physical) unmapped, so
   * that every access to it traps and is emulated: the backend's validated page tables, which the
   * guest may only change through hypercalls.
   */
  protectsPage?(guestPage: number): boolean;
  /**
   * Guest RAM at [ramOffset, ramOffset + length) was written by something other than the guest's
   * own instructions running directly: an emulated store, or a device's DMA.
   */
  written?(ramOffset: number, length: number): void;
}
