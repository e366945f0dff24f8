#!/usr/bin/env node
// The executable: `node apps/partitioner/dist/main.js <config.json>`.
import { main } from "./app.js";

main(process.argv.slice(2), { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    console.error("partitioner: internal error:", error);
    process.exitCode = 70;
  },
);
