import { defineConfig } from "tsup";

export default defineConfig({
  // A program, not a library: only the executable is built.
  entry: { main: "src/main.ts" },
  format: ["esm"],
  clean: true,
  sourcemap: true,
  target: "node20",
});
