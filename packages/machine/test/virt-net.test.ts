import { describe, expect, it } from "vitest";
import { MemoryBlockBackend, NetSwitch, VirtioMmio, VirtioNet, VirtioRng, VirtioConsole, VirtioBalloon } from "@matryoshka/devices";
import { VirtMachine } from "@matryoshka/machine";

/** Slot → the device behind it, by class name. */
function slots(machine: VirtMachine): Record<number, string> {
  const out: Record<number, string> = {};
  machine.devices.entries.forEach(({ entry, device }) => {
    const slot = /^virtio(\d)$/.exec(entry.name);
    if (slot && device instanceof VirtioMmio) out[Number(slot[1])] = device.device.constructor.name;
  });
  return out;
}

describe("network cards, rng and console port on the board", () => {
  it("take the highest slots below the disks and the balloon, in order", () => {
    const lan = new NetSwitch();
    const machine = new VirtMachine({
      memoryMiB: 8,
      disks: [new MemoryBlockBackend(4096)],
      balloon: { backend: { inflate: () => 0, deflate: () => 0 } },
      net: [{ backend: lan.port() }, { backend: lan.port() }],
      rng: {},
      virtioConsole: { output: () => {} },
    });
    expect(slots(machine)).toEqual({ 7: "VirtioBlk", 6: VirtioBalloon.name, 5: VirtioNet.name, 4: VirtioNet.name, 3: VirtioRng.name, 2: VirtioConsole.name });
    // QEMU's numbering of MACs: 52:54:00:12:34:56, then :57.
    const macs = machine.virtio.filter((t) => t.device instanceof VirtioNet).map((t) => (t.device as VirtioNet).mac[5]);
    expect(macs.sort()).toEqual([0x56, 0x57]);
  });

  it("honour an explicit slot and refuse a taken one", () => {
    const lan = new NetSwitch();
    const machine = new VirtMachine({ memoryMiB: 8, net: [{ backend: lan.port(), slot: 0 }] });
    expect(slots(machine)).toEqual({ 0: VirtioNet.name });
    expect(() => new VirtMachine({ memoryMiB: 8, disks: [{ backend: new MemoryBlockBackend(4096), slot: 2 }], net: [{ backend: lan.port(), slot: 2 }] })).toThrow(
      /network card 0: virtio-mmio slot 2 is already taken/,
    );
    expect(() => new VirtMachine({ memoryMiB: 8, rng: { slot: 9 } })).toThrow(/virtio-rng: virtio-mmio slot 9 is out of range/);
  });
});
