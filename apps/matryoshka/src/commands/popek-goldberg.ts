import { Option, type Command } from "commander";
import Table from "cli-table3";
import { checkPopekGoldberg, ISA_PROFILES, type IsaProfileName } from "@matryoshka/isa";
import type { Io, SetStatus } from "../io.js";

/** `matryoshka popek-goldberg`: the virtualization theorems on an ISA profile; status 0 if theorem 1 holds. */
export function addPopekGoldbergCommand(program: Command, io: Io, setStatus: SetStatus): void {
  program
    .command("popek-goldberg")
    .description("check Popek and Goldberg's virtualization theorems on an ISA profile: 1 (a trap-and-emulate VMM exists) and 3 (a hybrid VMM exists)")
    .addOption(new Option("--isa-profile <name>", "the ISA profile to check").choices(Object.keys(ISA_PROFILES)).default("standard"))
    .option("--no-counters-trap", "the user counters (cycle, time, instret) are readable in U-mode (by default the VMM makes them trap)")
    .action((options: { isaProfile: IsaProfileName; countersTrap: boolean }) => {
      const report = checkPopekGoldberg(ISA_PROFILES[options.isaProfile], { countersTrap: options.countersTrap });
      const table = new Table({ head: ["theorem", "holds", "offending instructions"] });
      table.push(["1: sensitive ⊆ privileged (trap-and-emulate VMM)", report.theorem1.holds ? "yes" : "no", report.theorem1.offending.join(", ") || "-"]);
      table.push(["3: user-sensitive ⊆ privileged (hybrid VMM)", report.theorem3.holds ? "yes" : "no", report.theorem3.offending.join(", ") || "-"]);
      io.stdout(`ISA profile ${options.isaProfile}: ${ISA_PROFILES[options.isaProfile].description}\n${table.toString()}\n`);
      // Status 0: classically virtualizable (theorem 1 holds); 1: it is not.
      setStatus(report.theorem1.holds ? 0 : 1);
    });
}
