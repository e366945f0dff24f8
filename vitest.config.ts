import { defineConfig } from "vitest/config";

// One vitest run covers every package and app, twice: on the interpreter, and on the binary
// translator (every board's default engine, and the CLI's, switched by vitest.bt-setup.ts).
// Workspace packages resolve to their TypeScript sources through the "source" export condition,
// so tests never need a prior build.
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "guests/test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "interpreter" } },
      { extends: true, test: { name: "bt", setupFiles: ["./vitest.bt-setup.ts"], env: { MATRYOSHKA_ENGINE: "bt" } } },
    ],
  },
});
