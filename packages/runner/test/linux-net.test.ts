import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NetSwitch, defaultMac } from "@matryoshka/devices";
import type { RunOutcome } from "@matryoshka/machine";
import { buildStack, type Stack } from "@matryoshka/vmm";

// Linux 6.1's own virtio_net driver on matryoshka (issue 21): two VMs boot the kernel built by
// scripts/linux/build.sh (outside the repository, see scripts/linux/README.md and
// docs/linux-virtio-net.md) with their cards on one NetSwitch; the initramfs's /init brings eth0 up
// with ioctls and exchanges UDP datagrams (mtest=udp-server / mtest=udp-client on the command
// line), then powers the VM off. Skipped, with a note, when the kernel has not been built.

const CACHE = process.env.MATRYOSHKA_LINUX_CACHE ?? join(homedir(), ".cache", "matryoshka", "linux");
const FILES = { bios: "fw_jump.bin", kernel: "Image", initrd: "initramfs.cpio", config: "config" } as const;
const missing = Object.values(FILES).filter((name) => !existsSync(join(CACHE, name)));
// A kernel built before networking was in scripts/linux/matryoshka.config has no virtio_net.
const networking = missing.length === 0 && /^CONFIG_VIRTIO_NET=y$/m.test(readFileSync(join(CACHE, FILES.config), "utf8"));
if (missing.length > 0) {
  console.log(`[skip] Linux virtio_net tests: ${missing.join(", ")} not in ${CACHE} (build them with bash scripts/linux/build.sh)`);
} else if (!networking) {
  console.log(`[skip] Linux virtio_net tests: the kernel in ${CACHE} has no CONFIG_VIRTIO_NET (rebuild it with bash scripts/linux/build.sh)`);
}
const read = (name: string) => new Uint8Array(readFileSync(join(CACHE, name)));

/** Instructions each VM runs in its turn. */
const SLICE = 200_000;
const GUEST_MIB = 64;
const DATAGRAMS = 32;
const SERVER = "10.0.0.1";
const CLIENT = "10.0.0.2";

interface LinuxVm {
  stack: Stack;
  output(): string;
}

function bootLinux(depth: number, lan: NetSwitch, index: number, append: string): LinuxVm {
  let text = "";
  const stack = buildStack(depth, {
    memoryMiB: GUEST_MIB,
    console: (byte) => (text += String.fromCharCode(byte)),
    net: [{ backend: lan.port(), mac: defaultMac(index) }],
  });
  (stack.vms.at(-1) ?? stack.guest).boot({ kernel: read(FILES.kernel), bios: read(FILES.bios), initrd: read(FILES.initrd), append: `console=ttyS0 ${append}` });
  return { stack, output: () => text };
}

/** Runs the VMs in turns until each has stopped; fails with both consoles past `budget` instructions each. */
function runAll(vms: LinuxVm[], budget: number): RunOutcome[] {
  const outcomes: (RunOutcome | undefined)[] = vms.map(() => undefined);
  for (let spent = 0; outcomes.some((o) => o === undefined); spent += SLICE) {
    if (spent >= budget) {
      throw new Error(`not done after ${budget} instructions each; the consoles end:\n${vms.map((vm) => vm.output().slice(-1500)).join("\n-----\n")}`);
    }
    vms.forEach((vm, i) => {
      if (outcomes[i] === undefined) {
        const outcome = vm.stack.guest.run(SLICE);
        if (outcome.kind !== "limit") outcomes[i] = outcome;
      }
    });
  }
  return outcomes as RunOutcome[];
}

describe.skipIf(!networking)("Linux 6.1's virtio_net driver: two VMs exchange UDP", () => {
  it.each([{ depth: 1 }, { depth: 2 }])(`at depth $depth on one NetSwitch in one process: ${DATAGRAMS} datagrams echoed, then both power off`, { timeout: 1_800_000 }, ({ depth }) => {
    const lan = new NetSwitch("lan");
    const started = performance.now();
    const server = bootLinux(depth, lan, 0, `mtest=udp-server maddr=${SERVER}`);
    const client = bootLinux(depth, lan, 1, `mtest=udp-client maddr=${CLIENT} mpeer=${SERVER} mcount=${DATAGRAMS}`);
    const outcomes = runAll([server, client], 1_500_000_000);
    const [serverText, clientText] = [server.output(), client.output()];
    expect(clientText).toContain("Linux version 6.1");
    // The driver found the card and the kernel named it eth0; /init configured it.
    expect(clientText).toContain("init: eth0 up");
    expect(serverText).toContain("init: eth0 up");
    const summary = /udp-client: (\d+)\/(\d+) replies from the server, (\d+) retries, (\d+) us per round trip/.exec(clientText);
    expect(summary, clientText.slice(-1500)).not.toBeNull();
    expect(Number(summary![1])).toBe(DATAGRAMS);
    expect(Number(summary![2])).toBe(DATAGRAMS);
    // Every datagram of the client (retries included) was echoed; the "bye" ended the server.
    const echoed = /udp-server: echoed (\d+) datagrams/.exec(serverText);
    expect(echoed, serverText.slice(-1500)).not.toBeNull();
    expect(Number(echoed![1])).toBeGreaterThanOrEqual(DATAGRAMS);
    expect(Number(echoed![1])).toBeLessThanOrEqual(DATAGRAMS + Number(summary![3]));
    // Both powered off through OpenSBI's SRST, which writes "pass" to the test device.
    expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }]);
    expect(serverText + clientText).not.toMatch(/Oops|BUG|panic|FAILED/);
    // The switch learned both cards: after ARP, everything went to one port.
    expect(lan.portOf(defaultMac(0))).toBe(0);
    expect(lan.portOf(defaultMac(1))).toBe(1);
    expect(lan.stats.forwarded).toBeGreaterThanOrEqual(2 * DATAGRAMS);
    expect(lan.stats.malformed).toBe(0);
    console.log(
      `[linux-net depth ${depth}] ${summary![0]}; server ${echoed![0]}; switch forwarded ${lan.stats.forwarded}, flooded ${lan.stats.flooded}; ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
