import { defineConfig } from "tsup";

export default defineConfig({
  // The worker is a separate entry: worker threads load it by path (dist/worker.js).
  entry: { index: "src/index.ts", worker: "src/worker.ts" },
  format: ["esm", "cjs"],
  dts: { entry: "src/index.ts" },
  clean: true,
  sourcemap: true,
  target: "node20",
  // import.meta.url (which finds worker.js) in the CommonJS build.
  shims: true,
});
