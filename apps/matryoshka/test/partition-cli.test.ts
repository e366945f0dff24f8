import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PartitionReport } from "@matryoshka/partition";
import { guestPath, runFrontDoor } from "@matryoshka/testkit";

const scratch = mkdtempSync(join(tmpdir(), "matryoshka-partition-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Run the front door exactly as users do, through pnpm from the repository root (the child
// inherits MATRYOSHKA_ENGINE, so the bt test project runs the partitions on the translator).
function matryoshka(...args: string[]) {
  return runFrontDoor(args);
}

const EXAMPLE = "apps/partitioner/examples/two-partitions.json";

describe("pnpm matryoshka partition", () => {
  it("runs the committed example: a table per VM, a JSON report, status 0", async () => {
    const json = join(scratch, "report.json");
    const { status, stdout, stderr } = await matryoshka("partition", EXAMPLE, "--json", json);
    expect(stderr).toContain("partition: running 4 VMs on 3 threads");
    expect(status).toBe(0);
    for (const column of ["VM", "placement", "vCPUs", "guest", "instructions", "hart-ms received / promised", "MIPS", "vs alone"]) expect(stdout).toContain(column);
    expect(stdout).toMatch(/│ a\s+│ partition: hart 0\s+│ 1\s+│ pass at 843\.7 ms\s+│ 84,366,562\s+│/);
    expect(stdout).toMatch(/│ light\s+│ shared \(hart 2\): weight 1\s+│ 1\s+│ running \(time up\)\s+│/);
    expect(stdout).toContain("3 host harts, shared pool hart 2 (credit); 1000 ms of guest time on 3 threads");

    const report = JSON.parse(readFileSync(json, "utf8")) as PartitionReport & { config: string };
    expect(report.config).toBe(EXAMPLE);
    expect(report.engine).toBe(process.env.MATRYOSHKA_ENGINE === "bt" ? "bt" : "interpreter");
    expect(report.vms.map((vm) => [vm.name, vm.placement, vm.state])).toEqual([
      ["a", "partition", "pass"],
      ["b", "partition", "pass"],
      ["light", "shared", "running"],
      ["heavy", "shared", "running"],
    ]);
    for (const vm of report.vms.slice(0, 2)) expect(vm.output).toContain("crc32 check: cbf43926 ok");
    // Weights 1:2 on the pool's one hart under the credit scheduler: a third and two thirds of it.
    const [light, heavy] = report.vms.slice(2);
    expect(light!.promisedHartMs).toBeCloseTo(1000 / 3, 6);
    expect(heavy!.promisedHartMs).toBeCloseTo(2000 / 3, 6);
    for (const vm of [light!, heavy!]) expect(Math.abs(vm.receivedVsPromised - 1)).toBeLessThan(0.05);
  });

  it("runs the memory-pool example: three memhog VMs overcommitted in 36 MiB, each VM's memory in the table and the JSON", async () => {
    const json = join(scratch, "memory.json");
    const { status, stdout } = await matryoshka("partition", "apps/partitioner/examples/memory-pool.json", "--json", json);
    expect(status).toBe(0);
    expect(stdout).toContain("MiB resident / shared / ballooned / swapped");
    expect(stdout).toContain("memory: machine 56 MiB, shared pool 36 MiB for 96 MiB of shared VMs (overcommitted 2.67×); page sharing, ballooning, idle tax 0.75");
    const report = JSON.parse(readFileSync(json, "utf8")) as PartitionReport;
    expect(report.poolMemoryMiB).toBe(36);
    const hogs = report.vms.filter((vm) => vm.name.startsWith("hog"));
    expect(hogs.map((vm) => vm.state)).toEqual(["pass", "pass", "pass"]);
    for (const vm of hogs) {
      expect(Object.keys(vm.memory).sort()).toEqual(["balloonedMiB", "residentMiB", "sharedMiB", "swappedMiB"]);
      expect(vm.memory.balloonedMiB).toBeGreaterThan(0);
      expect(vm.output).toBe("memhog: filled 1024 pages, 256 active\nmemhog: 256 active pages intact after 4 rounds\n");
    }
    expect(hogs.reduce((sum, vm) => sum + vm.memory.sharedMiB, 0)).toBeGreaterThan(0);
  });

  it("exits with 1 when a guest fails, and names the failure code", async () => {
    const config = join(scratch, "fail.json");
    writeFileSync(config, JSON.stringify({ machine: { harts: 2 }, duration: 5, vms: [{ name: "f", guest: guestPath("fail"), harts: [0], memoryMiB: 16 }, { name: "h", guest: guestPath("hello"), harts: [1], memoryMiB: 16 }] }));
    const { status, stdout } = await matryoshka("partition", config, "--show-output");
    expect(stdout).toMatch(/│ f\s+│ partition: hart 0\s+│ 1\s+│ FAIL code 42 at /);
    expect(stdout).toContain("--- f ---\nfailing on purpose with code 42\n");
    expect(status).toBe(1);
  });

  it("exits with 2 and names the field when the config does not fit", async () => {
    const config = join(scratch, "overlap.json");
    writeFileSync(config, JSON.stringify({ machine: { harts: 2 }, duration: 5, vms: [{ name: "a", guest: guestPath("hello"), harts: [0, 1] }, { name: "b", guest: guestPath("hello"), harts: [1] }] }));
    const { status, stdout, stderr } = await matryoshka("partition", config);
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe(`matryoshka: ${config}: vms[1].harts: hart 1 is already given to "a"\n`);
  });

  it("exits with 2 for a config file that is missing or not JSON", async () => {
    const missing = await matryoshka("partition", join(scratch, "nope.json"));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("config file not found");
    const config = join(scratch, "broken.json");
    writeFileSync(config, "{ machine: 2 }");
    const broken = await matryoshka("partition", config);
    expect(broken.status).toBe(2);
    expect(broken.stderr).toMatch(/^matryoshka: .*broken\.json: not valid JSON: /);
  });
});
