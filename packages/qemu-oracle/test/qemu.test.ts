import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { qemuAvailability, qemuCommandLine, runOnQemu } from "../src/index.js";

// Guests by path: @matryoshka/testkit (which knows them by name) depends on this package.
const guest = (name: string) => fileURLToPath(new URL(`../../../guests/${name}/${name}.elf`, import.meta.url));

const qemu = qemuAvailability();
if (!qemu.available) console.log(`[skip] QEMU oracle tests: ${qemu.reason}`);

describe("the QEMU command line", () => {
  it("is QEMU's virt machine with no firmware, our ISA, 128 MiB, the ELF as kernel, then the extra arguments", () => {
    expect(qemuCommandLine("/g/hello.elf", { extraArgs: ["-smp", "2"] })).toEqual([
      "qemu-system-riscv32", "-machine", "virt",
      "-cpu", "rv32,f=off,d=off,h=off,zba=off,zbb=off,zbc=off,zbs=off,sstc=off,Zihintpause=off",
      "-bios", "none", "-nographic", "-m", "128M", "-kernel", "/g/hello.elf", "-smp", "2",
    ]);
    const custom = qemuCommandLine("k.elf", { binary: "/opt/qemu", memoryMiB: 64 });
    expect(custom[0]).toBe("/opt/qemu");
    expect(custom.slice(custom.indexOf("-m"), custom.indexOf("-m") + 2)).toEqual(["-m", "64M"]);
  });

  it("names a binary that is not there as unavailable, with what to install", () => {
    expect(qemuAvailability("qemu-system-riscv32-not-installed")).toEqual({
      available: false,
      reason: "qemu-system-riscv32-not-installed is not installed (apt-get install qemu-system-misc)",
    });
  });
});

describe.skipIf(!qemu.available)("QEMU oracle", () => {
  it("runs hello and reports a test-device pass", async () => {
    const result = await runOnQemu(guest("hello"));
    expect(result.timedOut).toBe(false);
    expect(result.output).toBe("Hello from matryoshka guest on hart 0!\n");
    expect(result.status).toBe(0);
  });

  it("returns the CRC32 benchmark's transcript, starting with the standard check value", async () => {
    const result = await runOnQemu(guest("crc32"));
    expect(result.status).toBe(0);
    const lines = result.output.trim().split("\n");
    expect(lines[0]).toBe("crc32 check: cbf43926 ok");
    expect(lines).toHaveLength(17);
    expect(lines[16]).toMatch(/^round 127: [0-9a-f]{8}$/);
  });

  it("reports a guest's failure code as its exit status", async () => {
    const result = await runOnQemu(guest("fail"));
    expect(result.timedOut).toBe(false);
    expect(result.status).toBe(42);
  });

  it("reports a timeout for a guest that never stops", async () => {
    // A 1 ms limit is far shorter than QEMU's start-up, so the run is always cut off.
    const result = await runOnQemu(guest("crc32"), { timeoutMs: 1 });
    expect(result.timedOut).toBe(true);
    expect(result.status).toBeNull();
  });
});
