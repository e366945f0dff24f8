import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "@matryoshka/testkit";

// The packages as npm users get them: every public package's manifest carries what a registry
// and a user need (license, repository, engines, keywords), and no export condition points at a
// file its tarball leaves out; the CLI installed from the tarballs alone (`npm install`, no
// workspace) runs a bundled guest by name through `npx matryoshka`.

const run = promisify(execFile);

interface Manifest {
  name: string;
  private?: boolean;
  description?: string;
  license?: string;
  repository?: { type: string; url: string; directory?: string };
  keywords?: string[];
  engines?: { node?: string };
  files?: string[];
  main?: string;
  module?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, unknown>;
  scripts?: Record<string, string>;
  publishConfig?: { access?: string; exports?: Record<string, unknown> };
  dependencies?: Record<string, string>;
}

function workspaceDirs(): string[] {
  const dirs = ["packages", "apps"].flatMap((group) => readdirSync(join(repoRoot, group)).sort().map((name) => `${group}/${name}`));
  return [...dirs, "guests"].filter((dir) => existsSync(join(repoRoot, dir, "package.json")));
}

const manifestOf = (dir: string) => JSON.parse(readFileSync(join(repoRoot, dir, "package.json"), "utf8")) as Manifest;
const publicDirs = workspaceDirs().filter((dir) => manifestOf(dir).private !== true);

/** Every file path an `exports` map (any depth of conditions) names, with the conditions leading to it. */
function exportTargets(node: unknown, conditions: string[] = []): { path: string; conditions: string[] }[] {
  if (typeof node === "string") return [{ path: node, conditions }];
  if (node === null || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([key, value]) => exportTargets(value, key.startsWith(".") ? conditions : [...conditions, key]));
}

/** The files a manifest tells a loader or a user to open: exports as published, main, module, types, bins. */
function entryPoints(manifest: Manifest): { path: string; conditions: string[] }[] {
  const published = manifest.publishConfig?.exports ?? manifest.exports ?? {};
  const plain = [manifest.main, manifest.module, manifest.types, ...Object.values(manifest.bin ?? {})].filter((path): path is string => path !== undefined);
  return [...exportTargets(published), ...plain.map((path) => ({ path, conditions: [] }))];
}

/** Whether npm's `files` list takes `path` (a folder takes what is under it; `*` is one path segment). */
function shipped(files: string[], path: string): boolean {
  const relative = path.replace(/^\.\//, "");
  return files.some((entry) => {
    const pattern = new RegExp(`^${entry.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}(/.*)?$`);
    return pattern.test(relative);
  });
}

describe("the public packages' manifests", () => {
  it("are the hardware-to-runner packages, the bundled guests and the CLI (the test kit and the small apps stay private)", () => {
    const names = publicDirs.map((dir) => manifestOf(dir).name);
    expect(names).toEqual(expect.arrayContaining(["@matryoshka/cpu", "@matryoshka/vmm", "@matryoshka/runner", "@matryoshka/guests", "@matryoshka/cli"]));
    expect(names).not.toContain("@matryoshka/testkit");
    expect(manifestOf("apps/matryoshka").bin).toEqual({ matryoshka: "./dist/main.js" });
  });

  it.each(publicDirs)("%s: license, repository, engines, keywords and a LICENSE in the tarball", (dir) => {
    const manifest = manifestOf(dir);
    expect(manifest.license).toBe("MIT");
    expect(manifest.description?.length).toBeGreaterThan(20);
    expect(manifest.repository).toMatchObject({ type: "git", directory: dir });
    expect(manifest.repository?.url).toMatch(/^git\+https:\/\/.+\.git$/);
    expect(manifest.engines?.node).toMatch(/^>=20/);
    expect(manifest.keywords?.length).toBeGreaterThan(0);
    expect(manifest.publishConfig?.access).toBe("public");
    expect(manifest.files).toContain("LICENSE");
    expect(manifest.files).toContain("README.md");
    expect(manifest.scripts?.prepack).toMatch(/scripts\/prepack\.mjs/);
    expect(existsSync(join(repoRoot, dir, "README.md"))).toBe(true);
  });

  it.each(publicDirs)("%s: every published entry point is a file the tarball ships, and none needs the sources", (dir) => {
    const manifest = manifestOf(dir);
    const targets = entryPoints(manifest);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      expect({ target, shipped: shipped(manifest.files ?? [], target.path) }).toEqual({ target, shipped: true });
      expect(target.conditions).not.toContain("source");
    }
  });

  it("has a LICENSE at the repository's root that prepack copies into each tarball", () => {
    expect(readFileSync(join(repoRoot, "LICENSE"), "utf8")).toMatch(/^MIT License/);
  });
});

// Packing needs every package built (`pnpm build`, which the CI runs before the tests), and the
// install needs the npm registry for the third-party dependencies (commander, cli-table3, …).
const built = publicDirs.every((dir) => !existsSync(join(repoRoot, dir, "tsup.config.ts")) || existsSync(join(repoRoot, dir, "dist")));
if (!built) console.warn("npm-package.test.ts: packing skipped: run `pnpm build` first (some package has no dist/)");

describe.skipIf(!built || process.env.MATRYOSHKA_ENGINE === "bt")("the CLI installed from the packed tarballs", () => {
  let scratch = "";
  const tarballs = new Map<string, string>();

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "matryoshka-npm-"));
    const packs = join(scratch, "packs");
    for (const dir of publicDirs) {
      const { stdout } = await run("pnpm", ["pack", "--pack-destination", packs], { cwd: join(repoRoot, dir) });
      const tarball = stdout.trim().split("\n").at(-1)!;
      tarballs.set(dir, tarball);
    }
    const project = join(scratch, "project");
    await run("mkdir", ["-p", project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "a-user", private: true }));
    await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs.values()], { cwd: project });
  }, 300_000);

  afterAll(() => {
    if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
  });

  it("ships, for each package, every entry point its packed manifest names, a LICENSE, and no workspace: versions", async () => {
    for (const [dir, tarball] of tarballs) {
      const { stdout: listing } = await run("tar", ["tzf", tarball]);
      const files = new Set(listing.trim().split("\n").map((line) => line.replace(/^package\//, "")));
      const { stdout: packed } = await run("tar", ["xzOf", tarball, "package/package.json"]);
      const manifest = JSON.parse(packed) as Manifest;
      expect({ dir, license: files.has("LICENSE"), readme: files.has("README.md") }).toEqual({ dir, license: true, readme: true });
      for (const target of entryPoints(manifest)) {
        expect({ dir, target: target.path, inTarball: files.has(target.path.replace(/^\.\//, "")) }).toEqual({ dir, target: target.path, inTarball: true });
      }
      expect(packed).not.toContain("workspace:");
      expect(packed).not.toContain('"source"');
    }
    const { stdout: guestListing } = await run("tar", ["tzf", tarballs.get("guests")!]);
    expect(guestListing).toContain("package/hello/hello.elf");
    expect(guestListing).toContain("package/kernel/disk.img");
    expect(guestListing).not.toContain(".c\n");
  });

  it("runs `npx matryoshka`: --version, and a bundled guest by name at depth 2, from a folder outside the repository", async () => {
    const project = join(scratch, "project");
    const version = await run("npx", ["--no-install", "matryoshka", "--version"], { cwd: project });
    expect(version.stdout).toMatch(/^matryoshka \d+\.\d+\.\d+/);
    const hello = await run("npx", ["--no-install", "matryoshka", "run", "hello", "--depth", "2"], { cwd: project });
    expect(hello.stdout).toBe("Hello from matryoshka guest on hart 0!\n");
    const unknown = await run("npx", ["--no-install", "matryoshka", "run", "no-such-guest"], { cwd: project }).then(
      () => ({ status: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => ({ status: error.code, stderr: error.stderr }),
    );
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/no such file, nor a bundled guest: .*hello/);
  }, 60_000);
});
