import type { MemoryDescriptor } from "@matryoshka/memory";
import type { CodeCache, Engine, Hart } from "@matryoshka/cpu";
import { LINE, type ClintStorage } from "@matryoshka/interrupts";
import type { EngineModule } from "./engines.js";

/**
 * Shared state of a threaded run (see threaded.ts): one Int32Array of control words and one
 * BigInt64Array of times, both over SharedArrayBuffers that the main thread and every hart's
 * worker map. Only Atomics touch them.
 */

/** Why the run is stopping (`ctl[STOP]`); 0 while it runs. */
export const Stop = {
  running: 0,
  /** A device finished the machine (test device, HTIF, `VirtMachine.stop`): the main thread knows the outcome. */
  finished: 1,
  /** Machine time reached the instruction limit. */
  limit: 2,
  /** A hart trapped without retiring (its worker posts the reason). */
  stuck: 3,
  /** A worker threw (it posts the error). */
  error: 4,
  /** Every hart sleeps and nothing can wake one. */
  idle: 5,
} as const;

// Global words.
export const STOP = 0;
/** Bumped (and notified) by workers whenever the main thread has something to look at. */
export const DOORBELL = 1;
/** Count of DMA writes the main thread logged in the ring (see DMA_RING). */
export const DMA_GENERATION = 2;
/** Workers that have built their hart and engine; they wait for GO before they run. */
export const READY = 3;
/** Set by the main thread once every worker is ready, so the run is timed without start-up. */
export const GO = 4;

/** Per-hart block: words from `hartWord(h, field)`. */
const HART_BASE = 16;
const HART_STRIDE = 32;
// The hart's CLINT registers (see SharedClintStorage).
export const MSIP = 0;
export const MTIMECMP_LOW = 1;
export const MTIMECMP_HIGH = 2;
/** MEIP and SEIP as the main thread's PLIC drives them for this hart. */
export const EXTERNAL = 3;
/** Bumped and notified by anything that may wake this hart from WFI; it waits on this word. */
export const WAKE = 4;
/** 1 while the hart's worker is in (or entering) its WFI wait. */
export const ASLEEP = 5;
/** 1 once the hart's worker has left its loop and posted its state. */
export const DONE = 6;
/** The WAKE count when the hart went to sleep: if WAKE moved since, it is waking up. */
export const SLEPT_AT = 7;
// The MMIO mailbox: the worker fills it and sets REQUEST to PENDING; the main thread performs the
// access on its device and sets REQUEST to ANSWERED (or DROPPED once the machine has stopped).
export const REQUEST = 8;
export const OPERATION = 9;
export const REGION = 10;
export const OFFSET = 11;
export const SIZE = 12;
export const VALUE = 13;
/** 1 if the device answered, 0 for a bus error. */
export const STATUS = 14;

export const Request = { idle: 0, pending: 1, answered: 2, dropped: 3 } as const;
export const Operation = { load: 0, store: 1 } as const;

/** Ring of the last DMA writes (RAM offset, length), for workers to drop stale decoded code. */
export const DMA_RING_ENTRIES = 64;
const DMA_RING = HART_BASE + 8 * HART_STRIDE;
export const CONTROL_WORDS = DMA_RING + 2 * DMA_RING_ENTRIES;

export function hartWord(hart: number, field: number): number {
  return HART_BASE + hart * HART_STRIDE + field;
}

export function dmaRingWord(generation: number): number {
  return DMA_RING + 2 * (generation % DMA_RING_ENTRIES);
}

// Time words (BigInt64Array).
/** Machine time in instructions: mtime = CLOCK / instructionsPerTick + TIME_OFFSET. */
export const CLOCK = 0;
/** Ticks added to mtime by guest writes to the CLINT's mtime register. */
export const TIME_OFFSET = 1;
/** Per hart from here: the CLOCK value at which its timer can wake it from WFI, or -1. */
export const DEADLINE = 2;
export const TIME_WORDS = 2 + 8;

export const EXTERNAL_LINES = LINE.MEIP | LINE.SEIP;

/** Wakes a hart's worker if it sleeps (or is about to: the bump makes its wait return at once). */
export function wakeHart(control: Int32Array, hart: number): void {
  Atomics.add(control, hartWord(hart, WAKE), 1);
  Atomics.notify(control, hartWord(hart, WAKE));
}

/**
 * Whether a hart sleeps and nothing has woken it since: a hart that was notified but whose thread
 * has not run yet is on its way out of WFI, and must not let the others skip time ahead of it.
 */
export function soundAsleep(control: Int32Array, hart: number): boolean {
  return Atomics.load(control, hartWord(hart, ASLEEP)) === 1 && Atomics.load(control, hartWord(hart, WAKE)) === Atomics.load(control, hartWord(hart, SLEPT_AT));
}

/**
 * The CLINT's registers in the shared words, so that every hart's worker runs the one `Clint`
 * model over them with no round trip to the main thread. A store to a hart's registers wakes
 * that hart (an IPI, or a new mtimecmp, can end its WFI wait: priv. 1.12 §3.3.3), and a write to
 * mtime wakes them all, since every deadline moved.
 */
export class SharedClintStorage implements ClintStorage {
  private readonly control: Int32Array;
  private readonly times: BigInt64Array;
  private readonly harts: number;

  constructor(control: Int32Array, times: BigInt64Array, harts: number) {
    this.control = control;
    this.times = times;
    this.harts = harts;
  }

  msip(hart: number): number {
    return this.load(hart, MSIP);
  }

  setMsip(hart: number, value: number): void {
    this.store(hart, MSIP, value);
  }

  mtimecmpLow(hart: number): number {
    return this.load(hart, MTIMECMP_LOW);
  }

  mtimecmpHigh(hart: number): number {
    return this.load(hart, MTIMECMP_HIGH);
  }

  setMtimecmpLow(hart: number, value: number): void {
    this.store(hart, MTIMECMP_LOW, value);
  }

  setMtimecmpHigh(hart: number, value: number): void {
    this.store(hart, MTIMECMP_HIGH, value);
  }

  private load(hart: number, field: number): number {
    return Atomics.load(this.control, hartWord(hart, field)) >>> 0;
  }

  private store(hart: number, field: number, value: number): void {
    Atomics.store(this.control, hartWord(hart, field), value | 0);
    wakeHart(this.control, hart);
  }

  get timeOffset(): number {
    return Number(Atomics.load(this.times, TIME_OFFSET));
  }

  shiftTime(ticks: number): void {
    Atomics.add(this.times, TIME_OFFSET, BigInt(ticks));
    for (let h = 0; h < this.harts; h++) wakeHart(this.control, h);
  }
}

export function ringDoorbell(control: Int32Array): void {
  Atomics.add(control, DOORBELL, 1);
  Atomics.notify(control, DOORBELL);
}

/**
 * An engine a worker builds with a module of its own: the worker imports `module` (a URL) and
 * calls its `createThreadEngine(options, hartId)`, which returns a `ThreadEngine`. This is how a
 * hypervisor runs its vCPUs on workers: the engine is trap-and-emulate over a hart of the
 * hardware that the worker makes. `options` must survive structured cloning.
 */
export interface ThreadEngineModule {
  /** For reports. */
  name: string;
  module: string;
  options: unknown;
}

/**
 * What a worker runs its hart with: the engine, and, if the engine needs one, the hart's own
 * decode cache (a vCPU's is transient) and a hook to call once the hart exists.
 */
export interface ThreadEngine {
  engine: Engine;
  codeCache?: CodeCache;
  attach?(hart: Hart): void;
  /** Its statistics at the end of the run, structured-cloneable, handed back in `ThreadedRunReport.engineReports`. */
  report?(): unknown;
}

/** What a worker needs to build its hart; everything here survives structured cloning. */
export interface WorkerSetup {
  hartId: number;
  harts: number;
  control: SharedArrayBuffer;
  times: SharedArrayBuffer;
  /** The board's RAM, as the worker rebuilds it (hardware RAM, or a VM's frame table over it). */
  ram: MemoryDescriptor;
  rom: { base: number; bytes: Uint8Array };
  clintBase: number;
  /** Every other device, by index into this list, proxied to the main thread. */
  regions: { name: string; base: number; size: number; overlay: boolean }[];
  /** The engine to build: like the board's (see EngineModule), or a module's own (see ThreadEngineModule). */
  engine: EngineModule | ThreadEngineModule;
  quantum: number;
  instructionsPerTick: number;
  /** Machine time (CLOCK) at which the run stops with "limit"; Infinity for none. */
  limit: number;
  pmpEntries: number;
  compressed: boolean;
  isaProfile: string;
  state: HartState;
}

/** A hart's architectural state and counters, to hand it between threads (see hart-state.ts). */
export interface HartState {
  x: Int32Array;
  pc: number;
  priv: number;
  csrs: [number, number][];
  mcycle: number;
  minstret: number;
  steps: number;
  trapped: number;
  reservation: number;
  reservationValue: number;
  mhpmcounter: Float64Array;
  exceptionCounts: Float64Array;
  interruptCounts: Float64Array;
}

/** What a worker posts when it ends. */
export interface WorkerReport {
  state: HartState;
  /** Set when it stopped the run because its hart was stuck, or because it threw. */
  reason?: string;
  /** What the engine reported at the end (`ThreadEngine.report`), if it reports anything. */
  engine?: unknown;
}
