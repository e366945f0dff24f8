import type { Worker } from "node:worker_threads";
import { siblingModule, startWorker, steadyWorkerJit } from "@matryoshka/machine";
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

/** Starts a worker thread for `job` (see `startWorker`: from sources it registers tsx first). */
function spawnWorker(job: Job): Worker {
  steadyWorkerJit(); // else a worker's hot loop may stay unoptimized (see @matryoshka/machine)
  return startWorker(siblingModule(import.meta.url, "worker"), job);
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
