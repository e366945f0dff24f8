import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseElf, VirtMachine } from "@matryoshka/machine";
import { CreditScheduler, RoundRobin, StrideScheduler } from "@matryoshka/scheduler";
import { join } from "node:path";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { guestPhysical } from "@matryoshka/memory";
import { guestPath, repoRoot } from "@matryoshka/testkit";
import { bareMetal, Hypervisor, runScheduled, type VM } from "@matryoshka/vmm";

/** Platform instructions per millisecond of guest time (10 instructions per 10 MHz mtime tick). */
const UNITS_PER_MS = 100_000;

/** VMs on one hypervisor on a one-hart machine, each booted with `guest`. */
function vms(guests: string[], memoryMiB = 16): VM[] {
  const host = new VirtMachine({ memoryMiB: 64 + guests.length * (memoryMiB + 8) });
  const hypervisor = new Hypervisor(bareMetal(host));
  return guests.map((name) => {
    const vm = hypervisor.createVm({ memoryMiB });
    vm.boot({ kernel: new Uint8Array(readFileSync(guestPath(name))) });
    return vm;
  });
}

const share = (received: number, total: number) => received / total;

describe("VMs time-sharing the platform's hart, as the hypervisor's scheduler decides", () => {
  it("gives CPU-bound guests shares in proportion to their weights 1:2:4 (stride), within 5%", () => {
    const guests = vms(["crc32", "crc32", "crc32"]);
    const weights = [1, 2, 4];
    const scheduler = new StrideScheduler({ quantum: UNITS_PER_MS });
    const results = runScheduled(guests.map((vm, i) => ({ vm, params: { weight: weights[i] } })), scheduler, { duration: 70 * UNITS_PER_MS });
    const total = results.reduce((sum, r) => sum + r.received, 0);
    expect(total).toBeGreaterThan(69 * UNITS_PER_MS); // CPU-bound: the hart never idles
    results.forEach((r, i) => expect(Math.abs(share(r.received, total) - weights[i]! / 7)).toBeLessThan(0.05));
    for (const r of results) expect(r.outcome).toBeUndefined(); // crc32 is far from done
  });

  it("credit scheduling: weights 1:2:4 within 5%", () => {
    const guests = vms(["crc32", "crc32", "crc32"]);
    const weights = [256, 512, 1024];
    // Xen's defaults: 30 ms slices and accounting periods, 10 ms ticks; twenty periods.
    const scheduler = new CreditScheduler({ unitsPerMs: UNITS_PER_MS });
    const results = runScheduled(guests.map((vm, i) => ({ vm, params: { weight: weights[i] } })), scheduler, { duration: 600 * UNITS_PER_MS });
    const total = results.reduce((sum, r) => sum + r.received, 0);
    results.forEach((r, i) => expect(Math.abs(share(r.received, total) - [1, 2, 4][i]! / 7)).toBeLessThan(0.05));
  });

  it("credit scheduling: a VM capped at 25% of the hart never gets more, even beside an idle hart's worth of room", () => {
    const guests = vms(["crc32", "crc32"]);
    const scheduler = new CreditScheduler({ unitsPerMs: UNITS_PER_MS, timeslice: 3 * UNITS_PER_MS, tick: UNITS_PER_MS });
    const duration = 300 * UNITS_PER_MS;
    const [capped, hog] = runScheduled([{ vm: guests[0]!, params: { cap: 25 } }, { vm: guests[1]! }], scheduler, { duration });
    expect(share(capped!.received, duration)).toBeLessThanOrEqual(0.25 + 0.01);
    expect(share(capped!.received, duration)).toBeGreaterThan(0.2);
    expect(capped!.received + hog!.received).toBeGreaterThan(0.99 * duration);
  });

  it("lets a guest that sleeps give its hart away, and runs guests to their end", () => {
    // hello finishes quickly; interrupts sleeps in WFI for its timer tests; crc32 hogs the hart.
    const guests = vms(["hello", "interrupts", "crc32"]);
    const results = runScheduled(guests.map((vm) => ({ vm })), new RoundRobin(UNITS_PER_MS / 10), { duration: 40 * UNITS_PER_MS });
    expect(results[0]!.outcome).toEqual({ kind: "pass" });
    expect(results[1]!.outcome).toEqual({ kind: "pass" });
    expect(results[2]!.outcome).toBeUndefined();
    // The hog got the rest of the hart: everything the others did not use.
    const used = results.reduce((sum, r) => sum + r.received, 0);
    expect(used).toBeGreaterThan(39 * UNITS_PER_MS);
  });

  it("credit scheduling puts a guest waking from sleep ahead of CPU hogs (boost), round robin makes it wait its turn", () => {
    // kernel-ops computes for a while, then sleeps until its timer, 200 times: count its wake-ups.
    const kernel = new Uint8Array(readFileSync(guestPath("kernel-ops")));
    const ticks = parseElf(kernel).symbols.get("ticks")!.value;
    const wakeUps = (scheduler: CreditScheduler | RoundRobin) => {
      const [sleeper, ...hogs] = vms(["kernel-ops", "crc32", "crc32"]);
      runScheduled([sleeper!, ...hogs].map((vm) => ({ vm })), scheduler, { duration: 500 * UNITS_PER_MS });
      return sleeper!.board.ram.readU32(guestPhysical(ticks))!;
    };
    const boosted = wakeUps(new CreditScheduler({ unitsPerMs: UNITS_PER_MS }));
    const roundRobin = wakeUps(new RoundRobin(30 * UNITS_PER_MS));
    expect(roundRobin).toBeGreaterThan(0);
    expect(boosted).toBeGreaterThan(3 * roundRobin);
  });

  it("schedules vCPUs, not VMs: a two-vCPU VM beside a one-vCPU VM on one hart gets two shares of three", () => {
    const host = new VirtMachine({ memoryMiB: 96 });
    const hypervisor = new Hypervisor(bareMetal(host));
    const smp = hypervisor.createVm({ memoryMiB: 16, harts: 2 });
    smp.boot({ kernel: new Uint8Array(readFileSync(guestPath("smp-compute"))) });
    const single = hypervisor.createVm({ memoryMiB: 16 });
    single.boot({ kernel: new Uint8Array(readFileSync(guestPath("crc32"))) });
    const duration = 90 * UNITS_PER_MS;
    const [pair, one] = runScheduled([{ vm: smp }, { vm: single }], new CreditScheduler({ unitsPerMs: UNITS_PER_MS }), { duration });
    const total = pair!.received + one!.received;
    expect(total).toBeGreaterThan(0.99 * duration);
    expect(Math.abs(share(pair!.received, total) - 2 / 3)).toBeLessThan(0.05);
    // Each of its vCPUs is an entity of its own, with a third of the hart.
    for (const vcpu of pair!.vcpus) expect(Math.abs(share(vcpu.received, total) - 1 / 3)).toBeLessThan(0.05);
    expect(pair!.outcome).toBeUndefined();
  });

  it("runs an SMP guest's vCPUs on the platform's harts beside a hog, with the transcript it prints alone", () => {
    const boot = (host: VirtMachine) => {
      const hypervisor = new Hypervisor(bareMetal(host));
      let output = "";
      const smp = hypervisor.createVm({
        memoryMiB: 32, harts: 2, virtioVersion: 2, rtcEpochMilliseconds: 0,
        disks: [new MemoryBlockBackend(new Uint8Array(readFileSync(join(repoRoot, "guests/kernel/disk.img"))))],
        console: (byte) => (output += String.fromCharCode(byte)),
      });
      smp.boot({ kernel: new Uint8Array(readFileSync(guestPath("kernel-smp"))) });
      return { smp, hypervisor, output: () => output };
    };
    const alone = boot(new VirtMachine({ memoryMiB: 96, harts: 2 }));
    expect(alone.smp.run()).toEqual({ kind: "pass" });

    const shared = boot(new VirtMachine({ memoryMiB: 128, harts: 2 }));
    const hog = shared.hypervisor.createVm({ memoryMiB: 16 });
    hog.boot({ kernel: new Uint8Array(readFileSync(guestPath("crc32"))) });
    const scheduler = new CreditScheduler({ harts: 2, unitsPerMs: UNITS_PER_MS });
    const [smp, crc] = runScheduled([{ vm: shared.smp }, { vm: hog }], scheduler, { duration: 4000 * UNITS_PER_MS });
    expect(smp!.outcome).toEqual({ kind: "pass" });
    expect(shared.output()).toBe(alone.output());
    // Both vCPUs were placed on harts, and the hog ran beside them.
    for (const vcpu of smp!.vcpus) {
      expect(vcpu.dispatches).toBeGreaterThan(0);
      expect(vcpu.received).toBeGreaterThan(1_000_000);
    }
    expect(crc!.received).toBeGreaterThan(0);
  });

  it("gives each hypervisor level a scheduler of its own: two VMs inside a VM share its vCPU 1:3", () => {
    const host = new VirtMachine({ memoryMiB: 160 });
    const level1 = new Hypervisor(bareMetal(host)).createVm({ memoryMiB: 96 });
    const hypervisor2 = new Hypervisor(level1);
    const inner = [1, 3].map(() => {
      const vm = hypervisor2.createVm({ memoryMiB: 16 });
      vm.boot({ kernel: new Uint8Array(readFileSync(guestPath("crc32"))) });
      return vm;
    });
    expect(inner.map((vm) => vm.level)).toEqual([2, 2]);
    const scheduler = new StrideScheduler({ quantum: UNITS_PER_MS });
    const results = runScheduled(inner.map((vm, i) => ({ vm, params: { weight: [1, 3][i] } })), scheduler, { duration: 40 * UNITS_PER_MS });
    const total = results.reduce((sum, r) => sum + r.received, 0);
    expect(total).toBeGreaterThan(39 * UNITS_PER_MS);
    results.forEach((r, i) => expect(Math.abs(share(r.received, total) - [1, 3][i]! / 4)).toBeLessThan(0.05));
  });
});
