import { Priv, type Hart } from "@matryoshka/cpu";
import {
  Access, leafAllows, PTE_A, PTE_D, PTE_R, PTE_V, PTE_W, PTE_X, SATP_MODE_SV32, WALK_ACCESS_FAULT, WALK_PAGE_FAULT,
  type PageWalker, type TranslationState, type WalkInfo,
} from "@matryoshka/mmu";
import { guestPhysical, type PagedMemory } from "@matryoshka/memory";
import type { BackendVm } from "@matryoshka/vmm";
import { SbiError } from "./errors.js";

/*
 * Direct paging, Xen's alternative to shadow page tables (Barham et al., SOSP'03, §3.3.2): the
 * platform walks the guest's own page tables. For that the tables hold *machine* frame numbers
 * (the frames of the memory beneath the VM, which the guest learns with MMU_MACHINE_FRAMES, a
 * physical-to-machine table as Xen's P2M; such a page is pinned to its frame for good), and the guest
 * may never write them itself: a page becomes a page table when the guest pins it, the
 * hypervisor validates every entry at that moment and at every later update (MMU_UPDATE), and a
 * pinned page may not be mapped writable anywhere. Every mapping the platform can reach has
 * therefore been checked to lie inside the VM's memory.
 *
 * Two roots per address space. The guest kernel runs in the platform's U-mode (ring compression),
 * so the platform cannot tell its pages from its user programs' by PTE.U: as x86-64 Xen PV
 * guests do, the kernel keeps a root with every mapping (kernel and user, all marked U, used while
 * its vCPU is in virtual S-mode) and a root with only the user mappings (used in virtual U-mode).
 * They usually share their level-0 tables. MMU_SET_ROOTS installs both; it also flushes, as a
 * new satp followed by sfence.vma would.
 *
 * Device registers cannot be mapped: the platform would reach its own devices, not the VM's. The
 * guest maps them with an I/O entry instead, an invalid PTE (V = 0, so the platform faults on it)
 * marked with PTE_IO, whose frame is guest-physical; the hypervisor emulates the faulting access
 * against the VM's devices.
 */

/** An I/O mapping: with V = 0, software bit 8 (the first RSW bit) marks a device mapping. */
export const PTE_IO = 1 << 8;

/** Page-table entries per Sv32 table. */
const ENTRIES = 1024;
/** Most entries one MMU_UPDATE call takes: a call does bounded work, as any exit must. */
export const MMU_UPDATE_MAX = 1024;
/** Most frames one MMU_MACHINE_FRAMES call reports, for the same reason. */
export const MMU_MACHINE_FRAMES_MAX = 1024;
/**
 * What MMU_INFO answers: the version of the interface. 2: machine frames come from
 * MMU_MACHINE_FRAMES, page by page (a VM's frames need not be contiguous). Version 1 (a fixed
 * offset between guest and machine frames) is gone.
 */
export const DIRECT_PAGING_VERSION = 2;

interface Result {
  error: number;
  value: number;
}

/** What the paging of one vCPU looks like while it runs on registered roots. */
class VcpuPaging implements PageWalker {
  /** Guest page index (from the start of RAM) of the kernel and the user root; -1 when not direct. */
  kernelRoot = -1;
  userRoot = -1;
  /** The satp value MMU_SET_ROOTS gave the virtual hart; a different one means the guest left. */
  satp = -1;
  private readonly paging: DirectPaging;

  constructor(paging: DirectPaging) {
    this.paging = paging;
  }

  /**
   * The walk the platform does on these tables (both privilege levels of the guest run in the
   * platform's U-mode), except that frame numbers come back guest-physical for the virtual hart's
   * bus, and that an I/O entry is a mapping of the VM's device: the virtual hart emulates exactly
   * the accesses the platform could not perform.
   */
  walk(va: number, access: Access, state: TranslationState, info: WalkInfo): number {
    const paging = this.paging;
    const words = paging.memory.i32;
    const root = state.priv === Priv.S ? this.kernelRoot : this.userRoot;
    if (root < 0) return WALK_PAGE_FAULT;
    const platformState = paging.platformState;
    platformState.mxr = state.mxr;
    let table = root;
    for (let level = 1; level >= 0; level--) {
      const vpn = level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff;
      const pteOffset = table * 4096 + vpn * 4;
      // Tables are pinned pages: their frames never move.
      const word = paging.wordIndex(table, vpn, false);
      if (word < 0) return WALK_ACCESS_FAULT;
      const pte = words[word]! >>> 0;
      const ppn = pte >>> 10;
      const megapageOffset = va & 0x3f_ffff;
      const pageOffset = va & 0xfff;
      if ((pte & PTE_V) === 0) {
        if ((pte & PTE_IO) === 0 || !leafAllows(pte, access, platformState)) return WALK_PAGE_FAULT;
        info.pte = pte;
        info.pteAddress = paging.ramBase + pteOffset;
        info.level = level;
        return level === 1 ? (ppn >>> 10) * 0x40_0000 + megapageOffset : ppn * 4096 + pageOffset;
      }
      if ((pte & PTE_R) === 0 && (pte & PTE_W) !== 0) return WALK_PAGE_FAULT;
      // Validated to be pinned pages of this VM; checked again rather than trusted blindly.
      const page = paging.pageOfMachineFrame(ppn);
      if ((pte & (PTE_R | PTE_X)) === 0) {
        if (level === 0) return WALK_PAGE_FAULT;
        if (page < 0) return WALK_ACCESS_FAULT;
        table = page;
        continue;
      }
      if (!leafAllows(pte, access, platformState)) return WALK_PAGE_FAULT;
      if (level === 1 && (ppn & 0x3ff) !== 0) return WALK_PAGE_FAULT;
      // In a megapage, the page the address falls in (validated: consecutive pinned frames).
      const leafPage = level === 1 ? paging.pageOfMachineFrame(ppn + ((va >>> 12) & 0x3ff)) : page;
      if (leafPage < 0) return WALK_ACCESS_FAULT;
      // A and D as the platform's walk sets them: a change of the hypervisor's, not the guest's
      // (it moves no frame), so it is written without passing for a guest store.
      let updated = pte | PTE_A;
      if (access === Access.Store) updated |= PTE_D;
      if (updated !== pte) {
        const writeWord = paging.wordIndex(table, vpn, true);
        if (writeWord >= 0) words[writeWord] = updated | 0;
      }
      info.pte = updated >>> 0;
      info.pteAddress = paging.ramBase + pteOffset;
      info.level = level;
      return paging.ramBase + leafPage * 4096 + pageOffset;
    }
    return WALK_PAGE_FAULT;
  }
}

/**
 * The hypervisor's side of direct paging for one VM: the MMU_* calls of the matryoshka extension,
 * the bookkeeping that makes them safe, and the hooks through which trap-and-emulate runs a vCPU
 * on validated tables instead of shadowing them (`VirtualizationBackend.directSatp`,
 * `protectsPage`, `written`).
 *
 * Per guest page it keeps:
 * - the level it is pinned at (-1: not a page table);
 * - how many writable mappings of it pinned tables hold (a page with any cannot be pinned, and a
 *   pinned page cannot get one);
 * - how many references it has as a table (level-1 entries pointing at a level-0 table, vCPUs
 *   using a root): a referenced table cannot be unpinned.
 */
/** Direct paging's bookkeeping as plain data (see `DirectPaging.saveState`). */
export interface DirectPagingState {
  pinned: number;
  /** [page, level (-1 none), writable mappings of it, table references to it] for each page with any. */
  tables: [number, number, number, number][];
  vcpus: { kernelRoot: number; userRoot: number; satp: number }[];
}

export class DirectPaging {
  readonly ramBase: number;
  readonly pages: number;
  /** The VM's memory: its pages' frames are the machine frames the guest's tables hold. */
  readonly memory: PagedMemory;
  private readonly firstPage: number;
  /** The permission check of the platform's walk: both guest modes run in its U-mode. */
  readonly platformState: TranslationState = { satp: 0, priv: Priv.U, sum: false, mxr: false };
  private readonly vm: BackendVm;
  private readonly level: Int8Array;
  private readonly writableRefs: Int32Array;
  private readonly tableRefs: Int32Array;
  private readonly vcpus: VcpuPaging[];
  private pinned = 0;
  /** Pages the hypervisor itself writes (shared pages): never page tables. */
  private readonly reserved: (guestPage: number) => boolean;

  constructor(vm: BackendVm, reserved: (guestPage: number) => boolean) {
    this.vm = vm;
    this.reserved = reserved;
    this.memory = vm.memory;
    this.ramBase = vm.memory.base;
    this.firstPage = this.ramBase >>> 12;
    this.pages = vm.memory.size / 4096;
    this.level = new Int8Array(this.pages).fill(-1);
    this.writableRefs = new Int32Array(this.pages);
    this.tableRefs = new Int32Array(this.pages);
    this.vcpus = vm.board.harts.map(() => new VcpuPaging(this));
  }

  /**
   * What the guest set up, as plain data, for a snapshot: each pinned table's level, the
   * reference counts, and each vCPU's roots (sparse: only pages with something to say). Which
   * frames the pages are pinned to is the VM memory's frame table, saved beside it.
   */
  saveState(): DirectPagingState {
    const tables: [number, number, number, number][] = [];
    for (let page = 0; page < this.pages; page++) {
      if (this.level[page]! >= 0 || this.writableRefs[page] !== 0 || this.tableRefs[page] !== 0) {
        tables.push([page, this.level[page]!, this.writableRefs[page]!, this.tableRefs[page]!]);
      }
    }
    return { pinned: this.pinned, tables, vcpus: this.vcpus.map((vcpu) => ({ kernelRoot: vcpu.kernelRoot, userRoot: vcpu.userRoot, satp: vcpu.satp })) };
  }

  /**
   * Puts back what `saveState` returned, once the VM's memory has its frames again (the same ones:
   * the guest's tables hold their numbers). The virtual harts running on direct roots walk them again.
   */
  restoreState(state: DirectPagingState, vharts: readonly Hart[]): void {
    if (state.vcpus.length !== this.vcpus.length) throw new RangeError(`direct-paging state of ${state.vcpus.length} vCPUs does not fit a VM of ${this.vcpus.length}`);
    this.level.fill(-1);
    this.writableRefs.fill(0);
    this.tableRefs.fill(0);
    for (const [page, level, writable, tables] of state.tables) {
      if (!Number.isInteger(page) || page < 0 || page >= this.pages) throw new RangeError(`direct-paging state names page ${page} outside RAM`);
      this.level[page] = level;
      this.writableRefs[page] = writable;
      this.tableRefs[page] = tables;
    }
    this.pinned = state.pinned;
    state.vcpus.forEach((saved, id) => {
      const vcpu = this.vcpus[id]!;
      vcpu.kernelRoot = saved.kernelRoot;
      vcpu.userRoot = saved.userRoot;
      vcpu.satp = saved.satp;
      const vhart = vharts[id];
      if (vhart === undefined) return;
      vhart.pageWalker = saved.satp === -1 ? null : vcpu;
      vhart.flushTlbs();
      vhart.needsResync = true;
    });
  }

  /** Pages pinned as page tables now. */
  get pinnedTables(): number {
    return this.pinned;
  }

  /** MMU_INFO: the interface's version (`DIRECT_PAGING_VERSION`). */
  info(): Result {
    return { error: SbiError.SUCCESS, value: DIRECT_PAGING_VERSION };
  }

  /**
   * MMU_MACHINE_FRAMES(first guest frame, count, list): writes the machine frame of each of
   * `count` guest pages from `first` (a page number) as 32-bit words at `list`, pinning every one
   * of them to its frame for good (the guest will put those numbers in tables the platform walks).
   * The list must lie in RAM outside page tables.
   */
  machineFrames(first: number, count: number, list: number): Result {
    if (count > MMU_MACHINE_FRAMES_MAX) return result(SbiError.INVALID_PARAM);
    if (count === 0) return result(SbiError.SUCCESS);
    const firstIndex = first - this.firstPage;
    if (firstIndex < 0 || firstIndex + count > this.pages) return result(SbiError.INVALID_ADDRESS);
    if ((list & 3) !== 0 || this.pageOf(list) < 0 || this.pageOf(list + 4 * count - 1) < 0 || !this.writable(list, 4 * count)) {
      return result(SbiError.INVALID_ADDRESS);
    }
    for (let i = 0; i < count; i++) {
      const frame = this.memory.pin(first + i);
      if (frame < 0) return { error: SbiError.FAILED, value: i };
      this.memory.writeU32(guestPhysical(list + 4 * i), frame);
    }
    return result(SbiError.SUCCESS);
  }

  /**
   * Index in the memory's `i32` view of word `word` of RAM page `page` (from the start of RAM), or
   * -1 if the page cannot be had.
   */
  wordIndex(page: number, word: number, write: boolean): number {
    const frame = this.memory.frameOffset(this.firstPage + page, write);
    return frame < 0 ? -1 : (frame >>> 2) + word;
  }

  /** The RAM page (from the start of RAM) pinned to machine frame `frame`, or -1 if none is. */
  pageOfMachineFrame(frame: number): number {
    const page = this.memory.pinnedPage(frame);
    return page < 0 ? -1 : page - this.firstPage;
  }

  /** The machine frame of RAM page `page`, pinning it there. */
  private machineFrameOf(page: number): number {
    return this.memory.pin(this.firstPage + page);
  }

  /** MMU_PIN(table, level): validates a page as a level-`level` table; from now on only MMU_UPDATE changes it. */
  pin(address: number, level: number): Result {
    const page = this.pageOf(address);
    if (page < 0 || (address & 0xfff) !== 0) return result(SbiError.INVALID_ADDRESS);
    if (level !== 0 && level !== 1) return result(SbiError.INVALID_PARAM);
    if (this.level[page]! >= 0) return result(SbiError.ALREADY_AVAILABLE);
    if (this.writableRefs[page]! > 0 || this.reserved(page + this.ramBase / 4096)) return result(SbiError.DENIED);
    // The platform will walk the page by its machine frame: it may never move from now on.
    if (this.machineFrameOf(page) < 0) return result(SbiError.FAILED);
    const base = this.wordIndex(page, 0, false);
    const words = this.memory.i32;
    // Checked as if already pinned, so that a table mapping itself writable is refused too.
    this.level[page] = level;
    for (let i = 0; i < ENTRIES; i++) {
      const error = this.check(words[base + i]! >>> 0, level);
      if (error !== SbiError.SUCCESS) {
        this.level[page] = -1;
        return { error, value: i };
      }
    }
    for (let i = 0; i < ENTRIES; i++) this.count(words[base + i]! >>> 0, level, 1);
    this.pinned++;
    // The page may be mapped writable in shadow tables or cached so in a TLB: no longer.
    this.vm.shadow.invalidateEverything();
    this.flushVirtualTlbs();
    return result(SbiError.SUCCESS);
  }

  /** MMU_UNPIN(table): the page is plain memory again (not while a table or a vCPU refers to it). */
  unpin(address: number): Result {
    const page = this.pageOf(address);
    if (page < 0 || (address & 0xfff) !== 0) return result(SbiError.INVALID_ADDRESS);
    const level = this.level[page]!;
    if (level < 0) return result(SbiError.INVALID_PARAM);
    if (this.tableRefs[page]! > 0) return result(SbiError.DENIED);
    const base = this.wordIndex(page, 0, false);
    const words = this.memory.i32;
    for (let i = 0; i < ENTRIES; i++) this.count(words[base + i]! >>> 0, level, -1);
    this.level[page] = -1;
    this.pinned--;
    return result(SbiError.SUCCESS);
  }

  /**
   * MMU_UPDATE(list, count): `count` requests of two words each in guest memory, (address of a PTE
   * in a pinned table, new value), applied in order. Stops at the first invalid one; the value is
   * the number applied. Replacing a valid entry flushes the TLBs; making an entry valid does not
   * need to (nothing caches an invalid one).
   */
  update(list: number, count: number): Result {
    if (count > MMU_UPDATE_MAX) return result(SbiError.INVALID_PARAM);
    if (count === 0) return result(SbiError.SUCCESS);
    if ((list & 3) !== 0 || this.pageOf(list) < 0 || this.pageOf(list + 8 * count - 1) < 0) return result(SbiError.INVALID_ADDRESS);
    const memory = this.memory;
    const words = memory.i32;
    let flush = false;
    let done = 0;
    let error: number = SbiError.SUCCESS;
    for (; done < count; done++) {
      const pteAddress = memory.readU32(guestPhysical(list + 8 * done));
      const value = memory.readU32(guestPhysical(list + 8 * done + 4));
      if (pteAddress === undefined || value === undefined) {
        error = SbiError.FAILED;
        break;
      }
      const page = this.pageOf(pteAddress);
      if (page < 0 || (pteAddress & 3) !== 0) {
        error = SbiError.INVALID_ADDRESS;
        break;
      }
      const level = this.level[page]!;
      if (level < 0) {
        error = SbiError.INVALID_PARAM;
        break;
      }
      error = this.check(value, level);
      if (error !== SbiError.SUCCESS) break;
      const word = this.wordIndex(page, (pteAddress & 0xfff) >>> 2, true);
      const old = words[word]! >>> 0;
      this.count(old, level, -1);
      this.count(value, level, 1);
      words[word] = value | 0;
      this.vm.memoryWritten(pteAddress, 4);
      if ((old & PTE_V) !== 0) flush = true;
    }
    if (flush) this.flushTlbs();
    return { error, value: done };
  }

  /**
   * MMU_SET_ROOTS(kernel root, user root): the vCPU runs on these pinned level-1 tables, the first
   * in virtual S-mode and the second in virtual U-mode. (0, 0) goes back to shadow paging.
   */
  setRoots(vhart: Hart, kernelRoot: number, userRoot: number): Result {
    const vcpu = this.vcpus[vhart.hartId]!;
    if (kernelRoot === 0 && userRoot === 0) {
      this.leave(vhart);
      vhart.satp = 0;
      return result(SbiError.SUCCESS);
    }
    const kernelPage = this.pageOf(kernelRoot);
    const userPage = this.pageOf(userRoot);
    if (kernelPage < 0 || userPage < 0 || ((kernelRoot | userRoot) & 0xfff) !== 0) return result(SbiError.INVALID_ADDRESS);
    if (this.level[kernelPage] !== 1 || this.level[userPage] !== 1) return result(SbiError.INVALID_PARAM);
    this.leave(vhart);
    vcpu.kernelRoot = kernelPage;
    vcpu.userRoot = userPage;
    this.tableRefs[kernelPage]!++;
    this.tableRefs[userPage]!++;
    // What the guest reads back from satp: the kernel root, in machine frames, as Xen PV's cr3.
    vcpu.satp = (SATP_MODE_SV32 | this.machineFrameOf(kernelPage)) | 0;
    vhart.satp = vcpu.satp;
    vhart.pageWalker = vcpu;
    vhart.flushTlbs();
    vhart.needsResync = true;
    return result(SbiError.SUCCESS);
  }

  /** VirtualizationBackend.directSatp: the platform root for the vCPU's mode (unsigned), or -1 to shadow. */
  directSatp(vhart: Hart): number {
    const vcpu = this.vcpus[vhart.hartId]!;
    if (vcpu.satp === -1) return -1;
    if (vhart.satp !== vcpu.satp) {
      // The guest wrote satp itself: it asked for ordinary (shadowed) paging again.
      const satp = vhart.satp;
      this.leave(vhart);
      vhart.satp = satp;
      return -1;
    }
    const root = vhart.priv === Priv.S ? vcpu.kernelRoot : vcpu.userRoot;
    return (SATP_MODE_SV32 | this.machineFrameOf(root)) >>> 0;
  }

  /** VirtualizationBackend.protectsPage: pinned pages are never shadow-mapped (every access traps). */
  protectsPage(guestPage: number): boolean {
    if (this.pinned === 0) return false;
    const page = guestPage - this.ramBase / 4096;
    return page >= 0 && page < this.pages && this.level[page]! >= 0;
  }

  /** Whether the hypervisor may write [address, address + length) for the guest (no page table in it). */
  writable(address: number, length: number): boolean {
    if (this.pinned === 0 || length <= 0) return true;
    const first = this.pageOf(address);
    const last = this.pageOf(address + length - 1);
    if (first < 0 || last < 0) return false;
    for (let page = first; page <= last; page++) if (this.level[page]! >= 0) return false;
    return true;
  }

  /**
   * VirtualizationBackend.written: an emulated store or a device wrote guest RAM. A pinned table
   * changed behind the hypervisor's back can no longer be trusted, and the platform may walk it
   * at the next entry, so the VM is stopped before that can happen.
   */
  written(ramOffset: number, length: number): void {
    if (this.pinned === 0) return;
    const first = Math.max(0, ramOffset >>> 12);
    const last = Math.min(this.pages - 1, (ramOffset + length - 1) >>> 12);
    for (let page = first; page <= last; page++) {
      if (this.level[page]! >= 0) {
        const address = (this.ramBase + page * 4096).toString(16);
        this.vm.board.stop(`${this.vm.name}: the guest's page table at 0x${address} was written outside MMU_UPDATE (by an emulated store or a device); stopped`);
        return;
      }
    }
  }

  /** A vCPU (re)started by HSM: back to shadow paging, its roots released. */
  resetVcpu(vhart: Hart): void {
    this.leave(vhart);
  }

  private leave(vhart: Hart): void {
    const vcpu = this.vcpus[vhart.hartId]!;
    if (vcpu.satp === -1) return;
    this.tableRefs[vcpu.kernelRoot]!--;
    this.tableRefs[vcpu.userRoot]!--;
    vcpu.kernelRoot = -1;
    vcpu.userRoot = -1;
    vcpu.satp = -1;
    vhart.pageWalker = null;
    vhart.flushTlbs();
    vhart.needsResync = true;
  }

  /** Index of the RAM page holding a guest-physical address, or -1 outside RAM. */
  private pageOf(address: number): number {
    const offset = address - this.ramBase;
    if (offset < 0 || offset >= this.pages * 4096) return -1;
    return offset >>> 12;
  }

  /** Whether a PTE may stand in a pinned table of that level (an SBI error code, SUCCESS if so). */
  private check(pte: number, level: number): number {
    const ppn = pte >>> 10;
    if ((pte & PTE_V) === 0) {
      if ((pte & PTE_IO) === 0) return SbiError.SUCCESS; // ignored by the platform: the guest's own bits
      // An I/O entry: readable and/or writable device memory outside RAM, never executable.
      if ((pte & PTE_X) !== 0 || (pte & (PTE_R | PTE_W)) === 0 || ((pte & PTE_R) === 0 && (pte & PTE_W) !== 0)) return SbiError.INVALID_PARAM;
      if (level === 1 && (ppn & 0x3ff) !== 0) return SbiError.INVALID_PARAM;
      const start = ppn * 4096;
      const end = start + (level === 1 ? 0x40_0000 : 4096);
      if (end > 0x1_0000_0000 || (start < this.ramBase + this.pages * 4096 && end > this.ramBase)) return SbiError.INVALID_ADDRESS;
      return SbiError.SUCCESS;
    }
    if ((pte & PTE_R) === 0 && (pte & PTE_W) !== 0) return SbiError.INVALID_PARAM;
    const page = this.pageOfMachineFrame(ppn);
    if ((pte & (PTE_R | PTE_X)) === 0) {
      // A pointer to a level-0 table: only in a root, and only to a pinned level-0 table.
      if (level === 0) return SbiError.INVALID_PARAM;
      if (page < 0) return SbiError.INVALID_ADDRESS;
      return this.level[page] === 0 ? SbiError.SUCCESS : SbiError.INVALID_PARAM;
    }
    if (level === 1 && (ppn & 0x3ff) !== 0) return SbiError.INVALID_PARAM;
    const span = level === 1 ? ENTRIES : 1;
    // The heart of it: a frame that is not one of the VM's (pinned, so the guest was told it) is
    // refused, never mapped. A megapage needs 1024 consecutive machine frames of consecutive pages.
    if (page < 0 || page + span > this.pages) return SbiError.INVALID_ADDRESS;
    for (let i = 1; i < span; i++) if (this.pageOfMachineFrame(ppn + i) !== page + i) return SbiError.INVALID_ADDRESS;
    const overlays = this.vm.board.bus.overlayPages;
    for (let p = page; p < page + span; p++) {
      if (overlays.size > 0 && overlays.has(p + this.ramBase / 4096)) return SbiError.INVALID_ADDRESS;
      if ((pte & PTE_W) !== 0 && this.level[p]! >= 0) return SbiError.DENIED;
    }
    return SbiError.SUCCESS;
  }

  /** Adds (`delta` 1) or removes (-1) the references a validated PTE holds. */
  private count(pte: number, level: number, delta: 1 | -1): void {
    if ((pte & PTE_V) === 0) return;
    const page = this.pageOfMachineFrame(pte >>> 10);
    if ((pte & (PTE_R | PTE_X)) === 0) {
      this.tableRefs[page]! += delta;
      return;
    }
    if ((pte & PTE_W) === 0) return;
    const span = level === 1 ? ENTRIES : 1;
    for (let p = page; p < page + span; p++) this.writableRefs[p]! += delta;
  }

  /** After a mapping changed: what the platform and the virtual harts cached from it goes. */
  private flushTlbs(): void {
    this.vm.platform.flushTlbs();
    this.flushVirtualTlbs();
  }

  private flushVirtualTlbs(): void {
    for (const vhart of this.vm.board.harts) {
      vhart.flushTlbs();
      vhart.needsResync = true;
    }
  }
}

function result(error: number): Result {
  return { error, value: 0 };
}
