import type { BalloonBackend, VirtioBalloon } from "@matryoshka/devices";
import type { PagedMemory } from "@matryoshka/memory";

/**
 * A platform's memory balloon, as the hypervisor running on that platform sees it: the platform
 * (a VM beneath) wants `targetPages` of its pages back, and the hypervisor, acting as the
 * balloon's driver, gives it frames it does not use (`inflate`) and takes them again (`deflate`).
 * This is how ballooning reaches a hypervisor that is itself a VM's guest.
 */
export interface PlatformBalloon {
  /** Pages the platform wants back now. */
  readonly targetPages: number;
  /** Pages given back and not taken again. */
  readonly heldPages: number;
  /** Told when `targetPages` changes (set by the hypervisor running on the platform). */
  onTargetChange: (() => void) | undefined;
  /** Gives pages of the platform's memory (page numbers) back; returns how many were refused. */
  inflate(pages: Uint32Array): number;
  /** Takes given-back pages again; returns how many were refused. */
  deflate(pages: Uint32Array): number;
}

/**
 * A VM's side of its balloon: the pages its guest (a driver of the VM's virtio-balloon device, or
 * the hypervisor running in the VM) gives back lose their frames, which return to the hypervisor,
 * and get fresh ones when the guest takes them again and touches them (Waldspurger §3.2). Nothing
 * the guest says is trusted: a page outside the VM's RAM, a page given twice, a page taken that
 * was never given, a page the VM cannot give up (pinned by direct paging) is refused and counted.
 */
export class VmBalloon implements BalloonBackend, PlatformBalloon {
  onTargetChange: (() => void) | undefined = undefined;
  private readonly memory: PagedMemory;
  private readonly held: Uint8Array;
  private count = 0;
  private target = 0;
  private device: VirtioBalloon | undefined;
  /** What the balloon counts (`@matryoshka/metrics` group "balloon"): pages asked for and held, and what a driver was refused. */
  readonly stats = { targetPages: 0, heldPages: 0, refused: 0 };

  constructor(memory: PagedMemory) {
    this.memory = memory;
    this.held = new Uint8Array(memory.pages);
  }

  /** The VM's virtio-balloon device, which tells a guest OS of the target. */
  attachDevice(device: VirtioBalloon | undefined): void {
    this.device = device;
  }

  get targetPages(): number {
    return this.target;
  }

  get heldPages(): number {
    return this.count;
  }

  /** Asks the guest to hold `pages` pages in the balloon (the hypervisor's memory manager sets it). */
  setTarget(pages: number): void {
    const target = Math.max(0, Math.min(this.memory.pages, Math.floor(pages)));
    if (target === this.target) return;
    this.target = target;
    this.stats.targetPages = target;
    this.device?.setTarget(target);
    this.onTargetChange?.();
  }

  inflate(pages: Uint32Array): number {
    let refused = 0;
    const first = this.memory.base >>> 12;
    const taken: number[] = [];
    for (const page of pages) {
      const index = page - first;
      if (index < 0 || index >= this.held.length || this.held[index] === 1 || this.memory.isPinned(page)) {
        refused++;
        continue;
      }
      this.held[index] = 1;
      this.count++;
      taken.push(page);
    }
    // Their frames go back to the hypervisor together: one pass over the shadow tables.
    this.memory.discardPages(taken);
    this.stats.heldPages = this.count;
    this.stats.refused += refused;
    return refused;
  }

  deflate(pages: Uint32Array): number {
    let refused = 0;
    const first = this.memory.base >>> 12;
    for (const page of pages) {
      const index = page - first;
      if (index < 0 || index >= this.held.length || this.held[index] === 0) {
        refused++;
        continue;
      }
      // The page gets a fresh (zeroed) frame when the guest next touches it.
      this.held[index] = 0;
      this.count--;
    }
    this.stats.heldPages = this.count;
    this.stats.refused += refused;
    return refused;
  }

  /** Whether guest page `page` is in the balloon. */
  holds(page: number): boolean {
    const index = page - (this.memory.base >>> 12);
    return index >= 0 && index < this.held.length && this.held[index] === 1;
  }
}
