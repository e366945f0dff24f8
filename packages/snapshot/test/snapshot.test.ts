import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Uart16550 } from "@matryoshka/devices";
import { guestPhysical, Ram } from "@matryoshka/memory";
import { decodeRam, decodeSnapshot, encodeRam, encodeSnapshot, jsonSection, SNAPSHOT_VERSION, SnapshotError } from "../src/index.js";
import { guestPath, interrupted, uninterrupted, type Case } from "./helpers.js";

const hello = new Uint8Array(readFileSync(guestPath("hello")));
const kernel = new Uint8Array(readFileSync(guestPath("kernel")));
const kernelPv = new Uint8Array(readFileSync(guestPath("kernel-pv")));
const kernelSmp = new Uint8Array(readFileSync(guestPath("kernel-smp")));
const reboot = new Uint8Array(readFileSync(guestPath("reboot")));

describe("the snapshot container", () => {
  const file = encodeSnapshot([jsonSection("CONF", { a: 1 }), { tag: "RAW ", data: Uint8Array.of(1, 2, 3), compress: false }]);

  it("reads back what it wrote", () => {
    const sections = decodeSnapshot(file);
    expect([...sections.keys()]).toEqual(["CONF", "RAW "]);
    expect(Buffer.from(sections.get("CONF")!).toString()).toBe('{"a":1}');
    expect([...sections.get("RAW ")!]).toEqual([1, 2, 3]);
  });

  it("refuses a truncated file at every length", () => {
    for (let length = 0; length < file.length; length++) {
      expect(() => decodeSnapshot(file.subarray(0, length)), `length ${length}`).toThrow(SnapshotError);
    }
  });

  it("refuses any flipped byte (a checksum or a structure check catches it)", () => {
    for (let at = 0; at < file.length; at++) {
      const corrupt = file.slice();
      corrupt[at]! ^= 0x10;
      expect(() => decodeSnapshot(corrupt), `byte ${at}`).toThrow(SnapshotError);
    }
  });

  it("refuses a section whose announced length is not what it decompresses to, even with valid checksums", () => {
    for (const lie of [1, -1, 1_000_000]) {
      const bad = file.slice();
      const view = new DataView(bad.buffer);
      // The first section (CONF, deflated): its payload length at bytes 12..15 of its header.
      view.setUint32(20 + 12, view.getUint32(20 + 12, true) + lie, true);
      const stored = view.getUint32(20 + 8, true);
      view.setUint32(20 + 16, crc32(bad.subarray(40, 40 + stored), crc32(bad.subarray(20, 36))), true);
      expect(() => decodeSnapshot(bad), `lie ${lie}`).toThrow(/corrupt: section "CONF" (does not decompress|decompresses to|says it holds)/);
    }
  });

  it("refuses another version and what is not a snapshot, saying which", () => {
    const other = file.slice();
    const view = new DataView(other.buffer);
    view.setUint32(8, SNAPSHOT_VERSION + 1, true);
    // A valid header checksum for the other version: the version check itself must refuse it.
    view.setUint32(16, crc32(other.subarray(0, 16)), true);
    expect(() => decodeSnapshot(other)).toThrow(new RegExp(`version ${SNAPSHOT_VERSION + 1} is not supported`));
    // The previous layout (version 1: no frame tables or shadow entries) is refused the same way.
    view.setUint32(8, 1, true);
    view.setUint32(16, crc32(other.subarray(0, 16)), true);
    expect(() => decodeSnapshot(other)).toThrow(/version 1 is not supported/);
    expect(() => decodeSnapshot(new Uint8Array(Buffer.from("#!/bin/sh\necho not a snapshot\n")))).toThrow(/bad magic/);
    expect(() => decodeSnapshot(new Uint8Array(file.length + 1).fill(0).map((_, i) => file[i] ?? 0))).toThrow(/follow the last section/);
  });
});

describe("RAM sections", () => {
  it("store only the pages that hold something, and put them back", () => {
    const ram = new Ram(0x8000_0000, 64 * 4096);
    ram.write(guestPhysical(0x8000_0000 + 5 * 4096 + 17), Uint8Array.of(9, 8, 7));
    ram.write(guestPhysical(0x8000_0000 + 63 * 4096 + 4095), Uint8Array.of(1));
    const { data, stored } = encodeRam(ram);
    expect(stored).toBe(2);
    expect(data.length).toBe(12 + 2 * (4 + 4096));
    const copy = new Ram(0x8000_0000, 64 * 4096);
    expect(decodeRam(data, copy)).toBe(2);
    expect(Buffer.compare(copy.u8, ram.u8)).toBe(0);
    expect(() => decodeRam(data, new Ram(0x8000_0000, 32 * 4096))).toThrow(/does not match/);
  });
});

describe("device state", () => {
  it("keeps a UART's receive FIFO and registers", () => {
    const out: number[] = [];
    const uart = new Uart16550((byte) => out.push(byte));
    uart.write(1, 1, 0x01); // IER: received data available
    uart.receive([0x61, 0x62]);
    const copy = new Uart16550(() => {});
    copy.restoreState(JSON.parse(JSON.stringify(uart.saveState())));
    expect(copy.read(1, 1)).toBe(0x01);
    expect(copy.read(2, 1)).toBe(0x04); // IIR: received data available
    expect([copy.read(0, 1), copy.read(0, 1), copy.pendingInput]).toEqual([0x61, 0x62, 0]);
  });
});

const engines = ["interpreter", "bt"] as const;

// These tests choose their engines themselves: the "bt" project (which only changes the default
// engine) would run the very same thing again, so the whole-run ones run in the "interpreter" project.
const once = describe.skipIf(process.env.MATRYOSHKA_ENGINE === "bt");

once("snapshot and restore continue the same run (depth 0)", () => {
  for (const engine of engines) {
    it(`hello, ${engine}: at every tenth of the run, output and counts agree`, async () => {
      const c: Case = { guest: "hello", depth: 0, engine };
      const whole = await uninterrupted(c, hello);
      expect(whole.output).toContain("Hello from matryoshka");
      for (let tenth = 1; tenth < 10; tenth++) {
        const at = Math.floor((whole.report.instructions * tenth) / 10);
        const resumed = await interrupted(c, hello, at, engine === "bt" ? "interpreter" : "bt");
        expect(resumed.output).toBe(whole.output);
        expect(resumed.report.outcome).toEqual(whole.report.outcome);
        expect(resumed.report.instructions).toBe(whole.report.instructions);
      }
    });

    it(`a guest that resets its machine, ${engine}: the restored run reboots from the images the snapshot holds`, async () => {
      const c: Case = { guest: "reboot", depth: 0, engine };
      const whole = await uninterrupted(c, reboot);
      expect(whole.report.resets).toBe(2);
      for (const at of [700]) {
        const resumed = await interrupted(c, reboot, at);
        expect(resumed.output).toBe(whole.output);
        expect(resumed.report.resets).toBe(2);
        expect(resumed.report.instructions).toBe(whole.report.instructions);
      }
    });

    it(`the test kernel with its disk and console input, ${engine}: transcript, instructions and traps agree`, async () => {
      const c: Case = { guest: "kernel", depth: 0, engine, disk: true, input: "hello\n" };
      const whole = await uninterrupted(c, kernel);
      expect(whole.output).toContain("input: hello\n");
      expect(whole.output).toContain("kernel: all tests passed\n");
      for (const at of [1_000_000, 9_000_000, whole.report.instructions - 1000]) {
        const resumed = await interrupted(c, kernel, at);
        expect(resumed.before.length).toBeGreaterThan(0);
        expect(resumed.output).toBe(whole.output);
        expect(resumed.report.outcome).toEqual({ kind: "pass" });
        expect(resumed.report.instructions).toBe(whole.report.instructions);
        expect(resumed.report.exceptions).toEqual(whole.report.exceptions);
        expect(resumed.report.interrupts).toEqual(whole.report.interrupts);
      }
    });
  }
});

once("snapshot and restore continue the same run under hypervisors", () => {
  const backends = [
    { engine: "interpreter", backend: "trap-and-emulate" },
    { engine: "bt", backend: "trap-and-emulate" },
    { engine: "bt", backend: "bt" },
  ] as const;
  for (const { engine, backend } of backends) {
    for (const depth of [1, 2]) {
      it(`the test kernel at depth ${depth}, ${engine} engine, ${backend} backend: transcript, instructions and traps agree`, async () => {
        const c: Case = { guest: "kernel", depth, engine, backend, disk: true, input: "hello\n" };
        const whole = await uninterrupted(c, kernel);
        expect(whole.output).toContain("kernel: all tests passed\n");
        const resumed = await interrupted(c, kernel, Math.floor(whole.report.instructions / 2));
        expect(resumed.output).toBe(whole.output);
        expect(resumed.report.outcome).toEqual({ kind: "pass" });
        expect(resumed.report.instructions).toBe(whole.report.instructions);
        expect(resumed.report.exceptions).toEqual(whole.report.exceptions);
        expect(resumed.report.interrupts).toEqual(whole.report.interrupts);
        expect(resumed.report.levels).toHaveLength(depth);
      });
    }
    for (const depth of engine === "bt" ? [5, 30] : []) {
      it(`the test kernel at depth ${depth}, ${engine} engine, ${backend} backend`, async () => {
        const c: Case = { guest: "kernel", depth, engine, backend, disk: true, input: "hello\n" };
        const whole = await uninterrupted(c, kernel);
        expect(whole.output).toContain("kernel: all tests passed\n");
        const resumed = await interrupted(c, kernel, 7_654_321);
        expect(resumed.output).toBe(whole.output);
        expect(resumed.report.instructions).toBe(whole.report.instructions);
        expect(resumed.report.exceptions).toEqual(whole.report.exceptions);
        expect(resumed.report.interrupts).toEqual(whole.report.interrupts);
      });
    }
    for (const depth of [5, 30]) {
      it(`hello at depth ${depth}, ${engine} engine, ${backend} backend`, async () => {
        const c: Case = { guest: "hello", depth, engine, backend };
        const whole = await uninterrupted(c, hello);
        for (const at of [100, 300]) {
          const resumed = await interrupted(c, hello, at);
          expect(resumed.output).toBe(whole.output);
          expect(resumed.report.instructions).toBe(whole.report.instructions);
        }
      });
    }
  }
});

once("snapshot and restore of a paravirtual guest (pv backend, direct paging)", () => {
  for (const [engine, depth] of [["interpreter", 1], ["bt", 2], ["bt", 5], ["bt", 30]] as const) {
    it(`kernel-pv at depth ${depth}, ${engine} engine: its page tables hold machine frames, and it continues the same run`, async () => {
      const c: Case = { guest: "kernel-pv", depth, engine, backend: "pv", disk: true, input: "hello\n" };
      const whole = await uninterrupted(c, kernelPv);
      expect(whole.output).toContain("kernel: all tests passed\n");
      for (const at of [3_000_000, 9_000_000]) {
        const resumed = await interrupted(c, kernelPv, at);
        expect(resumed.output).toBe(whole.output);
        expect(resumed.report.outcome).toEqual({ kind: "pass" });
        expect(resumed.report.instructions).toBe(whole.report.instructions);
        expect(resumed.report.exceptions).toEqual(whole.report.exceptions);
        expect(resumed.report.interrupts).toEqual(whole.report.interrupts);
      }
    });
  }
});

once("snapshot and restore of a guest with two harts", () => {
  for (const [engine, depth] of [["interpreter", 0], ["bt", 1]] as const) {
    it(`kernel-smp on 2 harts at depth ${depth}, ${engine}: paused at a slice boundary, it interleaves its harts as before`, async () => {
      const c: Case = { guest: "kernel-smp", depth, engine, disk: true, input: "hello\n", harts: 2 };
      const whole = await uninterrupted(c, kernelSmp);
      expect(whole.output).toContain("kernel: all tests passed\n");
      const resumed = await interrupted(c, kernelSmp, 3_000_001);
      // Several harts pause at the run's next slice boundary (2,000,000 instructions each), not mid-round.
      expect(resumed.pausedAt).toBe(4_000_000);
      expect(resumed.output).toBe(whole.output);
      expect(resumed.report.instructions).toBe(whole.report.instructions);
      expect(resumed.report.exceptions).toEqual(whole.report.exceptions);
      expect(resumed.report.interrupts).toEqual(whole.report.interrupts);
    });
  }
});
