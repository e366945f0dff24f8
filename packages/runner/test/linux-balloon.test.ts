import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SbiFirmware } from "@matryoshka/paravirt";
import { buildStack, type Stack, type VM, type VmBackend } from "@matryoshka/vmm";

// Linux 6.1's own virtio_balloon driver on matryoshka (issue 19): a kernel built by
// scripts/linux/build.sh (outside the repository, see scripts/linux/README.md) boots in a VM with
// a balloon, inflates to the target the hypervisor sets and deflates back. Skipped, with a note,
// when the kernel has not been built.

const CACHE = process.env.MATRYOSHKA_LINUX_CACHE ?? join(homedir(), ".cache", "matryoshka", "linux");
const FILES = { bios: "fw_jump.bin", kernel: "Image", initrd: "initramfs.cpio" } as const;
const missing = Object.values(FILES).filter((name) => !existsSync(join(CACHE, name)));
if (missing.length > 0) {
  console.log(`[skip] Linux virtio_balloon tests: ${missing.join(", ")} not in ${CACHE} (build them with bash scripts/linux/build.sh)`);
}
const read = (name: string) => new Uint8Array(readFileSync(join(CACHE, name)));

/** The initramfs's /init prints this once it has touched (and unmapped) 16 MiB. */
const MARKER = "init: up";
/** Instructions between checks. */
const SLICE = 500_000;
/** The guest's RAM. */
const GUEST_MIB = 64;
/** Pages asked back: 8 MiB. */
const TARGET = 2048;

interface LinuxVm {
  stack: Stack;
  vm: VM;
  output(): string;
}

/**
 * Boots the guest `depth` levels down. With the "pv" backend the kernel starts in S-mode with the
 * hypervisor as its SBI firmware (no OpenSBI), as `run --backend pv` does.
 */
function bootLinux(depth: number, backend: VmBackend): LinuxVm {
  let text = "";
  const stack = buildStack(depth, {
    memoryMiB: GUEST_MIB,
    balloon: true,
    backend,
    paravirtualFirmware: () => new SbiFirmware(),
    console: (byte) => (text += String.fromCharCode(byte)),
  });
  const vm = stack.vms.at(-1)!;
  // init_on_free=1: the kernel zeroes every page it frees, the boot's free memory included, so
  // every page of the guest has a frame and the balloon's pages visibly give theirs back (without
  // it the driver takes pages nobody ever touched, which had no frame to give).
  vm.boot({ kernel: read(FILES.kernel), bios: backend === "pv" ? undefined : read(FILES.bios), initrd: read(FILES.initrd), append: "console=ttyS0 init_on_free=1" });
  return { stack, vm, output: () => text };
}

/** Runs the guest until `done()` holds, at most `budget` instructions of machine time; returns those it took. */
function runUntil(linux: LinuxVm, what: string, done: () => boolean, budget: number): number {
  const clock = linux.stack.guest.clock;
  const start = clock.elapsed;
  while (!done()) {
    const used = clock.elapsed - start;
    if (used >= budget) throw new Error(`${what}: not after ${used} instructions; the console ends:\n${linux.output().slice(-2000)}`);
    const outcome = linux.stack.guest.run(Math.min(SLICE, budget - used));
    if (outcome.kind !== "limit") throw new Error(`${what}: the guest stopped (${JSON.stringify(outcome)}); the console ends:\n${linux.output().slice(-2000)}`);
  }
  return clock.elapsed - start;
}

describe.skipIf(missing.length > 0)("Linux 6.1's virtio_balloon driver", () => {
  it.each([
    { depth: 1, backend: "trap-and-emulate" },
    { depth: 2, backend: "trap-and-emulate" },
    { depth: 1, backend: "pv" },
  ] as const)(`at depth $depth ($backend): inflates to ${TARGET} pages when the hypervisor asks, giving their frames back, and deflates to half of it, then to 0`, { timeout: 1_800_000 }, ({ depth, backend }) => {
    const linux = bootLinux(depth, backend);
    const { vm } = linux;
    expect(linux.stack.vms.map((level) => level.level)).toEqual(depth === 1 ? [1] : [1, 2]);
    const balloon = vm.balloon!;
    const started = performance.now();
    const bootInstructions = runUntil(linux, "boot to init", () => linux.output().includes(MARKER), 2_000_000_000);
    const output = linux.output();
    expect(output).toContain("Linux version 6.1");
    expect(output).toContain("init: started");
    expect(balloon.heldPages).toBe(0);
    const residentBefore = vm.memory.stats.resident;

    balloon.setTarget(TARGET);
    const inflateInstructions = runUntil(linux, `inflating to ${TARGET} pages`, () => balloon.heldPages >= TARGET, 1_000_000_000);
    expect(balloon.heldPages).toBe(TARGET);
    expect(balloon.stats.refused).toBe(0);
    // Every page had a frame (init_on_free): the balloon's frames went back to the hypervisor.
    const residentInflated = vm.memory.stats.resident;
    expect(residentBefore).toBeGreaterThan(GUEST_MIB * 256 * 0.9);
    expect(residentInflated).toBeLessThanOrEqual(residentBefore - TARGET);
    // The device's `actual` is what the driver says it holds: the target, once it is done.
    runUntil(linux, "the driver to report the balloon's size", () => vm.board.balloon!.stats.actualPages === TARGET, 200_000_000);

    // Half back, then the rest: the driver deflates to a target as well as to empty.
    balloon.setTarget(TARGET / 2);
    const halfInstructions = runUntil(linux, `deflating to ${TARGET / 2} pages`, () => balloon.heldPages <= TARGET / 2, 1_000_000_000);
    expect(balloon.heldPages).toBe(TARGET / 2);
    runUntil(linux, "the driver to report half the balloon", () => vm.board.balloon!.stats.actualPages === TARGET / 2, 200_000_000);
    expect(vm.memory.stats.resident).toBeGreaterThanOrEqual(residentInflated + TARGET / 2);

    balloon.setTarget(0);
    const deflateInstructions = halfInstructions + runUntil(linux, "deflating to 0", () => balloon.heldPages === 0, 1_000_000_000);
    runUntil(linux, "the driver to report an empty balloon", () => vm.board.balloon!.stats.actualPages === 0, 200_000_000);
    expect(balloon.stats.refused).toBe(0);
    // The guest has the pages again: freeing them out of the balloon zeroed them (init_on_free),
    // which gave them fresh frames.
    expect(vm.memory.stats.resident).toBeGreaterThanOrEqual(residentInflated + TARGET);
    // Still alive: nothing went wrong in the kernel.
    expect(linux.output()).not.toMatch(/Oops|BUG|panic/);
    console.log(
      `[linux-balloon depth ${depth} ${backend}] boot ${bootInstructions} insns, inflate ${TARGET} pages ${inflateInstructions}, ` +
        `deflate ${deflateInstructions}; resident ${residentBefore} -> ${residentInflated} -> ${vm.memory.stats.resident} pages; ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
