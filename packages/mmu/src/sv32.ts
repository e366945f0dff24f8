import { Cause, Priv } from "@matryoshka/isa";
import { BUS_ERROR, type Bus, type GuestPhysicalAddress } from "@matryoshka/memory";
import { PMP_R, PMP_W, type Pmp } from "./pmp.js";

/** What a memory access is for; the numbering is shared by TLBs and trap causes. */
export const Access = { Fetch: 0, Load: 1, Store: 2 } as const;
export type Access = (typeof Access)[keyof typeof Access];

export const PTE_V = 0x01;
export const PTE_R = 0x02;
export const PTE_W = 0x04;
export const PTE_X = 0x08;
export const PTE_U = 0x10;
export const PTE_G = 0x20;
export const PTE_A = 0x40;
export const PTE_D = 0x80;

/** Exception causes for faults, indexed by Access (privileged spec 1.12 table 3.6). */
export const PAGE_FAULT_CAUSE = [Cause.InstructionPageFault, Cause.LoadPageFault, Cause.StorePageFault] as const;
export const ACCESS_FAULT_CAUSE = [Cause.InstructionAccessFault, Cause.LoadAccessFault, Cause.StoreAccessFault] as const;

// Module constants, so that the walk compares against constants rather than loading properties.
const PRIV_U = Priv.U;
const PRIV_S = Priv.S;

/** Walk results below zero are faults; at or above zero, a physical address (up to 34 bits). */
export const WALK_PAGE_FAULT = -1;
export const WALK_ACCESS_FAULT = -2;

export const SATP_MODE_SV32 = 0x8000_0000;

/** The state a translation depends on, besides the page tables themselves. */
export interface TranslationState {
  /** satp as written (mode bit 31, ASID 30:22, root PPN 21:0). */
  satp: number;
  /** Effective privilege of the access: 0 U, 1 S (M never translates). */
  priv: number;
  /** mstatus.SUM: S-mode may load and store user pages. */
  sum: boolean;
  /** mstatus.MXR: loads may read executable-only pages. */
  mxr: boolean;
}

/**
 * Details of the last successful walk, for TLB fills: the leaf PTE after any A/D update, and
 * whether a store through the same mapping would be allowed without another walk.
 */
export class WalkInfo {
  pte = 0;
  pteAddress = 0;
  level = 0;
}

/**
 * A page-table walk a hart uses instead of `walkSv32` (see `Hart.pageWalker`): same contract,
 * returning the physical address on the hart's bus or WALK_PAGE_FAULT / WALK_ACCESS_FAULT, with
 * `info` describing the leaf. The hardware never has one; a hypervisor gives one to a virtual hart
 * whose guest keeps its page tables in a form the plain walk cannot read (paravirtual direct paging,
 * where the tables hold the frame numbers of the memory beneath the VM).
 */
export interface PageWalker {
  walk(va: number, access: Access, state: TranslationState, info: WalkInfo): number;
}

/** Whether a PTE at `address` is RAM with no device over it (reading it has no side effect). */
function isPlainRam(bus: Bus, address: number): boolean {
  return bus.ram.contains(address as GuestPhysicalAddress, 4) && (bus.overlayPages.size === 0 || !bus.overlayPages.has(address >>> 12));
}

/**
 * The Sv32 page-table walk of privileged spec 1.12 §4.3.2. Page-table reads are checked by PMP as
 * S-mode accesses (§3.7.2); A and D are set in the PTE by the walk, as QEMU 7.2 does (the spec also
 * permits raising a page fault instead), never in a PTE outside RAM. Returns a physical address or
 * WALK_PAGE_FAULT / WALK_ACCESS_FAULT. With `plainRamOnly`, a PTE outside plain RAM ends the walk
 * with WALK_ACCESS_FAULT without being read (for walks that run ahead of an access that will walk again).
 */
export function walkSv32(bus: Bus, pmp: Pmp, va: number, access: Access, state: TranslationState, info: WalkInfo, plainRamOnly = false): number {
  let table = (state.satp & 0x3f_ffff) * 4096;
  for (let level = 1; level >= 0; level--) {
    const vpn = level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff;
    const pteAddress = table + vpn * 4;
    if (pteAddress > 0xffff_fffc || !pmp.check(pteAddress, 4, PMP_R, PRIV_S)) return WALK_ACCESS_FAULT;
    // A walk ahead of the access (a shadow fill) must not read a device: its reads have side
    // effects (a UART's receive register gives each byte once), and the access, emulated, walks
    // again. It gives up instead, and the emulated walk reads the device once, as hardware does.
    if (plainRamOnly && !isPlainRam(bus, pteAddress)) return WALK_ACCESS_FAULT;
    const loaded = bus.load(pteAddress, 4);
    if (loaded === BUS_ERROR) return WALK_ACCESS_FAULT;
    const pte = loaded >>> 0;
    if ((pte & PTE_V) === 0 || ((pte & PTE_R) === 0 && (pte & PTE_W) !== 0)) return WALK_PAGE_FAULT;
    const ppn = pte >>> 10;
    if ((pte & (PTE_R | PTE_X)) === 0) {
      // Pointer to the next level; at level 0 there is none (step 4 of the walk).
      if (level === 0) return WALK_PAGE_FAULT;
      table = ppn * 4096;
      continue;
    }
    // Leaf: permissions (step 5).
    if (!leafAllows(pte, access, state)) return WALK_PAGE_FAULT;
    // A misaligned superpage (step 6): ppn[0] must be zero for a 4 MiB leaf.
    if (level === 1 && (ppn & 0x3ff) !== 0) return WALK_PAGE_FAULT;
    // A and D (step 7): set them atomically in the PTE, as QEMU does.
    let updated = pte | PTE_A;
    if (access === Access.Store) updated |= PTE_D;
    if (updated !== pte) {
      if (!bus.ram.contains(pteAddress as GuestPhysicalAddress, 4) || !pmp.check(pteAddress, 4, PMP_W, PRIV_S)) return WALK_ACCESS_FAULT;
      bus.store(pteAddress, 4, updated);
    }
    info.pte = updated >>> 0;
    info.pteAddress = pteAddress;
    info.level = level;
    const offset = level === 1 ? va & 0x3f_ffff : va & 0xfff;
    const frame = level === 1 ? (ppn >>> 10) * 0x40_0000 : ppn * 4096;
    return frame + offset;
  }
  return WALK_PAGE_FAULT;
}

/** Leaf permission check of §4.3.1 and §3.1.6.3 (SUM, MXR). */
export function leafAllows(pte: number, access: Access, state: TranslationState): boolean {
  const user = (pte & PTE_U) !== 0;
  if (state.priv === PRIV_U) {
    if (!user) return false;
  } else if (user) {
    // S-mode never executes user pages, and loads/stores them only with SUM.
    if (access === Access.Fetch || !state.sum) return false;
  }
  if (access === Access.Fetch) return (pte & PTE_X) !== 0;
  if (access === Access.Load) return (pte & PTE_R) !== 0 || (state.mxr && (pte & PTE_X) !== 0);
  return (pte & PTE_W) !== 0;
}
