import { MSTATUS, Priv, StopReason, type Hart } from "@matryoshka/cpu";
import { VIRT, VirtMachine, type BootInfo, type BootOptions, type MachineOptions, type RunOutcome } from "@matryoshka/machine";
import { PagedMemory, type FrameSource, type FrameTable } from "@matryoshka/memory";
import { FramePool, ShadowPageTables, type ShadowStats } from "@matryoshka/mmu";
import type { ParavirtualBackend } from "./paravirtual.js";
import { carriesInstruction, ExitKind, type Platform, type PlatformHart } from "./platform.js";
import { TrapAndEmulate, type ExitStats } from "./trap-and-emulate.js";

/** What a VM is made of: a `virt` board's options, minus what the hypervisor decides. */
export type VmConfig = Omit<MachineOptions, "engine" | "ram" | "codeCache"> & {
  /** For reports (default "vm<n>"). */
  name?: string;
  /** Most frames this VM's shadow page tables may hold (default 1024, 4 MiB). */
  shadowFrames?: number;
  /**
   * How the guest's sensitive instructions reach the hypervisor: "trap-and-emulate" (default: they
   * trap, as Popek and Goldberg's theorem 1 needs), or "bt" (binary translation: the translating
   * engine beneath turns each into a call to the hypervisor, trapping or not; needs a platform
   * with `sensitiveCalls`).
   */
  backend?: VmBackend;
  /** The pv backend's firmware side (`@matryoshka/paravirt`); required with backend "pv". */
  paravirtual?: ParavirtualBackend;
};

/**
 * "pv": paravirtual: the guest kernel starts in S-mode with no firmware, and its SBI calls go to
 * `paravirtual`; the rest is trapped and emulated.
 */
export type VmBackend = "trap-and-emulate" | "bt" | "pv";

/** Statistics of a VM, for `--stats` and the benchmarks. */
export interface VmStats {
  exits: ExitStats;
  shadow: ShadowStats;
  /** Virtual interrupts taken by the guest, by cause. */
  injectedInterrupts: Float64Array;
  /** Guest instructions started (native and emulated). */
  instructions: number;
}

/** What a VM needs of the hypervisor that made it: a name, and frames of the platform's memory. */
export interface VmPlacement {
  name: string;
  /** Where the VM's pages and shadow tables get frames (the hypervisor's allocator). */
  frames: FrameSource;
  /** Most frames the VM's shadow page tables may hold. */
  shadowFrames: number;
}

/**
 * A virtual machine: a complete `virt` board for its guest (devices from `@matryoshka/devices`,
 * device tree, boot as QEMU does), whose RAM is a frame table over the hypervisor's platform memory
 * (`PagedMemory`: pages backed on first touch, possibly shared copy-on-write, logged when dirty)
 * and whose harts are virtual: they keep the virtual privilege mode and CSR file, and their
 * instructions run on the platform's harts through `TrapAndEmulate`.
 *
 * A VM is itself a Platform (DESIGN.md §5): a hypervisor can run on it, and the contexts it enters
 * run on the VM's virtual harts in virtual U-mode, so every level executes on the one hardware
 * level below.
 */
export class VM implements Platform {
  readonly name: string;
  readonly level: number;
  readonly board: VirtMachine;
  readonly engine: TrapAndEmulate;
  readonly harts: readonly PlatformHart[];
  readonly sensitiveCalls: boolean;
  /** How the guest's sensitive instructions reach the hypervisor (VmConfig.backend). */
  readonly backend: VmBackend;
  /** The pv backend's firmware side, if this VM uses it. */
  readonly paravirtual: ParavirtualBackend | undefined;
  readonly placement: VmPlacement;
  /** What the VM runs on: the hardware or a VM of the level below. */
  readonly platform: Platform;
  /** The VM's RAM: guest-physical pages at 0x80000000 and the platform frames behind them. */
  readonly memory: PagedMemory;
  /** Guest pages → platform frames as shadow paging may map them (device overlays and pv page tables left out). */
  readonly frameTable: FrameTable;
  private destroyed = false;

  constructor(platform: Platform, placement: VmPlacement, config: VmConfig) {
    this.platform = platform;
    this.placement = placement;
    this.name = placement.name;
    this.level = platform.level + 1;
    const size = (config.memoryMiB ?? 128) * 1024 * 1024;
    const memory = new PagedMemory(platform.memory, VIRT.dram.base, size, placement.frames);
    this.memory = memory;

    const shadow = new ShadowPageTables(platform.memory, new FramePool(platform.memory, placement.frames, placement.shadowFrames), (va) => platform.flushTlbs(va));
    const excluded = (guestPage: number): boolean => {
      // Pages with a device overlay (HTIF tohost) must trap on every access.
      const overlayPages = this.board.bus.overlayPages;
      if (overlayPages.size > 0 && overlayPages.has(guestPage)) return true;
      // So must page tables the pv backend validated: the guest changes them only by hypercall.
      return this.paravirtual?.protectsPage?.(guestPage) === true;
    };
    this.frameTable = {
      platformAddress: (guestPage, write) => (excluded(guestPage) ? -1 : memory.platformAddress(guestPage, write)),
      mapsWritable: (guestPage) => memory.mapsWritable(guestPage),
    };
    // A page that moved (copy on write, given back) must not stay mapped at its old frame; the
    // virtual harts' TLBs notice through `memory.remaps`.
    memory.onRemap = (_page, oldFrame) => shadow.invalidateFrame(oldFrame);
    // The dirty log (re)started: every write permission in the shadow tables goes, so the next
    // store to each page faults and is logged.
    memory.onWriteProtect = () => shadow.revokeWrites();
    memory.onExhausted = (page) =>
      this.board.stop(`${this.name}: out of memory: guest page 0x${(page * 4096).toString(16)} needs a frame and ${platform.name} has none free`);

    const harts = config.harts ?? 1;
    const backend = config.backend ?? "trap-and-emulate";
    if (backend === "bt" && !platform.sensitiveCalls) {
      throw new RangeError(`the bt backend needs a translating engine beneath (${platform.name} cannot turn sensitive instructions into calls; use --engine bt)`);
    }
    if (backend === "pv" && config.paravirtual === undefined) throw new RangeError("the pv backend needs its firmware side (VmConfig.paravirtual)");
    this.sensitiveCalls = platform.sensitiveCalls;
    this.backend = backend;
    this.paravirtual = backend === "pv" ? config.paravirtual : undefined;
    this.engine = new TrapAndEmulate(platform.harts, harts, shadow, this.frameTable, backend === "bt", this.paravirtual);
    this.board = new VirtMachine({
      ...config,
      ram: memory,
      engine: this.engine,
      // Virtual harts only emulate single instructions; the guest's own stores bypass them, so
      // they keep no decoded code, and every write they or the devices make is forwarded down.
      codeCache: {
        transient: true,
        onWrite: (offset, length) => {
          this.forwardWritten(offset, length);
          this.paravirtual?.written?.(offset, length);
        },
      },
    });
    for (const vhart of this.board.harts) {
      vhart.onSfenceVma = (va, asid) => (va === undefined ? shadow.invalidateAll(asid) : shadow.invalidatePage(va, asid));
    }
    this.harts = this.board.harts.map((vhart) => new VmHart(this, vhart));
    this.paravirtual?.attach(this);
  }

  /** Loads firmware, kernel and initrd as QEMU does (see VirtMachine.boot). */
  boot(options: BootOptions): BootInfo {
    const info = this.board.boot(options);
    this.paravirtual?.boot(info);
    this.forwardWritten(0, this.memory.size);
    return info;
  }

  /**
   * Runs the guest (the board's scheduler, clock and devices; instructions on the platform);
   * `vcpuMask` (bit v for vCPU v, default all) says which vCPUs may run, for a scheduler that
   * places single vCPUs on the platform's harts.
   */
  run(maxInstructions?: number, vcpuMask?: number): RunOutcome {
    return this.board.run(maxInstructions, vcpuMask);
  }

  memoryWritten(pa: number, length: number): void {
    const offset = pa - this.memory.base;
    if (offset < 0 || offset >= this.memory.size) return;
    this.forwardWritten(offset, Math.min(length, this.memory.size - offset));
  }

  /**
   * RAM bytes [offset, offset + length) may hold new code: tells the platform, frame by frame (the
   * pages of a range need not be adjacent frames; pages with no frame hold no code).
   */
  private forwardWritten(offset: number, length: number): void {
    const memory = this.memory;
    const firstPage = memory.base >>> 12;
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const pageEnd = Math.min(end, ((at >>> 12) + 1) * 4096);
      const frame = memory.currentFrame(firstPage + (at >>> 12));
      if (frame >= 0) this.platform.memoryWritten(frame * 4096 + (at & 0xfff), pageEnd - at);
      at = pageEnd;
    }
  }

  /**
   * Ends the VM: its shadow tables and every frame of its memory go back to the hypervisor (and the
   * platform forgets every translation that could reach them). The VM cannot run again.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.board.stop(`${this.name} was destroyed`);
    this.engine.shadow.destroy();
    this.memory.release();
    this.platform.flushTlbs();
  }

  /**
   * The tables of the hypervisor running in this VM changed: as if its contexts had executed
   * sfence.vma. The shadow tables are shared by all the VM's harts, so they are invalidated once.
   */
  flushTlbs(va?: number): void {
    const shadow = this.engine.shadow;
    if (va === undefined) shadow.invalidateAll();
    else shadow.invalidatePage(va);
    for (const vhart of this.board.harts) {
      if (va === undefined) vhart.flushTlbs();
      else for (const tlb of vhart.tlbs) tlb.flushPage(va);
      vhart.needsResync = true;
    }
  }

  get stats(): VmStats {
    const injectedInterrupts = new Float64Array(32);
    for (const hart of this.board.harts) hart.interruptCounts.forEach((count, cause) => (injectedInterrupts[cause]! += count));
    return { exits: this.engine.exits, shadow: this.engine.shadow.stats, injectedInterrupts, instructions: this.board.instructions };
  }
}

/**
 * A VM's virtual hart as a platform hart for a hypervisor running in the VM: entering a context
 * means putting the virtual hart in U-mode with that root, and running it through this VM's
 * engine with its traps intercepted, so they return as exits instead of going to the virtual trap
 * vector. The registers are the virtual hart's own.
 */
class VmHart implements PlatformHart {
  readonly x: Int32Array;
  retired = 0;
  exitCause = 0;
  exitTval = 0;
  exitInstruction = 0;
  private readonly vm: VM;
  private readonly vhart: Hart;
  private prepared = false;

  constructor(vm: VM, vhart: Hart) {
    this.vm = vm;
    this.vhart = vhart;
    this.x = vhart.x;
  }

  get pc(): number {
    return this.vhart.pc;
  }
  set pc(value: number) {
    this.vhart.pc = value;
  }
  get reservation(): number {
    return this.vm.engine.reservationOf(this.vhart.hartId).reservation;
  }
  set reservation(value: number) {
    this.vm.engine.reservationOf(this.vhart.hartId).reservation = value;
  }
  get reservationValue(): number {
    return this.vm.engine.reservationOf(this.vhart.hartId).reservationValue;
  }
  set reservationValue(value: number) {
    this.vm.engine.reservationOf(this.vhart.hartId).reservationValue = value;
  }

  enter(satp: number, budget: number, sensitiveCalls = false): ExitKind {
    const vhart = this.vhart;
    // Passed down: this VM's engine enters its own platform with it for these contexts.
    vhart.sensitiveCalls = sensitiveCalls;
    if (!this.prepared) {
      // What the hypervisor above would program once, as on bare metal: PMP lets U-mode reach all
      // of the VM's memory (its shadow tables decide what a context reaches).
      this.prepared = true;
      if (vhart.pmp.count > 0) {
        vhart.writeCsr(0x3b0, 0xffff_ffff);
        vhart.writeCsr(0x3a0, 0x1f);
      }
    }
    if (vhart.satp !== satp) {
      vhart.satp = satp;
      vhart.flushTlbs();
    }
    vhart.priv = Priv.U;
    vhart.mstatus &= ~(MSTATUS.SUM | MSTATUS.MXR | MSTATUS.MPRV);
    vhart.mie = 0;
    vhart.mcounteren = 0;
    vhart.interceptTraps = true;
    const steps = vhart.steps;
    const trapped = vhart.trapped;
    const reason = this.vm.engine.run(vhart, budget);
    vhart.interceptTraps = false;
    this.retired = vhart.steps - steps - (vhart.trapped - trapped);
    if (reason === StopReason.Intercept) {
      const cause = vhart.interceptedCause;
      this.exitCause = cause;
      this.exitTval = vhart.interceptedTval;
      this.exitInstruction = carriesInstruction(cause) ? vhart.interceptedInstruction : 0;
      return ExitKind.Trap;
    }
    return reason === StopReason.Budget ? ExitKind.Budget : ExitKind.Stop;
  }

}
