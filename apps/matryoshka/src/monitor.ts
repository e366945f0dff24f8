// The small monitor behind Ctrl-A c (QEMU's HMP, much reduced): it looks at the run between
// slices, where the machine's state is whole, and can hold the run there.
import { REGISTER_NAMES } from "@matryoshka/isa";
import { reportOf, type PausedRun, type RunReport } from "@matryoshka/runner";

const PRIVILEGE_NAMES = ["U", "S", "?", "M"];

/** What `help` prints in the monitor. */
export const MONITOR_HELP = [
  "info registers  the guest's harts: pc, privilege and the 32 registers",
  "info stats      the --stats table of the run so far",
  "stop | pause    hold the run (the guest's time stands still)",
  "cont | c        go on",
  "quit | q        end the run (as C-a x)",
  "help            this list",
].join("\r\n");

const hex = (value: number) => (value >>> 0).toString(16).padStart(8, "0");

/**
 * The monitor: `command` answers a line through `print`; `between` is the run's `afterSlice` part,
 * which holds the run while it is paused and says whether to end it.
 */
export class RunMonitor {
  private run: PausedRun | undefined;
  private paused = false;
  private resume: (() => void) | undefined;
  /** Why the run is to end ("quit", "SIGINT", "SIGTERM"), once something asked. */
  endedBy: string | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly print: (text: string) => void,
    private readonly statsTable: (report: RunReport) => string,
  ) {}

  /** Ends the run at the next slice boundary (and now, if it is paused). */
  end(reason: string): void {
    this.endedBy ??= reason;
    this.paused = false;
    this.resume?.();
  }

  /** Between slices: remembers the run for the commands, waits while paused, and says whether to end. */
  async between(run: PausedRun): Promise<boolean> {
    this.run = run;
    while (this.paused && this.endedBy === undefined) await new Promise<void>((resolve) => (this.resume = resolve));
    this.resume = undefined;
    return this.endedBy !== undefined;
  }

  /** The report of the run so far, for `info stats` and for a summary after a signal. */
  report(): RunReport | undefined {
    const run = this.run;
    return run === undefined ? undefined : reportOf(run.stack, run.counters, { kind: "limit" }, performance.now() - this.started);
  }

  command(line: string): void {
    const words = line.split(/\s+/);
    const [verb, noun] = words;
    if (verb === "help" || verb === "?") this.print(`${MONITOR_HELP}\r\n`);
    else if ((verb === "info" || verb === "i") && (noun === "registers" || noun === "r")) this.print(this.registers());
    else if ((verb === "info" || verb === "i") && noun === "stats") {
      const report = this.report();
      this.print(report === undefined ? "the run has not started\r\n" : `${this.statsTable(report).replace(/\n/g, "\r\n")}\r\n`);
    } else if (verb === "stop" || verb === "pause") {
      this.paused = true;
      this.print("paused\r\n");
    } else if (verb === "cont" || verb === "c") {
      this.paused = false;
      this.resume?.();
      this.print("running\r\n");
    } else if (verb === "quit" || verb === "q") this.end("quit");
    else this.print(`unknown command: ${line} (help lists them)\r\n`);
  }

  /** Each hart of the guest's own board (the innermost VM's at depth > 0), as QEMU's `info registers` lists them. */
  private registers(): string {
    const run = this.run;
    if (run === undefined) return "the run has not started\r\n";
    const lines: string[] = [];
    for (const hart of run.stack.guest.harts) {
      lines.push(`hart ${hart.hartId} (level ${run.stack.vms.length}): pc ${hex(hart.pc)} priv ${PRIVILEGE_NAMES[hart.priv] ?? hart.priv}`);
      for (let row = 0; row < 32; row += 4) {
        lines.push(
          [0, 1, 2, 3].map((column) => `x${row + column}/${REGISTER_NAMES[row + column]}`.padEnd(9) + hex(hart.x[row + column]!)).join("  "),
        );
      }
    }
    return `${lines.join("\r\n")}\r\n`;
  }
}
