import { describe, expect, it } from "vitest";
import { Htif, HTIF_MAX_PENDING_ANSWERS, HTIF_MAX_WRITE_BYTES, type HtifOptions } from "@matryoshka/devices";
import { Ram, guestPhysical as gpa } from "@matryoshka/memory";

function htif(options: Partial<HtifOptions> = {}) {
  const exits: number[] = [];
  const out: number[] = [];
  const device = new Htif({ onExit: (code) => exits.push(code), output: (b) => out.push(b), ...options });
  return { device, exits, out, text: () => String.fromCharCode(...out) };
}

/** What riscv-tests' write_tohost does: `sw TESTNUM, tohost; sw zero, tohost + 4`. */
function writeTohost(device: Htif, low: number, high = 0): void {
  device.tohostDevice.write(0, 4, low);
  device.tohostDevice.write(4, 4, high);
}

describe("HTIF tohost/fromhost", () => {
  it("exits with code 0 when riscv-tests pass (tohost = 1)", () => {
    const h = htif();
    h.device.tohostDevice.write(0, 4, 1);
    expect(h.exits).toEqual([]); // the low word alone could still be half of a console write
    h.device.tohostDevice.write(4, 4, 0);
    expect(h.exits).toEqual([0]);
    expect(h.device.exited).toBe(0);
    expect(h.device.tohost).toBe(0n); // taken and cleared, as spike's host does
  });

  it("exits with the failing test number ((n << 1) | 1), once", () => {
    const h = htif();
    for (let i = 0; i < 3; i++) writeTohost(h.device, (5 << 1) | 1); // write_tohost loops
    expect(h.exits).toEqual([5]);
    expect(h.device.exited).toBe(5);
  });

  it("takes the command when the high word is written first", () => {
    const h = htif();
    h.device.tohostDevice.write(4, 4, 0x0101_0000);
    expect(h.out).toEqual([]);
    expect(h.device.tohostDevice.read(4, 4)).toBe(0x0101_0000); // reads back like memory until taken
    h.device.tohostDevice.write(0, 4, 0x61);
    expect(h.text()).toBe("a");
    expect(h.exits).toEqual([]);
  });

  it("prints console writes (device 1, command 1), including odd bytes stored low word first", () => {
    const h = htif();
    for (const ch of "Hi, ace!\n") writeTohost(h.device, ch.charCodeAt(0), 0x0101_0000);
    expect(h.text()).toBe("Hi, ace!\n");
    expect(h.exits).toEqual([]);
    expect(h.device.fromhost).toBe(0n); // current spike sends no answer to a console write
  });

  it("exits on a repeated lone low word (older write_tohost loops)", () => {
    const h = htif();
    h.device.tohostDevice.write(0, 4, 7);
    expect(h.exits).toEqual([]);
    h.device.tohostDevice.write(0, 4, 7);
    expect(h.exits).toEqual([3]);
  });

  it("exits on a lone low word that survives two polls", () => {
    const h = htif();
    h.device.tohostDevice.write(0, 4, 1);
    h.device.poll();
    expect(h.exits).toEqual([]);
    h.device.poll();
    expect(h.exits).toEqual([0]);
    // An even lone low word (a pointer for a system call) is never taken by poll.
    const g = htif();
    g.device.tohostDevice.write(0, 4, 0x8000_1000);
    g.device.poll();
    g.device.poll();
    g.device.poll();
    expect(g.exits).toEqual([]);
    expect(g.device.tohost).toBe(0x8000_1000n);
  });

  it("reads back what was last written, like the RAM it replaces", () => {
    const h = htif();
    h.device.fromhostDevice.write(0, 4, 0x1234_5678);
    h.device.fromhostDevice.write(4, 2, 0xabcd);
    expect(h.device.fromhostDevice.read(0, 4)).toBe(0x1234_5678);
    expect(h.device.fromhostDevice.read(4, 4)).toBe(0xabcd);
    expect(h.device.fromhost).toBe(0xabcd_1234_5678n);
    expect(h.device.read(8, 4)).toBe(0x1234_5678); // the same word in the 16-byte window
    expect(h.device.tohostDevice.read(8, 1)).toBeUndefined();
    expect(h.device.tohostDevice.write(6, 4, 0)).toBe(false);
  });

  it("answers console writes in fromhost when asked, queueing until the guest clears it", () => {
    const h = htif({ acknowledgeConsole: true });
    writeTohost(h.device, 0x41, 0x0101_0000);
    writeTohost(h.device, 0x42, 0x0101_0000);
    expect(h.text()).toBe("AB");
    expect(h.device.fromhost).toBe(0x0101_0000_0000_0141n);
    h.device.fromhostDevice.write(0, 4, 0);
    expect(h.device.fromhost).toBe(0x0101_0000_0000_0000n); // half cleared: not yet free
    h.device.fromhostDevice.write(4, 4, 0);
    expect(h.device.fromhost).toBe(0x0101_0000_0000_0142n);
  });

  it("proxies write and exit system calls through guest memory", () => {
    const ram = new Ram(0x8000_0000, 0x1000);
    const h = htif({ memory: ram });
    const magic = 0x8000_0100;
    const message = new TextEncoder().encode("hello\n");
    ram.write(gpa(0x8000_0200), message);
    const view = new DataView(ram.buffer);
    view.setBigUint64(0x100, 64n, true); // SYS_write
    view.setBigUint64(0x108, 1n, true); // fd 1
    view.setBigUint64(0x110, 0x8000_0200n, true);
    view.setBigUint64(0x118, BigInt(message.length), true);
    writeTohost(h.device, magic);
    expect(h.text()).toBe("hello\n");
    expect(view.getBigUint64(0x100, true)).toBe(6n); // the result replaces the call number
    expect(h.device.fromhost).toBe(1n);

    view.setBigUint64(0x100, 1234n, true); // unknown call
    h.device.fromhostDevice.write(0, 4, 0);
    h.device.fromhostDevice.write(4, 4, 0);
    writeTohost(h.device, magic);
    expect(view.getBigInt64(0x100, true)).toBe(-38n); // -ENOSYS

    view.setBigUint64(0x100, 93n, true); // SYS_exit
    view.setBigUint64(0x108, 3n, true);
    writeTohost(h.device, magic);
    expect(h.exits).toEqual([3]);
  });

  it("bounds the answers waiting for a guest that never collects them: further commands wait in tohost", () => {
    const ram = new Ram(0x8000_0000, 0x1000);
    const h = htif({ memory: ram });
    const view = new DataView(ram.buffer);
    view.setBigUint64(0x100, 1234n, true); // an unknown call: answered -ENOSYS
    for (let i = 0; i < 100_000; i++) writeTohost(h.device, 0x8000_0100);
    expect(h.device.pendingAnswers).toBe(HTIF_MAX_PENDING_ANSWERS);
    expect(h.device.tohost).toBe(0x8000_0100n); // not taken: the guest sees a busy host
    // Collecting one answer makes room: the waiting command is taken.
    h.device.fromhostDevice.write(0, 4, 0);
    h.device.fromhostDevice.write(4, 4, 0);
    expect(h.device.fromhost).toBe(1n);
    expect(h.device.tohost).toBe(0n);
    expect(h.device.pendingAnswers).toBe(HTIF_MAX_PENDING_ANSWERS);
    // An exit is no answer: it is taken even while answers wait.
    writeTohost(h.device, (7 << 1) | 1);
    expect(h.exits).toEqual([7]);
  });

  it("writes at most HTIF_MAX_WRITE_BYTES per proxied write, and says how many", () => {
    const ram = new Ram(0x8000_0000, 0x40_0000);
    const h = htif({ memory: ram });
    const view = new DataView(ram.buffer);
    view.setBigUint64(0x100, 64n, true); // SYS_write
    view.setBigUint64(0x108, 1n, true);
    view.setBigUint64(0x110, 0x8000_1000n, true);
    view.setBigUint64(0x118, 0x30_0000n, true); // 3 MiB
    writeTohost(h.device, 0x8000_0100);
    expect(view.getBigUint64(0x100, true)).toBe(BigInt(HTIF_MAX_WRITE_BYTES));
    expect(h.out).toHaveLength(HTIF_MAX_WRITE_BYTES);
  });
});
