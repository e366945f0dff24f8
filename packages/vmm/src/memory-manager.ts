import { mergeIdenticalPages, type PagedMemory, type SwapStore } from "@matryoshka/memory";
import type { Hypervisor } from "./hypervisor.js";
import type { VM } from "./vm.js";

/**
 * What a hypervisor's memory manager does (Waldspurger, "Memory Resource Management in VMware ESX
 * Server", OSDI'02). Each mechanism can be turned off.
 */
export interface MemoryPolicy {
  /** Content-based page sharing: scan, hash, compare in full, share copy-on-write (default true). */
  sharing?: boolean;
  /** Set balloon targets from the allocation targets (default true). */
  balloon?: boolean;
  /** The idle memory tax rate τ, 0 ≤ τ < 1 (default 0.75, as ESX). */
  idleTax?: number;
  /** Where pages are swapped out when frames run out and balloons cannot keep up (default: no swapping). */
  swap?: SwapStore;
  /** Pages sampled per VM per sampling window to estimate its active fraction (default 100, as ESX). */
  samplePages?: number;
  /**
   * Steps a sampling window lasts (default 8). ESX samples over 30 s so that a working set the
   * guest sweeps slowly still counts as active: a window shorter than the guest's sweep sees only
   * the part it happened to touch.
   */
  sampleSteps?: number;
  /** Pages the sharing scanner looks at per period, over all VMs (default 512). */
  scanPages?: number;
  /** Frames kept free for the hypervisor's own needs (shadow tables), not handed out as VM allocation (default 256). */
  reservedFrames?: number;
  /** Seed of the sampling's choices (runs are deterministic: default 1). */
  seed?: number;
}

/** How a VM takes part (its `memoryShares` and `minMiB` of the partition config). */
export interface ManagedVmOptions {
  /** Memory shares (default 1000 per vCPU is ESX's; any positive number; default 1000). */
  shares?: number;
  /** Pages the VM keeps whatever happens (default 0). */
  minPages?: number;
}

/** One VM's memory as the manager sees it, in pages. */
export interface ManagedVmReport {
  name: string;
  /** Pages of the VM's RAM. */
  size: number;
  /** Pages with a frame, of which `shared` share one (copy-on-write). */
  resident: number;
  shared: number;
  /** Pages in the balloon, and pages in the swap store. */
  ballooned: number;
  swapped: number;
  /** The allocation the manager aims at, and the balloon target it set for it. */
  target: number;
  balloonTarget: number;
  /** Estimated fraction of its memory the guest actively uses. */
  activeFraction: number;
  shares: number;
}

interface Managed {
  vm: VM;
  memory: PagedMemory;
  shares: number;
  minPages: number;
  active: number;
  target: number;
  /** Where the swap victim search resumes (a clock hand over the VM's pages). */
  hand: number;
}

/**
 * A hypervisor's memory manager: its VMs together may be larger than its frames (overcommit).
 * Each `step` (a period of the caller's choosing):
 *
 * - estimates each VM's active fraction by sampling: a sample of its pages lose their mappings, and
 *   those the guest touches again before the next step count as active (§5.2);
 * - computes allocation targets by shares, with the idle memory tax: memory is reclaimed first from
 *   the VM with the fewest adjusted shares per page, ρ = S / (P (f + k (1 − f))), k = 1 / (1 − τ),
 *   so an idle VM pays for the pages it does not use (§5.1);
 * - sets each VM's balloon target to its size above its target allocation (§3.2);
 * - scans pages for content-based sharing: hash, compare in full, map one read-only frame,
 *   copied on the next write; zero pages share one zero frame (§4);
 * - as the driver of its platform's balloon (when the hypervisor runs in a VM that has one), gives
 *   frames back as asked.
 *
 * When no frame is free at all, it swaps pages out (`policy.swap`), from the VM furthest above its
 * target: the last resort, when balloons cannot keep up (§3.3). It works at every depth: the
 * hypervisor of a VM that the level beneath is ballooning gives up frames by reclaiming them from
 * its own VMs.
 */
export class MemoryManager {
  readonly hypervisor: Hypervisor;
  private readonly policy: Required<Omit<MemoryPolicy, "swap">> & { swap: SwapStore | undefined };
  private readonly managed: Managed[] = [];
  /** Content hash → the page first seen with it (sharing candidates). */
  private readonly candidates = new Map<number, { memory: PagedMemory; page: number }>();
  /** The frame every all-zero page shares; -1 until one is needed. */
  private zeroFrame = -1;
  private scanVm = 0;
  /** Steps taken; a sampling window ends every `sampleSteps`. */
  private steps = 0;
  private scanPage = 0;
  private random: number;
  /** Frames given to the platform's balloon, as its driver. */
  private readonly platformBallooned: number[] = [];

  constructor(hypervisor: Hypervisor, policy: MemoryPolicy = {}) {
    const idleTax = policy.idleTax ?? 0.75;
    if (!(idleTax >= 0 && idleTax < 1)) throw new RangeError(`the idle memory tax must be at least 0 and below 1, got ${idleTax}`);
    const sampleSteps = policy.sampleSteps ?? 8;
    if (!(Number.isInteger(sampleSteps) && sampleSteps >= 1)) throw new RangeError(`a sampling window must be a positive whole number of steps, got ${sampleSteps}`);
    this.hypervisor = hypervisor;
    this.policy = {
      sharing: policy.sharing ?? true,
      balloon: policy.balloon ?? true,
      idleTax,
      swap: policy.swap,
      samplePages: policy.samplePages ?? 100,
      sampleSteps: policy.sampleSteps ?? 8,
      scanPages: policy.scanPages ?? 512,
      reservedFrames: policy.reservedFrames ?? 256,
      seed: policy.seed ?? 1,
    };
    this.random = this.policy.seed | 1;
    hypervisor.frames.reclaim = () => this.reclaim();
    hypervisor.memoryManager = this;
    const balloon = hypervisor.platform.balloon;
    if (balloon !== undefined) balloon.onTargetChange = () => this.drivePlatformBalloon();
  }

  /** Takes a VM under management (a VM of this manager's hypervisor). */
  manage(vm: VM, options: ManagedVmOptions = {}): void {
    if (!this.hypervisor.vms.includes(vm)) throw new RangeError(`${vm.name} is not a VM of this hypervisor`);
    const shares = options.shares ?? 1000;
    if (!(shares > 0)) throw new RangeError(`${vm.name}: memory shares must be positive, got ${shares}`);
    vm.memory.swapStore = this.policy.swap;
    const size = vm.memory.pages;
    this.managed.push({ vm, memory: vm.memory, shares, minPages: Math.min(size, options.minPages ?? 0), active: 1, target: size, hand: 0 });
  }

  /** Stops managing a VM (it is being destroyed). */
  forget(vm: VM): void {
    const index = this.managed.findIndex((m) => m.vm === vm);
    if (index >= 0) this.managed.splice(index, 1);
    for (const [hash, candidate] of this.candidates) if (candidate.memory === vm.memory) this.candidates.delete(hash);
  }

  /** One period: activity, targets, balloons, sharing, and the platform's balloon. */
  step(): void {
    if (this.steps++ % this.policy.sampleSteps === 0) this.sample();
    this.computeTargets();
    if (this.policy.balloon) {
      for (const m of this.managed) m.vm.balloon?.setTarget(m.memory.pages - m.target);
    }
    if (this.policy.sharing) this.scan();
    this.drivePlatformBalloon();
  }

  report(): ManagedVmReport[] {
    return this.managed.map((m) => ({
      name: m.vm.name,
      size: m.memory.pages,
      resident: m.memory.stats.resident,
      shared: m.memory.stats.shared,
      ballooned: m.vm.balloon?.heldPages ?? 0,
      swapped: m.memory.stats.swapped,
      target: m.target,
      balloonTarget: m.vm.balloon?.targetPages ?? 0,
      activeFraction: m.active,
      shares: m.shares,
    }));
  }

  // ---- Activity (§5.2) ---------------------------------------------------------------------------

  /** Ends the current sampling window (updating each VM's active fraction) and starts the next. */
  private sample(): void {
    for (const m of this.managed) {
      const { watched, touched } = m.memory.endSampling();
      if (watched > 0) {
        const fraction = touched / watched;
        // ESX keeps several averages and takes the largest, to see a rise at once and a fall slowly.
        m.active = Math.max(fraction, 0.5 * m.active + 0.5 * fraction);
      }
      m.memory.startSampling(this.samplePages(m));
    }
  }

  /** Up to `samplePages` random pages of the VM that have a frame of their own. */
  private *samplePages(m: Managed): Generator<number> {
    const first = m.memory.base >>> 12;
    const pages = m.memory.pages;
    let found = 0;
    // A VM may have few of its pages resident (ballooned, never touched): look long enough to find
    // them, but boundedly (a window's sampling costs at most a few passes over the frame table).
    const tries = Math.min(4 * pages, 64 * this.policy.samplePages);
    for (let n = 0; n < tries && found < this.policy.samplePages; n++) {
      const page = first + (this.next() % pages);
      if (m.memory.currentFrame(page) < 0 || m.memory.isShared(page)) continue;
      found++;
      yield page;
    }
  }

  // ---- Allocation targets (§5.1) -----------------------------------------------------------------

  /** Frames the VMs may have between them: everything but the reserve and the platform's balloon. */
  get poolFrames(): number {
    return Math.max(0, this.hypervisor.frames.totalFrames - this.policy.reservedFrames - (this.hypervisor.platform.balloon?.targetPages ?? 0));
  }

  private computeTargets(): void {
    const pool = this.poolFrames;
    const k = 1 / (1 - this.policy.idleTax);
    for (const m of this.managed) m.target = m.memory.pages;
    let total = this.managed.reduce((sum, m) => sum + m.target, 0);
    // Take memory, a chunk at a time, from the VM whose adjusted shares per page are fewest.
    const chunk = Math.max(1, Math.ceil(pool / 256));
    while (total > pool) {
      let victim: Managed | undefined;
      let lowest = Number.POSITIVE_INFINITY;
      for (const m of this.managed) {
        if (m.target <= m.minPages) continue;
        const rho = m.shares / (m.target * (m.active + k * (1 - m.active)));
        if (rho < lowest) {
          lowest = rho;
          victim = m;
        }
      }
      if (victim === undefined) break; // everyone is at their minimum
      const take = Math.min(chunk, total - pool, victim.target - victim.minPages);
      victim.target -= take;
      total -= take;
    }
  }

  // ---- Sharing (§4) ------------------------------------------------------------------------------

  private scan(): void {
    const vms = this.managed;
    if (vms.length === 0) return;
    for (let n = 0; n < this.policy.scanPages; n++) {
      const m = vms[this.scanVm % vms.length]!;
      const memory = m.memory;
      const page = (memory.base >>> 12) + this.scanPage;
      this.scanPage++;
      if (this.scanPage >= memory.pages) {
        this.scanPage = 0;
        this.scanVm = (this.scanVm + 1) % vms.length;
      }
      if (memory.currentFrame(page) < 0 || memory.isShared(page)) continue;
      const hash = this.pageHash(memory, page);
      if (hash === ZERO_HASH && this.isZero(memory, page)) {
        this.shareZero(memory, page);
        continue;
      }
      const candidate = this.candidates.get(hash);
      if (candidate === undefined || (candidate.memory === memory && candidate.page === page)) {
        this.candidates.set(hash, { memory, page });
        continue;
      }
      // The hash is a hint: the pages are compared in full before they share a frame.
      if (candidate.memory.currentFrame(candidate.page) < 0 || !mergeIdenticalPages(candidate.memory, candidate.page, memory, page)) {
        this.candidates.set(hash, { memory, page });
      }
    }
  }

  /** A hash of a page's bytes (FNV-1a over its words). */
  private pageHash(memory: PagedMemory, page: number): number {
    const offset = memory.peekOffset(page) >>> 2;
    const words = memory.i32;
    let hash = 0x811c9dc5;
    for (let i = 0; i < 1024; i++) hash = Math.imul(hash ^ words[offset + i]!, 0x01000193);
    return hash >>> 0;
  }

  private isZero(memory: PagedMemory, page: number): boolean {
    const offset = memory.peekOffset(page) >>> 2;
    const words = memory.i32;
    for (let i = 0; i < 1024; i++) if (words[offset + i] !== 0) return false;
    return true;
  }

  /** Maps an all-zero page to the one zero frame (allocated, and kept by the manager, once). */
  private shareZero(memory: PagedMemory, page: number): void {
    if (this.zeroFrame < 0) {
      this.zeroFrame = this.hypervisor.frames.allocateFrame();
      if (this.zeroFrame < 0) return;
    }
    memory.share(page, this.zeroFrame);
  }

  // ---- Swapping (§3.3) ---------------------------------------------------------------------------

  /** No frame is free: swap a page out of the VM furthest above its target. */
  private reclaim(): boolean {
    if (this.policy.swap === undefined) return false;
    const byExcess = [...this.managed].sort((a, b) => b.memory.stats.resident - b.target - (a.memory.stats.resident - a.target));
    for (const m of byExcess) if (this.swapOutOne(m)) return true;
    return false;
  }

  /** Swaps out the next page the clock hand finds that has a frame of its own. */
  private swapOutOne(m: Managed): boolean {
    const memory = m.memory;
    const first = memory.base >>> 12;
    for (let n = 0; n < memory.pages; n++) {
      const page = first + m.hand;
      m.hand = (m.hand + 1) % memory.pages;
      if (memory.currentFrame(page) >= 0 && memory.swapOut(page)) return true;
    }
    return false;
  }

  // ---- The platform's balloon --------------------------------------------------------------------

  /**
   * The hypervisor as its platform's balloon driver: frames it does not use go into the balloon
   * until the platform's target is met (reclaiming from its own VMs is what the targets above do),
   * and come out again when the target falls.
   */
  private drivePlatformBalloon(): void {
    const balloon = this.hypervisor.platform.balloon;
    if (balloon === undefined) return;
    const frames = this.hypervisor.frames;
    const want = balloon.targetPages;
    const given: number[] = [];
    while (this.platformBallooned.length + given.length < want && frames.freeFrames > this.policy.reservedFrames / 2) {
      const frame = frames.allocateFrame();
      if (frame < 0) break;
      given.push(frame);
    }
    if (given.length > 0) {
      const refused = balloon.inflate(Uint32Array.from(given));
      if (refused > 0) throw new Error(`${this.hypervisor.platform.name} refused ${refused} pages of its own balloon`);
      this.platformBallooned.push(...given);
    }
    if (this.platformBallooned.length > want) {
      const back = this.platformBallooned.splice(want);
      balloon.deflate(Uint32Array.from(back));
      for (const frame of back) frames.releaseFrame(frame);
    }
  }

  /** A deterministic pseudo-random number (xorshift32). */
  private next(): number {
    let x = this.random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.random = x;
    return x >>> 0;
  }
}

/** FNV-1a over 1024 zero words. */
const ZERO_HASH = (() => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < 1024; i++) hash = Math.imul(hash, 0x01000193);
  return hash >>> 0;
})();
