import { existsSync } from "node:fs";
import { bundledGuests, guestElf } from "@matryoshka/guests";
import { userPath } from "./arguments.js";
import { UsageError } from "./exit-status.js";

/**
 * The file a kernel argument names: the path itself, or, for a bare name that is no file here
 * (`run hello`), that bundled guest's ELF from `@matryoshka/guests`, so that the README's examples
 * run from an npm install as they do in the repository. A file of that name always wins.
 */
export function kernelFile(argument: string): string {
  // A path is the user's, relative to the folder they ran `pnpm matryoshka` from (`userPath`).
  const path = userPath(argument);
  if (existsSync(path) || /[/\\.]/.test(argument)) return path;
  const names = bundledGuests();
  if (names.includes(argument)) return guestElf(argument);
  throw new UsageError(`kernel not found: ${argument} (no such file, nor a bundled guest: ${names.join(", ")})`);
}
