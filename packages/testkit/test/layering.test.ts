import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "@matryoshka/testkit";
import {
  cycles, KNOWN_MODULE_CYCLES, layeringViolations, moduleCycleViolations, moduleGraph, packageCycles, readWorkspace, scanImports,
  type DependencyField, type WorkspacePackage,
} from "../src/layering.js";

/** A package for the fixtures: `sources` are src/ files, scanned as the real ones are. */
function pkg(
  dir: string,
  options: { name?: string; dependencies?: Partial<Record<DependencyField, string[]>>; sources?: Record<string, string> } = {},
): WorkspacePackage {
  const short = dir.split("/")[1]!;
  return {
    name: options.name ?? `@matryoshka/${short}`,
    dir,
    dependencies: Object.entries(options.dependencies ?? {}).flatMap(([field, names]) => names.map((name) => ({ name: `@matryoshka/${name}`, field: field as DependencyField }))),
    sources: new Map(Object.entries(options.sources ?? {})),
  };
}

/** A small, sound workspace the fixtures plant violations in. */
function sound(): WorkspacePackage[] {
  return [
    pkg("packages/isa", { sources: { "index.ts": "export const X = 1;\n" } }),
    pkg("packages/cpu", { dependencies: { dependencies: ["isa"] }, sources: { "index.ts": 'import { X } from "@matryoshka/isa";\nexport const Y = X;\n' } }),
    pkg("packages/bt", { dependencies: { dependencies: ["cpu"] } }),
    pkg("packages/machine", { dependencies: { dependencies: ["cpu"], devDependencies: ["testkit"] } }),
    pkg("packages/vmm", { dependencies: { dependencies: ["machine", "cpu"] }, sources: { "vm.ts": 'import type { Y } from "@matryoshka/cpu";\nimport { run } from "@matryoshka/machine";\n' } }),
    pkg("packages/runner", { dependencies: { dependencies: ["vmm", "machine"] } }),
    pkg("packages/qemu-oracle"),
    pkg("packages/testkit", { dependencies: { dependencies: ["qemu-oracle"] } }),
    pkg("apps/nested", { dependencies: { dependencies: ["runner"], devDependencies: ["testkit"] } }),
    pkg("apps/matryoshka", { name: "@matryoshka/cli", dependencies: { dependencies: ["runner", "qemu-oracle"] } }),
  ];
}

/** The sound workspace with `name`'s package replaced. */
function planted(replacement: WorkspacePackage): WorkspacePackage[] {
  return sound().map((existing) => (existing.dir === replacement.dir ? replacement : existing));
}

describe("the workspace's layering", () => {
  const workspace = readWorkspace(repoRoot);

  it("finds every package and app, with their sources", () => {
    const names = workspace.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(["@matryoshka/isa", "@matryoshka/machine", "@matryoshka/vmm", "@matryoshka/runner", "@matryoshka/cli", "@matryoshka/nested"]));
    expect(workspace.find((p) => p.name === "@matryoshka/cli")!.sources.has("commands/run.ts")).toBe(true);
  });

  it("holds: hardware below the hypervisor below the runner below the apps; the board names no engine package; isa depends on nothing; no app uses an app", () => {
    expect(layeringViolations(workspace)).toEqual([]);
  });

  it("has no import cycle between packages", () => {
    expect(packageCycles(workspace)).toEqual([]);
  });

  it("has no import cycle between the modules of any package (type-only imports count too)", () => {
    expect(moduleCycleViolations(workspace)).toEqual([]);
    expect(KNOWN_MODULE_CYCLES).toEqual({});
  });
});

describe("the layering checker", () => {
  it("passes the sound fixture", () => {
    expect(layeringViolations(sound())).toEqual([]);
    expect(packageCycles(sound())).toEqual([]);
  });

  it("reports a hardware package importing the hypervisor, by file, declared or not", () => {
    const cpu = pkg("packages/cpu", {
      dependencies: { dependencies: ["isa", "vmm"] },
      sources: { "hart.ts": '// import { nothing } from "@matryoshka/runner";\nimport { VM } from "@matryoshka/vmm";\n' },
    });
    expect(layeringViolations(planted(cpu))).toEqual([
      "packages/cpu (hardware) uses @matryoshka/vmm (hypervisor) in package.json dependencies: hardware may use hardware, tools",
      "packages/cpu (hardware) uses @matryoshka/vmm (hypervisor) in src/hart.ts: hardware may use hardware, tools",
    ]);
    // And a cycle, since vmm uses cpu.
    expect(packageCycles(planted(cpu))).toEqual([["@matryoshka/cpu", "@matryoshka/machine", "@matryoshka/vmm"]]);
  });

  it("reports the board naming an engine package, in package.json or by a dynamic import", () => {
    const machine = pkg("packages/machine", {
      dependencies: { dependencies: ["cpu", "bt"] },
      sources: { "engines.ts": 'export async function load() {\n  const { Translator } = await import("@matryoshka/bt");\n  return new Translator();\n}\n' },
    });
    expect(layeringViolations(planted(machine))).toEqual([
      "packages/machine names the engine package @matryoshka/bt (package.json dependencies): the board rebuilds engines from Engine.module",
      "packages/machine names the engine package @matryoshka/bt (src/engines.ts (dynamic import)): the board rebuilds engines from Engine.module",
    ]);
  });

  it("reports an import package.json does not declare, a dependency of isa, and the test kit at run time", () => {
    const vmm = pkg("packages/vmm", { dependencies: { dependencies: ["machine", "testkit"] }, sources: { "vm.ts": 'export { Hart } from "@matryoshka/cpu";\n' } });
    const isa = pkg("packages/isa", { dependencies: { devDependencies: ["testkit"] } });
    expect(layeringViolations(planted(vmm))).toEqual([
      "packages/vmm uses @matryoshka/testkit at run time (package.json dependencies): the test kit is for tests, a devDependency",
      "packages/vmm imports @matryoshka/cpu in src/vm.ts without declaring it in package.json",
    ]);
    expect(layeringViolations(planted(isa))).toEqual(["packages/isa uses @matryoshka/testkit (package.json devDependencies): isa has no dependencies"]);
  });

  it("reports an app using an app, a package using an app, and a package in no layer", () => {
    const cli = pkg("apps/matryoshka", { name: "@matryoshka/cli", dependencies: { dependencies: ["runner", "nested"] } });
    const runner = pkg("packages/runner", { dependencies: { dependencies: ["vmm"] }, sources: { "run.ts": 'import "@matryoshka/cli";\n' } });
    expect(layeringViolations(planted(cli))).toEqual(["apps/matryoshka (app) uses the app @matryoshka/nested (package.json dependencies): apps are used by nothing"]);
    expect(layeringViolations(planted(runner))).toEqual([
      "packages/runner imports @matryoshka/cli in src/run.ts without declaring it in package.json",
      "packages/runner (runner) uses the app @matryoshka/cli (src/run.ts): apps are used by nothing",
    ]);
    expect(layeringViolations([...sound(), pkg("packages/gadget")])).toEqual([
      "packages/gadget (@matryoshka/gadget) is in no layer: add it to LAYERS in packages/testkit/src/layering.ts",
    ]);
  });

  it("finds a planted violation on disk, through readWorkspace", () => {
    const root = mkdtempSync(join(tmpdir(), "layering-"));
    try {
      const write = (path: string, text: string) => {
        mkdirSync(join(root, path, ".."), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      write("packages/mmu/package.json", JSON.stringify({ name: "@matryoshka/mmu", dependencies: { "@matryoshka/memory": "workspace:*", tslib: "2" } }));
      write("packages/mmu/src/walk/sv32.ts", 'import { Bus } from "@matryoshka/memory";\nconst vmm = () => import("@matryoshka/vmm");\n');
      write("packages/memory/package.json", JSON.stringify({ name: "@matryoshka/memory" }));
      write("packages/vmm/package.json", JSON.stringify({ name: "@matryoshka/vmm", devDependencies: { "@matryoshka/mmu": "workspace:*" } }));
      const workspace = readWorkspace(root);
      expect(workspace.map((p) => [p.dir, p.dependencies, [...p.sources.keys()]])).toEqual([
        ["packages/memory", [], []],
        ["packages/mmu", [{ name: "@matryoshka/memory", field: "dependencies" }], ["walk/sv32.ts"]],
        ["packages/vmm", [{ name: "@matryoshka/mmu", field: "devDependencies" }], []],
      ]);
      expect(layeringViolations(workspace)).toEqual([
        "packages/mmu imports @matryoshka/vmm in src/walk/sv32.ts (dynamic import) without declaring it in package.json",
        "packages/mmu (hardware) uses @matryoshka/vmm (hypervisor) in src/walk/sv32.ts (dynamic import): hardware may use hardware, tools",
      ]);
      expect(packageCycles(workspace)).toEqual([["@matryoshka/mmu", "@matryoshka/vmm"]]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("imports as the checker reads them", () => {
  it("finds static, type-only, re-exported, side-effect and dynamic imports, over several lines", () => {
    const source = [
      'import { a } from "@matryoshka/a";',
      'import type { B } from "./b.js";',
      "import {",
      "  c,",
      "  type C,",
      '} from "@matryoshka/c/sub";',
      'export * from "./d.js";',
      'export { e, type E } from "@matryoshka/e";',
      'import "./side-effect.js";',
      'const f = await import("@matryoshka/f");',
      "export type G = typeof import.meta;",
      "export const h = 1;",
    ].join("\n");
    expect(scanImports(source)).toEqual([
      { specifier: "@matryoshka/a", dynamic: false, typeOnly: false },
      { specifier: "./b.js", dynamic: false, typeOnly: true },
      { specifier: "@matryoshka/c/sub", dynamic: false, typeOnly: false },
      { specifier: "./d.js", dynamic: false, typeOnly: false },
      { specifier: "@matryoshka/e", dynamic: false, typeOnly: false },
      { specifier: "./side-effect.js", dynamic: false, typeOnly: false },
      { specifier: "@matryoshka/f", dynamic: true, typeOnly: false },
    ]);
  });

  it("ignores imports in comments, strings, templates and regular expressions, and computed dynamic imports", () => {
    const source = [
      '// import { x } from "@matryoshka/comment";',
      '/* const y = import("@matryoshka/block"); */',
      'const s = "import { z } from \'@matryoshka/string\'";',
      "const t = `import(\"@matryoshka/template\")`;",
      'const r = /import\\("@matryoshka\\/regex"\\)/;',
      "const spec = { module: 'x' };",
      "const m = await import(spec.module);",
      'const half = 1 / 2; import { real } from "@matryoshka/after-division";',
    ].join("\n");
    expect(scanImports(source).map((site) => site.specifier)).toEqual(["@matryoshka/after-division"]);
  });
});

describe("module cycles", () => {
  it("are the strongly connected parts of the graph, each sorted", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
      ["e", ["e"]],
      ["f", ["d"]],
    ]);
    expect(cycles(graph)).toEqual([["a", "b", "c"], ["e"]]);
    expect(cycles(new Map([["a", ["b"]], ["b", []]]))).toEqual([]);
  });

  it("follow relative imports between src files, type-only ones included, into folders and index files", () => {
    const sources = new Map([
      ["vm.ts", 'import type { Pv } from "./pv/index.js";\nimport { x } from "@matryoshka/cpu";\n'],
      ["pv/index.ts", 'export * from "./backend.js";\n'],
      ["pv/backend.ts", 'import type { Vm } from "../vm.js";\nimport { y } from "../util";\n'],
      ["util.ts", "export const y = 1;\n"],
    ]);
    expect(moduleGraph(sources)).toEqual(new Map([
      ["vm.ts", ["pv/index.ts"]],
      ["pv/index.ts", ["pv/backend.ts"]],
      ["pv/backend.ts", ["vm.ts", "util.ts"]],
      ["util.ts", []],
    ]));
    expect(cycles(moduleGraph(sources))).toEqual([["pv/backend.ts", "pv/index.ts", "vm.ts"]]);
  });

  it("fail but for the known ones, and a known entry with no cycle left fails too", () => {
    const circular = pkg("packages/vmm", { sources: { "vm.ts": 'import type { P } from "./pv.js";\n', "pv.ts": 'import type { V } from "./vm.js";\n' } });
    const straight = pkg("packages/vmm", { sources: { "vm.ts": 'import type { P } from "./pv.js";\n', "pv.ts": "export type P = 1;\n" } });
    const elsewhere = pkg("packages/mmu", { sources: { "a.ts": 'import "./b.js";\n', "b.ts": 'import "./a.js";\n' } });
    const known = { "@matryoshka/vmm": ["pv.ts", "vm.ts"] };
    expect(moduleCycleViolations([circular], known)).toEqual([]);
    expect(moduleCycleViolations([circular], {})).toEqual(["packages/vmm: modules import each other in a cycle: pv.ts ↔ vm.ts"]);
    expect(moduleCycleViolations([circular], { "@matryoshka/vmm": ["vm.ts", "other.ts"] })).toEqual(["packages/vmm: modules import each other in a cycle: pv.ts ↔ vm.ts"]);
    expect(moduleCycleViolations([straight], known)).toEqual(["packages/vmm: no module cycle is left: delete its entry in KNOWN_MODULE_CYCLES (packages/testkit/src/layering.ts)"]);
    expect(moduleCycleViolations([elsewhere, straight], { "@matryoshka/mmu": [] })).toEqual(["packages/mmu: modules import each other in a cycle: a.ts ↔ b.ts"]);
  });
});
