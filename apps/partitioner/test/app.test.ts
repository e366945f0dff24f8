import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PartitionReport } from "@matryoshka/partition";
import { guestPath } from "@matryoshka/testkit";
import { main } from "../src/app.js";

const scratch = mkdtempSync(join(tmpdir(), "partitioner-app-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function partitioner(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const status = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { status, stdout, stderr };
}

function config(name: string, value: unknown): string {
  const path = join(scratch, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

describe("partitioner", () => {
  it("runs a config and prints its report as JSON: a passing partition and a failing one give status 1", async () => {
    const path = config("two.json", {
      machine: { harts: 2 },
      duration: 20,
      vms: [
        { name: "hello", guest: guestPath("hello"), harts: [0], memoryMiB: 16 },
        { name: "fail", guest: guestPath("fail"), harts: [1], memoryMiB: 16 },
      ],
    });
    const { status, stdout, stderr } = await partitioner(path, "--engine", "interpreter");
    expect(stderr).toBe("partitioner: running 2 VMs on 2 threads\n");
    const report = JSON.parse(stdout) as PartitionReport & { config: string };
    expect(report.config).toBe(path);
    expect(report.engine).toBe("interpreter");
    expect(report.vms.map((vm) => [vm.name, vm.state, vm.failCode])).toEqual([
      ["hello", "pass", undefined],
      ["fail", "fail", 42],
    ]);
    expect(report.vms[0]!.output).toBe("Hello from matryoshka guest on hart 0!\n");
    expect(report.status).toBe(1);
    expect(status).toBe(1);
  });

  it("refuses a config that does not fit with status 2, naming the field", async () => {
    const path = config("overlap.json", {
      machine: { harts: 1 },
      vms: [
        { name: "a", guest: guestPath("hello"), harts: [0] },
        { name: "b", guest: guestPath("hello"), harts: [0] },
      ],
    });
    const { status, stdout, stderr } = await partitioner(path);
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain('vms[1].harts: hart 0 is already given to "a"');
  });

  it.each([
    [[], "expected one config file"],
    [["x.json", "--engine", "qemu"], "--engine must be one of interpreter, bt"],
    [["x.json", "--frobnicate"], "Unknown option '--frobnicate'"],
  ])("refuses %j with status 2 and the usage", async (argv, message) => {
    const { status, stderr } = await partitioner(...argv);
    expect(status).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain("usage: partitioner <config.json>");
  });
});
