import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VirtMachine } from "@matryoshka/machine";
import { guestPath, repoRoot } from "@matryoshka/testkit";
import { INSTRUCTIONS_PER_MS, PartitionConfigError, prepareJob, runPartitions, validatePartitionConfig, type PartitionReport, type VmReport } from "../src/index.js";

// The engine the test project runs on ("bt" sets MATRYOSHKA_ENGINE): the worker threads must use it too
// (the report names the engine the workers' boards ran on).
const engine = process.env.MATRYOSHKA_ENGINE === "bt" ? "bt" : "interpreter";
const scratch = mkdtempSync(join(tmpdir(), "partitioner-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const byName = (report: PartitionReport, name: string): VmReport => report.vms.find((vm) => vm.name === name)!;

describe("running a partitioned machine on worker threads", () => {
  // A partition (hello on hart 0) and a shared pool (hart 1) where two CPU-bound guests get
  // stride shares 1:3.
  const config = {
    machine: { harts: 2 },
    scheduler: "stride",
    duration: 200,
    vms: [
      { name: "hello", guest: guestPath("hello"), harts: [0], memoryMiB: 16 },
      { name: "one", guest: guestPath("crc32"), share: { weight: 1 }, memoryMiB: 16 },
      { name: "three", guest: guestPath("crc32"), share: { weight: 3 }, memoryMiB: 16 },
    ],
  };
  const plan = validatePartitionConfig(config, scratch);
  let report: PartitionReport;

  it("runs every partition's guest to its end, on the engine the environment names", async () => {
    report = await runPartitions(plan);
    expect(report.engine).toBe(engine);
    expect(report.threads).toBe(2); // the partition and the pool
    expect(report.poolHarts).toEqual([1]);
    expect(report.status).toBe(0);
    const hello = byName(report, "hello");
    expect(hello.state).toBe("pass");
    expect(hello.output).toBe("Hello from matryoshka guest on hart 0!\n");
    // A partition is promised its harts for the whole duration; a guest that ends early uses less.
    expect(hello.promisedHartMs).toBe(200);
    expect(hello.receivedHartMs).toBe(hello.instructions / INSTRUCTIONS_PER_MS);
    expect(hello.receivedVsPromised).toBeLessThan(1);
  });

  it("gives the shared VMs the pool's hart in proportion to their weights (1:3), as promised", () => {
    const one = byName(report, "one");
    const three = byName(report, "three");
    expect(one.promisedHartMs).toBeCloseTo(50, 9);
    expect(three.promisedHartMs).toBeCloseTo(150, 9);
    for (const vm of [one, three]) {
      expect(vm.state).toBe("running"); // crc32 needs about 840 ms of a hart
      expect(vm.placement).toBe("shared");
      expect(vm.dispatches).toBeGreaterThan(10);
      expect(Math.abs(vm.receivedVsPromised - 1)).toBeLessThan(0.03);
    }
    // CPU-bound: the pool's hart never idled.
    expect(one.receivedHartMs + three.receivedHartMs).toBeGreaterThan(199);
  });

  it("gets the same shares from the pool on a worker thread as in this thread (the schedule is deterministic)", async () => {
    const shared = plan.vms.filter((vm) => vm.placement.kind === "shared");
    const inThisThread = await prepareJob({
      kind: "pool",
      harts: 1,
      scheduler: "stride",
      durationMs: 200,
      engine,
      vms: shared.map((vm) => ({ name: vm.name, guestPath: vm.guestPath, vcpus: 1, memoryMiB: 16, virtio: 1, weight: vm.placement.kind === "shared" ? vm.placement.weight : 1 })),
    }).run();
    expect(inThisThread.vms.map((vm) => vm.instructions)).toEqual([byName(report, "one").instructions, byName(report, "three").instructions]);
  });
});

describe("an SMP guest in a partition", () => {
  it("runs the two-hart test kernel with its vCPUs on two threads of their own, to the transcript it prints alone", async () => {
    // The duration only bounds the run: on threads the kernel's machine time runs at the pace of
    // its fastest hart, so a hart spinning while the other waits on a proxied device stretches it
    // (deterministically it needs 173 ms; on threads 180 ms to several times that, on bt most).
    const plan = validatePartitionConfig(
      {
        machine: { harts: 2 },
        duration: 20_000,
        vms: [{ name: "smp", guest: guestPath("kernel-smp"), vcpus: 2, harts: [0, 1], disk: join(repoRoot, "guests/kernel/disk.img"), input: "hello\n", memoryMiB: 64 }],
      },
      scratch,
    );
    const report = await runPartitions(plan);
    const smp = byName(report, "smp");
    expect(smp.state).toBe("pass");
    expect(smp.failed).toBe(false);
    expect(smp.output).toContain("smp: lr/sc spinlock: 2 harts x 50000 increments = 100000: ok\n");
    expect(smp.output).toContain("kernel: all tests passed\n");
    expect(smp.promisedHartMs).toBe(40_000);
    expect(report.status).toBe(0);
  });
});

describe("partitioner outcomes and baselines", () => {
  it("reports a failing guest's code with status 1, and measures each VM alone with --baseline; a partition does the same work either way", async () => {
    const plan = validatePartitionConfig(
      {
        machine: { harts: 2 },
        duration: 20,
        vms: [
          { name: "fail", guest: guestPath("fail"), harts: [0], memoryMiB: 16 },
          { name: "crc", guest: guestPath("crc32"), harts: [1], memoryMiB: 16 },
        ],
      },
      scratch,
    );
    const report = await runPartitions(plan, { baseline: true });
    expect(report.status).toBe(1);
    const fail = byName(report, "fail");
    expect(fail.state).toBe("fail");
    expect(fail.failCode).toBe(42);
    expect(fail.failed).toBe(true);
    const crc = byName(report, "crc");
    expect(crc.state).toBe("running");
    // 20 ms of one hart: exactly the instructions the duration allows.
    expect(crc.instructions).toBe(20 * INSTRUCTIONS_PER_MS);
    expect(crc.receivedVsPromised).toBe(1);
    for (const vm of report.vms) {
      expect(vm.aloneInstructions).toBe(vm.instructions);
      expect(vm.aloneInstructionsPerSecond).toBeGreaterThan(0);
      expect(vm.throughputVsAlone).toBe(vm.instructionsPerSecond / vm.aloneInstructionsPerSecond!);
    }
  });

  it("turns a guest the loader rejects into a config error naming the VM's guest field", async () => {
    const empty = join(scratch, "empty.elf");
    writeFileSync(empty, "");
    const plan = validatePartitionConfig({ machine: { harts: 1 }, duration: 1, vms: [{ name: "empty", guest: empty, harts: [0], memoryMiB: 16 }] }, scratch);
    await expect(runPartitions(plan)).rejects.toThrow(PartitionConfigError);
    await expect(runPartitions(plan)).rejects.toThrow(/^vms\[0\]\.guest: cannot load .*empty\.elf: kernel file is empty$/);
  });
});

describe("a shared pool smaller than its VMs (machine.memoryMiB, memory)", () => {
  it("runs three memhog VMs and the test kernel, 32 MiB each, in 8 MiB, ballooning, sharing and swapping to a file, each printing what it prints alone", async () => {
    const swap = join(scratch, "pool.swap");
    const hog = guestPath("memhog");
    const plan = validatePartitionConfig(
      {
        // The hello partition reserves 20 MiB (16 and its shadow tables): the pool gets 8 MiB for 96 MiB of VMs.
        machine: { harts: 2, memoryMiB: 28 },
        memory: { sharing: true, balloon: true, idleTax: 0.75, swap: "pool.swap" },
        duration: 2000,
        vms: [
          { name: "hello", guest: guestPath("hello"), harts: [0], memoryMiB: 16 },
          { name: "h1", guest: hog, share: {}, memoryMiB: 32 },
          { name: "h2", guest: hog, share: {}, memoryMiB: 32, memoryShares: 2000 },
          { name: "h3", guest: hog, share: {}, memoryMiB: 32, minMiB: 2 },
          { name: "os", guest: guestPath("kernel"), share: {}, memoryMiB: 32, disk: join(repoRoot, "guests/kernel/disk.img"), input: "hello\n" },
        ],
      },
      scratch,
    );
    expect(plan.poolMemoryMiB).toBe(8);
    const report = await runPartitions(plan);
    // The test kernel, alone in a partition of its own, prints what it prints in the pool (where it
    // also has a balloon, whose driver adds its own lines).
    const solo = await runPartitions(validatePartitionConfig({ machine: { harts: 1 }, duration: 2000, vms: [{ name: "os", guest: guestPath("kernel"), harts: [0], memoryMiB: 32, disk: join(repoRoot, "guests/kernel/disk.img"), input: "hello\n" }] }, scratch));
    const os = byName(report, "os");
    expect(os.state).toBe("pass");
    expect(byName(solo, "os").state).toBe("pass");
    expect(os.output).toMatch(/^virtio-balloon: inflated to \d+ pages/m);
    expect(os.output.replace(/^virtio-balloon: .*\n/gm, "")).toBe(byName(solo, "os").output);
    // Alone, on a board of its own with all the memory it asks for:
    let alone = "";
    const machine = new VirtMachine({ memoryMiB: 32, console: (byte) => (alone += String.fromCharCode(byte)) });
    machine.boot({ kernel: new Uint8Array(readFileSync(hog)) });
    expect(machine.run(100_000_000).kind).toBe("pass");
    expect(alone).toMatch(/^memhog: filled 1024 pages, 256 active\nmemhog: 256 active pages intact after 4 rounds\n$/);
    const hogs = ["h1", "h2", "h3"].map((name) => byName(report, name));
    for (const vm of hogs) {
      expect(vm.state).toBe("pass");
      expect(vm.output).toBe(alone);
      expect(vm.memoryMiB).toBe(32);
    }
    expect(report.status).toBe(0);
    expect(report.poolMemoryMiB).toBe(8);
    expect(report.memory).toEqual({ sharing: true, balloon: true, idleTax: 0.75, swap: true });
    expect(byName(report, "h2").memoryShares).toBe(2000);
    expect(byName(report, "h3").minMiB).toBe(2);
    // 12 MiB of writes did not fit 8 MiB: the balloons gave memory back, and the rest was shared or swapped.
    const total = (key: "balloonedMiB" | "sharedMiB" | "swappedMiB" | "residentMiB") => hogs.reduce((sum, vm) => sum + vm.memory[key], 0);
    expect(total("balloonedMiB")).toBeGreaterThan(0);
    expect(total("residentMiB")).toBeLessThanOrEqual(8);
    expect(total("sharedMiB") + total("swappedMiB")).toBeGreaterThan(0);
    // The swap file was the run's own: it is gone.
    expect(existsSync(swap)).toBe(false);
    expect(byName(report, "hello").memory.residentMiB).toBeGreaterThan(0);
  });
});
