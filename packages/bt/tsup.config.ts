import { defineConfig } from "tsup";

export default defineConfig({
  // engine-module is its own entry: a worker thread imports it by file (Translator.module).
  entry: ["src/index.ts", "src/engine-module.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  // import.meta.url locates engine-module (translator.ts); the CommonJS build needs it shimmed.
  shims: true,
});
