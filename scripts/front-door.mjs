// `pnpm matryoshka …`: runs the built command line (apps/matryoshka/dist), not a TypeScript loader
// on every start. When any source the CLI is built from (its own and its workspace packages'
// src/, package.json, tsconfig.json, tsup.config.ts: turbo's build inputs) is newer than that
// package's build, it builds first (`turbo run build` for the CLI and what it uses; turbo's cache
// skips the unchanged packages), one process at a time.
//
//   MATRYOSHKA_BUILD=auto   (default) build when stale, then run the build
//   MATRYOSHKA_BUILD=never  run the sources (through tsx) when stale, without building
//   MATRYOSHKA_FROM_SOURCE=1  always run the sources
//
// A build that fails leaves the sources to run, with one line on stderr saying so.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const builtEntry = join(repoRoot, "apps", "matryoshka", "dist", "main.js");
const sourceEntry = join(repoRoot, "apps", "matryoshka", "src", "main.ts");

/** The workspace's packages by name: folder and manifest. */
function workspace(root) {
  const packages = new Map();
  const dirs = ["packages", "apps"].flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)));
  for (const dir of [...dirs, join(root, "guests")]) {
    const manifest = join(dir, "package.json");
    if (!existsSync(manifest)) continue;
    const json = JSON.parse(readFileSync(manifest, "utf8"));
    packages.set(json.name, { dir, json });
  }
  return packages;
}

/** The CLI's folder and those of every workspace package it uses at run time, transitively. */
function buildClosure(root) {
  const packages = workspace(root);
  const seen = new Set();
  const pending = ["@matryoshka/cli"];
  while (pending.length > 0) {
    const name = pending.pop();
    if (seen.has(name) || !packages.has(name)) continue;
    seen.add(name);
    for (const dependency of Object.keys(packages.get(name).json.dependencies ?? {})) pending.push(dependency);
  }
  return [...seen].map((name) => packages.get(name).dir);
}

function newestUnder(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted file shows as its folder's change
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestUnder(join(path, entry)));
  return newest;
}

/** The packages whose build is missing or older than one of its inputs (folders, relative to the root). */
export function staleBuilds(root = repoRoot) {
  const stale = [];
  for (const dir of buildClosure(root)) {
    if (!existsSync(join(dir, "tsup.config.ts"))) continue; // nothing to build (the guests' plain JavaScript)
    // The CLI's build is its executable; a package's, the module its `import` condition loads.
    const output = join(dir, "dist", dir === join(root, "apps", "matryoshka") ? "main.js" : "index.js");
    const built = existsSync(output) ? statSync(output).mtimeMs : -1;
    const inputs = Math.max(...["src", "package.json", "tsconfig.json", "tsup.config.ts"].map((input) => newestUnder(join(dir, input))));
    if (inputs > built) stale.push(dir.slice(root.length + 1));
  }
  return stale;
}

const lockDir = join(repoRoot, "node_modules", ".cache", "matryoshka-front-door.lock");

/** Waits for another front door's build (a lock folder holding its pid), then takes the lock. */
function lock() {
  mkdirSync(dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, "pid"), String(process.pid));
      return;
    } catch {
      let holder = NaN;
      try {
        holder = Number(readFileSync(join(lockDir, "pid"), "utf8"));
      } catch {
        // the holder has made the folder but not yet written its pid
      }
      let alive = true;
      if (Number.isInteger(holder) && holder > 0) {
        try {
          process.kill(holder, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) rmSync(lockDir, { recursive: true, force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
}

/** Builds the CLI and what it uses; true when the build is fresh afterwards. */
function build(stale) {
  lock();
  try {
    if (staleBuilds().length === 0) return true; // another front door built it while this one waited
    const what = stale.length <= 3 ? stale.join(", ") : `${stale.length} packages`;
    process.stderr.write(`matryoshka: building the command line (${what} changed since the last build) …\n`);
    const result = spawnSync("pnpm", ["exec", "turbo", "run", "build", "--filter=@matryoshka/cli...", "--output-logs=errors-only"], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
    });
    if (result.status !== 0) {
      process.stderr.write(`matryoshka: the build failed (run pnpm build to see why); running from the sources\n`);
      return false;
    }
    return staleBuilds().length === 0;
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function runSources() {
  // The same program from its TypeScript sources, through tsx, in a child (the loader must be
  // registered before the program's first import); its status is ours. Signals sent to this
  // process alone (pnpm passes Ctrl-C and kill on to its child, which is this) go on to the program,
  // which decides what to print and how to end.
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", sourceEntry, ...process.argv.slice(2)], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (status, signal) => process.exit(status ?? 128 + (constants.signals[signal] ?? 0)));
}

const isMain = process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url;
if (isMain) {
  const mode = process.env.MATRYOSHKA_FROM_SOURCE === "1" ? "source" : (process.env.MATRYOSHKA_BUILD ?? "auto");
  const stale = mode === "source" ? [] : staleBuilds();
  if (mode === "source" || (stale.length > 0 && (mode === "never" || !build(stale)))) runSources();
  else await import(pathToFileURL(builtEntry).href);
}
