import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { steadyWorkerJit } from "@matryoshka/machine";
import type { Job, JobResult } from "./jobs.js";

/** What a worker tells the main thread. */
export type WorkerMessage =
  | { type: "ready" }
  | { type: "done"; result: JobResult }
  | { type: "load-error"; vmName: string; message: string }
  | { type: "error"; message: string };

/** A guest the loader rejected in a worker (the config's fault). */
export class WorkerLoadError extends Error {
  constructor(
    readonly vmName: string,
    message: string,
  ) {
    super(message);
  }
}

/** The file URL of tsx's ESM API (`tsx/esm/api`, its "import" variant), found from tsx's manifest. */
function tsxEsmApi(): string {
  const manifestPath = createRequire(import.meta.url).resolve("tsx/package.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { exports: Record<string, { import?: { default?: string } }> };
  const target = manifest.exports["./esm/api"]?.import?.default;
  if (target === undefined) throw new Error(`tsx at ${dirname(manifestPath)} has no ESM API (exports["./esm/api"].import)`);
  return pathToFileURL(join(dirname(manifestPath), target)).href;
}

/**
 * Starts a worker thread for `job`.
 *
 * Built (dist/), the worker is plain JavaScript next to this module. Run from the TypeScript
 * sources (the "source" export condition: `pnpm matryoshka` through tsx, vitest, `pnpm bench`), it
 * is TypeScript, which Node 20 cannot load by itself, and a worker inherits neither the parent's
 * module hooks (tsx's `--import`) nor vitest's transform. So the worker starts from a one-line
 * script that registers tsx in the worker itself and then imports the TypeScript entry, with
 * `--conditions=source` so that the workspace packages resolve to their sources, as in the parent.
 */
function spawnWorker(job: Job): Worker {
  steadyWorkerJit(); // else a worker's hot loop may stay unoptimized (see @matryoshka/machine)
  const fromSources = import.meta.url.endsWith(".ts");
  if (!fromSources) return new Worker(new URL("./worker.js", import.meta.url), { workerData: job });
  const entry = new URL("./worker.ts", import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxEsmApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, execArgv: ["--conditions=source"], workerData: job });
}

/** A job running on its own thread: `ready` once its guests are booted, then `start()` runs it. */
export interface JobThread {
  ready: Promise<void>;
  start(): Promise<JobResult>;
  /** Stops the thread (after a failure elsewhere). */
  terminate(): Promise<void>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  // Whoever is not waiting on it yet must not see an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export function startJobThread(job: Job): JobThread {
  const worker = spawnWorker(job);
  const ready = deferred<void>();
  const done = deferred<JobResult>();
  let settled = false;
  const finish = (error?: Error) => {
    if (settled) return;
    settled = true;
    if (error) {
      ready.reject(error);
      done.reject(error);
    }
    void worker.terminate();
  };
  worker.on("message", (message: WorkerMessage) => {
    switch (message.type) {
      case "ready":
        ready.resolve();
        break;
      case "done":
        done.resolve(message.result);
        finish();
        break;
      case "load-error":
        finish(new WorkerLoadError(message.vmName, message.message));
        break;
      case "error":
        finish(new Error(`partitioner worker failed: ${message.message}`));
        break;
    }
  });
  worker.on("error", (error) => finish(error));
  worker.on("exit", (code) => finish(new Error(`partitioner worker exited (code ${code}) before reporting`)));
  return {
    ready: ready.promise,
    start() {
      worker.postMessage("start");
      return done.promise;
    },
    async terminate() {
      finish();
      await worker.terminate();
    },
  };
}
