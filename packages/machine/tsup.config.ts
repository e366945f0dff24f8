import { defineConfig } from "tsup";

export default defineConfig({
  // The worker of a threaded run is its own entry: runThreaded starts it by file (threaded.ts).
  entry: ["src/index.ts", "src/threaded-worker.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  // import.meta.url locates the worker file (threaded.ts); the CommonJS build needs it shimmed.
  shims: true,
});
