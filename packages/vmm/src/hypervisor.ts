import { FrameAllocator, type FrameOrder, type PlatformPhysicalAddress } from "@matryoshka/memory";
import type { MemoryManager } from "./memory-manager.js";
import type { Platform } from "./platform.js";
import { VM, type VmConfig } from "./vm.js";

/** Default most frames of shadow page tables per VM: 4 MiB. */
export const DEFAULT_SHADOW_FRAMES = 1024;

/**
 * Memory a VM of `memoryMiB` may come to use on its platform: all of its RAM and the most its
 * shadow page tables may hold. A nested stack sizes each level's RAM from this, so no level runs
 * short whatever the guest touches.
 */
export function vmFootprintBytes(memoryMiB: number, shadowFrames = DEFAULT_SHADOW_FRAMES): number {
  return memoryMiB * 1024 * 1024 + shadowFrames * 4096;
}

export interface HypervisorOptions {
  /**
   * The order frames are handed out in (default "ascending"). The others scatter each VM's pages
   * over the platform's memory, which changes nothing a guest can see: a test uses them to prove it.
   */
  frameOrder?: FrameOrder;
}

/** How the hypervisor's memory is used, in 4 KiB frames. */
export interface HypervisorMemoryStats {
  totalFrames: number;
  freeFrames: number;
  vms: { name: string; memoryPages: number; resident: number; shared: number; shadowFrames: number }[];
}

/**
 * A trap-and-emulate hypervisor (DESIGN.md §4) on a Platform: bare metal, or a VM of the
 * hypervisor below. Its frames are every page of the platform's memory, handed to its VMs one at
 * a time as they touch pages (and as their shadow tables grow) and taken back when a VM ends, so a
 * VM maps no frame it was not given (resource control) and a VM larger than what is free can
 * start. The VMs' engines run their virtual harts on the platform's harts.
 */
export class Hypervisor {
  readonly platform: Platform;
  readonly vms: VM[] = [];
  readonly frames: FrameAllocator;
  /** Its memory manager, if one manages its VMs (overcommit, ballooning, sharing, swapping). */
  memoryManager: MemoryManager | undefined = undefined;

  constructor(platform: Platform, options: HypervisorOptions = {}) {
    this.platform = platform;
    this.frames = new FrameAllocator(platform.memory, {
      order: options.frameOrder,
      // A recycled frame held another VM's pages: code decoded from them must not run again.
      onRecycled: (address: PlatformPhysicalAddress, length) => platform.memoryWritten(address, length),
    });
  }

  /** Bytes of platform memory not given to any VM. */
  get memoryAvailable(): number {
    return this.frames.freeFrames * 4096;
  }

  /** Creates a VM; its memory is backed as its guest touches it. */
  createVm(config: VmConfig = {}): VM {
    const memoryMiB = config.memoryMiB ?? 128;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > 2047) {
      throw new RangeError(`VM memory must be 1..2047 MiB, got ${memoryMiB}`);
    }
    const shadowFrames = config.shadowFrames ?? DEFAULT_SHADOW_FRAMES;
    if (!Number.isInteger(shadowFrames) || shadowFrames < 2) throw new RangeError(`shadow frames must be at least 2, got ${shadowFrames}`);
    const name = config.name ?? `${this.platform.level === 0 ? "" : `${this.platform.name}.`}vm${this.vms.length + 1}`;
    const vm = new VM(this.platform, { name, frames: this.frames, shadowFrames }, config);
    this.vms.push(vm);
    return vm;
  }

  /** Ends a VM and takes its frames back. */
  destroyVm(vm: VM): void {
    const index = this.vms.indexOf(vm);
    if (index < 0) throw new RangeError(`${vm.name} is not a VM of this hypervisor`);
    this.memoryManager?.forget(vm);
    vm.destroy();
    this.vms.splice(index, 1);
  }

  get memoryStats(): HypervisorMemoryStats {
    return {
      totalFrames: this.frames.totalFrames,
      freeFrames: this.frames.freeFrames,
      vms: this.vms.map((vm) => ({
        name: vm.name,
        memoryPages: vm.memory.pages,
        resident: vm.memory.stats.resident,
        shared: vm.memory.stats.shared,
        shadowFrames: vm.shadow.framesHeld,
      })),
    };
  }
}
