import type { Readable } from "node:stream";
import type { InputSource } from "@matryoshka/runner";

/**
 * Console input from a host stream (normally stdin). Bytes are buffered as they arrive; the run
 * loop drains them between slices and waits for more only when the guest is idle.
 */
export function streamInput(stream: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void }): InputSource & { close(): void } {
  const queued: Buffer[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  if (stream.isTTY && stream.setRawMode) stream.setRawMode(true);
  const onData = (chunk: Buffer | string) => {
    queued.push(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
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
    close() {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onEnd);
      if (stream.isTTY && stream.setRawMode) stream.setRawMode(false);
      stream.pause();
    },
  };
}
