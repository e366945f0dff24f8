/**
 * One hart of a threaded run (see threaded.ts), on its own worker thread: its own `Hart`, TLBs,
 * decoded code and engine, over the machine's RAM (the SharedArrayBuffer itself, not a copy). The
 * CLINT is the one `Clint` model over shared words; every other device is proxied to the main thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { CodeCache, Hart, StopReason, type Engine } from "@matryoshka/cpu";
import { loadEngine, type EngineModule } from "./engines.js";
import { Clint, CLINT_SIZE, LINE, type InterruptLines } from "@matryoshka/interrupts";
import { ISA_PROFILES, type IsaProfileName } from "@matryoshka/isa";
import { Bus, memoryFromDescriptor, Rom, type AccessSize, type MmioDevice } from "@matryoshka/memory";
import { captureHart, restoreHart } from "./hart-state.js";
import {
  ASLEEP, CLOCK, DEADLINE, GO, READY, DMA_GENERATION, DMA_RING_ENTRIES, dmaRingWord, DONE, EXTERNAL, hartWord, OFFSET, OPERATION,
  Operation, REGION, REQUEST, Request, ringDoorbell, SharedClintStorage, SIZE, SLEPT_AT, soundAsleep, STATUS, STOP, Stop, VALUE, WAKE,
  wakeHart, type ThreadEngine, type ThreadEngineModule, type WorkerReport, type WorkerSetup,
} from "./threaded-shared.js";

/** A slice this long in which every instruction trapped means the hart can make no progress (as board.ts). */
const STUCK_THRESHOLD = 1000;
/**
 * Longest WFI wait before a sleeping hart looks again on its own. Everything that can wake it
 * notifies it, so this only bounds the cost of a missed case.
 */
const SLEEP_RECHECK_MS = 50;
/** Another hart's lines: its own thread computes them from the shared words (a store there wakes it). */
const ELSEWHERE: InterruptLines = { setInterruptLine() {} };

async function createEngine(spec: EngineModule | ThreadEngineModule, hartId: number): Promise<ThreadEngine> {
  if ("options" in spec) {
    const factory = (await import(spec.module)) as { createThreadEngine?: (options: unknown, hartId: number) => Promise<ThreadEngine> | ThreadEngine };
    if (typeof factory.createThreadEngine !== "function") throw new Error(`${spec.module} has no createThreadEngine`);
    return factory.createThreadEngine(spec.options, hartId);
  }
  return { engine: await loadEngine(spec) };
}

class HartThread {
  private readonly setup: WorkerSetup;
  private readonly control: Int32Array;
  private readonly times: BigInt64Array;
  private readonly self: number;
  readonly hart: Hart;
  private readonly clint: Clint;
  private readonly clintStorage: SharedClintStorage;
  private readonly ipt: number;
  private dmaSeen: number;
  /** CLOCK at the start of the running slice and the hart's steps then (-1: between slices). */
  private sliceClock = -1;
  private sliceSteps = 0;

  constructor(setup: WorkerSetup, codeCache?: CodeCache) {
    this.setup = setup;
    this.control = new Int32Array(setup.control);
    this.times = new BigInt64Array(setup.times);
    this.self = setup.hartId;
    this.ipt = setup.instructionsPerTick;
    const ram = memoryFromDescriptor(setup.ram);
    const bus = new Bus(ram);
    bus.addMmio("mrom", setup.rom.base, setup.rom.bytes.length, new Rom(setup.rom.bytes));
    this.clintStorage = new SharedClintStorage(this.control, this.times, setup.harts);
    const lines = Array.from({ length: setup.harts }, (_, h): InterruptLines => (h === this.self ? { setInterruptLine: (bit, level) => this.hart.setInterruptLine(bit, level) } : ELSEWHERE));
    this.clint = new Clint(lines, { now: () => Math.floor(this.clockNow() / this.ipt) }, this.clintStorage);
    bus.addMmio("clint", setup.clintBase, CLINT_SIZE, this.clint);
    setup.regions.forEach((region, index) => {
      const proxy = new DeviceProxy(this, index);
      if (region.overlay) bus.addOverlay(region.name, region.base, region.size, proxy);
      else bus.addMmio(region.name, region.base, region.size, proxy);
    });
    this.hart = new Hart(bus, {
      hartId: setup.hartId,
      pmpEntries: setup.pmpEntries,
      compressed: setup.compressed,
      codeCache: codeCache ?? new CodeCache(ram.base, ram.size),
      profile: ISA_PROFILES[setup.isaProfile as IsaProfileName],
    });
    restoreHart(this.hart, setup.state);
    this.hart.readTime = () => this.clint.mtime;
    this.dmaSeen = Atomics.load(this.control, DMA_GENERATION);
  }

  get controlWords(): Int32Array {
    return this.control;
  }

  get hartId(): number {
    return this.self;
  }

  /**
   * Machine time in instructions as this hart sees it: the shared clock, or, inside a slice, the
   * clock at the slice's start plus what this hart has run since if that is later (as the
   * deterministic board's clock counts the running hart's progress within its slice).
   */
  clockNow(): number {
    const shared = Number(Atomics.load(this.times, CLOCK));
    if (this.sliceClock < 0) return shared;
    return Math.max(shared, this.sliceClock + (this.hart.steps - this.sliceSteps));
  }

  /** The CLOCK value at which mtime reaches this hart's mtimecmp. */
  private timerClock(): number {
    const compare = this.clint.mtimecmp(this.self);
    if (compare === Number.POSITIVE_INFINITY) return compare;
    return (compare - this.clintStorage.timeOffset) * this.ipt;
  }

  /**
   * Brings the hart's interrupt lines up to date with the shared words: msip, mtime against
   * mtimecmp, and the PLIC's MEIP/SEIP. Called at every resync point of the loop and after every
   * proxied access (priv. 1.12 §3.1.9: mip.MSIP/MTIP/MEIP mirror the controllers' outputs).
   */
  syncLines(): void {
    const hart = this.hart;
    const control = this.control;
    hart.setInterruptLine(LINE.MSIP, this.clintStorage.msip(this.self) !== 0);
    hart.setInterruptLine(LINE.MTIP, this.clint.mtime >= this.clint.mtimecmp(this.self));
    const external = Atomics.load(control, hartWord(this.self, EXTERNAL));
    hart.setInterruptLine(LINE.MEIP, (external & LINE.MEIP) !== 0);
    hart.setInterruptLine(LINE.SEIP, (external & LINE.SEIP) !== 0);
    if (Atomics.load(control, STOP) !== Stop.running) hart.requestStop(StopReason.Halt);
  }

  /**
   * Device DMA (virtio) writes RAM from the main thread; drop the decoded code it overwrote, as the
   * board's DMA view does for its shared cache. Harts still need fence.i for their own code.
   */
  private drainDma(): void {
    const generation = Atomics.load(this.control, DMA_GENERATION);
    if (generation === this.dmaSeen) return;
    if (generation - this.dmaSeen > DMA_RING_ENTRIES) {
      this.hart.codeCache.clear();
    } else {
      for (let g = this.dmaSeen; g < generation; g++) {
        const word = dmaRingWord(g);
        const ram = this.hart.bus.ram;
        this.hart.codeCache.invalidateRange(ram.base + Atomics.load(this.control, word), Atomics.load(this.control, word + 1));
      }
    }
    this.dmaSeen = generation;
    this.hart.needsResync = true;
  }

  /** Raises the shared clock to `target` instructions (never lowers it: another hart may be ahead). */
  private advanceClock(target: number): void {
    const wanted = BigInt(target);
    for (;;) {
      const current = Atomics.load(this.times, CLOCK);
      if (current >= wanted) return;
      if (Atomics.compareExchange(this.times, CLOCK, current, wanted) === current) return;
    }
  }

  /** Wakes sleeping harts whose timer the clock has now reached. */
  private wakeDueSleepers(): void {
    const clock = Atomics.load(this.times, CLOCK);
    for (let h = 0; h < this.setup.harts; h++) {
      if (h === this.self || Atomics.load(this.control, hartWord(h, ASLEEP)) === 0) continue;
      const deadline = Atomics.load(this.times, DEADLINE + h);
      if (deadline >= 0n && deadline <= clock) wakeHart(this.control, h);
    }
  }

  run(engine: Engine): string | undefined {
    const hart = this.hart;
    const control = this.control;
    const quantum = this.setup.quantum;
    const limit = this.setup.limit;
    let asleep = false;
    for (;;) {
      if (Atomics.load(control, STOP) !== Stop.running) return undefined;
      const start = Number(Atomics.load(this.times, CLOCK));
      if (start >= limit) {
        Atomics.compareExchange(control, STOP, Stop.running, Stop.limit);
        ringDoorbell(control);
        return undefined;
      }
      this.drainDma();
      this.syncLines();
      if (asleep) {
        if (!hart.wakeable) {
          this.sleep();
          continue;
        }
        asleep = false;
      }
      const untilTimer = this.timerClock() - start;
      const budget = Math.max(1, Math.min(quantum, limit - start, untilTimer > 0 ? untilTimer : quantum));
      const before = hart.steps;
      const retiredBefore = hart.steps - hart.trapped;
      this.sliceClock = start;
      this.sliceSteps = before;
      const reason = engine.run(hart, budget);
      this.sliceClock = -1;
      const ran = hart.steps - before;
      this.advanceClock(start + ran);
      this.wakeDueSleepers();
      if (ran >= STUCK_THRESHOLD && hart.steps - hart.trapped === retiredBefore) {
        Atomics.compareExchange(control, STOP, Stop.running, Stop.stuck);
        ringDoorbell(control);
        return (
          `hart ${hart.hartId} trapped ${STUCK_THRESHOLD}+ times in a row without retiring an instruction ` +
          `(last trap: cause ${(hart.mcause >>> 0) & 0x7fff_ffff}, mepc 0x${(hart.mepc >>> 0).toString(16)}, mtval 0x${(hart.mtval >>> 0).toString(16)}, ` +
          `mtvec 0x${(hart.mtvec >>> 0).toString(16)})`
        );
      }
      if (reason === StopReason.Wfi) asleep = true;
    }
  }

  /**
   * WFI with nothing pending (priv. 1.12 §3.3.3): block on this hart's WAKE word. Whoever can make
   * an interrupt pending bumps it (an IPI from another hart, the main thread's PLIC, a hart whose
   * progress reached our timer). When every hart sleeps, machine time skips to the earliest timer,
   * as the deterministic board does; if there is none, the main thread decides the run is idle.
   */
  private sleep(): void {
    const control = this.control;
    const wake = hartWord(this.self, WAKE);
    const seen = Atomics.load(control, wake);
    const hart = this.hart;
    const timer = (hart.mie & LINE.MTIP) !== 0 ? this.timerClock() : Number.POSITIVE_INFINITY;
    Atomics.store(this.times, DEADLINE + this.self, timer === Number.POSITIVE_INFINITY ? -1n : BigInt(Math.max(0, Math.ceil(timer))));
    Atomics.store(control, hartWord(this.self, SLEPT_AT), seen);
    Atomics.store(control, hartWord(this.self, ASLEEP), 1);
    ringDoorbell(control);
    // Look again after announcing the sleep: a wake-up posted before it bumped WAKE, after it is seen here.
    this.syncLines();
    if (!hart.wakeable && Atomics.load(control, STOP) === Stop.running) {
      let earliest = -1n;
      let all = true;
      for (let h = 0; h < this.setup.harts && all; h++) {
        if (!soundAsleep(control, h)) all = false;
        const deadline = Atomics.load(this.times, DEADLINE + h);
        if (deadline >= 0n && (earliest < 0n || deadline < earliest)) earliest = deadline;
      }
      if (all && earliest > Atomics.load(this.times, CLOCK)) {
        // Every hart sleeps: the time until the next timer passes at once.
        this.advanceClock(Math.min(Number(earliest), this.setup.limit));
        this.wakeDueSleepers();
      } else if (all && earliest >= 0n) {
        // A hart whose timer is due is on its way out of its wait.
        Atomics.wait(control, wake, seen, 1);
      } else {
        Atomics.wait(control, wake, seen, SLEEP_RECHECK_MS);
      }
    }
    Atomics.store(control, hartWord(this.self, ASLEEP), 0);
  }
}

/** A main-thread device as this worker's bus sees it: every access is a mailbox round trip. */
class DeviceProxy implements MmioDevice {
  private readonly thread: HartThread;
  private readonly region: number;

  constructor(thread: HartThread, region: number) {
    this.thread = thread;
    this.region = region;
  }

  private call(operation: number, offset: number, size: AccessSize, value: number): number | undefined {
    const thread = this.thread;
    const control = thread.controlWords;
    const word = (field: number) => hartWord(thread.hartId, field);
    Atomics.store(control, word(OPERATION), operation);
    Atomics.store(control, word(REGION), this.region);
    Atomics.store(control, word(OFFSET), offset);
    Atomics.store(control, word(SIZE), size);
    Atomics.store(control, word(VALUE), value | 0);
    Atomics.store(control, word(REQUEST), Request.pending);
    ringDoorbell(control);
    // The main thread answers every request, even after the machine stopped (then: DROPPED).
    while (Atomics.load(control, word(REQUEST)) === Request.pending) Atomics.wait(control, word(REQUEST), Request.pending);
    const answer = Atomics.load(control, word(REQUEST));
    Atomics.store(control, word(REQUEST), Request.idle);
    // What the device did may have changed interrupt lines or finished the machine.
    thread.syncLines();
    if (answer === Request.dropped) return 0;
    if (Atomics.load(control, word(STATUS)) === 0) return undefined;
    return Atomics.load(control, word(VALUE)) >>> 0;
  }

  read(offset: number, size: AccessSize): number | undefined {
    return this.call(Operation.load, offset, size, 0);
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    return this.call(Operation.store, offset, size, value) !== undefined;
  }
}

// Entry: build the hart, run it, post its state, say we are done. (No top-level await: the
// package is also built as CommonJS.)
async function main(setup: WorkerSetup): Promise<void> {
  const control = new Int32Array(setup.control);
  let report: WorkerReport | undefined;
  let thread: HartThread | undefined;
  try {
    const { engine, codeCache, attach, report: engineReport } = await createEngine(setup.engine, setup.hartId);
    thread = new HartThread(setup, codeCache);
    attach?.(thread.hart);
    Atomics.add(control, READY, 1);
    ringDoorbell(control);
    while (Atomics.load(control, GO) === 0 && Atomics.load(control, STOP) === Stop.running) Atomics.wait(control, GO, 0, 100);
    const reason = thread.run(engine);
    report = { state: captureHart(thread.hart), reason, engine: engineReport?.() };
  } catch (error) {
    Atomics.compareExchange(control, STOP, Stop.running, Stop.error);
    report = {
      state: thread ? captureHart(thread.hart) : setup.state,
      reason: `hart ${setup.hartId}'s worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    };
  }
  parentPort!.postMessage(report);
  Atomics.store(control, hartWord(setup.hartId, DONE), 1);
  ringDoorbell(control);
  // Harts asleep in WFI must notice the run is over.
  for (let h = 0; h < setup.harts; h++) wakeHart(control, h);
}

void main(workerData as WorkerSetup);
