// Option parsers and file checks shared by the commands: what fails here is the user's input, so
// it fails as commander's InvalidArgumentError or as a UsageError (status 2, one line).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { InvalidArgumentError } from "commander";
import { UsageError } from "./exit-status.js";

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError("expected a positive integer");
  return parsed;
}

export function integerIn(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return parsed;
  };
}

/** Checks that `path` is a file and returns its size in bytes. */
export function requireFile(path: string, what: string): number {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
  const stat = statSync(path);
  if (!stat.isFile()) throw new UsageError(`${what} is not a file: ${path}`);
  return stat.size;
}

/**
 * Reads a whole file of at most `maxBytes` (`limit` says what the bound is, for the message). The
 * size is checked before reading, so a file of any size (even over the 2 GiB Node can read at
 * once) fails as one line, without the host allocating its size first.
 */
export function readInput(path: string, what: string, maxBytes: number, limit: string): Uint8Array {
  const size = requireFile(path, what);
  if (size > maxBytes) throw new UsageError(`${what} ${path} is ${size} bytes, larger than ${limit}`);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Fails early (before a long run) when a file could not be created at `path`. */
export function requireWritablePath(path: string, what: string): void {
  const directory = dirname(resolve(path));
  if (!existsSync(directory) || !statSync(directory).isDirectory()) throw new UsageError(`${what}: no such directory: ${directory}`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${what} is a directory: ${path}`);
}

/**
 * A path the user typed, as it names a file from the folder they ran the command in: `pnpm
 * matryoshka` runs us from the repository root and says where the user was in `INIT_CWD`, so a
 * relative path resolves against that (else against the current directory, left as typed so that
 * messages quote it unchanged).
 */
export function userPath(path: string, environment: NodeJS.ProcessEnv = process.env): string {
  const base = environment.INIT_CWD;
  if (isAbsolute(path) || base === undefined || base === "" || resolve(base) === process.cwd()) return path;
  return resolve(base, path);
}

/** `userPath` of an optional path. */
export function optionalUserPath(path: string | undefined): string | undefined {
  return path === undefined ? undefined : userPath(path);
}
