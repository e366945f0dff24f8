// The guest options `run` and `sweep` share (the board, its firmware, disks, engine and limits),
// and how they map to the options of `runGuest` and `sweep` (@matryoshka/runner).
import { InvalidArgumentError, Option, type Command } from "commander";
import { ENGINE_NAMES, type EngineName } from "@matryoshka/engines";
import { ISA_PROFILES, type IsaProfileName } from "@matryoshka/isa";
import type { RunOptions, VmBackend } from "@matryoshka/runner";
import { integerIn, optionalUserPath, readInput, requireFile, userPath } from "./arguments.js";
import { UsageError } from "./exit-status.js";
import { kernelFile } from "./bundled-guests.js";

/** A `--disk FILE[,slot=N]` flag: the image, and the virtio-mmio slot it asks for. */
export interface DiskFlag {
  path: string;
  slot?: number;
}

/**
 * Parses `--disk FILE[,slot=N]` (repeatable) into the list so far. As with QEMU's
 * `-device virtio-blk-device,bus=virtio-mmio-bus.N`, slot N is at 0x10001000 + N × 0x1000, IRQ
 * 1 + N. Only a last part with `=` is an option, so other commas stay in the file name.
 */
export function diskFlag(value: string, list: DiskFlag[]): DiskFlag[] {
  const comma = value.lastIndexOf(",");
  const option = comma < 0 ? "" : value.slice(comma + 1);
  if (!option.includes("=")) return [...list, { path: value }];
  const path = value.slice(0, comma);
  const [key, text] = option.split("=", 2) as [string, string];
  if (key !== "slot") throw new InvalidArgumentError(`unknown disk option "${key}" (expected FILE or FILE,slot=N)`);
  const slot = Number(text);
  if (!/^\d+$/.test(text) || slot > 7) throw new InvalidArgumentError(`slot must be an integer from 0 to 7 (virtio-mmio slots), got "${text}"`);
  const taken = list.find((disk) => disk.slot === slot);
  if (taken) throw new InvalidArgumentError(`slot ${slot} is already taken by ${taken.path}`);
  return [...list, { path, slot }];
}

/** Guest options `run` and `sweep` share, as commander parses them. */
export interface GuestFlags {
  bios?: string;
  append?: string;
  initrd?: string;
  disk: DiskFlag[];
  virtioVersion: number;
  harts: number;
  mem: number;
  pmp: number;
  maxInsns?: number;
  engine?: EngineName;
  backend: VmBackend;
  isaProfile: IsaProfileName;
}

/**
 * Adds the guest options `run` and `sweep` share (the board, its firmware, disks and limits);
 * `diskHelp` says what becomes of a disk file.
 */
export function addGuestOptions(command: Command, diskHelp = "written to, like QEMU"): Command {
  return command
    .option("--bios <file>", "M-mode firmware loaded at the start of RAM (e.g. OpenSBI fw_jump)")
    .option("--append <args>", "kernel command line (device tree /chosen/bootargs)")
    .option("--initrd <file>", "initial ramdisk (device tree /chosen/linux,initrd-*)")
    .option(
      "--disk <file[,slot=N]>",
      `raw disk image for a virtio-blk device, in virtio-mmio slot N (0..7, QEMU's bus=virtio-mmio-bus.N) or the highest free one (repeat for more; ${diskHelp})`,
      diskFlag,
      [] as DiskFlag[],
    )
    .option("--virtio-version <n>", "virtio-mmio transport: 1 legacy (QEMU's default), 2 modern", integerIn(1, 2), 1)
    .option("--harts <n>", "number of harts, 1..8", integerIn(1, 8), 1)
    .option("--mem <MiB>", "RAM size in MiB, 1..2047", integerIn(1, 2047), 128)
    .option("--pmp <n>", "PMP entries per hart, 0..64 (0: no PMP)", integerIn(0, 64), 16)
    .option("--max-insns <n>", "stop after this many instructions of machine time (status 124)", integerIn(1, Number.MAX_SAFE_INTEGER))
    .addOption(
      new Option(
        "--engine <name>",
        "execution engine of the hardware: interpreter, or bt (binary translation); the same output and counts either way " +
          "(default: bt with --backend bt, else $MATRYOSHKA_ENGINE, else interpreter)",
      ).choices(ENGINE_NAMES),
    )
    .addOption(
      new Option(
        "--backend <name>",
        "how each VM gets its guest's sensitive instructions: they trap (trap-and-emulate), the translator turns them into hypervisor calls (bt), " +
          "or the guest kernel asks (pv: it boots in S-mode with the hypervisor as its SBI firmware)",
      )
        .choices(["trap-and-emulate", "bt", "pv"])
        .default("trap-and-emulate"),
    )
    .addOption(
      new Option("--isa-profile <name>", "how the hardware treats sensitive instructions in U-mode: standard RISC-V, or not classically virtualizable (popf, pushf-popf)")
        .choices(Object.keys(ISA_PROFILES))
        .default("standard"),
    );
}

/**
 * The engine `--engine` names; without it, the translator if the bt backend needs it, else
 * MATRYOSHKA_ENGINE if it names an engine (the test suite runs on both), else the interpreter.
 */
function chooseEngine(flags: GuestFlags): EngineName {
  if (flags.engine !== undefined) return flags.engine;
  if (flags.backend === "bt") return "bt";
  const fromEnvironment = process.env.MATRYOSHKA_ENGINE;
  return ENGINE_NAMES.find((name) => name === fromEnvironment) ?? "interpreter";
}

/** The board and limits the shared guest options ask for, as `runGuest` and `sweep` take them. */
export function guestBoard(flags: GuestFlags) {
  return {
    append: flags.append,
    harts: flags.harts,
    memoryMiB: flags.mem,
    pmpEntries: flags.pmp,
    maxInstructions: flags.maxInsns,
    engine: chooseEngine(flags),
    backend: flags.backend,
    isaProfile: flags.isaProfile,
    virtioVersion: flags.virtioVersion === 2 ? (2 as const) : (1 as const),
  } satisfies Partial<RunOptions>;
}

/** Reads the kernel, firmware and initrd, and checks the disks exist (UsageError otherwise). */
export function readGuestFiles(kernelPath: string, flags: GuestFlags): { kernel: Uint8Array; bios?: Uint8Array; initrd?: Uint8Array } {
  // Each is loaded into the guest's RAM, so none can be larger than it.
  const ramBytes = flags.mem * 1048576;
  const ram = `the guest's ${flags.mem} MiB of RAM (--mem)`;
  const kernel = readInput(kernelFile(kernelPath), "kernel", ramBytes, ram);
  if (flags.disk.length > 8) throw new UsageError("at most 8 disks (the board has 8 virtio-mmio slots)");
  for (const disk of flags.disk) requireFile(disk.path, "disk image");
  const bios = flags.bios === undefined ? undefined : readInput(flags.bios, "firmware", ramBytes, ram);
  const initrd = flags.initrd === undefined ? undefined : readInput(flags.initrd, "initrd", ramBytes, ram);
  return { kernel, bios, initrd };
}

/** Resolves the files the shared guest options name against the user's folder (`userPath`). */
export function resolveGuestPaths(flags: GuestFlags): void {
  flags.bios = optionalUserPath(flags.bios);
  flags.initrd = optionalUserPath(flags.initrd);
  flags.disk = flags.disk.map((disk) => ({ ...disk, path: userPath(disk.path) }));
}
