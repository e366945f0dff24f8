import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "@matryoshka/testkit";

// Every package's README shows a runnable example (a ```ts block); this runs each one, as a
// reader would from the repository root, so an example cannot rot while its package changes.
// An example is written into its package's folder (so it imports the package by its own name)
// and run from the sources, and must end with status 0 and no error.

interface Example {
  readme: string;
  index: number;
  code: string;
}

function examples(): Example[] {
  const found: Example[] = [];
  const readmes = ["packages", "apps"].flatMap((parent) => readdirSync(join(repoRoot, parent)).sort().map((name) => join(parent, name, "README.md")));
  // The bundled guests' package (an example importing it by its own name).
  readmes.push(join("guests", "README.md"));
  for (const readme of readmes) {
    if (!existsSync(join(repoRoot, readme))) continue;
    const text = readFileSync(join(repoRoot, readme), "utf8");
    let index = 0;
    for (const match of text.matchAll(/```ts\n([\s\S]*?)```/g)) found.push({ readme, index: index++, code: match[1]! });
  }
  return found;
}

function run(example: Example): Promise<{ status: number | null; stderr: string }> {
  const file = join(repoRoot, example.readme, "..", `.readme-example-${process.pid}-${example.index}.ts`);
  writeFileSync(file, example.code);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", file], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (status) => {
      rmSync(file, { force: true });
      resolve({ status, stderr });
    });
  });
}

const all = examples();

// The examples choose their engines themselves, so the "bt" project (which changes the default
// engine) would run the very same thing again: they run once, in the "interpreter" project.
describe.skipIf(process.env.MATRYOSHKA_ENGINE === "bt")("the README examples", () => {
  it("are there: every package and app README that has one", () => {
    const withExamples = new Set(all.map((example) => example.readme));
    for (const parent of ["packages"]) {
      for (const name of readdirSync(join(repoRoot, parent))) {
        if (existsSync(join(repoRoot, parent, name, "README.md"))) expect(withExamples).toContain(join(parent, name, "README.md"));
      }
    }
  });

  it.each(all.map((example) => [`${example.readme} #${example.index + 1}`, example] as const))("%s runs", async (_name, example) => {
    const { status, stderr } = await run(example);
    expect({ status, stderr: stderr.split("\n").filter((line) => /Error|error:/.test(line)) }).toEqual({ status: 0, stderr: [] });
  });
});
