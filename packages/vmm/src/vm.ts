import type { VirtioBalloonOptions } from "@matryoshka/devices";
import { VIRT, VirtMachine, type BootInfo, type BootOptions, type MachineOptions, type RunOutcome } from "@matryoshka/machine";
import { PagedMemory, type FrameSource, type FrameTable } from "@matryoshka/memory";
import { FramePool, ShadowPageTables, type ShadowStats } from "@matryoshka/mmu";
import { BinaryTranslationBackend, TrapAndEmulateBackend, type BackendVm, type VirtualizationBackend, type VmBackend } from "./backend.js";
import { VmBalloon } from "./balloon.js";
import { ContextHart } from "./context-hart.js";
import type { Platform, PlatformHart } from "./platform.js";
import { VmEngine, type ExitStats } from "./vcpu.js";

/** What a VM is made of: a `virt` board's options, minus what the hypervisor decides. */
export type VmConfig = Omit<MachineOptions, "engine" | "ram" | "codeCache" | "balloon"> & {
  /**
   * Give the VM a virtio-balloon device (QEMU's `-device virtio-balloon-device`): its guest gives
   * pages back as the hypervisor asks (`vm.balloon.setTarget`), and their frames go back to the
   * hypervisor. A hypervisor running in the VM drives it itself.
   */
  balloon?: boolean | VirtioBalloonOptions;
  /** For reports (default "vm<n>"). */
  name?: string;
  /** Most frames this VM's shadow page tables may hold (default 1024, 4 MiB). */
  shadowFrames?: number;
  /**
   * How the guest's sensitive instructions reach the hypervisor (see `VmBackend`): "trap-and-
   * emulate" (the default) or "bt" by name, or a backend object, such as `@matryoshka/paravirt`'s
   * `SbiFirmware` for "pv". The "bt" backend needs a platform with `sensitiveCalls`.
   */
  backend?: VmBackend | VirtualizationBackend;
};

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
export class VM implements Platform, BackendVm {
  readonly name: string;
  readonly level: number;
  readonly board: VirtMachine;
  readonly engine: VmEngine;
  readonly harts: readonly PlatformHart[];
  readonly sensitiveCalls: boolean;
  /** How the guest's sensitive instructions reach the hypervisor (VmConfig.backend). */
  readonly backend: VirtualizationBackend;
  /** The VM's shadow page tables (in the platform's memory). */
  readonly shadow: ShadowPageTables;
  /** The VM's memory balloon, if it has one (`VmConfig.balloon`). */
  readonly balloon: VmBalloon | undefined;
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
      return this.backend.protectsPage(guestPage);
    };
    this.frameTable = {
      platformAddress: (guestPage, write) => (excluded(guestPage) ? -1 : memory.platformAddress(guestPage, write)),
      mapsWritable: (guestPage) => memory.mapsWritable(guestPage),
    };
    // A page that moved (copy on write, given back) must not stay mapped at its old frame; the
    // virtual harts' TLBs notice through `memory.remaps`.
    memory.onRemap = (_page, oldFrame) => shadow.invalidateFrame(oldFrame);
    memory.onRemapFrames = (frames) => shadow.invalidateFrames(frames);
    // The dirty log (re)started: every write permission in the shadow tables goes, so the next
    // store to each page faults and is logged.
    memory.onWriteProtect = () => shadow.revokeWrites();
    memory.onExhausted = (page) =>
      this.board.stop(`${this.name}: out of memory: guest page 0x${(page * 4096).toString(16)} needs a frame and ${platform.name} has none free`);

    const backend = resolveBackend(config.backend);
    if (backend.sensitiveCalls && !platform.sensitiveCalls) {
      throw new RangeError(`the ${backend.name} backend needs a translating engine beneath (${platform.name} cannot turn sensitive instructions into calls; use --engine bt)`);
    }
    this.sensitiveCalls = platform.sensitiveCalls;
    this.backend = backend;
    this.shadow = shadow;
    this.engine = new VmEngine(platform.harts, shadow, this.frameTable, backend);
    const { balloon: balloonConfig, ...machineConfig } = config;
    this.balloon = balloonConfig === undefined || balloonConfig === false ? undefined : new VmBalloon(memory);
    this.board = new VirtMachine({
      ...machineConfig,
      balloon: this.balloon === undefined ? undefined : { backend: this.balloon, options: balloonConfig === true ? undefined : (balloonConfig as VirtioBalloonOptions) },
      ram: memory,
      engine: this.engine,
      // Virtual harts only emulate single instructions; the guest's own stores bypass them, so
      // they keep no decoded code, and every write they or the devices make is forwarded down.
      codeCache: {
        transient: true,
        onWrite: (offset, length) => {
          this.forwardWritten(offset, length);
          this.backend.written(offset, length);
        },
      },
    });
    for (const vhart of this.board.harts) {
      vhart.onSfenceVma = (va, asid) => (va === undefined ? shadow.invalidateAll(asid) : shadow.invalidatePage(va, asid));
    }
    this.balloon?.attachDevice(this.board.balloon);
    // What this level of hypervisor counts for its VM, beside what the VM's board counts itself.
    this.board.metrics.add("exits", this.engine.exits);
    this.board.metrics.add("shadow", shadow.stats);
    this.board.metrics.add("memory", memory.stats);
    if (this.balloon !== undefined) this.board.metrics.add("balloon", this.balloon.stats);
    // As a platform, the VM's harts run the contexts of a hypervisor above through this VM's engine.
    this.harts = this.board.harts.map((vhart) => new ContextHart(vhart, (hart, budget) => this.engine.run(hart, budget), false));
    backend.attach(this);
  }

  /** Loads firmware, kernel and initrd as QEMU does (see VirtMachine.boot). */
  boot(options: BootOptions): BootInfo {
    const info = this.board.boot(options);
    this.backend.boot(info);
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
    this.shadow.destroy();
    this.memory.release();
    this.platform.flushTlbs();
  }

  /**
   * The tables of the hypervisor running in this VM changed: as if its contexts had executed
   * sfence.vma. The shadow tables are shared by all the VM's harts, so they are invalidated once.
   */
  flushTlbs(va?: number): void {
    const shadow = this.shadow;
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
    return { exits: this.engine.exits, shadow: this.shadow.stats, injectedInterrupts, instructions: this.board.instructions };
  }
}

/** The backend a VM's config names or gives. */
function resolveBackend(backend: VmConfig["backend"]): VirtualizationBackend {
  if (backend === undefined || backend === "trap-and-emulate") return new TrapAndEmulateBackend();
  if (backend === "bt") return new BinaryTranslationBackend();
  if (typeof backend === "string") throw new RangeError("the pv backend is an object: give VmConfig.backend @matryoshka/paravirt's SbiFirmware");
  return backend;
}
