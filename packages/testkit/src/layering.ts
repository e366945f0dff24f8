import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";

/*
 * The workspace's layering, checked by packages/testkit/test/layering.test.ts: dependencies point
 * down (apps → runner → hypervisor → hardware), the board names no engine package, and neither
 * packages nor the modules inside one import each other in a circle. Both what package.json
 * declares and what src/ really imports count: a dynamic import() is as much a dependency as a
 * declared one.
 */

const SCOPE = "@matryoshka/";

/** The layers, bottom up; a package may use its own layer and those below (see MAY_USE). */
export const LAYERS = {
  hardware: ["metrics", "isa", "memory", "mmu", "cpu", "bt", "engines", "interrupts", "devices", "machine"],
  hypervisor: ["vmm", "paravirt", "scheduler"],
  runner: ["runner", "partition", "snapshot"],
  /** Test and reference tooling: the QEMU oracle, the bundled guests (files), and the private test kit (tests only). */
  tools: ["qemu-oracle", "guests", "testkit"],
} as const;

export type Layer = keyof typeof LAYERS | "app";

const MAY_USE: Record<Layer, readonly Layer[]> = {
  hardware: ["hardware", "tools"],
  hypervisor: ["hardware", "hypervisor", "tools"],
  runner: ["hardware", "hypervisor", "runner", "tools"],
  tools: ["tools"],
  // Apps are front ends over the packages: never over another app.
  app: ["hardware", "hypervisor", "runner", "tools"],
};

/** Engine packages: the board rebuilds a board's engine from `Engine.module` instead of naming one. */
const ENGINE_PACKAGES = ["bt", "engines"];
/** Private, for tests: a package may have it as a devDependency only. */
const TEST_ONLY = "testkit";

/**
 * Import cycles between the modules of one package that are known and being fixed: by package, the
 * modules they may run through. A cycle through any other module there still fails, and so does
 * the entry once no cycle is left (then delete it). None today.
 */
export const KNOWN_MODULE_CYCLES: Readonly<Record<string, readonly string[]>> = {};

export type DependencyField = "dependencies" | "devDependencies" | "peerDependencies" | "optionalDependencies";
const FIELDS: readonly DependencyField[] = ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"];

/** A workspace package as the checks see it. */
export interface WorkspacePackage {
  /** Its package.json name, e.g. "@matryoshka/machine". */
  name: string;
  /** Where it lives, relative to the repository root: "packages/machine", "apps/nested". */
  dir: string;
  /** Workspace packages its package.json lists, with the field that lists each. */
  dependencies: { name: string; field: DependencyField }[];
  /** Its TypeScript sources under src/, by path relative to src/ ("commands/run.ts"). */
  sources: Map<string, string>;
}

/** An import found in a source file. */
export interface ImportSite {
  specifier: string;
  dynamic: boolean;
  /** `import type` / `export type` (erased at run time, still a dependency of the design). */
  typeOnly: boolean;
}

/** Where a `/` starts a regular expression rather than a division: after one of these, or nothing. */
const BEFORE_REGEX = new Set(["", "(", ",", "=", ":", "[", "!", "&", "|", "?", "{", "}", ";", "+", "-", "*", "%", "<", ">", "~", "^"]);

/**
 * The source with comments and the contents of string, template and regular-expression literals
 * blanked (offsets kept, quotes kept), so that an import in a comment or a string is not taken for
 * one. A sketch of a tokenizer, enough for import statements: `${…}` in templates is blanked too.
 */
function codeOnly(source: string): string {
  const blank = (text: string) => text.replace(/[^\n]/g, " ");
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    let end: number;
    if (c === "/" && next === "/") {
      end = source.indexOf("\n", i);
      if (end === -1) end = source.length;
      out += blank(source.slice(i, end));
    } else if (c === "/" && next === "*") {
      end = source.indexOf("*/", i + 2);
      end = end === -1 ? source.length : end + 2;
      out += blank(source.slice(i, end));
    } else if (c === '"' || c === "'" || c === "`") {
      end = i + 1;
      while (end < source.length && source[end] !== c) end += source[end] === "\\" ? 2 : 1;
      end = Math.min(end + 1, source.length);
      out += c + blank(source.slice(i + 1, end - 1)) + (end - 1 > i ? source[end - 1] : "");
    } else if (c === "/" && BEFORE_REGEX.has(out.trimEnd().slice(-1))) {
      end = i + 1;
      let inClass = false;
      while (end < source.length && source[end] !== "\n" && (inClass || source[end] !== "/")) {
        if (source[end] === "[") inClass = true;
        else if (source[end] === "]") inClass = false;
        end += source[end] === "\\" ? 2 : 1;
      }
      end = Math.min(end + 1, source.length);
      out += blank(source.slice(i, end));
    } else {
      out += c;
      end = i + 1;
    }
    i = end;
  }
  return out;
}

/** Every import of a module: static (`import … from`, `import "…"`, `export … from`) and `import("…")`. */
export function scanImports(source: string): ImportSite[] {
  const code = codeOnly(source);
  const sites: ImportSite[] = [];
  // Matched on the blanked code; the specifier is read from the source at the same offsets.
  const specifierAt = (open: number, quote: string) => source.slice(open, source.indexOf(quote, open));
  for (const keyword of code.matchAll(/(?<![\w$.])(import|export)\b/g)) {
    const rest = code.slice(keyword.index);
    const dynamic = /^import\s*\(\s*(["'])/.exec(rest);
    if (dynamic) {
      sites.push({ specifier: specifierAt(keyword.index + dynamic[0].length, dynamic[1]!), dynamic: true, typeOnly: false });
      continue;
    }
    const statik = /^(?:import|export)(\s+type\b)?\s*(?:[\w$*{}\s,]*?\s*\bfrom\s*)?(["'])/.exec(rest);
    if (statik) sites.push({ specifier: specifierAt(keyword.index + statik[0].length, statik[2]!), dynamic: false, typeOnly: statik[1] !== undefined });
  }
  return sites;
}

/** "@matryoshka/x" (also for "@matryoshka/x/sub"), or undefined for anything outside the workspace scope. */
function workspaceName(specifier: string): string | undefined {
  if (!specifier.startsWith(SCOPE)) return undefined;
  return specifier.split("/").slice(0, 2).join("/");
}

function layerOf(pkg: Pick<WorkspacePackage, "name" | "dir">): Layer | undefined {
  if (pkg.dir.startsWith("apps/")) return "app";
  const short = pkg.name.slice(SCOPE.length);
  for (const [layer, members] of Object.entries(LAYERS) as [keyof typeof LAYERS, readonly string[]][]) {
    if (members.includes(short)) return layer;
  }
  return undefined;
}

/** What a package uses: each workspace package it declares or imports, and where. */
function usesOf(pkg: WorkspacePackage): { name: string; where: string; field?: DependencyField }[] {
  const uses: { name: string; where: string; field?: DependencyField }[] = pkg.dependencies.map((dependency) => ({
    name: dependency.name,
    where: `package.json ${dependency.field}`,
    field: dependency.field,
  }));
  for (const [file, source] of pkg.sources) {
    for (const site of scanImports(source)) {
      const name = workspaceName(site.specifier);
      if (name !== undefined && name !== pkg.name) uses.push({ name, where: `src/${file}${site.dynamic ? " (dynamic import)" : ""}` });
    }
  }
  return uses;
}

/**
 * Every way the packages break the layering, one line each: a use of a layer above, an engine
 * package named by the board, a dependency of `isa`, an app using an app, the test kit at run
 * time, an import that package.json does not declare, a package in no layer.
 */
export function layeringViolations(packages: readonly WorkspacePackage[]): string[] {
  const problems: string[] = [];
  const byName = new Map(packages.map((pkg) => [pkg.name, pkg]));
  for (const pkg of packages) {
    const layer = layerOf(pkg);
    if (layer === undefined) {
      problems.push(`${pkg.dir} (${pkg.name}) is in no layer: add it to LAYERS in packages/testkit/src/layering.ts`);
      continue;
    }
    const declared = new Set(pkg.dependencies.map((dependency) => dependency.name));
    const short = pkg.name.slice(SCOPE.length);
    for (const use of usesOf(pkg)) {
      const target = byName.get(use.name);
      const targetLayer = target ? layerOf(target) : layerOf({ name: use.name, dir: "packages/" });
      const targetShort = use.name.slice(SCOPE.length);
      if (use.field === undefined && !declared.has(use.name)) {
        problems.push(`${pkg.dir} imports ${use.name} in ${use.where} without declaring it in package.json`);
      }
      if (short === "isa" && layer !== "app") {
        problems.push(`${pkg.dir} uses ${use.name} (${use.where}): isa has no dependencies`);
        continue;
      }
      if (short === "machine" && layer !== "app" && ENGINE_PACKAGES.includes(targetShort)) {
        problems.push(`${pkg.dir} names the engine package ${use.name} (${use.where}): the board rebuilds engines from Engine.module`);
        continue;
      }
      if (targetShort === TEST_ONLY && use.field !== "devDependencies") {
        problems.push(`${pkg.dir} uses ${use.name} at run time (${use.where}): the test kit is for tests, a devDependency`);
        continue;
      }
      if (targetLayer === undefined) {
        problems.push(`${pkg.dir} uses ${use.name} (${use.where}), which is no workspace package in a layer`);
      } else if (targetLayer === "app") {
        problems.push(`${pkg.dir} (${layer}) uses the app ${use.name} (${use.where}): apps are used by nothing`);
      } else if (!MAY_USE[layer].includes(targetLayer)) {
        problems.push(`${pkg.dir} (${layer}) uses ${use.name} (${targetLayer}) in ${use.where}: ${layer} may use ${MAY_USE[layer].join(", ")}`);
      }
    }
  }
  return problems;
}

/**
 * The cycles of a directed graph: its strongly connected components of more than one node (or a
 * node on a loop of its own), each sorted, listed in sorted order (Tarjan's algorithm).
 */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** Cycles between packages, through any dependency field or import in src/. */
export function packageCycles(packages: readonly WorkspacePackage[]): string[][] {
  const names = new Set(packages.map((pkg) => pkg.name));
  const graph = new Map(packages.map((pkg) => [pkg.name, [...new Set(usesOf(pkg).map((use) => use.name))].filter((name) => names.has(name))]));
  return cycles(graph);
}

/**
 * The module graph of one package: each source file (relative to src/) and the source files its
 * relative imports reach. Type-only imports count: a cycle of types is still two modules that
 * cannot be understood, or moved, one without the other.
 */
export function moduleGraph(sources: ReadonlyMap<string, string>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, source] of sources) {
    const targets = new Set<string>();
    for (const site of scanImports(source)) {
      if (!site.specifier.startsWith(".")) continue;
      const resolved = posix.normalize(posix.join(posix.dirname(file), site.specifier));
      const candidates = [resolved.replace(/\.js$/, ".ts"), `${resolved}.ts`, `${resolved}/index.ts`];
      const target = candidates.find((candidate) => sources.has(candidate));
      if (target !== undefined) targets.add(target);
    }
    graph.set(file, [...targets]);
  }
  return graph;
}

/** Cycles between the modules of each package, by package name (packages without any are left out). */
export function moduleCycles(packages: readonly WorkspacePackage[]): Map<string, string[][]> {
  const found = new Map<string, string[][]>();
  for (const pkg of packages) {
    const cyclesHere = cycles(moduleGraph(pkg.sources));
    if (cyclesHere.length > 0) found.set(pkg.name, cyclesHere);
  }
  return found;
}

/**
 * Module cycles that break the rule, one line each, given the known ones (KNOWN_MODULE_CYCLES):
 * every cycle through a module not known to be in one, and every known entry with no cycle left.
 */
export function moduleCycleViolations(packages: readonly WorkspacePackage[], known: Readonly<Record<string, readonly string[]>> = KNOWN_MODULE_CYCLES): string[] {
  const problems: string[] = [];
  const found = moduleCycles(packages);
  for (const pkg of packages) {
    const allowed = new Set(known[pkg.name] ?? []);
    const here = found.get(pkg.name) ?? [];
    for (const cycle of here) {
      if (!cycle.every((module) => allowed.has(module))) problems.push(`${pkg.dir}: modules import each other in a cycle: ${cycle.join(" ↔ ")}`);
    }
    if (allowed.size > 0 && here.length === 0) {
      problems.push(`${pkg.dir}: no module cycle is left: delete its entry in KNOWN_MODULE_CYCLES (packages/testkit/src/layering.ts)`);
    }
  }
  return problems;
}

function sourcesUnder(directory: string): Map<string, string> {
  const sources = new Map<string, string>();
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(directory, relative), { withFileTypes: true })) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) sources.set(path, readFileSync(join(directory, path), "utf8"));
    }
  };
  if (existsSync(directory)) walk("");
  return sources;
}

/** The workspace's packages (packages/*, apps/* and guests with a package.json) as the checks see them. */
export function readWorkspace(root: string): WorkspacePackage[] {
  const packages: WorkspacePackage[] = [];
  const dirs: string[] = [];
  for (const group of ["packages", "apps"]) {
    if (!existsSync(join(root, group))) continue;
    for (const entry of readdirSync(join(root, group), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory()) dirs.push(`${group}/${entry.name}`);
    }
  }
  // The bundled guests are a package of their own at the top (files, no sources to scan).
  dirs.push("guests");
  for (const dir of dirs) {
    const manifest = join(root, dir, "package.json");
    if (!existsSync(manifest)) continue;
    const json = JSON.parse(readFileSync(manifest, "utf8")) as { name: string } & Partial<Record<DependencyField, Record<string, string>>>;
    const dependencies = FIELDS.flatMap((field) =>
      Object.keys(json[field] ?? {})
        .filter((name) => name.startsWith(SCOPE))
        .map((name) => ({ name, field })),
    );
    packages.push({ name: json.name, dir, dependencies, sources: sourcesUnder(join(root, dir, "src")) });
  }
  return packages;
}
