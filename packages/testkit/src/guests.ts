import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, found from this file (src/ or dist/ of packages/testkit). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The folder of guest programs: guests/<name>/<name>.elf beside its sources. */
export const guestsDir = join(repoRoot, "guests");

/** Path of a bundled guest ELF by name, e.g. guestPath("hello"). Throws if it was never built. */
export function guestPath(name: string): string {
  const path = join(guestsDir, name, `${name}.elf`);
  if (!existsSync(path)) throw new Error(`guest "${name}" has no ELF at ${path} (run pnpm guests)`);
  return path;
}

/** Names of every bundled guest that has a built ELF, sorted. */
export function listGuests(): string[] {
  return readdirSync(guestsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(guestsDir, entry.name, `${entry.name}.elf`)))
    .map((entry) => entry.name)
    .sort();
}
