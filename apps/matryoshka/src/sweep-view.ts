// Presentation of `matryoshka sweep`: progress on stderr, the table and summary on stdout, and the
// report of differing depths. The sweep itself (running, comparing) is @matryoshka/runner's.
import cliProgress from "cli-progress";
import Table from "cli-table3";
import { describeOutcome, type DepthResult, type SweepProgress, type SweepResult } from "@matryoshka/runner";

const count = (value: number) => value.toLocaleString("en-US");
const times = (value: number) => `${value.toFixed(2)}×`;

/** Depths as the user writes them: runs of consecutive depths as A..B. */
export function formatDepths(depths: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < depths.length; ) {
    let j = i;
    while (j + 1 < depths.length && depths[j + 1] === depths[j]! + 1) j++;
    parts.push(j - i >= 2 ? `${depths[i]}..${depths[j]}` : depths.slice(i, j + 1).join(","));
    i = j + 1;
  }
  return parts.join(",");
}

function statusCell(result: DepthResult): string {
  return `${result.outcome.kind === "fail" ? describeOutcome(result.outcome) : result.outcome.kind} (${result.status})`;
}

/** One row per depth: status, time, slowdown, instructions, exits, shadow fills, and whether it matches the first depth. */
export function sweepTable(result: SweepResult, options: { color: boolean }): string {
  const table = new Table({
    head: ["depth", "status", "wall ms", "slowdown", "instructions", "exits", "reflected", "guest's hv exits", "shadow fills", `vs depth ${result.reference}`],
    colAligns: ["right", "left", "right", "right", "right", "right", "right", "right", "right", "left"],
    ...(options.color ? {} : { style: { head: [], border: [] } }),
  });
  for (const depth of result.depths) {
    table.push([
      String(depth.depth),
      statusCell(depth),
      depth.wallMilliseconds.toFixed(1),
      times(depth.slowdown),
      count(depth.instructions),
      count(depth.totals.exitsHandled),
      count(depth.totals.reflected),
      depth.depth === 0 ? "-" : count(depth.totals.innermostExits),
      count(depth.totals.shadowFills),
      depth.depth === result.reference ? "reference" : depth.identical ? "same" : "DIFFERS",
    ]);
  }
  return table.toString();
}

/** The line after the table. */
export function summaryLine(result: SweepResult): string {
  const first = result.depths[0]!;
  const last = result.depths.at(-1)!;
  const all = `${result.depths.length} depth${result.depths.length === 1 ? "" : "s"} (${formatDepths(result.depths.map((d) => d.depth))})`;
  if (!result.identical) {
    return `${result.differing.length} of ${all} differ from depth ${result.reference}: ${formatDepths(result.differing)} (details on stderr)`;
  }
  const slowest = result.depths.length > 1 ? `; depth ${last.depth} took ${times(last.slowdown)} as long as depth ${first.depth}` : "";
  return `identical at all ${all}: ${count(first.output.length)} bytes of output (sha256 ${first.outputSha256.slice(0, 12)}…), ${describeOutcome(first.outcome)} (status ${first.status})${slowest}`;
}

/** A line of guest output as a quoted string with escapes, or "(end of output)". */
export function escapeLine(line: string | undefined): string {
  if (line === undefined) return "(end of output)";
  let text = '"';
  for (const char of line) {
    const code = char.charCodeAt(0);
    if (char === "\\" || char === '"') text += `\\${char}`;
    else if (char === "\n") text += "\\n";
    else if (char === "\r") text += "\\r";
    else if (char === "\t") text += "\\t";
    else if (code < 0x20 || code >= 0x7f) text += `\\x${code.toString(16).padStart(2, "0")}`;
    else text += char;
  }
  return `${text}"`;
}

const WIDTH = 120;

/** The two differing lines, escaped; long lines are cut to a window around the first differing column. */
function lineDifference(line: number, expected: string | undefined, got: string | undefined): string {
  const a = expected ?? "";
  const b = got ?? "";
  let column = 0;
  while (column < a.length && column < b.length && a[column] === b[column]) column++;
  if (Math.max(a.length, b.length) <= WIDTH) {
    return `line ${line}: expected ${escapeLine(expected)}, got ${escapeLine(got)}`;
  }
  const start = Math.max(0, column - 40);
  const cut = (text: string | undefined) =>
    text === undefined ? escapeLine(text) : `${start > 0 ? "…" : ""}${escapeLine(text.slice(start, start + WIDTH))}${text.length > start + WIDTH ? "…" : ""}`;
  return `line ${line}, column ${column + 1}: expected ${cut(expected)}, got ${cut(got)}`;
}

/** For stderr when depths differ: which ones, and where each departs from the reference depth. */
export function differenceReport(result: SweepResult): string {
  const reference = result.depths[0]!;
  const plural = result.differing.length === 1 ? "depth" : "depths";
  let text = `matryoshka: ${plural} ${result.differing.join(", ")} ${result.differing.length === 1 ? "differs" : "differ"} from depth ${result.reference}\n`;
  for (const depth of result.depths) {
    const difference = depth.difference;
    if (!difference) continue;
    if (difference.output) {
      const { line, expected, got } = difference.output;
      text += `  depth ${depth.depth}: output differs at ${lineDifference(line, expected, got)}\n`;
    }
    if (difference.status) {
      text += `  depth ${depth.depth}: status differs: expected ${difference.status.expected} (${describeOutcome(reference.outcome)}), got ${difference.status.got} (${describeOutcome(depth.outcome)})\n`;
    }
  }
  return text;
}

/**
 * Progress while the sweep runs: a bar (cli-progress) when `stream` is a terminal, otherwise one
 * plain line per finished depth through `line`, so logs and CI stay readable.
 */
export function progressReporter(
  stream: (NodeJS.WritableStream & { isTTY?: boolean }) | undefined,
  line: (text: string) => void,
): { update: (event: SweepProgress) => void; stop: () => void } {
  if (stream?.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: "sweep [{bar}] {value}/{total} depths | {state} | {duration_formatted}",
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(event) {
        if (!started) {
          bar.start(event.total, 0, { state: "" });
          started = true;
        }
        if (event.kind === "start") bar.update(event.index, { state: `running depth ${event.depth}` });
        else bar.update(event.index + 1, { state: `depth ${event.depth}: ${event.index === 0 ? "reference" : event.result.identical ? "same" : "DIFFERS"}` });
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  return {
    update(event) {
      if (event.kind !== "done") return;
      const result = event.result;
      const verdict = event.index === 0 ? "reference" : result.identical ? "same" : "DIFFERS";
      line(
        `matryoshka sweep: ${event.index + 1}/${event.total} depth ${event.depth}: ${describeOutcome(result.outcome)} (status ${result.status}), ` +
          `${result.wallMilliseconds.toFixed(1)} ms, ${times(result.slowdown)}, ${verdict}\n`,
      );
    },
    stop() {},
  };
}
