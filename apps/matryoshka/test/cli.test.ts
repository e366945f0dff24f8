import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { guestPath, qemuAvailability, repoRoot } from "@matryoshka/testkit";

// Run the front door exactly as users do, through pnpm from the repository root.
function matryoshka(...args: string[]) {
  const result = spawnSync("pnpm", ["matryoshka", ...args], { cwd: repoRoot, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const qemu = qemuAvailability();
if (!qemu.available) console.log(`[skip] matryoshka oracle command: ${qemu.reason}`);

describe("pnpm matryoshka", () => {
  it("reports a missing guest file in one line with status 2", () => {
    const { status, stdout, stderr } = matryoshka("oracle", join(repoRoot, "no-such-guest.elf"));
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("not found");
  });

  it("rejects an out-of-range option with status 2", () => {
    const { status, stderr } = matryoshka("oracle", guestPath("hello"), "--timeout", "-5");
    expect(status).toBe(2);
    expect(stderr).toContain("--timeout");
  });

  it("rejects an unknown command with status 2", () => {
    expect(matryoshka("frobnicate").status).toBe(2);
  });

  it.skipIf(!qemu.available)("runs hello on QEMU with only the guest's console on stdout", () => {
    const { status, stdout } = matryoshka("oracle", guestPath("hello"));
    expect(stdout).toBe("Hello from matryoshka guest on hart 0!\n");
    expect(status).toBe(0);
  });
});
