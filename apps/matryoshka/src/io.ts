import { streamInput, type ConsoleInput, type InputOptions } from "./input.js";

/** Where the commands write and read: the process's streams, or a test's buffers. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Raw bytes for stdout (guest output shown by sweep); falls back to `stdout` as Latin-1. */
  write?: (bytes: Uint8Array) => void;
  /** Where sweep draws its progress bar when it is a terminal; otherwise one line per depth goes to `stderr`. */
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Whether tables on stdout and on stderr are in colour (`colourFor`). */
  stdoutColour?: boolean;
  stderrColour?: boolean;
  /** Raw console bytes from the guest. */
  console?: (byte: number) => void;
  /** Console input for the guest; none means the guest sees no input. */
  input?: (options?: InputOptions) => ConsoleInput;
  /** How wide tables on stderr may be (`--stats`): the terminal's width, else `COLUMNS`, else no limit. */
  stderrColumns?: number;
}

/**
 * Whether to colour what goes to a stream: only a terminal gets colour codes (files and pipes get
 * plain text), unless `NO_COLOR` (no-color.org: any non-empty value) forbids it or `FORCE_COLOR`
 * (any value but "0" or "false") asks for it anyway; `FORCE_COLOR` wins, as in Node's own tools.
 */
export function colourFor(isTTY: boolean, environment: NodeJS.ProcessEnv = process.env): boolean {
  const force = environment.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  if (environment.NO_COLOR !== undefined && environment.NO_COLOR !== "") return false;
  return isTTY;
}

/**
 * The width tables should fit: a terminal's own, else `COLUMNS` when it holds a positive number
 * (shells set it; tests and scripts can too), else none (files and pipes get whole tables).
 */
export function columnsOf(stream: { isTTY?: boolean; columns?: number }, environment: NodeJS.ProcessEnv = process.env): number | undefined {
  if (stream.isTTY && stream.columns !== undefined && stream.columns > 0) return stream.columns;
  const columns = Number(environment.COLUMNS);
  return Number.isSafeInteger(columns) && columns > 0 ? columns : undefined;
}

/** What a command's action reports back: the status the process exits with. */
export type SetStatus = (status: number) => void;

/** Guest console bytes go to stdout in chunks, not one write per byte. */
function bufferedConsole(): (byte: number) => void {
  const buffer = Buffer.alloc(4096);
  let length = 0;
  const flush = () => {
    if (length > 0) process.stdout.write(Buffer.from(buffer.subarray(0, length)));
    length = 0;
  };
  process.on("exit", flush);
  let scheduled = false;
  return (byte) => {
    buffer[length++] = byte;
    if (length === buffer.length || byte === 0x0a) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        flush();
      });
    }
  };
}

/** The process's own streams. Built on first use: it hooks process exit to flush the console. */
export function processIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    write: (bytes) => process.stdout.write(bytes),
    progress: process.stderr,
    stdoutColour: colourFor(process.stdout.isTTY === true),
    stderrColour: colourFor(process.stderr.isTTY === true),
    console: bufferedConsole(),
    input: (options) => streamInput(process.stdin, options),
    stderrColumns: columnsOf(process.stderr),
  };
}
