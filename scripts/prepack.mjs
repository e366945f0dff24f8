// Runs before `pnpm pack`/`pnpm publish` in a package folder: the tarball carries the repository's
// LICENSE (npm ships a LICENSE only from the package's own folder, and one copy in git is enough),
// and packing stops if the build the tarball ships is missing.
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
copyFileSync(join(repoRoot, "LICENSE"), "LICENSE");
if (existsSync("tsup.config.ts") && !existsSync("dist")) {
  console.error(`prepack: ${process.cwd()} has no dist/: run pnpm build first`);
  process.exit(1);
}
