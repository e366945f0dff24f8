import { Worker } from "node:worker_threads";

/**
 * Starts a worker thread running the module at `entry`, with `data` as its `workerData`. Built
 * code (a `.js` entry) starts directly. A TypeScript entry (code running from its sources) starts
 * from `worker-loader.mjs`, which registers tsx and the "source" export condition in the worker
 * first, since Node passes neither to workers; `data` then also carries `sourceEntry`.
 *
 * Every package that runs work on threads (the threaded board here, the partitioner) starts its
 * workers this way, with `steadyWorkerJit` called first.
 */
export function startWorker(entry: URL, data: object): Worker {
  if (!entry.pathname.endsWith(".ts")) return new Worker(entry, { workerData: data });
  return new Worker(new URL("./worker-loader.mjs", import.meta.url), { workerData: { ...data, sourceEntry: entry.href } });
}

/**
 * The module `name` ("threaded-worker", …) beside the caller: its TypeScript source when the
 * caller runs from source (`callerUrl` ends in .ts), else the built `.js` file.
 */
export function siblingModule(callerUrl: string, name: string): URL {
  return new URL(`./${name}${callerUrl.endsWith(".ts") ? ".ts" : ".js"}`, callerUrl);
}
