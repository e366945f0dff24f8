import { Priv, type Hart } from "@matryoshka/cpu";
import type { BootInfo } from "@matryoshka/machine";
import { guestPhysical } from "@matryoshka/memory";
import { Cause, COUNTEREN, CSR, MIP, MSTATUS } from "@matryoshka/isa";
import { ExitOutcome, type BackendVm, type VcpuExit, type VirtualizationBackend } from "@matryoshka/vmm";
import { DirectPaging, type DirectPagingState } from "./direct-paging.js";
import { SbiError } from "./errors.js";

export { SbiError };

/*
 * The SBI (RISC-V Supervisor Binary Interface, v2.0) answered by the hypervisor: the firmware of a
 * paravirtual VM. The guest kernel calls it with ECALL from S-mode: a7 = extension ID (EID),
 * a6 = function ID (FID), arguments in a0..a5; the result comes back in a0 (error) and a1 (value),
 * every other register preserved (SBI spec, "Binary Encoding").
 */

/** Extension IDs. */
export const SbiExtension = {
  BASE: 0x10,
  TIME: 0x54494d45, // "TIME"
  IPI: 0x735049, // "sPI"
  RFENCE: 0x52464e43, // "RFNC"
  HSM: 0x48534d, // "HSM"
  SRST: 0x53525354, // "SRST"
  DBCN: 0x4442434e, // "DBCN"
} as const;

/**
 * matryoshka's own extension, in the SBI's firmware-specific range (0x0A000000-0x0AFFFFFF):
 * Xen-style paravirtualization through a page of memory each hart shares with the hypervisor.
 */
export const MATRYOSHKA_EXTENSION = 0x0a4d_5452;
export const MatryoshkaFunction = {
  /** register_shared(physical page): this hart's shared page (4 KiB aligned, in the VM's RAM). */
  REGISTER_SHARED: 0,
  /** deliver(): an exit, so that interrupts held back while masked are delivered now. */
  DELIVER: 1,
  /** console_kick(): copy the console ring out now (it is copied at every exit anyway). */
  CONSOLE_KICK: 2,
  /** Direct paging (see direct-paging.ts): mmu_info() succeeds when offered; value = its version (2). */
  MMU_INFO: 3,
  /** mmu_pin(table, level): validate a page as a level-0 or level-1 table and make it read-only. */
  MMU_PIN: 4,
  /** mmu_unpin(table): a pinned page nothing refers to becomes ordinary memory again. */
  MMU_UNPIN: 5,
  /** mmu_update(list, count): apply (PTE address, value) pairs to pinned tables; returns how many. */
  MMU_UPDATE: 6,
  /** mmu_set_roots(kernel root, user root): run on pinned roots with no shadowing; (0, 0) leaves. */
  MMU_SET_ROOTS: 7,
  /**
   * mmu_machine_frames(first guest frame, count, list): the machine frame of each of `count` guest
   * pages, as words at `list` (Xen's physical-to-machine table); those pages never move again.
   */
  MMU_MACHINE_FRAMES: 8,
} as const;

/**
 * Layout of the shared page (byte offsets of 32-bit words, then the ring):
 * - IRQ_MASK, written by the guest: nonzero means "no S-mode interrupts now", which is what
 *   clearing sstatus.SIE means, without a trap. It applies while the hart is in S-mode, as SIE does.
 * - IRQ_PENDING, written by the hypervisor: nonzero when an interrupt was held back by the mask.
 *   After clearing the mask, the guest calls DELIVER if it is set.
 * - CONSOLE_PRODUCER, written by the guest: bytes written to the ring, ever (wrapping at 2^32).
 * - CONSOLE_CONSUMER, written by the hypervisor: bytes it has copied out. Registering the page
 *   sets it to the producer, so the ring starts empty whatever the page held.
 * - CONSOLE_RING: CONSOLE_RING_SIZE bytes; byte n of the stream is at CONSOLE_RING + n % size.
 */
export const SharedPage = {
  IRQ_MASK: 0,
  IRQ_PENDING: 4,
  CONSOLE_PRODUCER: 8,
  CONSOLE_CONSUMER: 12,
  CONSOLE_RING: 64,
  CONSOLE_RING_SIZE: 2048,
} as const;

/** SBI specification version this implements: 2.0 (major in bits 30:24, minor in 23:0). */
export const SBI_SPEC_VERSION = (2 << 24) | 0;
/**
 * Implementation ID. The SBI spec keeps a registry (0 BBL, 1 OpenSBI, 3 KVM, 7 Xen, …); this
 * value is not in it, which the spec allows for implementations it does not list.
 */
export const SBI_IMPLEMENTATION_ID = 0x4d54; // "MT"
export const SBI_IMPLEMENTATION_VERSION = 1;

/**
 * SRST: reset reasons from 0xF0000000 on are "SBI implementation specific". Here,
 * 0xF0000000 | code shuts down reporting failure `code` (1..0xffff) through the board's test
 * device, as the native kernel does with `(code << 16) | 0x3333`.
 */
export const SRST_REASON_FAILURE_CODE = 0xf000_0000;

/** HSM hart states (SBI spec, HSM extension). */
export const HartState = { STARTED: 0, STOPPED: 1, START_PENDING: 2, STOP_PENDING: 3, SUSPENDED: 4 } as const;

const MIP_SSIP = MIP.SSIP;
/**
 * Pages a remote sfence.vma invalidates one by one; a larger range is one full flush. Linux's
 * riscv tlb_flush_all_threshold is the same 64 pages.
 */
export const REMOTE_FENCE_PAGE_LIMIT = 64;
/** Bytes one debug-console call reads or writes at most (a guest asks again for the rest). */
export const DBCN_MAX_BYTES = 4096;
const MIP_MSIP = MIP.MSIP;
const MIP_STIP = MIP.STIP;
const MIP_MTIP = MIP.MTIP;
const CLINT_BASE = 0x0200_0000;
const TEST_DEVICE = 0x0010_0000;
/**
 * What the firmware of QEMU-style boots programs before entering S-mode (and what the native test
 * kernel's M-mode part programs): exceptions S handles itself (misaligned and access faults,
 * illegal instruction, breakpoint, ecall from U, page faults; ecall from S stays with the
 * firmware), S-level interrupts, and S's access to cycle, time and instret.
 */
const MEDELEG =
  (1 << Cause.InstructionMisaligned) | (1 << Cause.InstructionAccessFault) | (1 << Cause.IllegalInstruction) | (1 << Cause.Breakpoint) |
  (1 << Cause.LoadMisaligned) | (1 << Cause.LoadAccessFault) | (1 << Cause.StoreMisaligned) | (1 << Cause.StoreAccessFault) |
  (1 << Cause.EcallFromU) | (1 << Cause.InstructionPageFault) | (1 << Cause.LoadPageFault) | (1 << Cause.StorePageFault);
const MIDELEG = MIP.SSIP | MIP.STIP | MIP.SEIP;
const MCOUNTEREN = COUNTEREN.CY | COUNTEREN.TM | COUNTEREN.IR;

export interface SbiFirmwareOptions {
  /**
   * Offer direct paging, the MMU_* functions of the matryoshka extension (default true). Without
   * it they answer SBI_ERR_NOT_SUPPORTED and a guest's page tables are shadowed, as any guest's.
   */
  directPaging?: boolean;
}

/** Counters of SBI calls by extension, for reports. */
export interface SbiStats {
  calls: number;
  byExtension: Map<number, number>;
  /** Calls answered with an error (unknown extension or function, bad arguments). */
  errors: number;
}

/**
 * The firmware side of a paravirtual VM: boots the kernel in S-mode at its entry with a0 = hart
 * id and a1 = the device tree (no firmware in the VM, as KVM-based VMMs boot), answers the SBI
 * extensions BASE, TIME, IPI, RFENCE, HSM, SRST and DBCN, and does what M-mode firmware does for
 * interrupts: forwards the machine timer and software interrupts to S-mode.
 *
 * Nothing a guest passes can hurt the host or another VM: every address is checked against the
 * VM's RAM (bad ones get SBI_ERR_INVALID_PARAM or SBI_ERR_INVALID_ADDRESS), every hart mask
 * against the VM's harts, and unknown extensions and functions get SBI_ERR_NOT_SUPPORTED.
 */
/** The firmware's state as plain data (see `SbiFirmware.saveState`). */
export interface SbiFirmwareState {
  state: number[];
  resumeAddress: number[];
  resumeOpaque: number[];
  shared: number[];
  stats: { calls: number; errors: number; byExtension: [number, number][] };
  paging: DirectPagingState | null;
}

export class SbiFirmware implements VirtualizationBackend {
  readonly name = "pv" as const;
  /** The guest's sensitive instructions trap; only its SBI calls are answered here. */
  readonly sensitiveCalls = false;
  readonly stats: SbiStats = { calls: 0, byExtension: new Map(), errors: 0 };
  private readonly offersDirectPaging: boolean;
  private vm: BackendVm | undefined;
  private harts: readonly Hart[] = [];
  /** HSM state per hart; a stopped hart does not run. */
  private state = new Int32Array(0);
  /** For a hart suspended non-retentively: where it resumes, and its opaque argument. */
  private resumeAddress = new Float64Array(0);
  private resumeOpaque = new Float64Array(0);
  /** Guest-physical address of each hart's shared page, or -1. */
  private shared = new Float64Array(0);
  /** Page tables the guest pinned, and the vCPUs running on them (the MMU_* functions). */
  private paging: DirectPaging | undefined;

  constructor(options: SbiFirmwareOptions = {}) {
    this.offersDirectPaging = options.directPaging ?? true;
  }

  attach(vm: BackendVm): void {
    this.vm = vm;
    vm.board.metrics.add("sbi", this.stats);
    this.harts = vm.board.harts;
    this.state = new Int32Array(this.harts.length).fill(HartState.STOPPED);
    this.resumeAddress = new Float64Array(this.harts.length).fill(-1);
    this.resumeOpaque = new Float64Array(this.harts.length);
    this.shared = new Float64Array(this.harts.length).fill(-1);
    // The shared pages are written by the hypervisor at every exit: they can never be tables.
    if (this.offersDirectPaging) this.paging = new DirectPaging(vm, (guestPage) => this.shared.includes(guestPage * 4096));
  }

  /** HSM states, resume points, shared pages, counters and direct paging, as plain data, for a snapshot. */
  saveState(): SbiFirmwareState {
    return {
      state: Array.from(this.state),
      resumeAddress: Array.from(this.resumeAddress),
      resumeOpaque: Array.from(this.resumeOpaque),
      shared: Array.from(this.shared),
      stats: { calls: this.stats.calls, errors: this.stats.errors, byExtension: [...this.stats.byExtension] },
      paging: this.paging?.saveState() ?? null,
    };
  }

  /** Puts back what `saveState` returned, on a firmware attached to a VM of as many harts whose memory has its frames back. */
  restoreState(saved: unknown): void {
    const state = saved as SbiFirmwareState;
    if (typeof state !== "object" || state === null || !Array.isArray(state.state) || state.state.length !== this.harts.length) {
      throw new RangeError(`SBI firmware state does not fit a VM of ${this.harts.length} harts`);
    }
    this.state.set(state.state);
    this.resumeAddress.set(state.resumeAddress);
    this.resumeOpaque.set(state.resumeOpaque);
    this.shared.set(state.shared);
    this.stats.calls = state.stats.calls;
    this.stats.errors = state.stats.errors;
    this.stats.byExtension.clear();
    for (const [extension, count] of state.stats.byExtension) this.stats.byExtension.set(extension, count);
    if ((state.paging === null) !== (this.paging === undefined)) throw new RangeError("the saved firmware and this one differ in offering direct paging");
    if (state.paging !== null) this.paging!.restoreState(state.paging, this.harts);
  }

  /** The direct-paging state (pinned tables), once attached. */
  get directPaging(): DirectPaging | undefined {
    return this.paging;
  }

  directSatp(vhart: Hart): number {
    return this.paging === undefined ? -1 : this.paging.directSatp(vhart);
  }

  protectsPage(guestPage: number): boolean {
    return this.paging !== undefined && this.paging.protectsPage(guestPage);
  }

  written(ramOffset: number, length: number): void {
    this.paging?.written(ramOffset, length);
  }

  private get board() {
    if (this.vm === undefined) throw new Error("SbiFirmware: attach it to a VM first (VmConfig.backend)");
    return this.vm.board;
  }

  boot(info: BootInfo): void {
    for (const [id, hart] of this.harts.entries()) {
      // What firmware programs once per hart: PMP open to S and U, delegation, counters, timer off.
      if (hart.pmp.count > 0) {
        hart.writeCsr(CSR.pmpaddr0, 0xffff_ffff); // NAPOT over everything
        hart.writeCsr(CSR.pmpcfg0, 0x1f); // entry 0 NAPOT, R W X
      }
      hart.writeCsr(CSR.medeleg, MEDELEG);
      hart.writeCsr(CSR.mideleg, MIDELEG);
      hart.writeCsr(CSR.mcounteren, MCOUNTEREN);
      hart.writeCsr(CSR.mie, MIP_MSIP); // IPIs; MTIE only while a timer is armed
      this.setTimecmp(id, 0xffff_ffff, 0xffff_ffff);
      this.state[id] = HartState.STOPPED;
    }
    // The boot hart starts at the kernel's entry in S-mode: a0 = hart id, a1 = device tree.
    this.startHart(0, info.kernel.entry, info.fdtAddress);
  }

  prepare(vhart: Hart): boolean {
    const id = vhart.hartId;
    const state = this.state[id];
    if (state === HartState.STOPPED) return false;
    const pending = vhart.mip;
    // The firmware's interrupt forwarding (what the native kernel's M-mode part does): the machine
    // timer becomes the supervisor timer, masked until the next set_timer; an IPI becomes the
    // supervisor software interrupt.
    if ((pending & MIP_MTIP) !== 0 && (vhart.mie & MIP_MTIP) !== 0) {
      vhart.mie &= ~MIP_MTIP;
      vhart.mipSoftware |= MIP_STIP;
    }
    if ((pending & MIP_MSIP) !== 0) {
      vhart.bus.store(CLINT_BASE + 4 * id, 4, 0);
      vhart.mipSoftware |= MIP_SSIP;
    }
    const shared = this.shared[id]!;
    if (shared >= 0) this.drainConsole(shared);
    if (state === HartState.SUSPENDED) {
      if (!vhart.wakeable) return false;
      this.state[id] = HartState.STARTED;
      const resume = this.resumeAddress[id]!;
      if (resume >= 0) this.startHart(id, resume, this.resumeOpaque[id]!);
    }
    return true;
  }

  interruptsMasked(vhart: Hart): boolean {
    const shared = this.shared[vhart.hartId]!;
    if (shared < 0) return false;
    const dma = this.board.dma;
    const masked = vhart.priv === Priv.S && this.word(shared + SharedPage.IRQ_MASK) !== 0;
    // Written only when it changes: this runs at every exit, and a write to guest memory tells
    // the code caches beneath.
    const pending = masked && vhart.pendingInterrupt() >= 0 ? 1 : 0;
    if (this.word(shared + SharedPage.IRQ_PENDING) !== pending) dma.writeU32(guestPhysical(shared + SharedPage.IRQ_PENDING), pending);
    return masked;
  }

  /**
   * The guest kernel's ecall from virtual S-mode is an SBI call: answered here, as firmware would,
   * and the kernel goes on after its ecall (which counts as trapped, as it would natively).
   * Everything else is trapped and emulated as usual.
   */
  handleExit(vhart: Hart, exit: VcpuExit): number {
    if (exit.cause !== Cause.EcallFromU || vhart.priv !== Priv.S) return ExitOutcome.NotHandled;
    vhart.steps++;
    vhart.trapped++;
    vhart.pc = (vhart.pc + 4) | 0;
    this.call(vhart);
    return vhart.stopRequested ? vhart.consumeStop() : ExitOutcome.Resume;
  }

  /** An SBI call of the guest (the pc already points past its ecall): a7 extension, a6 function. */
  call(vhart: Hart): void {
    const x = vhart.x;
    const extension = x[17]! >>> 0;
    const fn = x[16]! >>> 0;
    this.stats.calls++;
    this.stats.byExtension.set(extension, (this.stats.byExtension.get(extension) ?? 0) + 1);
    let error: number = SbiError.SUCCESS;
    let value = 0;
    const a0 = x[10]! >>> 0;
    const a1 = x[11]! >>> 0;
    const a2 = x[12]! >>> 0;
    const a3 = x[13]! >>> 0;
    switch (extension) {
      case SbiExtension.BASE:
        switch (fn) {
          case 0: value = SBI_SPEC_VERSION; break;
          case 1: value = SBI_IMPLEMENTATION_ID; break;
          case 2: value = SBI_IMPLEMENTATION_VERSION; break;
          case 3: value = this.probe(a0) ? 1 : 0; break;
          case 4: value = vhart.readCsr(CSR.mvendorid) ?? 0; break;
          case 5: value = vhart.readCsr(CSR.marchid) ?? 0; break;
          case 6: value = vhart.readCsr(CSR.mimpid) ?? 0; break;
          default: error = SbiError.NOT_SUPPORTED;
        }
        break;
      case SbiExtension.TIME:
        if (fn === 0) {
          // set_timer(stime_value): 64 bits in a0 (low) and a1 (high) on RV32. Clears STIP.
          this.setTimecmp(vhart.hartId, a0, a1);
          vhart.mipSoftware &= ~MIP_STIP;
          vhart.mie |= MIP_MTIP;
          vhart.needsResync = true;
        } else error = SbiError.NOT_SUPPORTED;
        break;
      case SbiExtension.IPI:
        if (fn === 0) error = this.forHarts(a0, a1, (hart) => this.board.bus.store(CLINT_BASE + 4 * hart, 4, 1));
        else error = SbiError.NOT_SUPPORTED;
        break;
      case SbiExtension.RFENCE:
        error = this.remoteFence(fn, a0, a1, a2, a3);
        break;
      case SbiExtension.HSM:
        ({ error, value } = this.hsm(vhart, fn, a0, a1, a2));
        break;
      case SbiExtension.SRST:
        error = fn === 0 ? this.systemReset(a0, a1) : SbiError.NOT_SUPPORTED;
        break;
      case SbiExtension.DBCN:
        ({ error, value } = this.debugConsole(fn, a0, a1, a2));
        break;
      case MATRYOSHKA_EXTENSION:
        ({ error, value } = this.matryoshka(vhart, fn, a0, a1, a2));
        break;
      default:
        error = SbiError.NOT_SUPPORTED;
    }
    if (error !== SbiError.SUCCESS) this.stats.errors++;
    x[10] = error;
    x[11] = value;
  }

  private probe(extension: number): boolean {
    return extension === MATRYOSHKA_EXTENSION || Object.values(SbiExtension).includes(extension as (typeof SbiExtension)[keyof typeof SbiExtension]);
  }

  private matryoshka(vhart: Hart, fn: number, a0: number, a1: number, a2: number): { error: number; value: number } {
    const id = vhart.hartId;
    const paging = this.paging;
    if (paging === undefined && fn >= MatryoshkaFunction.MMU_INFO && fn <= MatryoshkaFunction.MMU_MACHINE_FRAMES) return answer(SbiError.NOT_SUPPORTED);
    switch (fn) {
      case MatryoshkaFunction.REGISTER_SHARED:
        if ((a0 & 0xfff) !== 0 || !this.board.ram.contains(guestPhysical(a0), 4096)) return answer(SbiError.INVALID_ADDRESS);
        if (paging?.writable(a0, 4096) === false) return answer(SbiError.DENIED); // a page table
        this.shared[id] = a0;
        // The ring starts where the producer stands: nothing the page held before is printed.
        this.board.dma.writeU32(guestPhysical(a0 + SharedPage.CONSOLE_CONSUMER), this.board.dma.readU32(guestPhysical(a0 + SharedPage.CONSOLE_PRODUCER)) ?? 0);
        this.board.dma.writeU32(guestPhysical(a0 + SharedPage.IRQ_PENDING), 0);
        return answer(SbiError.SUCCESS);
      case MatryoshkaFunction.DELIVER:
        // Nothing to do but return: the exit itself lets the held-back interrupt in.
        return answer(this.shared[id]! >= 0 ? SbiError.SUCCESS : SbiError.DENIED);
      case MatryoshkaFunction.CONSOLE_KICK:
        if (this.shared[id]! < 0) return answer(SbiError.DENIED);
        this.drainConsole(this.shared[id]!);
        return answer(SbiError.SUCCESS);
      case MatryoshkaFunction.MMU_INFO:
        return paging!.info();
      case MatryoshkaFunction.MMU_PIN:
        return paging!.pin(a0, a1);
      case MatryoshkaFunction.MMU_UNPIN:
        return paging!.unpin(a0);
      case MatryoshkaFunction.MMU_UPDATE:
        return paging!.update(a0, a1);
      case MatryoshkaFunction.MMU_SET_ROOTS:
        return paging!.setRoots(vhart, a0, a1);
      case MatryoshkaFunction.MMU_MACHINE_FRAMES:
        return paging!.machineFrames(a0, a1, a2);
      default:
        return answer(SbiError.NOT_SUPPORTED);
    }
  }

  /**
   * A word of a registered shared page (checked to lie in RAM when it was registered): these reads
   * happen at every exit. Writes go through `dma`, which keeps the code caches coherent.
   */
  private word(address: number): number {
    return this.board.ram.readU32(guestPhysical(address)) ?? 0;
  }

  /**
   * Copies what the guest put in its console ring since the last time to the VM's console. The
   * indices are the guest's to write and so untrusted: at most one ring's worth is copied per
   * call, and then the consumer catches up with the producer whatever they said.
   */
  private drainConsole(shared: number): void {
    const dma = this.board.dma;
    const producer = this.word(shared + SharedPage.CONSOLE_PRODUCER);
    const consumer = this.word(shared + SharedPage.CONSOLE_CONSUMER);
    if (producer === consumer) return;
    const size = SharedPage.CONSOLE_RING_SIZE;
    const count = Math.min((producer - consumer) >>> 0, size);
    const start = (producer - count) >>> 0;
    const ring = this.board.ram.read(guestPhysical(shared + SharedPage.CONSOLE_RING), size);
    if (ring === undefined) return;
    const bytes = new Uint8Array(count);
    for (let i = 0; i < count; i++) bytes[i] = ring[((start + i) >>> 0) % size]!;
    this.board.writeConsole(bytes);
    dma.writeU32(guestPhysical(shared + SharedPage.CONSOLE_CONSUMER), producer);
  }

  private setTimecmp(hart: number, low: number, high: number): void {
    const bus = this.board.bus;
    const at = CLINT_BASE + 0x4000 + 8 * hart;
    // As firmware does on RV32: park the high word first, so no early match can happen.
    bus.store(at + 4, 4, 0xffff_ffff);
    bus.store(at, 4, low);
    bus.store(at + 4, 4, high);
  }

  /**
   * Runs `action` for every hart of an SBI hart mask: bit i of `mask` is hart `base + i`, and a
   * base of -1 (all ones) means every hart. A hart the VM does not have is SBI_ERR_INVALID_PARAM,
   * and then nothing is done.
   */
  private forHarts(mask: number, base: number, action: (hart: number) => void): number {
    const count = this.harts.length;
    if (base === 0xffff_ffff) {
      for (let hart = 0; hart < count; hart++) action(hart);
      return SbiError.SUCCESS;
    }
    for (let bit = 0; bit < 32; bit++) {
      if (((mask >>> bit) & 1) !== 0 && base + bit >= count) return SbiError.INVALID_PARAM;
    }
    for (let bit = 0; bit < 32; bit++) if (((mask >>> bit) & 1) !== 0) action(base + bit);
    return SbiError.SUCCESS;
  }

  private remoteFence(fn: number, mask: number, base: number, start: number, size: number): number {
    const vm = this.vm!;
    switch (fn) {
      case 0: // remote_fence_i: code caches here stay coherent with every store; nothing to drop
        return this.forHarts(mask, base, () => {});
      case 1: // remote_sfence_vma(start, size)
      case 2: { // remote_sfence_vma_asid(start, size, asid): our shadow tables fence per address
        // Pages from start's page to the page of the range's last byte, as unsigned numbers (a
        // start at or above 2 GiB is no negative page). The SBI spec (v2.0, ch. 8.3) lets the
        // firmware flush more than asked; past REMOTE_FENCE_PAGE_LIMIT pages, or for a range
        // that wraps past 4 GiB, one full flush is cheaper, and bounds the host's work per call.
        const first = Math.floor(start / 0x1000);
        const pages = size === 0 ? 0 : Math.floor((start + size - 1) / 0x1000) - first + 1;
        const all = size === 0 || pages > REMOTE_FENCE_PAGE_LIMIT || start + size > 0x1_0000_0000;
        return this.forHarts(mask, base, (hart) => {
          const vhart = this.harts[hart]!;
          if (all) {
            vm.shadow.invalidateAll();
            vhart.flushTlbs();
          } else {
            for (let page = first; page < first + pages; page++) {
              const va = page * 0x1000;
              vm.shadow.invalidatePage(va);
              for (const tlb of vhart.tlbs) tlb.flushPage(va);
            }
          }
          vhart.needsResync = true;
        });
      }
      default: // the hfence functions need the H extension, which these harts lack
        return SbiError.NOT_SUPPORTED;
    }
  }

  private hsm(vhart: Hart, fn: number, a0: number, a1: number, a2: number): { error: number; value: number } {
    const count = this.harts.length;
    switch (fn) {
      case 0: { // hart_start(hartid, start_addr, opaque)
        if (a0 >= count) return { error: SbiError.INVALID_PARAM, value: 0 };
        if (this.state[a0] !== HartState.STOPPED) return { error: SbiError.ALREADY_AVAILABLE, value: 0 };
        if (!this.board.ram.contains(guestPhysical(a1), 2)) return { error: SbiError.INVALID_ADDRESS, value: 0 };
        this.startHart(a0, a1, a2);
        return { error: SbiError.SUCCESS, value: 0 };
      }
      case 1: // hart_stop(): does not return on success
        this.state[vhart.hartId] = HartState.STOPPED;
        vhart.mie = MIP_MSIP;
        return { error: SbiError.SUCCESS, value: 0 };
      case 2: // hart_get_status(hartid)
        if (a0 >= count) return { error: SbiError.INVALID_PARAM, value: 0 };
        return { error: SbiError.SUCCESS, value: this.state[a0]! };
      case 3: { // hart_suspend(type, resume_addr, opaque)
        const retentive = a0 === 0;
        const nonRetentive = a0 === 0x8000_0000;
        if (!retentive && !nonRetentive) return { error: SbiError.INVALID_PARAM, value: 0 };
        if (nonRetentive && !this.board.ram.contains(guestPhysical(a1), 2)) return { error: SbiError.INVALID_ADDRESS, value: 0 };
        this.state[vhart.hartId] = HartState.SUSPENDED;
        this.resumeAddress[vhart.hartId] = nonRetentive ? a1 : -1;
        this.resumeOpaque[vhart.hartId] = a2;
        return { error: SbiError.SUCCESS, value: 0 };
      }
      default:
        return { error: SbiError.NOT_SUPPORTED, value: 0 };
    }
  }

  /** A hart enters S-mode at `pc` with a0 = its id and a1 = `opaque`, translation off (HSM). */
  private startHart(id: number, pc: number, opaque: number): void {
    const hart = this.harts[id]!;
    hart.priv = Priv.S;
    hart.pc = pc | 0;
    hart.x[10] = id;
    hart.x[11] = opaque | 0;
    this.paging?.resetVcpu(hart);
    hart.satp = 0;
    hart.mstatus &= ~MSTATUS.SIE;
    hart.flushTlbs();
    hart.needsResync = true;
    this.state[id] = HartState.STARTED;
    this.board.wake(id);
  }

  private systemReset(type: number, reason: number): number {
    // reset_type: 0 shutdown, 1 cold reboot, 2 warm reboot; reason: 0 none, 1 system failure.
    if (type > 2) return SbiError.INVALID_PARAM;
    const bus = this.board.bus;
    for (const shared of this.shared) if (shared >= 0) this.drainConsole(shared);
    if (type !== 0) {
      bus.store(TEST_DEVICE, 4, 0x7777); // reset, as QEMU's sifive_test does
      return SbiError.SUCCESS;
    }
    let code = 0;
    if (reason === 1) code = 1;
    else if (reason >= SRST_REASON_FAILURE_CODE) code = Math.min(0xffff, reason - SRST_REASON_FAILURE_CODE) || 1;
    else if (reason !== 0) return SbiError.INVALID_PARAM;
    bus.store(TEST_DEVICE, 4, code === 0 ? 0x5555 : ((code << 16) | 0x3333) >>> 0);
    return SbiError.SUCCESS;
  }

  private debugConsole(fn: number, a0: number, a1: number, a2: number): { error: number; value: number } {
    const board = this.board;
    switch (fn) {
      case 0: { // console_write(num_bytes, base_addr_lo, base_addr_hi)
        if (a2 !== 0 || !board.ram.contains(guestPhysical(a1), a0)) return { error: SbiError.INVALID_PARAM, value: 0 };
        // At most DBCN_MAX_BYTES per call: the spec lets the firmware write fewer bytes than asked
        // (SBI v2.0, ch. 12.1: value is the number written), and the host's work per call stays bounded.
        const count = Math.min(a0, DBCN_MAX_BYTES);
        const bytes = board.dma.read(guestPhysical(a1), count);
        if (bytes === undefined) return { error: SbiError.INVALID_PARAM, value: 0 };
        board.writeConsole(bytes);
        return { error: SbiError.SUCCESS, value: count };
      }
      case 1: { // console_read(num_bytes, base_addr_lo, base_addr_hi): what has arrived, no waiting
        if (a2 !== 0 || !board.ram.contains(guestPhysical(a1), a0)) return { error: SbiError.INVALID_PARAM, value: 0 };
        if (this.paging?.writable(a1, a0) === false) return { error: SbiError.INVALID_PARAM, value: 0 }; // a page table
        const bytes = board.uart.take(Math.min(a0, DBCN_MAX_BYTES));
        if (!board.dma.write(guestPhysical(a1), bytes)) return { error: SbiError.INVALID_PARAM, value: 0 };
        return { error: SbiError.SUCCESS, value: bytes.length };
      }
      case 2: // console_write_byte(byte)
        board.writeConsole(Uint8Array.of(a0 & 0xff));
        return { error: SbiError.SUCCESS, value: 0 };
      default:
        return { error: SbiError.NOT_SUPPORTED, value: 0 };
    }
  }
}

function answer(error: number, value = 0): { error: number; value: number } {
  return { error, value };
}
