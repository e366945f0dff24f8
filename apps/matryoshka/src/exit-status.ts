import { LoadError } from "@matryoshka/machine";

/**
 * Exit statuses of `matryoshka` commands. Users script against them: keep them stable.
 * - 0: the guest passed (test device 0x5555 or HTIF pass)
 * - n: the guest failed with code n (test device `(n << 16) | 0x3333`, HTIF)
 * - 124: the instruction or time limit ran out (as `timeout(1)` does)
 * - 2: bad input (missing file, malformed ELF, out-of-range option); one line on stderr
 * - 3: the guest stopped the machine abnormally
 * - 70: an internal error (a bug in matryoshka; the message says so, with the stack)
 *
 * A guest failure code that reads as one of the other statuses (2, 3, 70, 124), or that does
 * not fit in a status (above 255, or a multiple of 256), is named on stderr.
 *
 * When the reader of stdout goes away (`run … | head -1`), the command ends at once, quietly,
 * with status 0.
 *
 * `run` ended early by the user: Ctrl-A x on a terminal exits 0 (as QEMU's own C-a x); SIGINT and
 * SIGTERM, when `--stats` or `--json` asks for a summary, exit 130 and 143 (128 + the signal's
 * number, what a shell reports for a process the signal killed).
 *
 * `matryoshka sweep` runs a guest at many depths and exits with whether they agree, not with the
 * guest's own status (that is in its table and JSON, mapped as above):
 * - 0: at every depth the console output (byte for byte) and the guest's status equal the first depth's
 * - 1: some depth differs; stderr names the depths, the first differing line of output and/or
 *   the expected and actual status
 * - 2: bad input, as above (also a malformed or out-of-range --depths list, an unwritable --json file)
 *
 * `matryoshka partition` runs several VMs at once and exits with whether any guest failed:
 * - 0: no guest failed (those that finished passed; those still running when time was up count as fine)
 * - 1: some guest failed (test-device failure, or its board stopped abnormally)
 * - 2: the config does not fit or cannot be read (the message names the field), or bad options
 *
 * `matryoshka popek-goldberg` exits 0 when theorem 1 holds on the profile, 1 when it does not.
 */
export const ExitStatus = {
  pass: 0,
  depthsDiffer: 1,
  badInput: 2,
  abnormal: 3,
  limit: 124,
  /** EX_SOFTWARE of sysexits.h. */
  internalError: 70,
  /** `run` stopped by SIGINT or SIGTERM with a summary asked for: 128 + the signal's number. */
  sigint: 130,
  sigterm: 143,
} as const;

/**
 * The line that names a guest's failure code when the exit status alone would mislead: the code
 * collides with a status of the CLI's own, or was truncated to 8 bits. Undefined when the status
 * says it all.
 */
export function failureCodeNote(code: number, status: number): string | undefined {
  const collides = status === ExitStatus.badInput || status === ExitStatus.abnormal || status === ExitStatus.limit || status === ExitStatus.internalError;
  if (!collides && code === status) return undefined;
  return `matryoshka: the guest failed with code ${code} (exit status ${status})\n`;
}

/** A failure the user caused: printed as one line, exit status 2. */
export class UsageError extends Error {}

/** What running a guest throws because of the user's input becomes a UsageError; anything else is a bug. */
export function usageErrorFromRun(error: unknown): unknown {
  if (error instanceof LoadError) return new UsageError(error.message);
  // Only building the stack throws RangeError (a stack too deep for the memory limit).
  if (error instanceof RangeError) return new UsageError(error.message);
  return error;
}
