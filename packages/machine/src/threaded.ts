import { setFlagsFromString } from "node:v8";
import { describeMemory, Rom } from "@matryoshka/memory";
import type { VirtMachine, RunOutcome } from "./board.js";
import { engineModule, type EngineModule } from "./engines.js";
import { captureHart, restoreHart } from "./hart-state.js";
import { VIRT } from "./layout.js";
import { siblingModule, startWorker } from "./worker.js";
import {
  CLOCK, CONTROL_WORDS, GO, READY, DEADLINE, DMA_GENERATION, dmaRingWord, DONE, DOORBELL, EXTERNAL, EXTERNAL_LINES,
  hartWord, MSIP, MTIMECMP_HIGH, MTIMECMP_LOW, OFFSET, OPERATION, Operation, REGION, REQUEST, Request, SIZE, STATUS, STOP, Stop,
  soundAsleep, TIME_OFFSET, TIME_WORDS, VALUE, WAKE, wakeHart, type ThreadEngineModule, type WorkerReport, type WorkerSetup,
} from "./threaded-shared.js";

export interface ThreadedRunOptions {
  /** Stop after this much machine time, in instructions (as `VirtMachine.run`'s argument). */
  maxInstructions?: number;
  /**
   * Engine each worker builds (default: one like the machine's, from its `Engine.module`, so a
   * board on the translator runs its workers on the translator), or one a module builds with
   * options (`ThreadEngineModule`: how a hypervisor runs its vCPUs on workers).
   */
  engine?: EngineModule | ThreadEngineModule;
  /**
   * Called between stretches of servicing devices (about every 20 ms), with the event loop free:
   * e.g. to feed console input with `machine.uart.receive`.
   */
  poll?: () => void;
}

export interface ThreadedRunReport {
  outcome: RunOutcome;
  /** Wall time of the run, from the moment every worker was ready (their start-up not counted). */
  wallMilliseconds: number;
  /** Device accesses the main thread performed for the workers. */
  proxiedAccesses: number;
  /** The engine the workers ran. */
  engine: string;
  /** Per hart, what its worker's engine reported at the end (see `ThreadEngine.report`). */
  engineReports: unknown[];
}

/** How long the main thread serves devices before it lets the event loop run. */
const SERVICE_STRETCH_MS = 20;
/** How long every hart must have slept, with nothing able to wake one, before the run is idle. */
const IDLE_CONFIRM_MS = 100;

/**
 * Runs a multi-hart board with each hart on its own worker thread, in parallel, over the board's
 * RAM (a SharedArrayBuffer, so guest memory is shared, not copied). `VirtMachine.run` stays the
 * deterministic single-thread mode; this is the parallel one, and its interleaving of harts is
 * whatever the host's threads do.
 *
 * - **Devices stay on this thread.** A hart's access to the UART, PLIC, virtio, test device, RTC
 *   or HTIF is a round trip through a mailbox of shared words (Atomics.wait/notify): the worker
 *   blocks until this thread has performed it on the board's own device. The PLIC's MEIP/SEIP
 *   outputs go back to the workers through shared words, read at every resync point.
 * - **The CLINT is shared words.** msip and mtimecmp live in shared memory and each worker
 *   emulates the CLINT over them, so IPIs and timer programming need no round trip; an IPI
 *   bumps the target's wake word, which ends its WFI wait (Atomics.wait).
 * - **Atomics give the A extension its meaning:** AMO*.W are Atomics operations on the RAM's
 *   Int32Array, and SC.W is a compare-and-exchange against the value LR.W read (see the
 *   interpreter), in every mode.
 * - **Each worker has its own TLBs and decoded code.** A remote sfence.vma or fence.i is done by
 *   the target hart itself, after the IPI that asks for it, as the privileged spec has it
 *   (SBI RFENCE works that way). Code that virtio DMA overwrites is dropped from every worker's
 *   cache through a ring of recent DMA writes.
 * - **Time** (mtime) cannot be the deterministic count of one thread's instructions. It is a
 *   shared instruction clock: every hart, after each slice of at most `quantum` instructions,
 *   raises it to (clock at the slice's start + instructions it ran), so mtime advances at the
 *   rate of the fastest running hart and, as in the deterministic mode, `instructionsPerTick`
 *   instructions of a hart make a tick. Time so measured does not depend on the host's load or
 *   on how many harts run, and when every hart sleeps it skips to the next timer, as the
 *   deterministic mode does. Guests that print no times therefore print the same transcript.
 *
 * The machine must have been booted; the harts' state is handed to the workers and, at the end,
 * back to `machine.harts` (so instruction counts and registers read as after `run`). Resolves
 * when a device finishes the machine, the limit is reached, a hart is stuck, or the run is idle.
 */
export async function runThreaded(machine: VirtMachine, options: ThreadedRunOptions = {}): Promise<ThreadedRunReport> {
  steadyWorkerJit();
  // A machine that already finished stays finished (run(0) reports how without running anything).
  const already = machine.run(0);
  if (already.kind !== "limit") return { outcome: already, wallMilliseconds: 0, proxiedAccesses: 0, engine: machine.engine.name, engineReports: [] };
  // Before anything changes: an engine the workers cannot rebuild is refused with the board untouched.
  const engine = options.engine ?? engineModule(machine.engine);
  const harts = machine.harts;
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  const times = new BigInt64Array(new SharedArrayBuffer(TIME_WORDS * 8));
  const ipt = machine.clock.instructionsPerTick;
  const startClock = machine.clock.elapsed;
  Atomics.store(times, CLOCK, BigInt(startClock));
  Atomics.store(times, TIME_OFFSET, BigInt(machine.clint.mtime - machine.clock.now()));
  for (let h = 0; h < harts.length; h++) {
    Atomics.store(control, hartWord(h, MSIP), machine.clint.read(4 * h, 4)!);
    Atomics.store(control, hartWord(h, MTIMECMP_LOW), machine.clint.read(0x4000 + 8 * h, 4)! | 0);
    Atomics.store(control, hartWord(h, MTIMECMP_HIGH), machine.clint.read(0x4004 + 8 * h, 4)! | 0);
    Atomics.store(control, hartWord(h, EXTERNAL), harts[h]!.mipLines & EXTERNAL_LINES);
    Atomics.store(times, DEADLINE + h, -1n);
  }

  // Every device but the CLINT and the mask ROM, proxied (index = position in this list).
  const bus = machine.bus;
  const devices = [
    ...bus.mmioRegions.filter((r) => r.base !== VIRT.clint.base && r.base !== VIRT.mrom.base).map((r) => ({ ...r, overlay: false })),
    ...bus.overlayRegions.map((r) => ({ ...r, overlay: true })),
  ];
  const romRegion = bus.findRegion(VIRT.mrom.base)!;
  const rom = (romRegion.device as Rom).bytes;

  // virtio DMA lands in RAM from this thread; workers drop code it overwrote (see drainDma).
  let dmaGeneration = 0;
  machine.dmaObserver = (pa, length) => {
    const word = dmaRingWord(dmaGeneration);
    Atomics.store(control, word, pa - machine.ram.base);
    Atomics.store(control, word + 1, length);
    dmaGeneration++;
    Atomics.store(control, DMA_GENERATION, dmaGeneration);
  };

  const ramDescriptor = describeMemory(machine.ram);
  const limit = startClock + (options.maxInstructions ?? Number.POSITIVE_INFINITY);
  const workerModule = siblingModule(import.meta.url, "threaded-worker");
  const reports: (WorkerReport | undefined)[] = harts.map(() => undefined);
  const failures: string[] = [];
  const workers = harts.map((hart, h) => {
    const setup: WorkerSetup = {
      hartId: h,
      harts: harts.length,
      control: control.buffer as SharedArrayBuffer,
      times: times.buffer as SharedArrayBuffer,
      ram: ramDescriptor,
      rom: { base: VIRT.mrom.base, bytes: rom.slice() },
      clintBase: VIRT.clint.base,
      regions: devices.map((r) => ({ name: r.name, base: r.base, size: r.size, overlay: r.overlay })),
      engine,
      quantum: machine.quantum,
      instructionsPerTick: ipt,
      limit,
      pmpEntries: hart.pmp.count,
      compressed: hart.compressed,
      isaProfile: hart.profile.name,
      state: captureHart(hart),
    };
    const worker = startWorker(workerModule, setup);
    worker.on("message", (report: WorkerReport) => (reports[h] = report));
    worker.on("error", (error) => {
      failures.push(`hart ${h}'s worker failed: ${error.stack ?? error.message}`);
      Atomics.compareExchange(control, STOP, Stop.running, Stop.error);
      Atomics.store(control, hartWord(h, DONE), 1);
    });
    const exited = new Promise<void>((resolve) => worker.on("exit", () => resolve()));
    return { worker, exited };
  });

  // Start-up (each worker loads its modules and builds its hart) is not part of the run's time.
  while (Atomics.load(control, READY) < harts.length && Atomics.load(control, STOP) === Stop.running) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const started = performance.now();
  Atomics.store(control, GO, 1);
  Atomics.notify(control, GO);
  let proxiedAccesses = 0;
  let idleSince: number | undefined;
  let idleWakes = "";

  /** The PLIC drives the main thread's harts' lines; copy MEIP/SEIP to the workers that changed. */
  const syncExternalLines = () => {
    for (let h = 0; h < harts.length; h++) {
      const lines = harts[h]!.mipLines & EXTERNAL_LINES;
      if (Atomics.load(control, hartWord(h, EXTERNAL)) !== lines) {
        Atomics.store(control, hartWord(h, EXTERNAL), lines);
        wakeHart(control, h);
      }
    }
  };

  const stopAll = (why: number) => {
    Atomics.compareExchange(control, STOP, Stop.running, why);
    for (let h = 0; h < harts.length; h++) wakeHart(control, h);
  };

  /** Performs one worker's pending device access, or drops it once the machine has stopped. */
  const serve = (h: number) => {
    const word = (field: number) => hartWord(h, field);
    if (Atomics.load(control, word(REQUEST)) !== Request.pending) return;
    let answer: number = Request.answered;
    if (Atomics.load(control, STOP) !== Stop.running) {
      // As in the deterministic mode, nothing a hart does after the machine stopped is seen.
      answer = Request.dropped;
    } else {
      proxiedAccesses++;
      const region = devices[Atomics.load(control, word(REGION))]!;
      const offset = Atomics.load(control, word(OFFSET));
      const size = Atomics.load(control, word(SIZE)) as 1 | 2 | 4;
      if (Atomics.load(control, word(OPERATION)) === Operation.load) {
        const value = region.device.read(offset, size);
        Atomics.store(control, word(STATUS), value === undefined ? 0 : 1);
        Atomics.store(control, word(VALUE), (value ?? 0) | 0);
      } else {
        const ok = region.device.write(offset, size, Atomics.load(control, word(VALUE)) >>> 0);
        Atomics.store(control, word(STATUS), ok ? 1 : 0);
      }
      // Keep the board's clock (and so the RTC) at machine time for the next access.
      syncExternalLines();
      if (machine.run(0).kind !== "limit") stopAll(Stop.finished);
    }
    Atomics.store(control, word(REQUEST), answer);
    Atomics.notify(control, word(REQUEST));
  };

  const allDone = () => harts.every((_, h) => Atomics.load(control, hartWord(h, DONE)) === 1);

  /** Every hart asleep with no timer armed and no device able to raise anything: the run is idle. */
  const checkIdle = (now: number) => {
    let wakes = "";
    for (let h = 0; h < harts.length; h++) {
      if (!soundAsleep(control, h) || Atomics.load(times, DEADLINE + h) >= 0n || Atomics.load(control, hartWord(h, REQUEST)) === Request.pending) {
        idleSince = undefined;
        return;
      }
      wakes += `${Atomics.load(control, hartWord(h, WAKE))},`;
    }
    if (machine.pendingConsoleInput > 0) {
      idleSince = undefined;
      return;
    }
    if (idleSince === undefined || wakes !== idleWakes) {
      idleSince = now;
      idleWakes = wakes;
    } else if (now - idleSince >= IDLE_CONFIRM_MS) {
      stopAll(Stop.idle);
    }
  };

  for (;;) {
    const stretchEnd = performance.now() + SERVICE_STRETCH_MS;
    let now = performance.now();
    while (now < stretchEnd) {
      const bell = Atomics.load(control, DOORBELL);
      for (let h = 0; h < harts.length; h++) serve(h);
      machine.clock.elapsed = Number(Atomics.load(times, CLOCK));
      machine.rtc.update();
      syncExternalLines();
      if (Atomics.load(control, STOP) === Stop.running) {
        if (machine.run(0).kind !== "limit") stopAll(Stop.finished);
        else checkIdle(now);
      } else {
        if (allDone()) break;
      }
      Atomics.wait(control, DOORBELL, bell, 2);
      now = performance.now();
    }
    if (Atomics.load(control, STOP) !== Stop.running && allDone()) break;
    options.poll?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const wallMilliseconds = performance.now() - started;
  await Promise.all(workers.map((w) => w.exited));
  machine.dmaObserver = undefined;

  // Hand the harts' state back, and the CLINT's, and the clock.
  reports.forEach((report, h) => {
    if (report) restoreHart(harts[h]!, report.state);
    if (report?.reason) failures.push(report.reason);
  });
  machine.clock.elapsed = Number(Atomics.load(times, CLOCK));
  for (let h = 0; h < harts.length; h++) {
    machine.clint.write(0x4000 + 8 * h, 4, Atomics.load(control, hartWord(h, MTIMECMP_LOW)) >>> 0);
    machine.clint.write(0x4004 + 8 * h, 4, Atomics.load(control, hartWord(h, MTIMECMP_HIGH)) >>> 0);
    machine.clint.write(4 * h, 4, Atomics.load(control, hartWord(h, MSIP)));
  }
  const mtime = Math.floor(machine.clock.elapsed / ipt) + Number(Atomics.load(times, TIME_OFFSET));
  if (mtime !== machine.clint.mtime) {
    machine.clint.write(0xbff8, 4, mtime % 0x1_0000_0000);
    machine.clint.write(0xbffc, 4, Math.floor(mtime / 0x1_0000_0000));
  }
  machine.clint.update();

  const stop = Atomics.load(control, STOP);
  let outcome: RunOutcome;
  switch (stop) {
    case Stop.finished: outcome = machine.run(0); break;
    case Stop.limit: outcome = { kind: "limit" }; break;
    case Stop.stuck: outcome = { kind: "stuck", reason: failures.join("; ") }; break;
    case Stop.idle: outcome = { kind: "idle", reason: "every hart waits for an interrupt and no timer is armed" }; break;
    default: throw new Error(failures.join("\n") || "a threaded run stopped for no reason");
  }
  const engineReports = reports.map((report) => report?.engine);
  return { outcome, wallMilliseconds, proxiedAccesses, engine: engine.name, engineReports };
}

let jitSteadied = false;

/**
 * Turns off V8's concurrent on-stack replacement, once, for the whole process (V8's flags are
 * global). Measured on Node 20 here: a worker's long-running loop then and again never had its
 * optimized code installed and ran about 5× slower (a plain counting loop on a worker took
 * 255 ms or 1450 ms, bimodally; with the flag, 255 ms every time), which made two harts on two
 * workers slower than both on one thread. OSR then compiles on the worker's own thread, which
 * costs a pause of a millisecond or so per hot loop.
 */
export function steadyWorkerJit(): void {
  if (jitSteadied) return;
  jitSteadied = true;
  setFlagsFromString("--no-concurrent-osr");
}
