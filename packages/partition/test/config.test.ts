import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { guestPath, repoRoot } from "@matryoshka/testkit";
import { loadPartitionConfig, parsePartitionConfig, PartitionConfigError, promisedShares, validatePartitionConfig, type PartitionPlan } from "../src/index.js";

const crc32 = guestPath("crc32");
const validate = (config: unknown): PartitionPlan => validatePartitionConfig(config, repoRoot, "test.json");

/** The problems a config is rejected with (fails the test if it is accepted). */
function problemsOf(config: unknown): readonly string[] {
  try {
    validate(config);
  } catch (error) {
    expect(error).toBeInstanceOf(PartitionConfigError);
    return (error as PartitionConfigError).problems;
  }
  throw new Error("the config was accepted");
}

/** A config with the given VMs on a machine of `harts` harts. */
const machine = (vms: unknown[], harts = 4, extra: Record<string, unknown> = {}) => ({ machine: { harts }, duration: 10, vms, ...extra });
const vm = (name: string, placement: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ name, guest: crc32, ...placement, ...extra });

describe("partition config validation", () => {
  it("accepts partitions and shares, fills defaults, resolves paths against the config file, and finds the pool", () => {
    const plan = parsePartitionConfig(
      JSON.stringify(machine([vm("a", { harts: [0, 1] }, { vcpus: 2, guest: "guests/crc32/crc32.elf" }), vm("b", { share: { weight: 2, cap: 50 } }), vm("c", { share: {} })])),
      join(repoRoot, "example.json"),
    );
    expect(plan.machineHarts).toBe(4);
    expect(plan.scheduler).toBe("credit");
    expect(plan.durationMs).toBe(10);
    expect(plan.poolHarts).toEqual([2, 3]);
    expect(plan.vms.map((v) => v.placement)).toEqual([
      { kind: "partition", harts: [0, 1] },
      { kind: "shared", weight: 2, cap: 50 },
      { kind: "shared", weight: 1, cap: 0 },
    ]);
    expect(plan.vms[0]!.guestPath).toBe(crc32);
    expect(plan.vms[0]!.vcpus).toBe(2);
    expect(plan.vms[1]!.vcpus).toBe(1);
    expect(plan.vms[1]!.memoryMiB).toBe(64);
  });

  it("loads the committed example", () => {
    const plan = loadPartitionConfig(join(repoRoot, "apps/partitioner/examples/two-partitions.json"));
    expect(plan.vms.map((v) => v.name)).toEqual(["a", "b", "light", "heavy"]);
    expect(plan.poolHarts).toEqual([2]);
  });

  it("rejects malformed JSON, naming the file", () => {
    expect(() => parsePartitionConfig('{ "machine": ', "/configs/bad.json")).toThrow(PartitionConfigError);
    expect(() => parsePartitionConfig('{ "machine": ', "/configs/bad.json")).toThrow(/^\/configs\/bad\.json: not valid JSON: /);
  });

  it("rejects a missing config file", () => {
    expect(() => loadPartitionConfig(join(repoRoot, "no-such-config.json"))).toThrow(/config file not found: .*no-such-config\.json/);
  });

  it("rejects a config that is not an object, or has no VMs", () => {
    expect(problemsOf([1, 2])).toEqual([expect.stringMatching(/^the config must be a JSON object/)]);
    expect(problemsOf(machine([]))).toEqual([expect.stringMatching(/^vms: expected a non-empty array/)]);
  });

  it("rejects unknown fields (typos) with their path", () => {
    expect(problemsOf({ ...machine([vm("a", { harts: [0] }, { hart: [1] })]), schedular: "credit" })).toEqual([
      expect.stringMatching(/^schedular: unknown field/),
      expect.stringMatching(/^vms\[0\]\.hart: unknown field/),
    ]);
  });

  it("rejects a bad machine, scheduler and duration", () => {
    expect(problemsOf(machine([vm("a", { harts: [0] })], 0))).toContainEqual(expect.stringMatching(/^machine\.harts: expected an integer from 1 to 64, got 0/));
    expect(problemsOf(machine([vm("a", { harts: [0] })], 4, { scheduler: "fifo" }))).toEqual([expect.stringMatching(/^scheduler: expected one of "round-robin", "credit", "stride", got "fifo"/)]);
    expect(problemsOf(machine([vm("a", { harts: [0] })], 4, { duration: -1 }))).toEqual([expect.stringMatching(/^duration: expected milliseconds of guest time/)]);
  });

  it("rejects hart ids out of range", () => {
    expect(problemsOf(machine([vm("a", { harts: [4] })]))).toEqual(["vms[0].harts: hart 4 is not a hart of the machine (ids 0..3)"]);
    expect(problemsOf(machine([vm("a", { harts: [1.5] })]))).toEqual(["vms[0].harts: hart 1.5 is not a hart of the machine (ids 0..3)"]);
  });

  it("rejects a hart given twice: to two VMs, or twice in one list", () => {
    expect(problemsOf(machine([vm("a", { harts: [2, 3] }), vm("b", { harts: [3] })]))).toEqual(['vms[1].harts: hart 3 is already given to "a"']);
    expect(problemsOf(machine([vm("a", { harts: [1, 1] })]))).toEqual(["vms[0].harts: hart 1 is listed twice"]);
  });

  it("rejects more vCPUs than the partition has harts (a partition gives each vCPU a hart of its own)", () => {
    expect(problemsOf(machine([vm("a", { harts: [0] }, { vcpus: 2 })]))).toEqual([expect.stringMatching(/^vms\[0\]\.harts: 2 vCPUs pinned to 1 hart; a partition gives each vCPU a hart of its own/)]);
  });

  it("accepts fewer vCPUs than harts in a partition (the spare harts idle)", () => {
    expect(validate(machine([vm("a", { harts: [0, 1] }, { vcpus: 1 })])).vms[0]!.placement).toEqual({ kind: "partition", harts: [0, 1] });
  });

  it("wants exactly one of harts and share", () => {
    expect(problemsOf(machine([vm("a", { harts: [0], share: {} })]))).toEqual([expect.stringMatching(/^vms\[0\]: give either "harts" .* or "share" .*, not both/)]);
    expect(problemsOf(machine([vm("a", {})]))).toEqual([expect.stringMatching(/^vms\[0\]: give either "harts"/)]);
  });

  it("rejects shared VMs when the partitions leave no harts", () => {
    expect(problemsOf(machine([vm("a", { harts: [0] }), vm("b", { harts: [1] }), vm("c", { share: { weight: 1 } })], 2))).toEqual([
      "vms[2].share: no harts are left for the shared pool (partitions take all 2 of the machine's harts)",
    ]);
  });

  it("rejects a cap above 100% per pool hart, and bad weights", () => {
    expect(problemsOf(machine([vm("a", { harts: [0, 1] }), vm("b", { share: { cap: 250 } })]))).toEqual(["vms[1].share.cap: 250% is more than 100% × the pool's 2 harts (200%)"]);
    expect(validate(machine([vm("a", { harts: [0, 1] }), vm("b", { share: { cap: 200 } })])).vms[1]!.placement).toEqual({ kind: "shared", weight: 1, cap: 200 });
    expect(problemsOf(machine([vm("b", { share: { weight: 0 } })]))).toEqual(["vms[0].share.weight: expected a number > 0, got 0"]);
    expect(problemsOf(machine([vm("b", { share: { weight: 2 } })], 4, { scheduler: "round-robin" }))).toEqual([
      'vms[0].share.weight: the round-robin scheduler ignores weights; use "scheduler": "credit" or "stride"',
    ]);
  });

  it("rejects an unknown guest or disk file, with the resolved path", () => {
    expect(problemsOf(machine([vm("a", { harts: [0] }, { guest: "guests/nope/nope.elf" })]))).toEqual([`vms[0].guest: guest not found: ${join(repoRoot, "guests/nope/nope.elf")}`]);
    expect(problemsOf(machine([vm("a", { harts: [0] }, { guest: "guests" })]))).toEqual([`vms[0].guest: guest is not a file: ${join(repoRoot, "guests")}`]);
    expect(problemsOf(machine([vm("a", { harts: [0] }, { disk: "nope.img" })]))).toEqual([`vms[0].disk: disk image not found: ${join(repoRoot, "nope.img")}`]);
  });

  it("rejects a guest larger than the VM's RAM and a disk too large to hold in memory, without reading them (files of any size)", () => {
    const directory = mkdtempSync(join(tmpdir(), "matryoshka-partition-"));
    try {
      // Sparse files: 3 GiB is more than Node can read into one buffer.
      const big = join(directory, "big.bin");
      writeFileSync(big, "");
      truncateSync(big, 3 * 1024 ** 3);
      expect(problemsOf(machine([vm("a", { harts: [0] }, { guest: big, memoryMiB: 16 })]))).toEqual([
        `vms[0].guest: ${big} is ${3 * 1024 ** 3} bytes, larger than the VM's 16 MiB of RAM (memoryMiB)`,
      ]);
      expect(problemsOf(machine([vm("a", { harts: [0] }, { disk: big })]))).toEqual([`vms[0].disk: ${big} is ${3 * 1024 ** 3} bytes, larger than the 512 MiB a VM's in-memory disk may have`]);
      expect(() => loadPartitionConfig(big)).toThrow(/config is 3221225472 bytes, larger than 1 MiB/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("rejects duplicate names and bad per-VM options", () => {
    expect(problemsOf(machine([vm("a", { harts: [0] }), vm("a", { harts: [1] })]))).toEqual(['vms[1].name: "a" is already the name of vms[0]']);
    expect(problemsOf(machine([vm("a", { harts: [0] }, { vcpus: 9, memoryMiB: 0, virtio: 3, input: 5 })]))).toEqual([
      expect.stringMatching(/^vms\[0\]\.vcpus: expected an integer from 1 to 8/),
      expect.stringMatching(/^vms\[0\]\.memoryMiB: expected an integer/),
      expect.stringMatching(/^vms\[0\]\.virtio: expected 1 \(legacy\) or 2 \(modern\), got 3/),
      expect.stringMatching(/^vms\[0\]\.input: expected a string/),
    ]);
  });

  it("rejects shared VMs that do not fit in one board's memory", () => {
    expect(problemsOf(machine([vm("a", { share: {} }, { memoryMiB: 1024 }), vm("b", { share: {} }, { memoryMiB: 1024 })]))).toEqual([
      expect.stringMatching(/^vms: the shared VMs need 2056 MiB of host memory/),
    ]);
  });

  it("lists every problem at once, one per line after the file name", () => {
    const error = (() => {
      try {
        validate(machine([vm("a", { harts: [7] }), vm("b", { share: { cap: -1 } })]));
      } catch (caught) {
        return caught as PartitionConfigError;
      }
    })();
    expect(error?.problems).toHaveLength(2);
    expect(error?.message).toBe("test.json: 2 problems:\n  vms[0].harts: hart 7 is not a hart of the machine (ids 0..3)\n  vms[1].share.cap: expected a percentage of one hart, a number >= 0 (0: uncapped), got -1");
  });
});

describe("promised shares of the pool", () => {
  const close = (actual: number[], expected: number[]) => actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 9));

  it("divides the pool by weight", () => {
    close(promisedShares([{ weight: 1, cap: 0 }, { weight: 2, cap: 0 }], 1), [1 / 3, 2 / 3]);
  });

  it("gives no vCPU more than one hart and shares the rest by weight", () => {
    close(promisedShares([{ weight: 1, cap: 0 }, { weight: 1, cap: 0 }, { weight: 4, cap: 0 }], 2), [0.5, 0.5, 1]);
  });

  it("counts vCPUs: each is an entity with its VM's weight and cap", () => {
    // Three vCPUs of equal weight on one hart: the two-vCPU VM gets two thirds.
    close(promisedShares([{ weight: 1, cap: 0, vcpus: 2 }, { weight: 1, cap: 0 }], 1), [2 / 3, 1 / 3]);
    // On three harts, a two-vCPU VM can take two of them, whatever its weight.
    close(promisedShares([{ weight: 9, cap: 0, vcpus: 2 }, { weight: 1, cap: 0 }], 3), [2, 1]);
    // A cap holds per vCPU.
    close(promisedShares([{ weight: 1, cap: 25, vcpus: 2 }, { weight: 1, cap: 0 }], 1), [0.5, 0.5]);
  });

  it("holds caps and gives what a capped VM cannot take to the others", () => {
    close(promisedShares([{ weight: 4, cap: 20 }, { weight: 1, cap: 0 }, { weight: 1, cap: 0 }], 1), [0.2, 0.4, 0.4]);
  });

  it("ignores weights for round robin", () => {
    close(promisedShares([{ weight: 1, cap: 0 }, { weight: 3, cap: 0 }], 1, true), [0.5, 0.5]);
  });
});

describe("the memory pool (machine.memoryMiB, memory, memoryShares, minMiB)", () => {
  it("gives the shared pool what the partitions leave, turns the memory manager on with ESX's defaults, and takes shares and minimums", () => {
    const plan = validate({
      machine: { harts: 2, memoryMiB: 100 },
      duration: 10,
      vms: [vm("p", { harts: [0] }, { memoryMiB: 16 }), vm("s1", { share: {} }, { memoryMiB: 64, memoryShares: 3000, minMiB: 8 }), vm("s2", { share: {} }, { memoryMiB: 64 })],
    });
    // The partition reserves its 16 MiB and 4 MiB of shadow tables: 80 MiB are left for 128 MiB of VMs.
    expect(plan.machineMemoryMiB).toBe(100);
    expect(plan.poolMemoryMiB).toBe(80);
    expect(plan.memory).toEqual({ sharing: true, balloon: true, idleTax: 0.75 });
    expect(plan.vms.map((v) => [v.memoryShares, v.minMiB])).toEqual([
      [1000, 0],
      [3000, 8],
      [1000, 0],
    ]);
  });

  it("takes a policy, with the swap file resolved against the config file", () => {
    const plan = validate({ ...machine([vm("s", { share: {} })], 1), machine: { harts: 1, memoryMiB: 32 }, memory: { sharing: false, balloon: true, idleTax: 0.5, swap: "swap.bin" } });
    expect(plan.memory).toEqual({ sharing: false, balloon: true, idleTax: 0.5, swapPath: join(repoRoot, "swap.bin") });
    // Without a pool or a policy, no memory manager: every VM's memory is its own, as before.
    const plain = validate(machine([vm("s", { share: {} }, { memoryMiB: 16 })], 1));
    expect(plain.memory).toBeUndefined();
    expect(plain.poolMemoryMiB).toBe(20);
  });

  it("names every field at fault", () => {
    const problems = problemsOf({
      machine: { harts: 2, memoryMiB: 30 },
      memory: { sharing: "yes", idleTax: 1, swap: "no/such/folder/swap.bin", colour: 1 },
      duration: 10,
      vms: [vm("p", { harts: [0] }, { memoryMiB: 32, memoryShares: 5 }), vm("s", { share: {} }, { memoryMiB: 16, memoryShares: -1, minMiB: 17 })],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^memory\.colour: unknown field/),
        expect.stringMatching(/^memory\.sharing: expected true or false/),
        expect.stringMatching(/^memory\.idleTax: expected a number from 0 to below 1/),
        expect.stringMatching(/^memory\.swap: the folder of the swap file does not exist/),
        expect.stringMatching(/^vms\[0\]: memoryShares and minMiB divide the shared pool's memory/),
        expect.stringMatching(/^vms\[1\]\.memoryShares: expected a number > 0/),
        expect.stringMatching(/^vms\[1\]\.minMiB: expected an integer from 0 to its memoryMiB \(16\)/),
      ]),
    );
    // A pool too small for what its VMs cannot do without, and partitions larger than the machine.
    expect(problemsOf({ machine: { harts: 2, memoryMiB: 30 }, duration: 10, vms: [vm("p", { harts: [0] }, { memoryMiB: 32 }), vm("s", { share: {} })] })).toEqual([
      expect.stringMatching(/^machine\.memoryMiB: the partitions reserve 36 MiB/),
    ]);
    expect(problemsOf({ machine: { harts: 2, memoryMiB: 40 }, duration: 10, vms: [vm("p", { harts: [0] }, { memoryMiB: 16 }), vm("s", { share: {} }, { memoryMiB: 32, minMiB: 24 })] })).toEqual([
      expect.stringMatching(/^machine\.memoryMiB: the shared pool gets 20 MiB .* less than the 26 MiB/),
    ]);
  });
});
