import type { IsaProfile } from "@matryoshka/isa";
import { Hart, createDefaultEngine, CodeCache, StopReason, type CodeCacheOptions, type Engine } from "@matryoshka/cpu";
import {
  EmptyVirtioSlot, GoldfishRtc, Htif, HTIF_REGISTER_SIZE, TestDevice, Uart16550, VirtioBalloon, VirtioBlk, VirtioMmio,
  type BalloonBackend, type BlockBackend, type FinisherEvent, type VirtioBalloonOptions,
} from "@matryoshka/devices";
import { Clint, Plic } from "@matryoshka/interrupts";
import { Bus, guestPhysical, observedMemory, Ram, type GuestMemory, type MmioDevice } from "@matryoshka/memory";
import { checkFdtPlacement, fdtAddress, imageEnd, initrdAddress, kernelAddress, writeResetVector } from "./boot.js";
import { Metrics } from "@matryoshka/metrics";
import { InstructionClock } from "./clock.js";
import { captureHart, restoreHart } from "./hart-state.js";
import { boardDeviceTree } from "./device-tree.js";
import { DEFAULT_MEMORY_MIB, VIRT } from "./layout.js";
import { LoadError, parseKernel, type KernelImage } from "./loader.js";
import { DeviceRegistry, type BoardDevice } from "./registry.js";
import type { HartState } from "./threaded-shared.js";
import { assignDiskSlots, virtDevices, withUserDevices, type VirtioDisk, type VirtParts } from "./virt-devices.js";
import { assignExtraSlots, extraVirtioDevices, type VirtioConsoleCard, type VirtioNic, type VirtioRngCard } from "./virt-net.js";

/** What to boot, as QEMU's -kernel, -bios, -append and -initrd take it. */
export interface BootOptions {
  kernel: Uint8Array;
  /** M-mode firmware loaded at the start of RAM (e.g. OpenSBI fw_jump); none means -bios none. */
  bios?: Uint8Array;
  /** Kernel command line for /chosen/bootargs. */
  append?: string;
  initrd?: Uint8Array;
}

export interface BootInfo {
  kernel: KernelImage;
  fdtAddress: number;
  fdt: Uint8Array;
  startAddress: number;
  initrd?: { start: number; end: number };
}

export interface MachineOptions {
  /** Number of harts (default 1). */
  harts?: number;
  /** RAM size in MiB (default 128, as QEMU). */
  memoryMiB?: number;
  /**
   * The board's RAM, if it already exists: a hypervisor passes the VM's paged memory (based at
   * 0x80000000), whose pages are frames it owns. Overrides `memoryMiB`.
   */
  ram?: GuestMemory;
  /** How the shared pre-decode cache behaves (a VM's board uses a transient one). */
  codeCache?: CodeCacheOptions;
  /** PMP entries per hart, 0..64 (default 16, as QEMU). */
  pmpEntries?: number;
  /**
   * How the harts treat sensitive instructions in U-mode (default: standard RISC-V). The other
   * profiles are not classically virtualizable (see `@matryoshka/isa` profiles.ts).
   */
  isaProfile?: IsaProfile;
  /** Sdtrig triggers per hart (`HartOptions.triggers`): default 2, as QEMU 7.2; 0 for none. */
  triggers?: number;
  /** Deterministic clock rate: instructions per mtime tick (default 10). */
  instructionsPerTick?: number;
  /** Instructions a hart runs before the next one gets its turn (default 10,000). */
  quantum?: number;
  /** Execution engine (default: `createDefaultEngine()` of `@matryoshka/cpu`, the interpreter unless changed). */
  engine?: Engine;
  /** Receives every byte the guest writes to UART0 (and HTIF console writes). */
  console?: (byte: number) => void;
  /**
   * Disks for virtio-blk, at most 8. A disk given as `{ backend, slot }` takes virtio-mmio slot
   * `slot` (0..7: 0x10001000 + slot × 0x1000, IRQ 1 + slot), as QEMU's
   * `bus=virtio-mmio-bus.N`; the others, like QEMU's, take the highest free slot in turn (the
   * first 0x10008000, IRQ 8, when no slot is chosen). Two disks in one slot, or a slot out of
   * range, is a RangeError.
   */
  disks?: (BlockBackend | VirtioDisk)[];
  /**
   * Network cards (virtio-net), each plugged into its backend (`@matryoshka/devices`: a
   * `NetSwitch` port, a `SocketNetBackend`, …). A card without a slot takes the highest one left
   * free by the disks and user devices.
   */
  net?: VirtioNic[];
  /** A virtio-rng entropy source, after the network cards in the free slots. */
  rng?: VirtioRngCard;
  /** A virtio-console port (Linux's hvc0), after the entropy source in the free slots. */
  virtioConsole?: VirtioConsoleCard;
  /** virtio-mmio transport version: 1 (legacy, QEMU 7.2's default for virt) or 2 (modern). */
  virtioVersion?: 1 | 2;
  /** Wall-clock time of the RTC at boot, in ms since the epoch (default: the host's time). */
  rtcEpochMilliseconds?: number;
  /**
   * Devices of your own, each mapped, wired to its PLIC source and given its device-tree node
   * (see `BoardDevice`): after the built-ins, or, with `replace: true`, in place of the built-in of
   * the same name (`uart0`, `rtc`, `virtio0`..`virtio7`; `virtioSlot` makes the entry for a
   * virtio device of your own). A hypervisor's VM takes them too (`VmConfig`).
   */
  devices?: BoardDevice[];
  /**
   * A virtio-balloon device (QEMU's `-device virtio-balloon-device`), in the highest virtio-mmio
   * slot the disks left free; `backend` takes the pages its guest gives back and takes again.
   */
  balloon?: { backend: BalloonBackend; options?: VirtioBalloonOptions };
}

/** A device whose registers a snapshot can hold (see `VirtMachine.saveState`). */
export interface StatefulDevice {
  saveState(): unknown;
  restoreState(state: unknown): void;
}

/** A hart's state as plain data: `HartState` with arrays for typed arrays and null for NaN. */
export interface HartData {
  x: number[];
  pc: number;
  priv: number;
  csrs: [number, number | null][];
  mcycle: number;
  minstret: number;
  steps: number;
  trapped: number;
  reservation: number;
  reservationValue: number;
  mhpmcounter: number[];
  exceptionCounts: number[];
  interruptCounts: number[];
}

/** A board's state except its RAM, as plain data (see `VirtMachine.saveState`). */
export interface MachineState {
  harts: HartData[];
  /** 1 for a hart asleep in WFI. */
  asleep: number[];
  /** Machine time, in instructions. */
  elapsed: number;
  /** The mask ROM (reset vector), base64, trailing zeros left out. */
  rom: string;
  /** Each device's state by its registry name ("uart0", "rtc", "virtio7", "clint", "plic", …). */
  devices: Record<string, unknown>;
}

function hartToData(hart: Hart): HartData {
  const state = captureHart(hart);
  return {
    ...state,
    x: Array.from(state.x),
    csrs: state.csrs.map(([key, value]) => [key, Number.isNaN(value) ? null : value]),
    mhpmcounter: Array.from(state.mhpmcounter),
    exceptionCounts: Array.from(state.exceptionCounts),
    interruptCounts: Array.from(state.interruptCounts),
  };
}

function hartFromData(data: HartData): HartState {
  if (data.x.length !== 32) throw new RangeError("a saved hart must have 32 registers");
  return {
    ...data,
    x: Int32Array.from(data.x),
    csrs: data.csrs.map(([key, value]) => [key, value ?? Number.NaN]),
    mhpmcounter: Float64Array.from(data.mhpmcounter),
    exceptionCounts: Float64Array.from(data.exceptionCounts),
    interruptCounts: Float64Array.from(data.interruptCounts),
  };
}

/** A slice this long in which every instruction trapped means the hart can make no progress. */
const STUCK_THRESHOLD = 1000;

/** How a run ended. */
export type RunOutcome =
  | { kind: "pass" }
  | { kind: "fail"; code: number }
  | { kind: "reset" }
  | { kind: "limit" }
  /** Every hart waits for an interrupt that nothing can raise. */
  | { kind: "idle"; reason: string }
  /** A hart traps over and over without retiring an instruction (e.g. its trap vector faults). */
  | { kind: "stuck"; reason: string }
  /** Stopped from outside (`VirtMachine.stop`): e.g. a hypervisor stopping a VM that broke its rules. */
  | { kind: "stopped"; reason: string };

/**
 * A debugger's hold on a board's run loop (the GDB stub of `@matryoshka/gdbstub`): it runs each
 * hart's turn in place of the engine, and while `paused` the board runs nothing and `run`
 * returns `{ kind: "limit" }` at once, for its caller to wait on the debugger.
 */
export interface BoardDebugger {
  /** Runs `hart` for up to `budget` instructions, through `run` (the engine's run, or a hypervisor's entry). */
  runHart(hart: Hart, budget: number, run: (hart: Hart, budget: number) => StopReason): StopReason;
  readonly paused: boolean;
}

/**
 * A board compatible with QEMU's riscv32 `virt` machine. `run` interleaves the harts
 * deterministically in one thread (round robin, `quantum` instructions each), with time that
 * advances by retired instructions, so every run of the same program is identical.
 */
export class VirtMachine {
  readonly ram: GuestMemory;
  readonly bus: Bus;
  readonly harts: Hart[];
  readonly clock: InstructionClock;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly codeCache: CodeCache;
  readonly engine: Engine;
  readonly quantum: number;
  readonly rtc: GoldfishRtc;
  /** Guest RAM as devices see it for DMA: bounds-checked, keeping pre-decoded code coherent. */
  readonly dma: GuestMemory;
  /**
   * Told of every device DMA write to RAM (physical address, length): a threaded run
   * (`runThreaded`) forwards them to its workers, whose decoded code is their own.
   */
  dmaObserver: ((pa: number, length: number) => void) | undefined = undefined;
  /** The virtio-mmio transports with a device behind them (disks, user devices), by slot. */
  readonly virtio: VirtioMmio[] = [];
  /** The balloon device, when `MachineOptions.balloon` asked for one. */
  balloon: VirtioBalloon | undefined = undefined;
  /** Every counter of the board and of what runs on it (`@matryoshka/metrics`): harts, engine, devices; a VM adds its own. */
  readonly metrics = new Metrics();
  /** Every device on the board: built-ins and user devices, each with its device-tree node. */
  readonly devices: DeviceRegistry;
  /** A debugger attached to the run loop (see `BoardDebugger`); undefined costs one check per turn. */
  debugger: BoardDebugger | undefined = undefined;
  private readonly runEngine = (hart: Hart, budget: number): StopReason => this.engine.run(hart, budget);
  private htif: Htif | undefined;
  private readonly output: (byte: number) => void;
  private finished: FinisherEvent | { kind: "stopped"; reason: string } | undefined;
  private readonly rom: Uint8Array;
  /** The built-ins that were made, to keep typed handles on them. */
  private readonly made: { uart?: Uart16550; rtc?: GoldfishRtc } = {};

  constructor(options: MachineOptions = {}) {
    const hartCount = options.harts ?? 1;
    if (!Number.isInteger(hartCount) || hartCount < 1 || hartCount > 8) {
      throw new RangeError(`harts must be 1..8 (QEMU virt's limit per socket), got ${hartCount}`);
    }
    const memoryMiB = options.memoryMiB ?? DEFAULT_MEMORY_MIB;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > 2047) {
      throw new RangeError(`memory must be 1..2047 MiB, got ${memoryMiB}`);
    }
    if (options.ram && options.ram.base !== VIRT.dram.base) {
      throw new RangeError(`the virt board's RAM starts at 0x${VIRT.dram.base.toString(16)}, got 0x${options.ram.base.toString(16)}`);
    }
    this.quantum = options.quantum ?? 10_000;
    this.ram = options.ram ?? new Ram(VIRT.dram.base, memoryMiB * 1024 * 1024);
    this.bus = new Bus(this.ram);
    this.codeCache = new CodeCache(this.ram.base, this.ram.size, options.codeCache);
    this.harts = [];
    for (let id = 0; id < hartCount; id++) {
      this.harts.push(new Hart(this.bus, { hartId: id, pmpEntries: options.pmpEntries ?? 16, codeCache: this.codeCache, profile: options.isaProfile, triggers: options.triggers }));
    }
    this.clock = new InstructionClock(options.instructionsPerTick ?? 10);
    for (const hart of this.harts) hart.readTime = () => this.clint.mtime;
    this.engine = options.engine ?? createDefaultEngine();

    this.rom = new Uint8Array(VIRT.mrom.size);
    this.clint = new Clint(this.harts, this.clock);
    this.plic = new Plic(this.harts);
    const output = options.console ?? (() => {});
    this.output = output;
    this.dma = observedMemory(this.ram, (pa, length) => {
      this.codeCache.invalidateRange(pa, length);
      this.dmaObserver?.(pa, length);
    });
    const virtioVersion = options.virtioVersion ?? 1;
    this.devices = new DeviceRegistry(this.bus, this.plic, this.dma, virtioVersion);

    const table = withUserDevices(virtDevices(this.builtins(options, output, virtioVersion)), options.devices ?? []);
    this.devices.addRom("mrom", VIRT.mrom.base, this.rom);
    for (const entry of table) this.devices.add(entry);
    // A built-in that a user device replaced is kept off the bus, so `uart` and `rtc` still name
    // a device (input sent to a detached UART reaches no guest).
    this.uart = this.made.uart ?? new Uart16550(output);
    this.rtc = this.made.rtc ?? new GoldfishRtc(() => 0n);
    for (const { device } of this.devices.entries) if (device instanceof VirtioMmio) this.virtio.push(device);
    this.registerMetrics();
    this.clint.update();
  }

  /**
   * What the board counts, for `@matryoshka/metrics`: its harts (instructions, traps taken by
   * cause), its engine's counters, and each virtio device's (by its slot's name).
   */
  private registerMetrics(): void {
    const metrics = this.metrics;
    metrics.add("harts", () => {
      const exceptions = new Float64Array(32);
      const interrupts = new Float64Array(32);
      for (const hart of this.harts) {
        hart.exceptionCounts.forEach((count, cause) => (exceptions[cause]! += count));
        hart.interruptCounts.forEach((count, cause) => (interrupts[cause]! += count));
      }
      return { instructions: this.instructions, exceptions, interrupts };
    });
    const engine = this.engine;
    if (engine.stats !== undefined) metrics.add("engine", () => engine.stats!);
    for (const { entry, device } of this.devices.entries) {
      if (device instanceof VirtioMmio && device.device.stats !== undefined) metrics.add(entry.name, device.device.stats);
    }
  }

  /** How the built-in devices are made (virt-devices.ts has where they go and their nodes). */
  private builtins(options: MachineOptions, output: (byte: number) => void, virtioVersion: 1 | 2): VirtParts {
    const replaced = new Set<number>();
    for (const device of options.devices ?? []) {
      const slot = /^virtio(\d)$/.exec(device.name);
      if (device.replace === true && slot) replaced.add(Number(slot[1]));
    }
    const disks = assignDiskSlots(options.disks ?? [], replaced);
    // The balloon comes after the disks on QEMU's command line, so it takes the next free slot down.
    let balloonSlot = -1;
    if (options.balloon !== undefined) {
      for (let slot = VIRT.virtio.count - 1; slot >= 0 && balloonSlot < 0; slot--) if (!disks.has(slot) && !replaced.has(slot)) balloonSlot = slot;
      if (balloonSlot < 0) throw new RangeError("no virtio-mmio slot is left for the balloon");
    }
    // Network cards, entropy and console port next, in the slots still free below.
    const extras = assignExtraSlots(extraVirtioDevices(options), new Set([...replaced, ...disks.keys(), balloonSlot]));
    // The RTC counts wall-clock nanoseconds from its base, advancing with machine time (100 ns a
    // tick at the 10 MHz timebase), so a run stays deterministic for a given base.
    const rtcBase = BigInt(Math.round(options.rtcEpochMilliseconds ?? Date.now())) * 1_000_000n;
    return {
      clint: () => this.clint,
      plic: () => this.plic,
      test: () => new TestDevice((event) => this.finish(event)),
      uart0: (context) => (this.made.uart = new Uart16550(output, (level) => context.irq(level))),
      rtc: (context) => (this.made.rtc = new GoldfishRtc(() => rtcBase + BigInt(this.clock.now()) * 100n, (level) => context.irq(level))),
      virtio: (slot, context) => {
        if (slot === balloonSlot) {
          this.balloon = new VirtioBalloon(options.balloon!.backend, options.balloon!.options);
          return new VirtioMmio(this.balloon, { memory: context.dma, version: virtioVersion, irq: (level) => context.irq(level) });
        }
        const extra = extras.get(slot);
        if (extra !== undefined) return extra.create(context);
        const disk = disks.get(slot);
        if (disk === undefined) return new EmptyVirtioSlot(virtioVersion);
        return new VirtioMmio(new VirtioBlk(disk), { memory: context.dma, version: virtioVersion, irq: (level) => context.irq(level) });
      },
    };
  }

  /**
   * A spike-style HTIF at the ELF's `tohost` (and `fromhost`) symbols, for test suites that report
   * through it: an exit command finishes the run like the test device, console writes go to the
   * console.
   */
  private attachHtif(tohost: number, fromhost: number | undefined): void {
    const htif = new Htif({
      onExit: (code) => this.finish(code === 0 ? { kind: "pass" } : { kind: "fail", code }),
      output: this.output,
      memory: this.dma,
    });
    this.bus.addOverlay("tohost", tohost, HTIF_REGISTER_SIZE, htif.tohostDevice);
    if (fromhost !== undefined) this.bus.addOverlay("fromhost", fromhost, HTIF_REGISTER_SIZE, htif.fromhostDevice);
    this.htif = htif;
  }

  /**
   * Stops the machine from outside, e.g. a hypervisor stopping a VM whose guest broke the rules of
   * its interface: every hart leaves at its next check, and `run` returns `{ kind: "stopped",
   * reason }`. The first reason given is kept.
   */
  stop(reason: string): void {
    if (this.finished === undefined) this.finish({ kind: "stopped", reason });
  }

  private finish(event: FinisherEvent | { kind: "stopped"; reason: string }): void {
    this.finished = event;
    for (const hart of this.harts) hart.requestStop(StopReason.Halt);
  }

  /**
   * Writes QEMU's reset vector into the mask ROM (see `resetVectorWords` in boot.ts) and points
   * every hart at it: each hart starts at 0x1000 with a0 = its hart id, a1 = the device-tree
   * address, a2 = the fw_dynamic_info block (for OpenSBI), and jumps to `startAddress` (the start
   * of RAM for `-bios none`).
   */
  setResetVector(startAddress: number, fdtAddress: number, nextStageEntry: number): void {
    writeResetVector(this.rom, startAddress, fdtAddress, nextStageEntry);
    for (const hart of this.harts) hart.reset(VIRT.mrom.base);
    this.codeCache.clear();
  }

  /**
   * Loads firmware, kernel and initrd, writes the device tree and the reset vector, as QEMU 7.2's
   * `virt` does: with no firmware the reset vector jumps to the start of RAM; with firmware
   * there, the kernel goes to the next 4 MiB boundary after it (RV32) and the firmware finds it
   * through fw_dynamic_info. Throws LoadError for anything that does not fit.
   */
  boot(options: BootOptions): BootInfo {
    this.asleep.fill(0);
    const ramBase = this.ram.base;
    const firmware = options.bios ? parseKernel(options.bios, ramBase) : undefined;
    if (firmware) this.loadChunks(firmware, "firmware");
    const kernel = parseKernel(options.kernel, kernelAddress(ramBase, firmware && imageEnd(firmware)));
    this.loadChunks(kernel, "kernel");
    const tohost = kernel.elf?.symbols.get("tohost");
    if (tohost && this.htif === undefined) {
      if (!this.ram.contains(guestPhysical(tohost.value), HTIF_REGISTER_SIZE)) {
        throw new LoadError(`the ELF's tohost symbol at 0x${tohost.value.toString(16)} lies outside RAM`);
      }
      const fromhost = kernel.elf?.symbols.get("fromhost");
      this.attachHtif(tohost.value, fromhost && this.ram.contains(guestPhysical(fromhost.value), HTIF_REGISTER_SIZE) ? fromhost.value : undefined);
    }
    let initrd: { start: number; end: number } | undefined;
    if (options.initrd) {
      const start = initrdAddress(kernel.entry, this.ram.size);
      if (!this.ram.write(guestPhysical(start), options.initrd)) {
        throw new LoadError(`initrd of ${options.initrd.length} bytes does not fit in RAM at 0x${start.toString(16)}`);
      }
      initrd = { start, end: start + options.initrd.length };
    }
    const fdt = this.deviceTree({ bootargs: options.append, initrd });
    this.devices.seal("the device tree was written at boot; add devices before boot");
    const fdtAddress = this.fdtAddress(fdt.length);
    checkFdtPlacement(fdtAddress, fdt.length, firmware ? [kernel, firmware] : [kernel], this.ram.size);
    if (!this.ram.write(guestPhysical(fdtAddress), fdt)) throw new LoadError(`no memory for the device tree at 0x${fdtAddress.toString(16)}`);
    this.setResetVector(ramBase, fdtAddress, kernel.entry);
    return { kernel, fdtAddress, fdt, startAddress: ramBase, initrd };
  }

  /** The device tree of this board as it stands: its harts, RAM and registered devices, and /chosen. */
  deviceTree(chosen: { bootargs?: string; initrd?: { start: number; end: number } } = {}): Uint8Array {
    const devices = this.devices.entries.map((r) => r.entry);
    return boardDeviceTree(devices, { harts: this.harts.length, memoryBase: this.ram.base, memorySize: this.ram.size, ...chosen });
  }

  private loadChunks(image: KernelImage, what: string): void {
    // Every chunk is checked before any is written, so a refused image costs no zero-filling.
    for (const chunk of image.chunks) {
      if (!this.ram.contains(guestPhysical(chunk.address), chunk.memSize)) {
        throw new LoadError(
          `${what} segment at 0x${chunk.address.toString(16)} (${chunk.memSize} bytes) lies outside RAM ` +
            `0x${this.ram.base.toString(16)}..0x${(this.ram.base + this.ram.size).toString(16)}`,
        );
      }
    }
    for (const chunk of image.chunks) {
      // Cleared then written through the memory (a VM's pages are backed as they are loaded); a
      // refusal here is a VM whose hypervisor has no frames left.
      if (!this.ram.fill(guestPhysical(chunk.address), chunk.memSize, 0) || !this.ram.write(guestPhysical(chunk.address), chunk.data)) {
        throw new LoadError(`no memory for the ${what} segment at 0x${chunk.address.toString(16)}`);
      }
    }
    this.codeCache.clear();
  }

  /** Where QEMU 7.2 puts a device tree of `fdtSize` bytes in this board's RAM (see boot.ts). */
  fdtAddress(fdtSize: number): number {
    return fdtAddress(this.ram.base, this.ram.size, fdtSize);
  }

  /**
   * The whole board's state except its RAM, as plain data (numbers, strings, arrays): every hart's
   * registers, CSRs, privilege, LR/SC reservation and counters (TLBs and decoded code are not
   * state), machine time, which harts sleep in WFI, the reset-vector ROM, and each device's
   * registers by its registry name. A snapshot stores this beside the RAM. Throws a RangeError for
   * what cannot be saved: a machine that already finished, an HTIF in use, a user device without
   * `saveState`.
   */
  saveState(): MachineState {
    if (this.finished !== undefined) throw new RangeError("the machine has finished: there is nothing left to save");
    if (this.htif !== undefined) throw new RangeError("a machine with an HTIF (an ELF with a tohost symbol) cannot be saved");
    const devices: Record<string, unknown> = {};
    for (const { entry, device } of this.devices.entries) {
      if (entry.node === null) continue; // ROM: saved below
      const stateful = device as Partial<StatefulDevice>;
      if (typeof stateful.saveState === "function") devices[entry.name] = stateful.saveState();
      else if (!(device instanceof TestDevice || device instanceof EmptyVirtioSlot)) throw new RangeError(`device "${entry.name}" has no saveState: this machine cannot be saved`);
    }
    let romEnd = this.rom.length;
    while (romEnd > 0 && this.rom[romEnd - 1] === 0) romEnd--;
    return {
      harts: this.harts.map((hart) => hartToData(hart)),
      asleep: Array.from(this.asleep),
      elapsed: this.clock.elapsed,
      rom: Buffer.from(this.rom.subarray(0, romEnd)).toString("base64"),
      devices,
    };
  }

  /**
   * Puts back what `saveState` returned, on a board built with the same options (harts, devices,
   * virtio version) and not booted: the RAM is restored separately. Devices are restored before the
   * PLIC, so that the lines they drive while being restored are overwritten by the PLIC's own saved
   * state. Throws a RangeError when the state does not fit this board.
   */
  restoreState(state: MachineState): void {
    if (state.harts.length !== this.harts.length) throw new RangeError(`the saved machine has ${state.harts.length} harts, this one ${this.harts.length}`);
    const rom = Buffer.from(state.rom, "base64");
    if (rom.length > this.rom.length) throw new RangeError("the saved ROM does not fit the board's");
    this.rom.fill(0);
    this.rom.set(rom);
    this.clock.elapsed = state.elapsed;
    state.harts.forEach((saved, id) => restoreHart(this.harts[id]!, hartFromData(saved)));
    this.asleep = Uint8Array.from(state.asleep);
    const names = new Set(Object.keys(state.devices));
    const restore = (name: string, device: MmioDevice) => {
      const stateful = device as Partial<StatefulDevice>;
      if (!names.has(name)) {
        if (typeof stateful.saveState === "function") throw new RangeError(`the snapshot has no state for device "${name}"`);
        return;
      }
      names.delete(name);
      if (typeof stateful.restoreState !== "function") throw new RangeError(`device "${name}" cannot be restored`);
      stateful.restoreState(state.devices[name]);
    };
    for (const { entry, device } of this.devices.entries) if (entry.node !== null && device !== this.plic) restore(entry.name, device);
    const plicEntry = this.devices.entries.find(({ device }) => device === this.plic);
    if (plicEntry) restore(plicEntry.entry.name, this.plic);
    if (names.size > 0) throw new RangeError(`the snapshot has devices this board lacks: ${[...names].join(", ")}`);
    this.devices.seal("the machine was restored from a snapshot");
    this.codeCache.clear();
    this.clint.update();
    this.rtc.update();
  }

  /** Instructions started by all harts. */
  get instructions(): number {
    let total = 0;
    for (const hart of this.harts) total += hart.steps;
    return total;
  }

  /**
   * Runs until the guest finishes through the test device, `maxInstructions` (machine time, in
   * instructions) pass, or every hart waits for an interrupt nothing can raise.
   */
  /**
   * Harts that returned from WFI and are skipped until an interrupt could wake them (or `wake`).
   * Kept across `run` calls, so that running in slices is the same as running at once: a sleeping
   * hart does not wake up just because its caller came back for more (which would make what a
   * guest does depend on how its host slices time).
   */
  private asleep = new Uint8Array(0);

  /**
   * When every hart sleeps, `run` skips time to the next timer (the default), or, if this is
   * false, returns at once (as "limit"): the caller decides what the time is spent on, and
   * `nextTimerDeadline` says when the board will have something to do.
   */
  skipIdleTime = true;

  /** Lets a sleeping hart run again at once (firmware starting a stopped hart, for example). */
  wake(hartId: number): void {
    if (hartId < this.asleep.length) this.asleep[hartId] = 0;
  }

  /**
   * Console input the guest has yet to read from UART0 (`uart.receive`): while there is some, the
   * board is not idle. None if a user device replaced UART0.
   */
  get pendingConsoleInput(): number {
    return this.devices.get("uart0") === this.uart ? this.uart.pendingInput : 0;
  }

  /** Writes bytes to the board's console, as the UART would (firmware consoles use it). */
  writeConsole(bytes: Uint8Array): void {
    for (const byte of bytes) this.output(byte);
  }

  /** Whether hart `hartId` is asleep in WFI (it left its last slice with nothing to do). */
  isAsleep(hartId: number): boolean {
    return this.asleep[hartId] === 1;
  }

  /** Machine time (instructions) at which hart `hartId`'s armed timer fires, if it is armed and enabled. */
  timerDeadline(hartId: number): number | undefined {
    const hart = this.harts[hartId]!;
    if ((hart.mie & (1 << 7)) === 0) return undefined;
    const compare = this.clint.mtimecmp(hartId);
    return Number.isFinite(compare) ? compare * this.clock.instructionsPerTick : undefined;
  }

  /**
   * Runs the board for up to `maxInstructions` of machine time. `hartMask` (bit h for hart h,
   * default all) says which harts may execute: a hypervisor scheduling single vCPUs runs only
   * those it put on a hart; the others keep their state and do not advance.
   */
  run(maxInstructions = Number.POSITIVE_INFINITY, hartMask = -1): RunOutcome {
    if (this.asleep.length !== this.harts.length) this.asleep = new Uint8Array(this.harts.length);
    const asleep = this.asleep;
    const limit = this.clock.elapsed + maxInstructions;
    while (this.finished === undefined) {
      if (this.clock.elapsed >= limit || this.debugger?.paused === true) return { kind: "limit" };
      this.clint.update();
      let longest = 0;
      let anyRan = false;
      const debug = this.debugger;
      for (let h = 0; h < this.harts.length && this.finished === undefined && debug?.paused !== true; h++) {
        const hart = this.harts[h]!;
        if ((hartMask & (1 << h)) === 0) continue;
        if (asleep[h]) {
          if (!hart.wakeable) continue;
          asleep[h] = 0;
        }
        anyRan = true;
        const untilTimer = this.clock.instructionsUntil(this.clint.mtimecmp(h));
        // Quanta end at whole multiples of the quantum of machine time, not `quantum` after wherever
        // this call began: a run stopped and continued (a snapshot restored, a pause) then cuts its
        // harts' turns, and so the VMs' budget exits, exactly where an uninterrupted run does.
        const quantum = this.quantum - (this.clock.elapsed % this.quantum);
        const budget = Math.max(1, Math.min(quantum, limit - this.clock.elapsed, untilTimer > 0 ? untilTimer : quantum));
        const before = hart.steps;
        const retiredBefore = hart.steps - hart.trapped;
        this.clock.beginSlice(hart);
        const reason = debug === undefined ? this.engine.run(hart, budget) : debug.runHart(hart, budget, this.runEngine);
        this.clock.endSlice();
        const ran = hart.steps - before;
        longest = Math.max(longest, ran);
        if (reason === StopReason.Wfi) asleep[h] = 1;
        if (ran >= STUCK_THRESHOLD && hart.steps - hart.trapped === retiredBefore) return this.stuck(hart);
      }
      this.clock.elapsed += longest;
      this.htif?.poll();
      this.rtc.update();
      if (!anyRan || (longest === 0 && asleep.every((s) => s === 1))) {
        // A hart left out of the mask may have work: it is the caller's to run.
        if (hartMask !== -1 && this.harts.some((_, h) => (hartMask & (1 << h)) === 0 && asleep[h] === 0)) return { kind: "limit" };
        // Everyone sleeps: skip time to the earliest timer deadline, if any can wake a hart.
        const next = this.nextTimerDeadline();
        if (next === undefined) {
          if (this.pendingConsoleInput > 0) continue;
          return { kind: "idle", reason: "every hart waits for an interrupt and no timer is armed" };
        }
        // A hypervisor sharing a hart among VMs takes a sleeping one off it instead.
        if (!this.skipIdleTime) return { kind: "limit" };
        this.clock.elapsed = Math.max(this.clock.elapsed, Math.min(limit, next));
      }
    }
    const event = this.finished;
    return event.kind === "fail" ? { kind: "fail", code: event.code } : event;
  }

  private stuck(hart: Hart): RunOutcome {
    const cause = hart.mcause >>> 0;
    return {
      kind: "stuck",
      reason:
        `hart ${hart.hartId} trapped ${STUCK_THRESHOLD}+ times in a row without retiring an instruction ` +
        `(last trap: cause ${cause & 0x7fff_ffff}, mepc 0x${(hart.mepc >>> 0).toString(16)}, mtval 0x${(hart.mtval >>> 0).toString(16)}, ` +
        `mtvec 0x${(hart.mtvec >>> 0).toString(16)})`,
    };
  }

  /** Machine time (in instructions) of the earliest mtimecmp that is enabled and in the future. */
  /** Machine time (instructions) of the earliest armed timer that can wake a hart, if any. */
  nextTimerDeadline(): number | undefined {
    let best: number | undefined;
    for (let h = 0; h < this.harts.length; h++) {
      const hart = this.harts[h]!;
      if ((hart.mie & (1 << 7)) === 0) continue;
      const at = this.clint.mtimecmp(h) * this.clock.instructionsPerTick;
      if (at <= this.clock.instructions) continue;
      if (best === undefined || at < best) best = at;
    }
    return best;
  }
}
