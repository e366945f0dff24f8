import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { NetSwitch, VirtioNet, defaultMac } from "@matryoshka/devices";
import { parseElf, type RunOutcome } from "@matryoshka/machine";
import { buildStack, type Stack } from "@matryoshka/vmm";

const guests = fileURLToPath(new URL("../../../guests/", import.meta.url));
const elf = (name: string) => new Uint8Array(readFileSync(`${guests}${name}/${name}.elf`));

/** net-ping with its `params` words (bulk_frames, window, frame_bytes) written into the ELF's bytes. */
function netPingWith(words: [number, number, number]): Uint8Array {
  const bytes = elf("net-ping");
  const image = parseElf(bytes);
  const params = image.symbols.get("params")!;
  const segment = image.segments.find((s) => params.value >= s.vaddr && params.value + 12 <= s.vaddr + s.data.length)!;
  const view = new DataView(segment.data.buffer, segment.data.byteOffset + params.value - segment.vaddr, 12);
  words.forEach((word, i) => view.setUint32(4 * i, word, true));
  return bytes;
}

/** One guest at `depth`, its one network card on `port`, with its console collected. */
function machine(depth: number, name: string, sw: NetSwitch, index: number, virtioVersion: 1 | 2, kernel: Uint8Array = elf(name)) {
  const output: number[] = [];
  const stack: Stack = buildStack(depth, { memoryMiB: 16, console: (b) => output.push(b), net: [{ backend: sw.port(), mac: defaultMac(index) }], virtioVersion });
  (stack.vms.at(-1) ?? stack.guest).boot({ kernel });
  return { stack, text: () => String.fromCharCode(...output) };
}

/** Runs both machines in turn, a slice each, until both stopped (or the budget ran out). */
function runPair(machines: ReturnType<typeof machine>[], slice: number, budget: number): RunOutcome[] {
  const outcomes: (RunOutcome | undefined)[] = machines.map(() => undefined);
  for (let spent = 0; spent < budget && outcomes.some((o) => o === undefined); spent += slice) {
    machines.forEach((m, i) => {
      if (outcomes[i] !== undefined) return;
      const outcome = m.stack.guest.run(slice);
      if (outcome.kind !== "limit") outcomes[i] = outcome;
    });
  }
  return outcomes.map((o) => o ?? { kind: "limit" });
}

describe("net-ping and net-echo on one learning switch, in one process", () => {
  for (const [depth, virtio] of [[0, 1], [0, 2], [1, 1], [2, 2]] as const) {
    it(`exchange 16 numbered frames at depth ${depth} (virtio-mmio version ${virtio})`, () => {
      const sw = new NetSwitch("lan");
      const echo = machine(depth, "net-echo", sw, 0, virtio);
      const ping = machine(depth, "net-ping", sw, 1, virtio);
      const outcomes = runPair([echo, ping], 20_000, 400_000_000);
      expect(ping.text()).toContain("net-ping: 16/16 replies from 52:54:00:12:34:56");
      expect(echo.text()).toContain("net-echo: echoed");
      expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }]);
      // The switch learned both, so after the first broadcast every reply went to one port.
      expect(sw.portOf(defaultMac(0))).toBe(0);
      expect(sw.portOf(defaultMac(1))).toBe(1);
      expect(sw.stats.forwarded).toBeGreaterThanOrEqual(16);
      expect(sw.stats.malformed).toBe(0);
    });
  }
});

describe("net-ping's bulk mode (params in the ELF, as pnpm bench uses it)", () => {
  for (const [depth, virtio] of [[1, 1], [2, 2]] as const) {
    it(`streams 64 full-size frames, 8 in flight, each echoed and checked, at depth ${depth} (virtio-mmio version ${virtio})`, () => {
      const sw = new NetSwitch("lan");
      const echo = machine(depth, "net-echo", sw, 0, virtio);
      const ping = machine(depth, "net-ping", sw, 1, virtio, netPingWith([64, 0, 0]));
      const outcomes = runPair([echo, ping], 20_000, 400_000_000);
      expect(ping.text()).toMatch(/net-ping: bulk: 64\/64 frames of 1514 bytes echoed, window 8, \d+ timer ticks/);
      expect(ping.text()).toContain("net-ping: 1/1 replies from 52:54:00:12:34:56");
      expect(echo.text()).toContain("net-echo: echoed 65 frames, ignored 0; bye");
      expect(outcomes).toEqual([{ kind: "pass" }, { kind: "pass" }]);
      // Nothing was dropped: the window never outran a receive ring.
      expect(sw.stats.forwarded).toBeGreaterThanOrEqual(2 * 64);
    });
  }

  it("refuses a window larger than its ring with a message and exit code 11", () => {
    const sw = new NetSwitch("lan");
    const echo = machine(1, "net-echo", sw, 0, 1);
    const ping = machine(1, "net-ping", sw, 1, 1, netPingWith([4, 9, 0]));
    const outcomes = runPair([echo, ping], 20_000, 400_000_000);
    expect(ping.text()).toContain("net-ping: bulk: window 9 or frame size 1514 out of range (1..8, 60..1514)");
    expect(outcomes).toEqual([{ kind: "pass" }, { kind: "fail", code: 11 }]);
  });
});

describe("a bystander on the switch", () => {
  it("receives the broadcasts but none of the unicast replies meant for net-ping", () => {
    const sw = new NetSwitch("lan");
    const echo = machine(1, "net-echo", sw, 0, 1);
    const ping = machine(1, "net-ping", sw, 1, 1);
    // A card with no driver: what reaches it waits in its backlog (64 frames), the rest is counted.
    const bystander = new VirtioNet(sw.port(), { mac: defaultMac(2) });
    expect(runPair([echo, ping], 20_000, 400_000_000)).toEqual([{ kind: "pass" }, { kind: "pass" }]);
    // 16 pings and the goodbye were broadcast; the 16 replies went to net-ping's port alone.
    expect(bystander.pendingFrames + bystander.stats.rxNoBuffers).toBe(17);
    expect(sw.stats.forwarded).toBe(16);
  });
});

