import { writeFileSync } from "node:fs";
import { InvalidArgumentError, Option, type Command } from "commander";
import { DepthListError, MAX_DEPTH, parseDepths, sweep, sweepJson, type SweepResult } from "@matryoshka/runner";
import { optionalUserPath, readInput, requireWritablePath } from "../arguments.js";
import { ExitStatus, UsageError, usageErrorFromRun } from "../exit-status.js";
import { addGuestOptions, guestBoard, readGuestFiles, resolveGuestPaths, type GuestFlags } from "../guest-options.js";
import type { Io, SetStatus } from "../io.js";
import { jsonHeader } from "../run-view.js";
import { differenceReport, progressReporter, summaryLine, sweepTable } from "../sweep-view.js";

/** Largest --input file: console bytes every depth replays, held in memory once per depth. */
const MAX_INPUT_BYTES = 64 * 1048576;

/** The `--depths` list, as commander parses it. */
function depthList(value: string): number[] {
  try {
    return parseDepths(value, MAX_DEPTH);
  } catch (error) {
    if (error instanceof DepthListError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/** `matryoshka sweep <kernel>`: the guest at many depths; exits with whether every depth agrees. */
export function addSweepCommand(program: Command, io: Io, setStatus: SetStatus): void {
  const command = program
    .command("sweep")
    .description("run a guest at many nesting depths and check that its console output and status are the same at every depth")
    .argument("<kernel>", "ELF file, Linux RISC-V Image, raw binary, or a bundled guest's name (hello, crc32, …)")
    .addOption(
      new Option("--depths <list>", `depths, ascending, 0..${MAX_DEPTH}: a range A..B, a comma list (0,1,2,5,30) or one number`)
        .argParser(depthList)
        .default(parseDepths("0..30"), "0..30"),
    );
  addGuestOptions(command, "each depth runs on a fresh copy")
    .option("--input <file>", "console input for the guest, the same bytes at every depth (stdin is not read)")
    .option("--json <file>", "also write the results, per depth and per level, as JSON")
    .option("--show-output", "print the first depth's console output before the table")
    .option("--no-warmup", "time the first depth cold (by default it runs once untimed first, so slowdowns are not skewed by start-up)")
    .action(async (givenKernelPath: string, options: GuestFlags & { depths: number[]; input?: string; json?: string; showOutput?: boolean; warmup: boolean }) => {
      // The kernel is resolved by `kernelFile` (readGuestFiles): a path from INIT_CWD, or a bundled guest's name.
      const kernelPath = givenKernelPath;
      resolveGuestPaths(options);
      options.input = optionalUserPath(options.input);
      options.json = optionalUserPath(options.json);
      const { kernel, bios, initrd } = readGuestFiles(kernelPath, options);
      const input = options.input === undefined ? undefined : readInput(options.input, "input file", MAX_INPUT_BYTES, `${MAX_INPUT_BYTES / 1048576} MiB`);
      if (options.json !== undefined) requireWritablePath(options.json, "--json file");
      const board = guestBoard(options);
      const progress = progressReporter(io.progress, io.stderr);
      let result: SweepResult;
      try {
        result = await sweep({
          kernel, bios, initrd, ...board, depths: options.depths,
          // Each depth gets fresh temporary copies of the disks, removed afterwards.
          disks: options.disk.map(({ path, slot }) => ({ image: path, slot })),
          input,
          warmup: options.warmup,
          onProgress: progress.update,
        });
      } catch (error) {
        throw usageErrorFromRun(error);
      } finally {
        progress.stop();
      }
      if (options.showOutput) {
        const output = result.depths[0]!.output;
        if (io.write) io.write(output);
        else io.stdout(Buffer.from(output).toString("latin1"));
        if (output.length > 0 && output[output.length - 1] !== 0x0a) io.stdout("\n");
      }
      io.stdout(`${sweepTable(result, { color: io.stdoutColour === true })}\n${summaryLine(result)}\n`);
      if (options.json !== undefined) {
        try {
          writeFileSync(options.json, `${JSON.stringify({ ...jsonHeader("sweep", board.engine, board.backend), ...sweepJson(result, kernelPath) }, null, 2)}\n`);
        } catch (error) {
          throw new UsageError(`cannot write --json file: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      if (result.identical) setStatus(ExitStatus.pass);
      else {
        io.stderr(differenceReport(result));
        setStatus(ExitStatus.depthsDiffer);
      }
    });
}
