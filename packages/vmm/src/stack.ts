import type { Engine } from "@matryoshka/cpu";
import type { IsaProfile } from "@matryoshka/isa";
import { VirtMachine, type MachineOptions } from "@matryoshka/machine";
import type { FrameOrder } from "@matryoshka/memory";
import { bareMetal } from "./bare-metal.js";
import { Hypervisor, vmFootprintBytes } from "./hypervisor.js";
import type { Platform } from "./platform.js";
import type { VirtualizationBackend, VmBackend } from "./backend.js";
import type { VM } from "./vm.js";

/** The deepest stack `buildStack` builds: the issue asks for 30; the memory budget allows a little more. */
export const MAX_DEPTH = 64;

export interface GuestMachineOptions {
  /** The hardware's ISA profile; every VM presents the same to its guest (default: standard). */
  isaProfile?: IsaProfile;
  /**
   * How every level's VM gets its guest's sensitive instructions (default: trap and emulate). With
   * "pv", the guest's own VM is paravirtual (`paravirtualFirmware` makes its firmware side) and the
   * levels beneath, which run hypervisors, not the guest, trap and emulate.
   */
  backend?: VmBackend;
  paravirtualFirmware?: () => VirtualizationBackend;
  /** The hardware's execution engine (the board's default if absent); VMs above it always trap and emulate. */
  engine?: Engine;
  harts?: number;
  memoryMiB?: number;
  pmpEntries?: number;
  disks?: MachineOptions["disks"];
  /** The guest's network cards (see MachineOptions.net); the levels beneath get none. */
  net?: MachineOptions["net"];
  /** The guest's virtio-rng and virtio-console (see MachineOptions); the levels beneath get none. */
  rng?: MachineOptions["rng"];
  virtioConsole?: MachineOptions["virtioConsole"];
  /** Give the guest's VM a virtio-balloon device (VmConfig.balloon); needs depth 1 or more. */
  balloon?: boolean;
  /** The guest's board's own devices (see MachineOptions.devices); the levels beneath get none. */
  devices?: MachineOptions["devices"];
  virtioVersion?: 1 | 2;
  console?: (byte: number) => void;
  rtcEpochMilliseconds?: number;
  /**
   * How every level's hypervisor hands out frames (default "ascending"): "descending" and
   * "interleaved" scatter each VM's pages, which no guest can tell (a test proves it).
   */
  frameOrder?: FrameOrder;
}

/** A guest's machine at some depth: the board the guest boots on, and what lies beneath it. */
export interface Stack {
  /** The board the guest sees (the bare machine at depth 0, the innermost VM's board otherwise). */
  guest: VirtMachine;
  /** The hardware at the bottom. */
  host: VirtMachine;
  /** The VMs from level 1 (on the hardware) to the guest's own, empty at depth 0. */
  vms: VM[];
}

const MIB = 1024 * 1024;

/**
 * Builds hardware and `depth` levels of hypervisor: level k+1 runs in a VM of level k
 * (`bareMetal(host) → Hypervisor → VM1 → Hypervisor → VM2 → … → guest`). Each level's RAM holds
 * the next level's RAM and shadow tables, so the guest gets exactly the memory it asked for at
 * every depth (its device tree, and so its behaviour, does not change with depth).
 */
export function buildStack(depth: number, options: GuestMachineOptions): Stack {
  if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw new RangeError(`depth must be 0..${MAX_DEPTH}, got ${depth}`);
  const guestMiB = options.memoryMiB ?? 128;
  const harts = options.harts ?? 1;
  if (depth === 0) {
    if (options.balloon === true) throw new RangeError("a balloon needs a hypervisor to give the memory back to: --depth 1 or more");
    const { balloon: _balloon, ...machineOptions } = options;
    const machine = new VirtMachine({ ...machineOptions, memoryMiB: guestMiB });
    return { guest: machine, host: machine, vms: [] };
  }
  // Sizes from the inside out: level k's RAM is the footprint of level k+1's VM.
  const sizes = [guestMiB];
  for (let level = depth - 1; level >= 0; level--) sizes.unshift(Math.ceil(vmFootprintBytes(sizes[0]!) / MIB));
  if (sizes[0]! > 2047) throw new RangeError(`a stack ${depth} deep around ${guestMiB} MiB needs ${sizes[0]} MiB of host memory; the limit is 2047`);
  const { engine, backend, paravirtualFirmware, frameOrder, ...guestOptions } = options;
  if (backend === "pv" && paravirtualFirmware === undefined) throw new RangeError("the pv backend needs its firmware side (paravirtualFirmware)");
  const lowerBackend = backend === "pv" ? "trap-and-emulate" : backend;
  const host = new VirtMachine({ harts, memoryMiB: sizes[0], pmpEntries: options.pmpEntries, engine, isaProfile: options.isaProfile });
  let platform: Platform = bareMetal(host);
  const vms: VM[] = [];
  for (let level = 1; level <= depth; level++) {
    const innermost = level === depth;
    const vm: VM = new Hypervisor(platform, { frameOrder }).createVm(
      innermost
        ? { ...guestOptions, memoryMiB: guestMiB, backend: backend === "pv" ? paravirtualFirmware!() : backend }
        : { harts, memoryMiB: sizes[level], pmpEntries: options.pmpEntries, isaProfile: options.isaProfile, backend: lowerBackend },
    );
    vms.push(vm);
    platform = vm;
  }
  return { guest: vms[depth - 1]!.board, host, vms };
}
