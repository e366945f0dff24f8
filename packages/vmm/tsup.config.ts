import { defineConfig } from "tsup";

export default defineConfig({
  // A worker of runVmThreaded imports threaded-vcpu by file (threaded.ts), so it is an entry of its own.
  entry: ["src/index.ts", "src/threaded-vcpu.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  // import.meta.url locates that module; the CommonJS build needs it shimmed.
  shims: true,
});
