import { describe, expect, it } from "vitest";
import { guestPath } from "@matryoshka/testkit";
import { main } from "../src/app.js";

async function nested(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const status = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { status, stdout, stderr };
}

describe("nested", () => {
  it("runs hello under two hypervisors: its console on stdout, each level's exits on stderr, status 0", async () => {
    const { status, stdout, stderr } = await nested(guestPath("hello"), "--depth", "2");
    expect(stdout).toBe("Hello from matryoshka guest on hart 0!\n");
    const lines = stderr.trim().split("\n");
    expect(lines[0]).toMatch(/^nested: pass at depth 2 on (interpreter|bt): [\d,]+ instructions in [\d.]+ ms$/);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^ {2}L1: [1-9][\d,]* exits handled, [1-9][\d,]* reflected, [1-9][\d,]* shadow fills$/),
      expect.stringMatching(/^ {2}L2: [1-9][\d,]* exits handled, 0 reflected, [1-9][\d,]* shadow fills$/),
    ]);
    expect(status).toBe(0);
  });

  it("exits with the guest's failure code", async () => {
    const { status, stderr } = await nested(guestPath("fail"), "--depth", "1", "--engine", "interpreter");
    expect(stderr).toMatch(/^nested: fail 42 at depth 1 on interpreter:/);
    expect(status).toBe(42);
  });

  it.each([
    [["--depth", "1"], "expected one kernel file"],
    [["guests/none.elf"], "no kernel file guests/none.elf"],
    [[guestPath("hello"), "--depth", "65"], "--depth must be an integer from 0 to 64"],
    [[guestPath("hello"), "--engine", "qemu"], "--engine must be one of interpreter, bt"],
    [[guestPath("hello"), "--frobnicate"], "Unknown option '--frobnicate'"],
  ])("refuses %j with status 2 and the usage", async (argv, message) => {
    const { status, stdout, stderr } = await nested(...argv);
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain(message);
    expect(stderr).toContain("usage: nested <kernel>");
  });
});
