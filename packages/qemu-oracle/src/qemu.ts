import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What a guest did on QEMU: its console output and how it ended. */
export interface QemuResult {
  /** Everything the guest wrote to its UART (QEMU's stdout with -nographic). */
  output: string;
  /** QEMU's exit status: 0 for a test-device pass, the guest's code for a fail. */
  status: number | null;
  /** True when the time limit ran out and QEMU was killed. */
  timedOut: boolean;
  /** QEMU's own diagnostics. */
  stderr: string;
}

export interface QemuOptions {
  /** Wall-clock limit in milliseconds (default 20 s). */
  timeoutMs?: number;
  /** Bytes typed on the guest's UART. */
  input?: string | Uint8Array;
  /** Extra QEMU arguments, e.g. ["-smp", "2"] or a virtio-blk drive. */
  extraArgs?: string[];
  /** Guest RAM in MiB (QEMU's default for virt is 128). */
  memoryMiB?: number;
  /** QEMU binary (default `qemu-system-riscv32` on PATH). */
  binary?: string;
}

const DEFAULT_BINARY = "qemu-system-riscv32";

/**
 * The hart QEMU emulates for the oracle: exactly our ISA, RV32IMAC + Zicsr + Zifencei with S and U
 * modes, Sv32 and PMP. QEMU 7.2's default `rv32` CPU also has F, D, H, Zba/Zbb/Zbc/Zbs, Sstc and
 * Zihintpause, which show in `misa`, in the writable bits of `mstatus` and `mideleg`, and in which
 * encodings are legal; switching them off makes the two machines comparable bit for bit.
 */
export const QEMU_CPU = "rv32,f=off,d=off,h=off,zba=off,zbb=off,zbc=off,zbs=off,sstc=off,Zihintpause=off";

/** Where QEMU is, or why it cannot be used: tests print the reason when they skip. */
export function qemuAvailability(binary = DEFAULT_BINARY): { available: true } | { available: false; reason: string } {
  const probe = spawnSync(binary, ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    return { available: false, reason: `${binary} is not installed (apt-get install qemu-system-misc)` };
  }
  return { available: true };
}

/** The command line the oracle uses, so reports can show how to reproduce a run by hand. */
export function qemuCommandLine(elfPath: string, options: QemuOptions = {}): string[] {
  return [
    options.binary ?? DEFAULT_BINARY,
    "-machine", "virt",
    "-cpu", QEMU_CPU,
    "-bios", "none",
    "-nographic",
    "-m", `${options.memoryMiB ?? 128}M`,
    "-kernel", elfPath,
    ...(options.extraArgs ?? []),
  ];
}

/**
 * Runs an ELF on QEMU's riscv32 `virt` machine exactly as `qemu-system-riscv32 -machine virt
 * -bios none -nographic -kernel X` does, and returns its UART output and exit status.
 */
export function runOnQemu(elfPath: string, options: QemuOptions = {}): Promise<QemuResult> {
  const [binary, ...args] = qemuCommandLine(elfPath, options);
  const timeoutMs = options.timeoutMs ?? 20_000;
  // QEMU's stdout is a regular file, not a pipe: its 16550 model drops a byte after a few retries
  // when the console would block, which a busy reader of a pipe can cause.
  const dir = mkdtempSync(join(tmpdir(), "matryoshka-qemu-"));
  const outputPath = join(dir, "console");
  const outputFd = openSync(outputPath, "w");
  return new Promise((resolve, reject) => {
    const child = spawn(binary!, args, { stdio: ["pipe", outputFd, "pipe"] });
    closeSync(outputFd);
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    const cleanUp = () => rmSync(dir, { recursive: true, force: true });
    child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      cleanUp();
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const output = readFileSync(outputPath).toString("latin1");
      cleanUp();
      resolve({ output, status: timedOut ? null : code, timedOut, stderr: Buffer.concat(err).toString("utf8") });
    });
    // With input, keep stdin open while QEMU runs (the guest may still be reading); without, close it.
    child.stdin!.on("error", () => {});
    if (options.input !== undefined) child.stdin!.write(options.input);
    else child.stdin!.end();
  });
}
