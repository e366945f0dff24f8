import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  NetSwitch,
  PCAP_LINKTYPE_ETHERNET,
  PCAP_MAGIC,
  PcapDump,
  SharedFrameRing,
  SharedRingNetBackend,
  SharedRingPort,
  sharedLink,
  SocketNetBackend,
  backendPair,
  defaultMac,
  formatMac,
  parseMac,
  parsePcap,
  type NetBackend,
} from "@matryoshka/devices";

const BROADCAST = parseMac("ff:ff:ff:ff:ff:ff");

function ethernet(to: Uint8Array, from: Uint8Array, payload = 46, tag = 0): Uint8Array {
  const frame = new Uint8Array(14 + payload);
  frame.set(to, 0);
  frame.set(from, 6);
  frame[12] = 0x88;
  frame[13] = 0xb5;
  frame[14] = tag;
  return frame;
}

/** A port with a log of what it received. */
function attach(port: NetBackend) {
  const got: Uint8Array[] = [];
  port.onReceive = (frame) => got.push(frame);
  return got;
}

describe("MAC addresses", () => {
  it("parses, formats and numbers them as QEMU does", () => {
    expect(formatMac(defaultMac())).toBe("52:54:00:12:34:56");
    expect(formatMac(defaultMac(1))).toBe("52:54:00:12:34:57");
    expect(formatMac(parseMac("02-00-00-00-00-0A"))).toBe("02:00:00:00:00:0a");
    expect(() => parseMac("52:54:00:12:34")).toThrow(/not a MAC address/);
  });
});

describe("NetSwitch", () => {
  const [a, b, c] = [defaultMac(0), defaultMac(1), defaultMac(2)];

  it("floods unknown and broadcast destinations to every other port, then forwards to the learned port only", () => {
    const sw = new NetSwitch("lan");
    const ports = [sw.port(), sw.port(), sw.port()];
    const got = ports.map(attach);
    // a → b before b spoke: flooded to b and c, never back to a.
    ports[0]!.send(ethernet(b, a, 46, 1));
    expect(got.map((g) => g.length)).toEqual([0, 1, 1]);
    // b answers a: a was learned on port 0, so only port 0 gets it.
    ports[1]!.send(ethernet(a, b, 46, 2));
    expect(got.map((g) => g.length)).toEqual([1, 1, 1]);
    // a → b again: b is now known, c sees nothing more.
    ports[0]!.send(ethernet(b, a, 46, 3));
    expect(got.map((g) => g.length)).toEqual([1, 2, 1]);
    expect(got[1]![1]![14]).toBe(3);
    // Broadcast from c reaches a and b.
    ports[2]!.send(ethernet(BROADCAST, c));
    expect(got.map((g) => g.length)).toEqual([2, 3, 1]);
    expect(sw.portOf(c)).toBe(2);
    expect(sw.stats).toMatchObject({ frames: 4, forwarded: 2, flooded: 4 });
  });

  it("filters a frame whose destination lives behind the port it came from", () => {
    const sw = new NetSwitch();
    const ports = [sw.port(), sw.port()];
    const got = ports.map(attach);
    ports[0]!.send(ethernet(BROADCAST, a));
    ports[0]!.send(ethernet(a, b)); // b claims port 0 too; a lives there
    expect(got[0]).toEqual([]);
    expect(sw.stats.filtered).toBe(1);
  });

  it("drops and counts malformed frames", () => {
    const sw = new NetSwitch();
    const ports = [sw.port(), sw.port()];
    const got = ports.map(attach);
    ports[0]!.send(new Uint8Array(10));
    ports[0]!.send(new Uint8Array(70_000));
    expect(got[1]).toEqual([]);
    expect(sw.stats.malformed).toBe(2);
  });

  it("gives each flooded port its own copy", () => {
    const sw = new NetSwitch();
    const ports = [sw.port(), sw.port(), sw.port()];
    const got = ports.map(attach);
    ports[0]!.send(ethernet(BROADCAST, a));
    got[1]![0]![20] = 99;
    expect(got[2]![0]![20]).toBe(0);
  });
});

describe("pcap dump", () => {
  const dir = mkdtempSync(join(tmpdir(), "matryoshka-pcap-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("records both directions in a standard pcap file that parses back", () => {
    const [near, far] = backendPair();
    const path = join(dir, "dump.pcap");
    let now = 1_700_000_000_000_000;
    const dump = new PcapDump(near, path, () => now++);
    const received = attach(dump);
    const farGot = attach(far);
    const out = ethernet(defaultMac(1), defaultMac(0), 100, 7);
    const back = ethernet(defaultMac(0), defaultMac(1), 1500, 8);
    dump.send(out);
    far.send(back);
    dump.close();
    expect(farGot).toEqual([out]);
    expect(received).toEqual([back]);

    const bytes = new Uint8Array(readFileSync(path));
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(PCAP_MAGIC);
    expect([bytes[4], bytes[6]]).toEqual([2, 4]); // version 2.4
    const file = parsePcap(bytes);
    expect(file.linkType).toBe(PCAP_LINKTYPE_ETHERNET);
    expect(file.records.map((r) => r.data)).toEqual([out, back]);
    expect(file.records.map((r) => r.originalLength)).toEqual([114, 1514]);
    expect(file.records[0]!.microseconds).toBe(1_700_000_000_000_000);
    expect(file.records[1]!.microseconds).toBe(1_700_000_000_000_001);
  });

  it("refuses what is not a pcap file", () => {
    expect(() => parsePcap(new Uint8Array(10))).toThrow(/24-byte header/);
    expect(() => parsePcap(new Uint8Array(24))).toThrow(/magic/);
  });
});

describe("SocketNetBackend (QEMU -netdev stream framing)", () => {
  it("carries frames both ways between a listener and a connector, with link status", async () => {
    const listener = new SocketNetBackend({ mode: "listen", host: "127.0.0.1", port: 0 });
    const { port } = await listener.ready;
    const links: boolean[] = [];
    listener.onLinkChange = (up) => links.push(up);
    const fromConnector = attach(listener);
    const connector = new SocketNetBackend({ mode: "connect", host: "127.0.0.1", port });
    const fromListener = attach(connector);
    await connector.ready;
    while (!listener.linkUp) await listener.activity();
    const frames = [ethernet(defaultMac(1), defaultMac(0), 46, 1), ethernet(defaultMac(1), defaultMac(0), 9000, 2)];
    for (const f of frames) connector.send(f);
    while (fromConnector.length < 2) await listener.activity();
    expect(fromConnector).toEqual(frames);
    listener.send(frames[0]!);
    while (fromListener.length < 1) await connector.activity();
    expect(fromListener).toEqual([frames[0]]);
    connector.close();
    while (listener.linkUp) await listener.activity();
    expect(links).toEqual([true, false]);
    listener.send(frames[0]!);
    expect(listener.stats.droppedUnconnected).toBe(1);
    listener.close();
  });

  it("skips frames with an out-of-range length prefix and keeps the stream in step", async () => {
    const listener = new SocketNetBackend({ mode: "listen", host: "127.0.0.1", port: 0 });
    const { port } = await listener.ready;
    const got = attach(listener);
    const raw = net.connect(port, "127.0.0.1");
    await new Promise((resolve) => raw.once("connect", resolve));
    const good = ethernet(defaultMac(1), defaultMac(0), 46, 9);
    const prefix = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n, 0);
      return b;
    };
    // A 3-byte runt, then a good frame split across writes.
    raw.write(Buffer.concat([prefix(3), Buffer.from([1, 2, 3]), prefix(good.length), Buffer.from(good.subarray(0, 10))]));
    raw.write(Buffer.from(good.subarray(10)));
    while (got.length < 1) await listener.activity();
    expect(got).toEqual([good]);
    expect(listener.stats.malformed).toBe(1);
    raw.destroy();
    listener.close();
  });

  it("reports a connector that finds nobody listening", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const connector = new SocketNetBackend({ mode: "connect", host: "127.0.0.1", port, retryMilliseconds: 200 });
    await expect(connector.ready).rejects.toThrow(/cannot connect/);
    connector.close();
  });
});

describe("shared-memory frame rings", () => {
  it("carry frames in order, wrap around, and drop (counting) what does not fit", () => {
    const ring = new SharedFrameRing(4096);
    const frames = Array.from({ length: 40 }, (_, i) => ethernet(defaultMac(1), defaultMac(0), 300 + i, i));
    let delivered = 0;
    // Push and shift in turns, so positions wrap the 4 KiB ring many times.
    for (const f of frames) {
      expect(ring.push(f)).toBe(true);
      expect(ring.shift()).toEqual(f);
      delivered++;
    }
    expect(delivered).toBe(40);
    expect(ring.shift()).toBeUndefined();
    let accepted = 0;
    while (ring.push(frames[0]!)) accepted++;
    expect(accepted).toBe(Math.floor(4096 / (4 + frames[0]!.length)));
    expect(ring.dropped).toBe(1);
  });

  it("join a VM-side backend and a switch port through the same buffers", () => {
    const sw = new NetSwitch();
    const link = sharedLink(8192);
    const vmSide = new SharedRingNetBackend({ out: link.out, in: link.in });
    const switchSide = new SharedRingPort(link, sw.port());
    const other = sw.port();
    const got = attach(other);
    const toVm = attach(vmSide);
    vmSide.send(ethernet(BROADCAST, defaultMac(0)));
    expect(got).toEqual([]); // nothing moves until the switch's thread pumps
    expect(switchSide.pump()).toBe(1);
    expect(got.length).toBe(1);
    other.send(ethernet(defaultMac(0), defaultMac(1), 46, 5));
    expect(vmSide.poll()).toBe(1);
    expect(toVm[0]![14]).toBe(5);
    expect(switchSide.dropped).toEqual({ fromVm: 0, toVm: 0 });
  });
});
