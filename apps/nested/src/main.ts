#!/usr/bin/env node
// The executable: `node apps/nested/dist/main.js <kernel> --depth N`.
import { main } from "./app.js";

main(process.argv.slice(2), { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    console.error("nested: internal error:", error);
    process.exitCode = 70;
  },
);
