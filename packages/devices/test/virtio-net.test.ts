import { describe, expect, it } from "vitest";
import {
  MAX_FRAME_BYTES,
  VIRTIO_F_VERSION_1,
  VIRTIO_INTERRUPT_CONFIG_CHANGE,
  VIRTIO_INTERRUPT_USED_BUFFER,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_RX_QUEUE,
  VIRTIO_NET_TX_QUEUE,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VirtioMmio,
  VirtioMmioRegister as R,
  VirtioNet,
  backendPair,
  featureBit,
  parseMac,
  type NetBackend,
} from "@matryoshka/devices";
import { Ram } from "@matryoshka/memory";
import { RAM_BASE, RAM_SIZE, TestDriver, pattern } from "./virtio-driver.js";

const MAC = parseMac("52:54:00:ab:cd:ef");

/** An Ethernet frame of `length` bytes to MAC from 52:54:00:00:00:01, EtherType 0x88b5 (local experimental). */
function frame(length: number, seed = 0): Uint8Array {
  const bytes = pattern(length, seed);
  bytes.set(MAC, 0);
  bytes.set([0x52, 0x54, 0, 0, 0, 1], 6);
  bytes.set([0x88, 0xb5], 12);
  return bytes;
}

/** A device on the far side of `peer`, which records what the device sent. */
function machine(version: 1 | 2, accept: (offered: bigint) => bigint, options: { backend?: NetBackend } = {}) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const [near, peer] = backendPair();
  const sent: Uint8Array[] = [];
  peer.onReceive = (f) => sent.push(f);
  const net = new VirtioNet(options.backend ?? near, { mac: MAC, queueSize: 16 });
  const levels: boolean[] = [];
  const mmio = new VirtioMmio(net, { memory: ram, version, irq: (level) => levels.push(level) });
  net.attach(mmio);
  const rx = new TestDriver(mmio, ram, RAM_BASE + 0x8_0000);
  const tx = new TestDriver(mmio, ram, RAM_BASE + 0xc_0000);
  rx.init(accept);
  if (version === 1) {
    rx.setupLegacyQueue(16, RAM_BASE + 0x1000, 4096, VIRTIO_NET_RX_QUEUE);
    tx.setupLegacyQueue(16, RAM_BASE + 0x4000, 4096, VIRTIO_NET_TX_QUEUE);
  } else {
    rx.setupModernQueue(16, RAM_BASE + 0x10000, RAM_BASE + 0x11000, RAM_BASE + 0x12000, VIRTIO_NET_RX_QUEUE);
    tx.setupModernQueue(16, RAM_BASE + 0x14000, RAM_BASE + 0x15000, RAM_BASE + 0x16000, VIRTIO_NET_TX_QUEUE);
  }
  rx.driverOk();
  /** Receives into `count` fresh buffers of `length` bytes each, made available now. */
  const post = (count: number, length: number) => {
    const addresses: number[] = [];
    for (let i = 0; i < count; i++) {
      const address = rx.alloc(length);
      rx.submit([{ address, length, writable: true }]);
      addresses.push(address);
    }
    rx.notify(VIRTIO_NET_RX_QUEUE);
    return addresses;
  };
  /** Transmits `header` then `payload` in two descriptors. */
  const send = (headerLength: number, payload: Uint8Array) => {
    const header = tx.alloc(headerLength);
    const data = tx.alloc(payload.length, payload);
    tx.submit([{ address: header, length: headerLength }, { address: data, length: payload.length }]);
    tx.notify(VIRTIO_NET_TX_QUEUE);
  };
  return { ram, net, mmio, rx, tx, peer, sent, levels, post, send };
}

const all = (offered: bigint) => offered;
const withoutMrg = (offered: bigint) => offered & ~featureBit(VIRTIO_NET_F_MRG_RXBUF);

describe("virtio-net", () => {
  it("identifies itself: device id 1, MAC, link status, mergeable buffers", () => {
    const { rx, mmio } = machine(2, all);
    expect(rx.reg(R.DeviceID)).toBe(1);
    const features = mmio.offeredFeatures;
    for (const bit of [VIRTIO_NET_F_MAC, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_STATUS, VIRTIO_F_VERSION_1]) expect(features & featureBit(bit)).not.toBe(0n);
    expect(Array.from({ length: 6 }, (_, i) => mmio.read(R.Config + i, 1))).toEqual([...MAC]);
    expect(mmio.read(R.Config + 6, 2)).toBe(1); // VIRTIO_NET_S_LINK_UP
    expect(rx.reg(R.QueueNumMax)).toBe(16);
  });

  const cases = [
    { name: "legacy without mergeable buffers (10-byte header)", version: 1 as const, accept: withoutMrg, header: 10 },
    { name: "legacy with mergeable buffers (12-byte header)", version: 1 as const, accept: all, header: 12 },
    { name: "modern without mergeable buffers (12-byte header)", version: 2 as const, accept: withoutMrg, header: 12 },
    { name: "modern with mergeable buffers", version: 2 as const, accept: all, header: 12 },
  ];
  for (const c of cases) {
    it(`transmits and receives frames: ${c.name}`, () => {
      const m = machine(c.version, c.accept);
      expect(m.net.headerSize).toBe(c.header);
      const out = frame(60, 1);
      m.send(c.header, out);
      expect(m.sent).toEqual([out]);
      expect(m.tx.usedIdx).toBe(1);
      expect(m.tx.usedElement(0).len).toBe(0);

      const [buffer] = m.post(1, 1536);
      m.rx.setReg(R.InterruptACK, m.mmio.interruptStatus);
      m.levels.length = 0;
      const incoming = frame(1514, 2);
      m.peer.send(incoming);
      expect(m.rx.usedIdx).toBe(1);
      expect(m.rx.usedElement(0).len).toBe(c.header + 1514);
      expect(m.rx.bytes(buffer! + c.header, 1514)).toEqual(incoming);
      const header = m.rx.bytes(buffer!, c.header);
      expect(header.subarray(0, 10).every((b) => b === 0)).toBe(true);
      if (c.header === 12) expect(header[10]! | (header[11]! << 8)).toBe(1); // num_buffers
      expect(m.levels).toEqual([true]);
      expect(m.mmio.interruptStatus & VIRTIO_INTERRUPT_USED_BUFFER).toBe(VIRTIO_INTERRUPT_USED_BUFFER);
      expect(m.net.stats).toMatchObject({ txFrames: 1, txBytes: 60, rxFrames: 1, rxBytes: 1514 });
    });
  }

  it("spreads a frame over several mergeable buffers and says how many in num_buffers", () => {
    const m = machine(2, all);
    const buffers = m.post(4, 600);
    const incoming = frame(1500, 3);
    m.peer.send(incoming);
    expect(m.rx.usedIdx).toBe(3);
    expect([0, 1, 2].map((i) => m.rx.usedElement(i).len)).toEqual([600, 600, 312]);
    const first = m.rx.bytes(buffers[0]!, 12);
    expect(first[10]).toBe(3);
    const received = new Uint8Array(1500);
    received.set(m.rx.bytes(buffers[0]! + 12, 588), 0);
    received.set(m.rx.bytes(buffers[1]!, 600), 588);
    received.set(m.rx.bytes(buffers[2]!, 312), 1188);
    expect(received).toEqual(incoming);
    // The fourth buffer is still there for the next frame.
    m.peer.send(frame(20, 4));
    expect(m.rx.usedIdx).toBe(4);
    expect(m.rx.usedElement(3)).toEqual({ id: 3, len: 32 });
  });

  it("waits for more mergeable buffers when a frame needs more than are posted", () => {
    const m = machine(2, all);
    m.post(1, 600);
    m.peer.send(frame(1000, 5));
    expect(m.rx.usedIdx).toBe(0);
    expect(m.net.pendingFrames).toBe(1);
    m.post(1, 600);
    expect(m.rx.usedIdx).toBe(2);
    expect(m.net.pendingFrames).toBe(0);
  });

  it("holds frames that arrive before the driver posts buffers, up to the backlog", () => {
    const m = machine(1, withoutMrg);
    for (let i = 0; i < 70; i++) m.peer.send(frame(64, i));
    expect(m.net.pendingFrames).toBe(64);
    expect(m.net.stats.rxNoBuffers).toBe(6);
    const buffers = m.post(3, 1536);
    expect(m.rx.usedIdx).toBe(3);
    expect(m.rx.bytes(buffers[2]! + 10, 64)).toEqual(frame(64, 2)); // oldest first
  });

  it("drops and counts malformed frames from both sides without throwing", () => {
    const m = machine(1, withoutMrg);
    // Transmit: no room for an Ethernet header, a chain with only the virtio header, an oversized frame.
    m.send(10, new Uint8Array(13));
    const header = m.tx.alloc(10);
    m.tx.submit([{ address: header, length: 10 }]);
    m.tx.notify(VIRTIO_NET_TX_QUEUE);
    const big = m.tx.alloc(MAX_FRAME_BYTES + 11);
    m.tx.submit([{ address: big, length: MAX_FRAME_BYTES + 11 }]);
    m.tx.notify(VIRTIO_NET_TX_QUEUE);
    expect(m.sent).toEqual([]);
    expect(m.net.stats).toMatchObject({ txFrames: 0, txTruncated: 2, txOversized: 1 });
    expect(m.tx.usedIdx).toBe(3); // every chain went back to the driver
    // Receive: a runt and a giant from the backend.
    m.peer.send(new Uint8Array(13));
    m.peer.send(new Uint8Array(MAX_FRAME_BYTES + 1));
    expect(m.net.stats.rxMalformed).toBe(2);
    // A frame larger than the (non-mergeable) buffer: dropped, the buffer kept for the next one.
    const [buffer] = m.post(1, 100);
    m.peer.send(frame(200, 6));
    expect(m.net.stats.rxTooLarge).toBe(1);
    expect(m.rx.usedIdx).toBe(0);
    m.peer.send(frame(80, 7));
    expect(m.rx.usedIdx).toBe(1);
    expect(m.rx.bytes(buffer! + 10, 80)).toEqual(frame(80, 7));
    expect(m.mmio.failure).toBeUndefined();
  });

  it("puts the device in DEVICE_NEEDS_RESET for descriptor abuse, and works again after a reset", () => {
    const m = machine(2, all);
    m.tx.submit([{ address: RAM_BASE + RAM_SIZE - 4, length: 64 }]); // runs off the end of RAM
    m.tx.notify(VIRTIO_NET_TX_QUEUE);
    expect(m.rx.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    expect(m.mmio.failure).toMatch(/queue 1: buffer .* outside guest memory/);
    expect(m.sent).toEqual([]);
    // A loop in the receive queue.
    const again = machine(2, all);
    again.rx.writeDescriptor(0, again.rx.alloc(64), 64, 1 | 2, 0); // NEXT to itself
    again.rx.makeAvailable(0);
    again.rx.notify(VIRTIO_NET_RX_QUEUE);
    expect(() => again.peer.send(frame(64))).not.toThrow();
    expect(again.mmio.failure).toMatch(/loop/);
  });

  it("reports link changes in the status field with a configuration interrupt", () => {
    const m = machine(2, all);
    m.net.setLinkUp(false);
    expect(m.mmio.read(R.Config + 6, 2)).toBe(0);
    expect(m.mmio.interruptStatus & VIRTIO_INTERRUPT_CONFIG_CHANGE).toBe(VIRTIO_INTERRUPT_CONFIG_CHANGE);
    // While the link is down, transmitted frames go nowhere (but are returned).
    m.send(12, frame(60));
    expect(m.sent).toEqual([]);
    expect(m.tx.usedIdx).toBe(1);
    m.net.setLinkUp(true);
    expect(m.mmio.read(R.Config + 6, 2)).toBe(1);
  });

  it("survives a backend that throws", () => {
    const backend: NetBackend = { onReceive: undefined, send: () => { throw new Error("wire cut"); } };
    const m = machine(2, all, { backend });
    expect(() => m.send(12, frame(60))).not.toThrow();
    expect(m.tx.usedIdx).toBe(1);
    expect(m.mmio.failure).toBeUndefined();
  });
});
