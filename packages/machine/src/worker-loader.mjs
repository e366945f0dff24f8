// Entry of every worker started by `startWorker` (worker.ts) while the code runs from its
// TypeScript sources (tests, `pnpm matryoshka`, `pnpm bench`): Node gives a worker neither the
// parent's loader hooks nor its --conditions, so register here what those use, tsx and the
// "source" export condition, then load the worker's own module (workerData.sourceEntry).
import { register } from "node:module";
import { workerData } from "node:worker_threads";

const sourceCondition =
  "export async function resolve(specifier, context, next) {" +
  ' return next(specifier, { ...context, conditions: [...context.conditions, "source"] }); }';
register(`data:text/javascript,${encodeURIComponent(sourceCondition)}`);
const { register: registerTsx } = await import("tsx/esm/api");
registerTsx();
await import(workerData.sourceEntry);
