// Option parsers and file checks shared by the commands: what fails here is the user's input, so
// it fails as commander's InvalidArgumentError or as a UsageError (status 2, one line).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
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

export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
  if (!statSync(path).isFile()) throw new UsageError(`${what} is not a file: ${path}`);
}

export function readInput(path: string, what: string): Uint8Array {
  requireFile(path, what);
  return new Uint8Array(readFileSync(path));
}

/** Fails early (before a long run) when a file could not be created at `path`. */
export function requireWritablePath(path: string, what: string): void {
  const directory = dirname(resolve(path));
  if (!existsSync(directory) || !statSync(directory).isDirectory()) throw new UsageError(`${what}: no such directory: ${directory}`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${what} is a directory: ${path}`);
}
