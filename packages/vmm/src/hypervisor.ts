import type { Platform } from "./platform.js";
import { VM, type VmConfig } from "./vm.js";

/** Default frames of shadow page tables per VM: 4 MiB. */
export const DEFAULT_SHADOW_FRAMES = 1024;

/**
 * Memory a hypervisor needs from its platform for a VM of `memoryMiB`: the VM's RAM and its shadow
 * page tables. A nested stack sizes each level's RAM from this.
 */
export function vmFootprintBytes(memoryMiB: number, shadowFrames = DEFAULT_SHADOW_FRAMES): number {
  return memoryMiB * 1024 * 1024 + shadowFrames * 4096;
}

/**
 * A trap-and-emulate hypervisor (DESIGN.md §4) on a Platform: bare metal, or a VM of the
 * hypervisor below. It gives each VM RAM and shadow-table frames of its own out of the platform's
 * memory (resource control: a VM maps no frame it does not own), and the VMs' engines run their
 * virtual harts on the platform's harts.
 */
export class Hypervisor {
  readonly platform: Platform;
  readonly vms: VM[] = [];
  /** Next free platform-physical address: memory is handed out once, never shared. */
  private next: number;

  constructor(platform: Platform) {
    this.platform = platform;
    this.next = platform.memory.base;
  }

  /** Bytes of platform memory not yet given to a VM. */
  get memoryAvailable(): number {
    return this.platform.memory.base + this.platform.memory.size - this.next;
  }

  /** Creates a VM; throws a RangeError naming the shortfall if the platform's memory cannot hold it. */
  createVm(config: VmConfig = {}): VM {
    const memoryMiB = config.memoryMiB ?? 128;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > 2047) {
      throw new RangeError(`VM memory must be 1..2047 MiB, got ${memoryMiB}`);
    }
    const shadowFrames = config.shadowFrames ?? DEFAULT_SHADOW_FRAMES;
    if (!Number.isInteger(shadowFrames) || shadowFrames < 2) throw new RangeError(`shadow frames must be at least 2, got ${shadowFrames}`);
    const needed = vmFootprintBytes(memoryMiB, shadowFrames);
    if (needed > this.memoryAvailable) {
      throw new RangeError(
        `${this.platform.name} has ${this.memoryAvailable >>> 20} MiB free, a VM of ${memoryMiB} MiB needs ${Math.ceil(needed / 1048576)} MiB with its shadow tables`,
      );
    }
    const ramBase = this.next;
    const shadowBase = ramBase + memoryMiB * 1024 * 1024;
    this.next += needed;
    const vm = new VM(this.platform, { name: config.name ?? `${this.platform.level === 0 ? "" : `${this.platform.name}.`}vm${this.vms.length + 1}`, ramBase, shadowBase, shadowFrames }, config);
    this.vms.push(vm);
    return vm;
  }
}
