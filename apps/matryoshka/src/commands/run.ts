import type { Command } from "commander";
import { FileBlockBackend } from "@matryoshka/devices";
import { guestStatus, MAX_DEPTH, runGuest, type RunReport } from "@matryoshka/runner";
import { integerIn } from "../arguments.js";
import { usageErrorFromRun } from "../exit-status.js";
import { addGuestOptions, guestBoard, readGuestFiles, type GuestFlags } from "../guest-options.js";
import type { Io, SetStatus } from "../io.js";
import { statsTable } from "../run-view.js";

/** `matryoshka run <kernel>`: one guest, console on stdio, under `--depth` hypervisors; exits with the guest's status. */
export function addRunCommand(program: Command, io: Io, setStatus: SetStatus): void {
  const run = program
    .command("run")
    .description("boot a guest on the virt board (QEMU's -kernel, -bios, -append, -initrd) with its console on stdio")
    .argument("<kernel>", "ELF file, Linux RISC-V Image, or raw binary")
    .option("--depth <n>", `levels of hypervisor beneath the guest, 0..${MAX_DEPTH} (0: bare board)`, integerIn(0, MAX_DEPTH), 0);
  addGuestOptions(run)
    .option(
      "--balloon <MiB>",
      "give the guest's VM a virtio-balloon device (QEMU's -device virtio-balloon-device) asking the guest to give this much memory back (needs --depth 1 or more)",
      integerIn(0, 2047),
    )
    .option("--stats", "print instructions, traps by cause and time on stderr at the end")
    .option(
      "--threads",
      "run the harts in parallel, each on its own worker thread (depth 0), or the VM's vCPUs (depth 1, trap-and-emulate); " +
        "output stays the same, the interleaving of harts no longer deterministic",
    )
    .action(async (kernelPath: string, options: GuestFlags & { depth: number; balloon?: number; stats?: boolean; threads?: boolean }) => {
      const { kernel, bios, initrd } = readGuestFiles(kernelPath, options);
      const disks = options.disk.map(({ path, slot }) => ({ backend: new FileBlockBackend(path), slot }));
      const input = io.input?.();
      let report: RunReport;
      try {
        report = await runGuest({
          kernel, bios, initrd, ...guestBoard(options), depth: options.depth,
          threads: options.threads,
          balloonMiB: options.balloon,
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
      if (options.stats) io.stderr(`${statsTable(report, { color: io.stderrColour === true })}\n`);
      const outcome = report.outcome;
      if (outcome.kind === "limit") io.stderr(`matryoshka: instruction limit of ${options.maxInsns} reached\n`);
      else if (outcome.kind !== "pass" && outcome.kind !== "fail") {
        io.stderr(`matryoshka: the guest stopped the machine abnormally: ${"reason" in outcome ? outcome.reason : outcome.kind}\n`);
      }
      setStatus(guestStatus(outcome));
    });
}
