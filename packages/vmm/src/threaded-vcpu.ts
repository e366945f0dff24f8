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
import { Bus, Ram } from "@matryoshka/memory";
import { FramePool, ShadowPageTables, type ShadowStats } from "@matryoshka/mmu";
import { bareMetalHart } from "./bare-metal.js";
import { TrapAndEmulate, type ExitStats } from "./trap-and-emulate.js";

/** What the main thread tells each worker (structured-cloned). */
export interface VcpuThreadOptions {
  /** The host's RAM: the buffer all threads share, where it starts in it, its physical base and size. */
  host: { buffer: SharedArrayBuffer; byteOffset: number; base: number; size: number };
  /** The hardware's execution engine ("interpreter" or "bt"). */
  hostEngine: string;
  hostPmpEntries: number;
  /** Host-physical address of the VM's RAM, and the guest-physical base and size of that RAM. */
  ramBase: number;
  guestRamBase: number;
  ramSize: number;
  /** Guest pages that must trap on every access (device overlays such as HTIF tohost). */
  overlayPages: number[];
  /** Host-physical start of this VM's shadow frame pool, and the frames each vCPU gets of it. */
  shadowBase: number;
  framesPerVcpu: number;
  vcpus: number;
}

/** What a vCPU's worker reports at the end: its exits and its shadow tables' statistics. */
export interface VcpuThreadReport {
  exits: Omit<ExitStats, "byCause"> & { byCause: number[] };
  shadow: ShadowStats;
}

export async function createThreadEngine(options: VcpuThreadOptions, hartId: number): Promise<ThreadEngine> {
  const host = options.host;
  const hostRam = new Ram(host.base, host.size, host.buffer, host.byteOffset);
  const hostCode = new CodeCache(hostRam.base, hostRam.size);
  const hardware = new Hart(new Bus(hostRam), { hartId, pmpEntries: options.hostPmpEntries, codeCache: hostCode });
  const platformHart = bareMetalHart(hardware, createEngine(options.hostEngine));
  const pool = new FramePool(hostRam, options.shadowBase + hartId * options.framesPerVcpu * 4096, options.framesPerVcpu);
  const shadow = new ShadowPageTables(hostRam, pool, (va) => platformHart.flushTlb(va));
  const firstGuestPage = options.guestRamBase / 4096;
  const pages = options.ramSize / 4096;
  const overlays = new Set(options.overlayPages);
  const map = (guestPage: number): number => {
    const index = guestPage - firstGuestPage;
    if (index < 0 || index >= pages || overlays.has(guestPage)) return -1;
    return options.ramBase + index * 4096;
  };
  const engine = new TrapAndEmulate([platformHart], options.vcpus, shadow, map);
  // The vCPU only emulates single instructions, so it keeps no decoded code; what it and the
  // devices write goes to this thread's hardware decode cache. (Other threads' hardware caches
  // learn of code changes the way the spec says harts do: the guest's fence.i, below.)
  const codeCache = new CodeCache(options.guestRamBase, options.ramSize, {
    transient: true,
    onWrite: (offset, length) => hostCode.invalidateRange(options.ramBase + offset, length),
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
