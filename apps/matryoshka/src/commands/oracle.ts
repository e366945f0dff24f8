import type { Command } from "commander";
import { qemuAvailability, qemuCommandLine, runOnQemu } from "@matryoshka/qemu-oracle";
import { positiveInteger, requireFile } from "../arguments.js";
import { ExitStatus, failureCodeNote, UsageError } from "../exit-status.js";
import type { Io, SetStatus } from "../io.js";
import { kernelFile } from "../bundled-guests.js";

/** `matryoshka oracle <elf>`: the guest on QEMU, the reference; exits as `run` does. */
export function addOracleCommand(program: Command, io: Io, setStatus: SetStatus): void {
  program
    .command("oracle")
    .description("run a guest ELF on QEMU's riscv32 virt machine (the reference our machine is tested against)")
    .argument("<elf>", "guest ELF file, or a bundled guest's name (hello, crc32, …)")
    .option("--timeout <ms>", "wall-clock limit in milliseconds", positiveInteger, 20_000)
    .option("--smp <harts>", "number of harts", positiveInteger)
    .option("--print-command", "print the QEMU command line on stderr first")
    .action(async (argument: string, options: { timeout: number; smp?: number; printCommand?: boolean }) => {
      // A path relative to the user's folder (INIT_CWD), or a bundled guest's name.
      const elf = kernelFile(argument);
      requireFile(elf, "guest ELF");
      const qemu = qemuAvailability();
      if (!qemu.available) throw new UsageError(qemu.reason);
      const extraArgs = options.smp ? ["-smp", String(options.smp)] : [];
      if (options.printCommand) io.stderr(`${qemuCommandLine(elf, { extraArgs }).join(" ")}\n`);
      const result = await runOnQemu(elf, { timeoutMs: options.timeout, extraArgs });
      io.stdout(result.output);
      if (result.timedOut) {
        io.stderr(`matryoshka: time limit of ${options.timeout} ms ran out\n`);
        setStatus(ExitStatus.limit);
      } else {
        // QEMU exits with the guest's failure code (8 bits of it): name one that reads as ours.
        const note = result.status !== null && result.status !== 0 ? failureCodeNote(result.status, result.status) : undefined;
        if (note !== undefined) io.stderr(note);
        setStatus(result.status ?? ExitStatus.abnormal);
      }
    });
}
