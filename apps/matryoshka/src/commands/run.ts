import type { Command } from "commander";
import { FileBlockBackend } from "@matryoshka/devices";
import { guestStatus, MAX_DEPTH, runGuest, type RunReport } from "@matryoshka/runner";
import { integerIn } from "../arguments.js";
import { failureCodeNote, UsageError, usageErrorFromRun } from "../exit-status.js";
import { addGuestOptions, guestBoard, readGuestFiles, type GuestFlags } from "../guest-options.js";
import type { Io, SetStatus } from "../io.js";
import { statsTable } from "../run-view.js";

/** A disk image opened for the guest to read and write; a file that cannot be is the user's input. */
function openDisk(path: string): FileBlockBackend {
  try {
    return new FileBlockBackend(path);
  } catch (error) {
    throw new UsageError(`cannot open disk image ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `matryoshka run <kernel>`: one guest, console on stdio, under `--depth` hypervisors; exits with the guest's status. */
export function addRunCommand(program: Command, io: Io, setStatus: SetStatus): void {
  const run = program
    .command("run")
    .description("boot a guest on the virt board (QEMU's -kernel, -bios, -append, -initrd) with its console on stdio")
    .argument("<kernel>", "ELF file, Linux RISC-V Image, or raw binary")
    .option("--depth <n>", `levels of hypervisor beneath the guest, 0..${MAX_DEPTH} (0: bare board)`, integerIn(0, MAX_DEPTH), 0);
  addGuestOptions(run)
    .option("--stats", "print instructions, traps by cause and time on stderr at the end")
    .option(
      "--threads",
      "run the harts in parallel, each on its own worker thread (depth 0), or the VM's vCPUs (depth 1, trap-and-emulate); " +
        "output stays the same, the interleaving of harts no longer deterministic",
    )
    .action(async (kernelPath: string, options: GuestFlags & { depth: number; stats?: boolean; threads?: boolean }) => {
      const { kernel, bios, initrd } = readGuestFiles(kernelPath, options);
      const disks: { backend: FileBlockBackend; slot?: number }[] = [];
      try {
        for (const { path, slot } of options.disk) disks.push({ backend: openDisk(path), slot });
      } catch (error) {
        for (const disk of disks) disk.backend.close();
        throw error;
      }
      const input = io.input?.();
      let report: RunReport;
      try {
        report = await runGuest({
          kernel, bios, initrd, ...guestBoard(options), depth: options.depth,
          threads: options.threads,
          disks,
          console: io.console ?? ((byte) => io.stdout(String.fromCharCode(byte))),
          input,
        });
      } catch (error) {
        throw usageErrorFromRun(error);
      } finally {
        input?.close();
        for (const disk of disks) disk.backend.close();
      }
      if (options.stats) io.stderr(`${statsTable(report)}\n`);
      const outcome = report.outcome;
      if (outcome.kind === "limit") io.stderr(`matryoshka: instruction limit of ${options.maxInsns} reached\n`);
      else if (outcome.kind !== "pass" && outcome.kind !== "fail") {
        io.stderr(`matryoshka: the guest stopped the machine abnormally: ${"reason" in outcome ? outcome.reason : outcome.kind}\n`);
      }
      const status = guestStatus(outcome);
      if (outcome.kind === "fail") {
        const note = failureCodeNote(outcome.code, status);
        if (note !== undefined) io.stderr(note);
      }
      setStatus(status);
    });
}
