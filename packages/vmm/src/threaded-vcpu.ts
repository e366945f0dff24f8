/**
 * The worker side of `runVmThreaded` (threaded.ts): a worker of `runThreaded` imports this module
 * to build the engine of its hart, which is one vCPU of a VM. The engine is trap-and-emulate over
 * a hardware hart this worker makes over the host's RAM (the SharedArrayBuffer itself), with
 * shadow page tables of its own, in its share of the VM's shadow frame pool.
 *
 * Per-vCPU shadow tables are what make this safe without locks: no other thread ever writes
 * them. The guest's sfence.vma invalidates its own vCPU's; a remote shootdown reaches the other
 * vCPUs as the guest's IPI, after which each runs sfence.vma itself (privileged spec 1.12 §4.2.1:
 * sfence.vma orders only the executing hart's accesses).
 */
import { CodeCache, Hart } from "@matryoshka/cpu";
import { createEngine } from "@matryoshka/engines";
import type { ThreadEngine } from "@matryoshka/machine";
import { Bus, memoryFromDescriptor, type FrameTable, type MemoryDescriptor, type PagedMemory } from "@matryoshka/memory";
import { FramePool, ShadowPageTables, type ShadowStats } from "@matryoshka/mmu";
import { bareMetalHart } from "./bare-metal.js";
import { TrapAndEmulateBackend } from "./backend.js";
import { VmEngine, type ExitStats } from "./vcpu.js";

/** What the main thread tells each worker (structured-cloned). */
export interface VcpuThreadOptions {
  /** The VM's memory (its frame table, populated) over the host's RAM (the buffer all threads share). */
  guest: MemoryDescriptor;
  /** The hardware's execution engine ("interpreter" or "bt"). */
  hostEngine: string;
  hostPmpEntries: number;
  /** Guest pages that must trap on every access (device overlays such as HTIF tohost). */
  overlayPages: number[];
  /** Host frames for shadow tables: vCPU v gets `framesPerVcpu` of them from index v × framesPerVcpu. */
  shadowFrames: number[];
  framesPerVcpu: number;
  vcpus: number;
}

/** What a vCPU's worker reports at the end: its exits and its shadow tables' statistics. */
export interface VcpuThreadReport {
  exits: Omit<ExitStats, "byCause"> & { byCause: number[] };
  shadow: ShadowStats;
}

export async function createThreadEngine(options: VcpuThreadOptions, hartId: number): Promise<ThreadEngine> {
  const guest = memoryFromDescriptor(options.guest) as PagedMemory;
  const hostRam = guest.platform;
  const hostCode = new CodeCache(hostRam.base, hostRam.size);
  const hardware = new Hart(new Bus(hostRam), { hartId, pmpEntries: options.hostPmpEntries, codeCache: hostCode });
  const platformHart = bareMetalHart(hardware, createEngine(options.hostEngine));
  const share = options.shadowFrames.slice(hartId * options.framesPerVcpu, (hartId + 1) * options.framesPerVcpu);
  const pool = new FramePool(hostRam, share, options.framesPerVcpu);
  const shadow = new ShadowPageTables(hostRam, pool, (va) => platformHart.flushTlb(va));
  const overlays = new Set(options.overlayPages);
  const frames: FrameTable = {
    platformAddress: (guestPage, write) => (overlays.has(guestPage) ? -1 : guest.platformAddress(guestPage, write)),
    mapsWritable: (guestPage) => guest.mapsWritable(guestPage),
  };
  const engine = new VmEngine([platformHart], shadow, frames, new TrapAndEmulateBackend());
  const ramFirstPage = guest.base >>> 12;
  // The vCPU only emulates single instructions, so it keeps no decoded code; what it and the
  // devices write goes to this thread's hardware decode cache. (Other threads' hardware caches
  // learn of code changes the way the spec says harts do: the guest's fence.i, below.)
  const codeCache = new CodeCache(guest.base, guest.size, {
    transient: true,
    onWrite: (offset, length) => {
      // Frame by frame: the VM's pages need not be adjacent in the host's memory.
      for (let at = offset; at < offset + length; at = ((at >>> 12) + 1) * 4096) {
        const frame = guest.currentFrame(ramFirstPage + (at >>> 12));
        if (frame >= 0) hostCode.invalidateRange(frame * 4096 + (at & 0xfff), Math.min(offset + length, ((at >>> 12) + 1) * 4096) - at);
      }
    },
  });
  codeCache.addInvalidationListener({ codeWritten: () => {}, pageDropped: () => {}, cleared: () => hostCode.clear() });
  return {
    engine,
    codeCache,
    attach(vhart: Hart): void {
      vhart.onSfenceVma = (va, asid) => (va === undefined ? shadow.invalidateAll(asid) : shadow.invalidatePage(va, asid));
    },
    report: (): VcpuThreadReport => ({ exits: { ...engine.exits, byCause: Array.from(engine.exits.byCause) }, shadow: { ...shadow.stats } }),
  };
}
