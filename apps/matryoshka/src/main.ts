#!/usr/bin/env node
// The executable front door: `pnpm matryoshka <command>` from the repository root.
import { closedPipe, main, reportFailure } from "./program.js";

/**
 * The one top-level handler: whatever escapes a command (a rejected promise, or an error thrown
 * from an event such as a failed write) ends here, as one line and an exit status; only real bugs
 * say "internal error" (with the stack, for the bug report).
 */
function fail(error: unknown): void {
  if (closedPipe(error)) {
    // Whoever read our output stopped reading (`run … | head -1`): end quietly, as `yes | head`
    // does, with status 0 (the reader chose to stop; this is no guest status).
    process.exit(0);
  }
  const { status, message } = reportFailure(error);
  process.stderr.write(message);
  process.exit(status);
}

// A write to a closed pipe fails asynchronously, as an 'error' event on the stream: without a
// listener Node throws it from the event loop (a stack trace and status 1, read as "guest failed with 1").
process.stdout.on("error", fail);
process.stderr.on("error", fail);
process.on("uncaughtException", fail);

main(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
}, fail);
