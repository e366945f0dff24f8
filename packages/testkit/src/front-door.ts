import { spawn } from "node:child_process";
import { repoRoot } from "./guests.js";

/** How a run of the front door ended. */
export interface FrontDoorRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `pnpm matryoshka <args>` from the repository root, as users do, with `input` on its
 * stdin. Asynchronous on purpose: a test worker blocked in spawnSync for a long run starves
 * vitest's own messages ("Timeout calling onTaskUpdate"). Output is read as UTF-8, or stdout as
 * latin1 when asked (a guest's raw bytes).
 */
export function runFrontDoor(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; stdoutEncoding?: BufferEncoding } = {}): Promise<FrontDoorRun> {
  return new Promise((resolve, reject) => {
    // The front door runs the built CLI, building it first when a source is newer (CI builds
    // before the tests, so they run what users run); a test never builds: with a stale build
    // (someone editing sources) the same program runs from its sources instead.
    const env = { MATRYOSHKA_BUILD: "never", ...(options.env ?? process.env) };
    const child = spawn("pnpm", ["matryoshka", ...args], { cwd: repoRoot, env, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (status) =>
      resolve({ status, stdout: Buffer.concat(stdout).toString(options.stdoutEncoding ?? "utf8"), stderr: Buffer.concat(stderr).toString("utf8") }),
    );
    child.stdin.end(options.input);
  });
}
