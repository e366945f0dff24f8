import type { Readable } from "node:stream";
import type { InputSource } from "@matryoshka/runner";

/** Console input as the run reads it; `interrupt` ends a wait for input (a signal, or Ctrl-A x). */
export type ConsoleInput = InputSource & { close(): void; interrupt(): void };

/** What the console input of a run filters: the Ctrl-A escapes (escapes.ts), on a terminal only. */
export interface InputOptions {
  escapes?: (bytes: Uint8Array) => Uint8Array;
}

/**
 * Console input from a host stream (normally stdin). Bytes are buffered as they arrive; the run
 * loop drains them between slices and waits for more only when the guest is idle. On a terminal,
 * `options.escapes` sees the bytes first and keeps those it acts on (as QEMU's -nographic does);
 * from a pipe or a file every byte goes to the guest unchanged, so scripts can send any byte.
 */
export function streamInput(stream: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void }, options: InputOptions = {}): ConsoleInput {
  const queued: Buffer[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  if (stream.isTTY && stream.setRawMode) stream.setRawMode(true);
  const escapes = stream.isTTY ? options.escapes : undefined;
  const onData = (chunk: Buffer | string) => {
    let bytes: Uint8Array = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk;
    if (escapes !== undefined) bytes = escapes(bytes);
    if (bytes.length === 0) return;
    queued.push(Buffer.from(bytes));
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  stream.on("data", onData);
  stream.on("end", onEnd);
  stream.on("error", onEnd);
  const take = (): Uint8Array | undefined => {
    if (queued.length === 0) return undefined;
    const all = Buffer.concat(queued);
    queued.length = 0;
    return new Uint8Array(all);
  };
  return {
    drain: take,
    async next() {
      for (;;) {
        const bytes = take();
        if (bytes) return bytes;
        if (ended) return undefined;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    interrupt: onEnd,
    close() {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onEnd);
      if (stream.isTTY && stream.setRawMode) stream.setRawMode(false);
      stream.pause();
    },
  };
}
