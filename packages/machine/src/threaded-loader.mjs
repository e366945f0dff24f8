// Entry of a threaded run's worker when @matryoshka/machine runs from its TypeScript sources:
// Node gives a worker neither the parent's loader hooks nor its --conditions, so register here
// what `pnpm matryoshka` and the test runner use, tsx and the "source" export condition, then
// load the worker itself (threaded-worker.ts, named by workerData.entry).
import { register } from "node:module";
import { workerData } from "node:worker_threads";

const sourceCondition =
  "export async function resolve(specifier, context, next) {" +
  ' return next(specifier, { ...context, conditions: [...context.conditions, "source"] }); }';
register(`data:text/javascript,${encodeURIComponent(sourceCondition)}`);
const { register: registerTsx } = await import("tsx/esm/api");
registerTsx();
await import(workerData.entry);
