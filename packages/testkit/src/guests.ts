import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, found from this file (src/ or dist/ of packages/testkit). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The folder of guest programs: guests/<name>/<name>.elf beside its sources. */
export const guestsDir = join(repoRoot, "guests");

/** Path of a bundled guest ELF by name, e.g. guestPath("hello"). Throws if it was never built. */
export function guestPath(name: string): string {
  const path = join(guestsDir, name, `${name}.elf`);
  if (!existsSync(path)) throw new Error(`guest "${name}" has no ELF at ${path} (run pnpm guests)`);
  return path;
}

/** Names of every bundled guest that has a built ELF, sorted. */
export function listGuests(): string[] {
  return readdirSync(guestsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(guestsDir, entry.name, `${entry.name}.elf`)))
    .map((entry) => entry.name)
    .sort();
}

/** One way to run a guest, as its oracle.json lists them. */
export interface GuestVariant {
  /** Number of harts (QEMU -smp). */
  harts: number;
  /** Absolute path of a raw disk image for virtio-blk, if any. */
  disk?: string;
  /** virtio-mmio version: 1 legacy (QEMU's default for virt), 2 modern. */
  virtio: 1 | 2;
  /** Bytes typed on the console. */
  input?: string;
  /** Absolute path of M-mode firmware for -bios / --bios, if any. */
  bios?: string;
  /** Kernel command line for -append / --append. */
  append?: string;
  /** Absolute path of an initial ramdisk for -initrd / --initrd. */
  initrd?: string;
  /** A short label for test names. */
  label: string;
  /**
   * A paravirtual guest (run with `--backend pv`, so only under a hypervisor, depth 1 and more):
   * QEMU runs the native `reference` guest instead, and its transcript minus the lines its
   * M-mode firmware prints (starting with `firmwarePrefix`) is what this guest must print.
   */
  paravirtual?: { reference: string; firmwarePrefix: string };
}

interface OracleFile {
  harts?: number;
  disk?: string;
  bios?: string;
  append?: string;
  initrd?: string;
  paravirtual?: { reference: string; firmwarePrefix: string };
  variants?: { virtio?: 1 | 2; input?: string }[];
}

/**
 * The configurations a guest runs in, from guests/<name>/oracle.json (one default configuration
 * when there is none): harts, disk, virtio version and console input.
 */
export function guestVariants(name: string): GuestVariant[] {
  const file = join(guestsDir, name, "oracle.json");
  if (!existsSync(file)) return [{ harts: 1, virtio: 1, label: "default" }];
  const config = JSON.parse(readFileSync(file, "utf8")) as OracleFile;
  const path = (relative: string | undefined) => (relative === undefined ? undefined : resolve(guestsDir, name, relative));
  return (config.variants ?? [{}]).map((variant) => {
    const virtio = variant.virtio ?? 1;
    const parts = [`${config.harts ?? 1} hart(s)`, virtio === 1 ? "legacy virtio" : "modern virtio", variant.input === undefined ? "no input" : "input"];
    if (config.bios) parts.push("firmware");
    if (config.paravirtual) parts.push("paravirtual");
    return {
      harts: config.harts ?? 1,
      disk: path(config.disk),
      bios: path(config.bios),
      append: config.append,
      initrd: path(config.initrd),
      virtio,
      input: variant.input,
      paravirtual: config.paravirtual,
      label: parts.join(", "),
    };
  });
}

/**
 * QEMU options for a variant (added after the oracle's `-bios none`: QEMU takes the last -bios).
 * The disk is opened with snapshot=on, so the image never changes.
 */
export function qemuArgsFor(variant: GuestVariant): string[] {
  const args: string[] = [];
  if (variant.bios) args.push("-bios", variant.bios);
  if (variant.append !== undefined) args.push("-append", variant.append);
  if (variant.initrd) args.push("-initrd", variant.initrd);
  if (variant.harts > 1) args.push("-smp", String(variant.harts));
  if (variant.virtio === 2) args.push("-global", "virtio-mmio.force-legacy=false");
  if (variant.disk) {
    args.push("-drive", `file=${variant.disk},format=raw,if=none,id=hd0,snapshot=on`, "-device", "virtio-blk-device,drive=hd0");
  }
  return args;
}
