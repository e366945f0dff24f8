import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { repoRoot } from "@matryoshka/testkit";

// `pnpm matryoshka` runs scripts/front-door.mjs: the built CLI when its build is fresh, else it
// builds first (or, with MATRYOSHKA_BUILD=never, runs the sources). Staleness is checked here on
// a small workspace of files whose times the test sets.

const run = promisify(execFile);
const frontDoor = join(repoRoot, "scripts", "front-door.mjs");
const { staleBuilds } = (await import(pathToFileURL(frontDoor).href)) as { staleBuilds: (root?: string) => string[] };

let scratch = "";
afterEach(() => {
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
  scratch = "";
});

/** A workspace: the CLI using `a`, `a` using `b`, and `c` that nothing uses; every build one minute newer than its sources. */
function fixture(): { root: string; age: (path: string, seconds: number) => void } {
  scratch = mkdtempSync(join(tmpdir(), "matryoshka-front-door-"));
  const root = scratch;
  const now = Date.now() / 1000;
  const age = (path: string, seconds: number) => utimesSync(join(root, path), now - seconds, now - seconds);
  const pkg = (dir: string, name: string, dependencies: Record<string, string>, output: string) => {
    mkdirSync(join(root, dir, "src"), { recursive: true });
    mkdirSync(join(root, dir, "dist"), { recursive: true });
    writeFileSync(join(root, dir, "package.json"), JSON.stringify({ name, dependencies }));
    writeFileSync(join(root, dir, "tsup.config.ts"), "export default {};\n");
    writeFileSync(join(root, dir, "src", "index.ts"), "export {};\n");
    writeFileSync(join(root, dir, "dist", output), "export {};\n");
    for (const input of ["package.json", "tsup.config.ts", "src/index.ts", "src"]) age(join(dir, input), 120);
    age(join(dir, "dist", output), 60);
  };
  pkg("apps/matryoshka", "@matryoshka/cli", { "@matryoshka/a": "workspace:*", commander: "14" }, "main.js");
  pkg("packages/a", "@matryoshka/a", { "@matryoshka/b": "workspace:*" }, "index.js");
  pkg("packages/b", "@matryoshka/b", {}, "index.js");
  pkg("packages/c", "@matryoshka/c", {}, "index.js");
  mkdirSync(join(root, "guests"));
  writeFileSync(join(root, "guests", "package.json"), JSON.stringify({ name: "@matryoshka/guests" }));
  return { root, age };
}

describe("the front door's build check", () => {
  it("finds nothing stale when every build is newer than its sources", () => {
    const { root } = fixture();
    expect(staleBuilds(root)).toEqual([]);
  });

  it("finds a package the CLI uses (transitively) whose source is newer than its build, and ignores one it does not use", () => {
    const { root, age } = fixture();
    age("packages/b/src/index.ts", 10);
    age("packages/c/src/index.ts", 10);
    expect(staleBuilds(root)).toEqual(["packages/b"]);
  });

  it("counts a new or deleted source file (its folder changes), package.json and tsup.config.ts, and a missing build", () => {
    const { root, age } = fixture();
    age("packages/a/src", 5);
    age("apps/matryoshka/package.json", 5);
    rmSync(join(root, "packages/b/dist/index.js"));
    expect(staleBuilds(root).sort()).toEqual(["apps/matryoshka", "packages/a", "packages/b"]);
  });
});

describe("pnpm matryoshka", () => {
  it("runs the program, from its build or (stale, MATRYOSHKA_BUILD=never) its sources, with its status", async () => {
    const version = await run("pnpm", ["-s", "matryoshka", "--version"], { cwd: repoRoot, env: { ...process.env, MATRYOSHKA_BUILD: "never" } });
    expect(version.stdout).toMatch(/^matryoshka \d+\.\d+\.\d+/);
    const fromSources = await run("pnpm", ["-s", "matryoshka", "run", "guests/fail/fail.elf"], { cwd: repoRoot, env: { ...process.env, MATRYOSHKA_FROM_SOURCE: "1" } }).then(
      () => 0,
      (error: { code: number }) => error.code,
    );
    expect(fromSources).toBe(42);
  }, 60_000);
});
