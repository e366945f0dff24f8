// The bundled guests as files: guests/<name>/<name>.elf beside its sources in the repository, the
// same layout in the npm package (which ships the ELF files, disk images and oracle.json files).
// Plain JavaScript so that the package needs no build step.
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const guestsDirectory = dirname(fileURLToPath(import.meta.url));

/** A guest name: one folder, no path separators or dots (so a name never escapes this folder). */
const GUEST_NAME = /^[a-z0-9][a-z0-9-]*$/;

export function bundledGuests() {
  return readdirSync(guestsDirectory, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && GUEST_NAME.test(entry.name) && existsSync(join(guestsDirectory, entry.name, `${entry.name}.elf`)))
    .map((entry) => entry.name)
    .sort();
}

export function guestElf(name) {
  const path = GUEST_NAME.test(name) ? join(guestsDirectory, name, `${name}.elf`) : undefined;
  if (path === undefined || !existsSync(path)) {
    throw new RangeError(`no bundled guest named "${name}" (bundled: ${bundledGuests().join(", ")})`);
  }
  return path;
}

export function guestFile(name, file) {
  guestElf(name);
  if (!GUEST_NAME.test(file.replace(/\.[a-z]+$/, ""))) throw new RangeError(`"${file}" is not a file name`);
  const path = join(guestsDirectory, name, file);
  return existsSync(path) ? path : undefined;
}
