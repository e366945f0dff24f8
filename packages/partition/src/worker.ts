// Entry point of a partitioner worker thread: builds one job's host board and VMs, says "ready",
// runs when told to start (so that all partitions start together), and posts the result.
import { parentPort, workerData } from "node:worker_threads";
import { GuestLoadError, prepareJob, type Job, type PreparedJob } from "./jobs.js";
import type { WorkerMessage } from "./spawn.js";

const port = parentPort;
if (port === null) throw new Error("the partitioner's worker entry must run in a worker thread");

const post = (message: WorkerMessage) => port.postMessage(message);
const failed = (error: unknown): WorkerMessage =>
  error instanceof GuestLoadError
    ? { type: "load-error", vmName: error.vmName, message: error.message }
    : { type: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) };

let prepared: PreparedJob | undefined;
try {
  prepared = prepareJob(workerData as Job);
  post({ type: "ready" });
} catch (error) {
  post(failed(error));
}
port.once("message", () => {
  if (prepared === undefined) return;
  prepared.run().then(
    (result) => post({ type: "done", result }),
    (error: unknown) => post(failed(error)),
  );
});
