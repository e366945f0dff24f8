#!/usr/bin/env node
// The executable front door: `pnpm matryoshka <command>` from the repository root.
import { main } from "./program.js";

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    // Anything reaching here is a bug in matryoshka, not in the guest or the user's input.
    console.error("matryoshka: internal error:", error);
    process.exitCode = 70;
  },
);
