/**
 * One metrics interface for every layer (DESIGN.md §8). A component keeps its counters as plain
 * fields of an object it owns and increments in place (`exits.budget++`): nothing is allocated and
 * nothing is called on the hot path, so the counters can stay on. It registers that object (or a
 * function computing derived values) under a group name once; whoever reports (`--stats`, the JSON
 * outputs, the benchmarks) reads every group through one snapshot.
 */

/** A counter as read: a number, a list of numbers (by cause, by slot), or numbers by name. */
export type CounterValue = number | number[] | { [key: string]: number };

/** A group's counters as read. */
export type Counters = { [counter: string]: CounterValue };

/** Every group's counters at one moment, by group name. */
export type MetricsSnapshot = { [group: string]: Counters };

/**
 * What a component registers: the object holding its counters (numeric fields, typed arrays or
 * arrays of numbers, Maps of numbers), or a function returning such an object when read. Fields
 * of any other type are left out of the snapshot.
 */
export type CounterSource = object | (() => object);

export class Metrics {
  private readonly groups = new Map<string, CounterSource>();

  /** Registers a group; a name can be registered once (a second component would hide the first). */
  add(group: string, source: CounterSource): void {
    if (this.groups.has(group)) throw new Error(`metrics: a group named "${group}" is already registered`);
    this.groups.set(group, source);
  }

  /** Forgets a group (its component went away). */
  remove(group: string): void {
    this.groups.delete(group);
  }

  /** Names of the registered groups, in registration order. */
  get names(): string[] {
    return [...this.groups.keys()];
  }

  /** One group's counters now, or undefined if no such group is registered. */
  read(group: string): Counters | undefined {
    const source = this.groups.get(group);
    return source === undefined ? undefined : readCounters(typeof source === "function" ? (source as () => object)() : source);
  }

  /** Every group's counters now (copies: later increments do not show in it). */
  snapshot(): MetricsSnapshot {
    const out: MetricsSnapshot = {};
    for (const name of this.groups.keys()) out[name] = this.read(name)!;
    return out;
  }
}

/** The counters of an object: numbers, numeric arrays (copied) and Maps of numbers; nothing else. */
export function readCounters(source: object): Counters {
  const out: Counters = {};
  for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
    const counter = counterValue(value);
    if (counter !== undefined) out[key] = counter;
  }
  // Getters of class instances are not own properties: read them too.
  let prototype: object | null = Object.getPrototypeOf(source) as object | null;
  while (prototype !== null && prototype !== Object.prototype) {
    for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(prototype))) {
      if (key in out || descriptor.get === undefined) continue;
      const counter = counterValue((source as Record<string, unknown>)[key]);
      if (counter !== undefined) out[key] = counter;
    }
    prototype = Object.getPrototypeOf(prototype) as object | null;
  }
  return out;
}

function counterValue(value: unknown): CounterValue | undefined {
  if (typeof value === "number") return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>, Number);
  if (Array.isArray(value) && value.every((item) => typeof item === "number")) return [...(value as number[])];
  if (value instanceof Map) {
    const record: { [key: string]: number } = {};
    for (const [key, count] of value) if (typeof count === "number") record[String(key)] = count;
    return record;
  }
  return undefined;
}
