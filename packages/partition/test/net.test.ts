import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { guestPath } from "@matryoshka/testkit";
import { PartitionConfigError, runPartitions, validatePartitionConfig, type PartitionReport, type VmReport } from "../src/index.js";

const byName = (report: PartitionReport, name: string): VmReport => report.vms.find((vm) => vm.name === name)!;

describe('partition configs with "net": VMs on one virtual switch', () => {
  it("net-ping in a partition reaches net-echo in another partition, across worker threads over shared memory", async () => {
    const plan = validatePartitionConfig(
      {
        machine: { harts: 2 },
        duration: 60_000, // guest time; the VMs end long before unless the host starves the switch thread
        vms: [
          { name: "echo", guest: guestPath("net-echo"), harts: [0], memoryMiB: 16, net: "lan" },
          { name: "ping", guest: guestPath("net-ping"), harts: [1], memoryMiB: 16, net: "lan", virtio: 2 },
        ],
      },
      tmpdir(),
    );
    const report = await runPartitions(plan);
    expect(byName(report, "ping").output).toContain("net-ping: 16/16 replies from 52:54:00:12:34:56");
    expect(byName(report, "ping").state).toBe("pass");
    expect(byName(report, "echo").output).toContain("net-echo: echoed");
    expect(byName(report, "echo").state).toBe("pass");
    expect(report.status).toBe(0);
  });

  it("puts a partition and a VM of the shared pool on one switch", async () => {
    const plan = validatePartitionConfig(
      {
        machine: { harts: 2 },
        duration: 60_000, // guest time; the VMs end long before unless the host starves the switch thread
        vms: [
          { name: "echo", guest: guestPath("net-echo"), share: { weight: 1 }, memoryMiB: 16, net: "lan" },
          { name: "other", guest: guestPath("hello"), share: { weight: 1 }, memoryMiB: 16 },
          { name: "ping", guest: guestPath("net-ping"), harts: [1], memoryMiB: 16, net: "lan" },
        ],
      },
      tmpdir(),
    );
    const report = await runPartitions(plan);
    expect(byName(report, "ping").output).toContain("net-ping: 16/16 replies from 52:54:00:12:34:56");
    expect(byName(report, "echo").state).toBe("pass");
    expect(byName(report, "ping").state).toBe("pass");
  });

  it("refuses a net that is not a switch name", () => {
    expect(() => validatePartitionConfig({ machine: { harts: 1 }, duration: 1, vms: [{ name: "a", guest: guestPath("hello"), harts: [0], net: "" }] }, tmpdir())).toThrow(PartitionConfigError);
    expect(() => validatePartitionConfig({ machine: { harts: 1 }, duration: 1, vms: [{ name: "a", guest: guestPath("hello"), harts: [0], net: 3 }] }, tmpdir())).toThrow(/vms\[0\]\.net: expected the name of a virtual switch/);
  });
});
