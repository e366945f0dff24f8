import type { BlockBackend } from "@matryoshka/devices";
import { VirtMachine, type RunOutcome } from "@matryoshka/machine";

/** Everything `matryoshka run` needs, already read from disk. */
export interface RunOptions {
  kernel: Uint8Array;
  bios?: Uint8Array;
  append?: string;
  initrd?: Uint8Array;
  harts?: number;
  memoryMiB?: number;
  pmpEntries?: number;
  /** virtio-blk disks; the first takes QEMU's first slot for -device (0x10008000). */
  disks?: BlockBackend[];
  /** virtio-mmio version: 1 legacy (QEMU's default), 2 modern. */
  virtioVersion?: 1 | 2;
  /** Stop after this many instructions of machine time (exit status 124). */
  maxInstructions?: number;
  /** Receives the guest's console output. */
  console: (byte: number) => void;
  /** Console input; the run waits for it when every hart is idle. */
  input?: InputSource;
}

/** Host input for the guest's UART, e.g. from process.stdin. */
export interface InputSource {
  /** Resolves with the next bytes, or undefined at end of input. */
  next(): Promise<Uint8Array | undefined>;
  /** Bytes that arrived and have not been consumed, without waiting. */
  drain(): Uint8Array | undefined;
}

export interface RunReport {
  outcome: RunOutcome;
  /** Instructions started, summed over harts. */
  instructions: number;
  /** Exceptions and interrupts taken, by cause number, summed over harts. */
  exceptions: Map<number, number>;
  interrupts: Map<number, number>;
  wallMilliseconds: number;
}

/** Instructions between checks for console input and between event-loop turns. */
const SLICE = 2_000_000;

/** Boots a guest on the `virt` board at depth 0 and runs it to completion. */
export async function runGuest(options: RunOptions): Promise<RunReport> {
  const machine = new VirtMachine({
    harts: options.harts,
    memoryMiB: options.memoryMiB,
    pmpEntries: options.pmpEntries,
    console: options.console,
    disks: options.disks,
    virtioVersion: options.virtioVersion,
  });
  machine.boot({ kernel: options.kernel, bios: options.bios, append: options.append, initrd: options.initrd });
  const started = performance.now();
  const limit = options.maxInstructions ?? Number.POSITIVE_INFINITY;
  let inputOpen = options.input !== undefined;
  let outcome: RunOutcome;
  for (;;) {
    const pending = options.input?.drain();
    if (pending) machine.uart.receive(pending);
    const left = limit - machine.clock.elapsed;
    if (left <= 0) {
      outcome = { kind: "limit" };
      break;
    }
    outcome = machine.run(Math.min(SLICE, left));
    if (outcome.kind === "limit") {
      if (machine.clock.elapsed >= limit) break;
      if (options.input) await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    if (outcome.kind === "idle" && inputOpen && options.input) {
      const bytes = await options.input.next();
      if (bytes === undefined) inputOpen = false;
      else machine.uart.receive(bytes);
      continue;
    }
    break;
  }
  const exceptions = new Map<number, number>();
  const interrupts = new Map<number, number>();
  for (const hart of machine.harts) {
    hart.exceptionCounts.forEach((count, cause) => count && exceptions.set(cause, (exceptions.get(cause) ?? 0) + count));
    hart.interruptCounts.forEach((count, cause) => count && interrupts.set(cause, (interrupts.get(cause) ?? 0) + count));
  }
  return {
    outcome,
    instructions: machine.instructions,
    exceptions,
    interrupts,
    wallMilliseconds: performance.now() - started,
  };
}
