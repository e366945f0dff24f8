// Presentation of `matryoshka run --stats`: the run's counts, then a table of hypervisor levels.
import { stripVTControlCharacters } from "node:util";
import Table from "cli-table3";
import { describeOutcome, summarizeLevel, type RunReport } from "@matryoshka/runner";

/** Names of exception and interrupt causes (privileged spec 1.12, table 3.6). */
const EXCEPTION_NAMES: Record<number, string> = {
  0: "instruction address misaligned", 1: "instruction access fault", 2: "illegal instruction",
  3: "breakpoint", 4: "load address misaligned", 5: "load access fault", 6: "store/AMO address misaligned",
  7: "store/AMO access fault", 8: "ecall from U", 9: "ecall from S", 11: "ecall from M",
  12: "instruction page fault", 13: "load page fault", 15: "store/AMO page fault", 22: "virtual instruction",
};
const INTERRUPT_NAMES: Record<number, string> = {
  1: "supervisor software", 3: "machine software", 5: "supervisor timer", 7: "machine timer",
  9: "supervisor external", 11: "machine external",
};

/**
 * How tables are drawn: in colour or not, and at most how many columns of characters wide (none:
 * no limit). A table wider than that is cut into several, each repeating the first column.
 */
export interface TableOptions {
  color: boolean;
  width?: number;
}

/** What `run --stats` prints on stderr: the run, traps by cause, then per level what each hypervisor did. */
export function statsTable(report: RunReport, options: TableOptions): string {
  const table = new Table({ head: ["statistic", "value"], ...(options.color ? {} : { style: { head: [], border: [] } }) });
  table.push(["engine", report.engine]);
  table.push(["instructions", report.instructions.toLocaleString("en-US")]);
  table.push(["wall time (ms)", report.wallMilliseconds.toFixed(1)]);
  if (report.resets > 0) table.push(["resets (rebooted)", report.resets.toLocaleString("en-US")]);
  table.push(["MIPS", (report.instructions / Math.max(report.wallMilliseconds, 0.001) / 1000).toFixed(1)]);
  for (const [cause, count] of [...report.exceptions].sort((a, b) => a[0] - b[0])) {
    table.push([`exception ${cause}: ${EXCEPTION_NAMES[cause] ?? "reserved"}`, count.toLocaleString("en-US")]);
  }
  for (const [cause, count] of [...report.interrupts].sort((a, b) => a[0] - b[0])) {
    table.push([`interrupt ${cause}: ${INTERRUPT_NAMES[cause] ?? "platform"}`, count.toLocaleString("en-US")]);
  }
  // The hardware's engine, if it counts (the translator: blocks translated and dropped).
  const engine = report.metrics.hardware.engine;
  if (engine !== undefined) {
    for (const [name, value] of Object.entries(engine)) if (typeof value === "number") table.push([`${report.engine}: ${words(name)}`, value.toLocaleString("en-US")]);
  }
  let text = table.toString();
  if (report.levels.length > 0) text += `\n${levelsTable(report, options)}`;
  return text;
}

/** "blocksTranslated" → "blocks translated". */
function words(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => ` ${letter.toLowerCase()}`);
}

/** Short names of exit causes for the per-level table's columns. */
const EXIT_COLUMN_NAMES: Record<number, string> = {
  0: "misaligned fetch", 1: "fetch fault", 2: "illegal", 3: "ebreak", 4: "misaligned load", 5: "load fault",
  6: "misaligned store", 7: "store fault", 8: "ecall U", 9: "ecall S", 11: "ecall M",
  12: "fetch PF", 13: "load PF", 15: "store PF", 22: "bt call",
};

/** A numeric counter of a metrics snapshot (0 when absent). */
function counter(value: unknown): number {
  return typeof value === "number" ? value : 0;
}

const SHORT_INTERRUPT_NAMES: Record<number, string> = { 1: "S soft", 3: "M soft", 5: "S timer", 7: "M timer", 9: "S ext", 11: "M ext" };

/**
 * Per hypervisor level, one row each (level 1 runs on the hardware, the last is the guest's own):
 * exits by cause, budget exits, instructions emulated, exits reflected to the level above, shadow
 * paging and injected interrupts. Rows, not columns, so that 30 levels stay readable.
 */
function levelsTable(report: RunReport, options: TableOptions): string {
  const levels = report.levels;
  const causes = new Set<number>();
  for (const level of levels) level.exits.byCause.forEach((count, cause) => count && causes.add(cause));
  const exitCauses = [...causes].sort((a, b) => a - b);
  const injected = new Set<number>();
  for (const level of levels) for (const cause of level.injectedInterrupts.keys()) injected.add(cause);
  const injectedCauses = [...injected].sort((a, b) => a - b);
  const head = [
    "level",
    ...exitCauses.map((cause) => `exit: ${EXIT_COLUMN_NAMES[cause] ?? `cause ${cause}`}`),
    "exit: budget", "emulated", "SBI calls", "reflected", "shadow fills", "flushes page/all", "roots", "pages resident/shared", "balloon held/target",
    ...injectedCauses.map((cause) => `injected ${SHORT_INTERRUPT_NAMES[cause] ?? `irq ${cause}`}`),
  ];
  const number = (value: number) => value.toLocaleString("en-US");
  const rows = levels.map((level) => [
    `L${level.level}`,
    ...exitCauses.map((cause) => number(level.exits.byCause[cause]!)),
    number(level.exits.budget),
    number(level.exits.emulated),
    number(level.exits.hypercalls),
    number(level.exits.reflected),
    number(level.shadow.fills),
    `${number(level.shadow.pageFlushes)}/${number(level.shadow.fullFlushes)}`,
    number(level.shadow.rootsCreated),
    `${number(counter(level.metrics.memory?.resident))}/${number(counter(level.metrics.memory?.shared))}`,
    level.metrics.balloon === undefined ? "-" : `${number(counter(level.metrics.balloon.heldPages))}/${number(counter(level.metrics.balloon.targetPages))}`,
    ...injectedCauses.map((cause) => number(level.injectedInterrupts.get(cause) ?? 0)),
  ]);
  return fittedTables(head, rows, options);
}

/**
 * Draws a table of `head` and `rows` within `options.width` columns of characters: as many columns
 * as fit go in the first table, the rest in further tables below it, each starting again with the
 * first column (the row's name), so that 30 levels and a dozen exit causes stay readable on an
 * 80-column terminal. A single column wider than the limit still gets a table of its own.
 */
export function fittedTables(head: string[], rows: string[][], options: TableOptions): string {
  const style = options.color ? { compact: true } : { compact: true, head: [], border: [] };
  const draw = (columns: number[]) => {
    const table = new Table({ head: columns.map((column) => head[column]!), style });
    for (const row of rows) table.push(columns.map((column) => row[column]!));
    return table.toString();
  };
  const width = (text: string) => Math.max(...text.split("\n").map((line) => stripVTControlCharacters(line).length));
  const limit = options.width;
  if (limit === undefined || head.length <= 1) return draw(head.map((_, column) => column));
  const tables: string[] = [];
  let columns = [0];
  for (let column = 1; column < head.length; column++) {
    const wider = [...columns, column];
    if (columns.length > 1 && width(draw(wider)) > limit) {
      tables.push(draw(columns));
      columns = [0, column];
    } else {
      columns = wider;
    }
  }
  tables.push(draw(columns));
  return tables.join("\n");
}

/** The version of the JSON documents `run --json` and `sweep --json` write: raised when a field changes meaning or goes. */
export const JSON_SCHEMA_VERSION = 1;

/** The fields every JSON document of the CLI starts with (see the CLI README). */
export function jsonHeader(command: string, engine: string, backend: string): { schemaVersion: number; command: string; engine: string; backend: string } {
  return { schemaVersion: JSON_SCHEMA_VERSION, command, engine, backend };
}

/** Non-zero counts by cause, as a JSON object. */
function causes(map: Map<number, number>): Record<number, number> {
  const object: Record<number, number> = {};
  for (const [cause, count] of [...map].sort((a, b) => a[0] - b[0])) if (count) object[cause] = count;
  return object;
}

/** What `run --json FILE` writes: the `--stats` numbers, and how the run ended. */
export function runJson(report: RunReport, run: { backend: string; status: number; interrupted?: string }): object {
  return {
    ...jsonHeader("run", report.engine, run.backend),
    depth: report.depth,
    status: run.status,
    outcome: run.interrupted === undefined ? describeOutcome(report.outcome) : `interrupted by ${run.interrupted}`,
    instructions: report.instructions,
    wallMilliseconds: report.wallMilliseconds,
    resets: report.resets,
    exceptions: causes(report.exceptions),
    interrupts: causes(report.interrupts),
    levels: report.levels.map((level) => ({ ...summarizeLevel(level), hypercalls: level.exits.hypercalls })),
    metrics: report.metrics,
  };
}
