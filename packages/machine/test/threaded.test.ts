import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createDefaultEngine, type Engine } from "@matryoshka/cpu";
import { MemoryBlockBackend } from "@matryoshka/devices";
import { encode, Op } from "@matryoshka/isa";
import { guestPath, guestVariants, type GuestVariant } from "@matryoshka/testkit";
import { runThreaded, VirtMachine, type RunOutcome } from "../src/index.js";

/**
 * Threaded mode (issue 8): harts of one board on worker threads. The two-hart test kernel (IPIs
 * through CLINT msip, an LR/SC spinlock, virtio, UART input) must print exactly what the
 * deterministic single-thread mode prints, on whichever engine the test project uses (the
 * workers build the board's engine: the "bt" project runs them on the translator).
 */

interface Transcript {
  outcome: RunOutcome;
  output: string;
  steps: number[];
}

function board(name: string, variant: GuestVariant, console: (byte: number) => void): VirtMachine {
  const machine = new VirtMachine({
    harts: variant.harts,
    virtioVersion: variant.virtio,
    // A private copy of the disk: the kernel writes its scratch sector.
    disks: variant.disk ? [new MemoryBlockBackend(new Uint8Array(readFileSync(variant.disk)))] : [],
    console,
    rtcEpochMilliseconds: 0,
  });
  machine.boot({ kernel: new Uint8Array(readFileSync(guestPath(name))) });
  if (variant.input !== undefined) machine.uart.receive(Buffer.from(variant.input, "latin1"));
  return machine;
}

function deterministic(name: string, variant: GuestVariant): Transcript {
  let output = "";
  const machine = board(name, variant, (byte) => (output += String.fromCharCode(byte)));
  const outcome = machine.run(2_000_000_000);
  return { outcome, output, steps: machine.harts.map((hart) => hart.steps) };
}

async function threaded(name: string, variant: GuestVariant): Promise<Transcript & { proxied: number; engine: string }> {
  let output = "";
  const machine = board(name, variant, (byte) => (output += String.fromCharCode(byte)));
  const report = await runThreaded(machine, { maxInstructions: 2_000_000_000 });
  return { outcome: report.outcome, output, steps: machine.harts.map((hart) => hart.steps), proxied: report.proxiedAccesses, engine: report.engine };
}

describe("threaded mode: each hart on its own worker thread", () => {
  const variants = guestVariants("kernel-smp");

  it.each(variants.map((variant) => [variant.label, variant] as const))(
    "kernel-smp (%s) prints the deterministic mode's transcript",
    async (_label, variant) => {
      const reference = deterministic("kernel-smp", variant);
      expect(reference.outcome).toEqual({ kind: "pass" });
      expect(reference.output).toContain("smp: lr/sc spinlock: 2 harts x 50000 increments = 100000: ok\n");

      const ours = await threaded("kernel-smp", variant);
      expect(ours.output).toBe(reference.output);
      expect(ours.outcome).toEqual({ kind: "pass" });
      // The workers ran the board's own engine, and devices were reached through the main thread.
      expect(ours.engine).toBe(new VirtMachine().engine.name);
      expect(ours.proxied).toBeGreaterThan(1000);
      // The harts' state came back to the board: both ran (hart 1 took the IPIs and the lock).
      expect(ours.steps[0]).toBeGreaterThan(1_000_000);
      expect(ours.steps[1]).toBeGreaterThan(500_000); // its share of the 100000 lock increments, at least
    },
  );

  it("smp-compute: AMOs and LR/SC across threads give the deterministic mode's sums", async () => {
    const variant: GuestVariant = { harts: 2, virtio: 1, label: "2 harts" };
    const reference = deterministic("smp-compute", variant);
    expect(reference.outcome).toEqual({ kind: "pass" });
    const ours = await threaded("smp-compute", variant);
    expect(ours.output).toBe(reference.output);
    expect(ours.output).toMatch(/total under lr\/sc lock ([0-9a-f]{8}), total by amoadd \1: ok\n$/);
    expect(ours.outcome).toEqual({ kind: "pass" });
  });

  it("a board that already finished reports its outcome without starting workers", async () => {
    const variant: GuestVariant = { harts: 2, virtio: 1, label: "2 harts" };
    const machine = board("smp-compute", variant, () => {});
    expect(machine.run()).toEqual({ kind: "pass" });
    const steps = machine.harts.map((hart) => hart.steps);
    const report = await runThreaded(machine);
    expect(report.outcome).toEqual({ kind: "pass" });
    expect(report.proxiedAccesses).toBe(0);
    expect(machine.harts.map((hart) => hart.steps)).toEqual(steps);
  });

  it("refuses a board whose engine names no module to rebuild it on the workers, and leaves the board as it was", async () => {
    const inner = createDefaultEngine();
    const engine: Engine = { name: "wrapped", run: (hart, budget) => inner.run(hart, budget) };
    const machine = new VirtMachine({ harts: 2, engine });
    machine.boot({ kernel: new Uint8Array(readFileSync(guestPath("smp-compute"))) });
    await expect(runThreaded(machine)).rejects.toThrow("the wrapped engine cannot run on worker threads: it names no module that builds it (Engine.module)");
    expect(machine.dmaObserver).toBeUndefined();
    expect(machine.run()).toEqual({ kind: "pass" });
  });

  it("stops at the instruction limit with the harts' progress handed back", async () => {
    const variant: GuestVariant = { harts: 2, virtio: 1, label: "2 harts" };
    const machine = board("smp-compute", variant, () => {});
    const report = await runThreaded(machine, { maxInstructions: 2_000_000 });
    expect(report.outcome).toEqual({ kind: "limit" });
    // Machine time is the shared clock: it stopped at the limit, give or take one slice.
    expect(machine.clock.elapsed).toBeGreaterThanOrEqual(2_000_000);
    expect(machine.clock.elapsed).toBeLessThan(2_000_000 + 2 * machine.quantum);
    // Each hart's progress came back. Every slice raises machine time by at most what it ran, so
    // the harts ran at least the time that passed between them (how it split between them depends
    // on how the host scheduled the threads).
    for (const hart of machine.harts) expect(hart.steps).toBeGreaterThan(0);
    expect(machine.harts.reduce((sum, hart) => sum + hart.steps, 0)).toBeGreaterThanOrEqual(machine.clock.elapsed);
    // The deterministic mode can take over from there and finish the run.
    expect(machine.run()).toEqual({ kind: "pass" });
  });

  it("a remote TLB shootdown: after one hart remaps a page and sends an IPI, the other's sfence.vma drops its stale translation", async () => {
    // Hart 1 reads a virtual page (M-mode loads translated through satp with MPRV, as S-mode's
    // would be), so its TLB holds the mapping. Hart 0 then points the PTE at another frame and
    // sends hart 1 an IPI; hart 1 wakes, clears its msip, runs sfence.vma and reads again. Each
    // hart's TLB lives on its own worker: only the sfence on hart 1's thread can drop its entry.
    const RAM = 0x8000_0000;
    const ROOT = RAM + 0x10000, L0 = RAM + 0x11000, OLD = RAM + 0x20000, NEW = RAM + 0x21000;
    const READY = RAM + 0x30000, FIRST = READY + 4, SECOND = READY + 8, DONE = READY + 12;
    const VA = 0x4000_0000;
    const MPRV = 1 << 17, MPP_S = 1 << 11, MSIE = 1 << 3;
    const li = (rd: number, value: number): number[] => {
      const low = (value << 20) >> 20;
      return [encode(Op.LUI, { rd, imm: ((value - low) | 0) >>> 0 }), encode(Op.ADDI, { rd, rs1: rd, imm: low })];
    };
    const translatedLoad = (rd: number) => [
      ...li(5, MPRV), encode(Op.CSRRS, { rd: 0, rs1: 5, csr: 0x300 }),
      ...li(6, VA), encode(Op.LW, { rd, rs1: 6, imm: 0 }),
      encode(Op.CSRRC, { rd: 0, rs1: 5, csr: 0x300 }),
    ];
    const hart1 = [
      // PMP open to S-mode accesses (the translated loads and the walk are checked as S-mode's).
      ...li(5, -1), encode(Op.CSRRW, { rd: 0, rs1: 5, csr: 0x3b0 }), ...li(5, 0x1f), encode(Op.CSRRW, { rd: 0, rs1: 5, csr: 0x3a0 }),
      ...li(5, 0x8000_0000 | (ROOT >>> 12)), encode(Op.CSRRW, { rd: 0, rs1: 5, csr: 0x180 }), // satp
      ...li(5, MPP_S), encode(Op.CSRRS, { rd: 0, rs1: 5, csr: 0x300 }), // loads under MPRV act as S-mode's
      ...li(5, MSIE), encode(Op.CSRRS, { rd: 0, rs1: 5, csr: 0x304 }), // mie.MSIE (mstatus.MIE stays 0: WFI wakes, no trap)
      ...translatedLoad(9), ...li(7, FIRST), encode(Op.SW, { rs1: 7, rs2: 9, imm: 0 }),
      ...li(7, READY), ...li(8, 1), encode(Op.SW, { rs1: 7, rs2: 8, imm: 0 }),
      encode(Op.WFI), encode(Op.CSRRS, { rd: 8, rs1: 0, csr: 0x344 }), encode(Op.ANDI, { rd: 8, rs1: 8, imm: MSIE }), encode(Op.BEQ, { rs1: 8, rs2: 0, imm: -12 }),
      ...li(7, 0x0200_0004), encode(Op.SW, { rs1: 7, rs2: 0, imm: 0 }), // clear our msip
      encode(Op.SFENCE_VMA, { rs1: 0, rs2: 0 }),
      ...translatedLoad(9), ...li(7, SECOND), encode(Op.SW, { rs1: 7, rs2: 9, imm: 0 }),
      ...li(7, DONE), ...li(8, 1), encode(Op.SW, { rs1: 7, rs2: 8, imm: 0 }),
      encode(Op.WFI), encode(Op.JAL, { rd: 0, imm: -4 }),
    ];
    const hart0 = [
      ...li(7, READY), encode(Op.LW, { rd: 8, rs1: 7, imm: 0 }), encode(Op.BEQ, { rs1: 8, rs2: 0, imm: -4 }),
      ...li(7, L0), ...li(8, (((NEW >>> 12) << 10) | 0xc3) >>> 0), encode(Op.SW, { rs1: 7, rs2: 8, imm: 0 }), // V R A D
      encode(Op.FENCE, { imm: 0x0ff }),
      ...li(7, 0x0200_0004), ...li(8, 1), encode(Op.SW, { rs1: 7, rs2: 8, imm: 0 }), // IPI to hart 1
      ...li(7, DONE), encode(Op.LW, { rd: 8, rs1: 7, imm: 0 }), encode(Op.BEQ, { rs1: 8, rs2: 0, imm: -4 }),
      ...li(7, 0x0010_0000), ...li(8, 0x5555), encode(Op.SW, { rs1: 7, rs2: 8, imm: 0 }),
      encode(Op.JAL, { rd: 0, imm: 0 }),
    ];
    const start = [encode(Op.CSRRS, { rd: 5, rs1: 0, csr: 0xf14 }), encode(Op.BNE, { rs1: 5, rs2: 0, imm: 8 }), encode(Op.JAL, { rd: 0, imm: 0x400 - 8 }), encode(Op.JAL, { rd: 0, imm: 0x800 - 12 })];
    const image = new Uint8Array(0x1000);
    image.set(new Uint8Array(new Uint32Array(start).buffer), 0);
    image.set(new Uint8Array(new Uint32Array(hart0).buffer), 0x400);
    image.set(new Uint8Array(new Uint32Array(hart1).buffer), 0x800);
    const prepare = () => {
      const machine = new VirtMachine({ harts: 2 });
      machine.boot({ kernel: image });
      const word = (pa: number, value: number) => (machine.ram.i32[(pa - RAM) >> 2] = value | 0);
      word(ROOT + 4 * (VA >>> 22), ((L0 >>> 12) << 10) | 1); // a pointer to L0
      word(L0, ((OLD >>> 12) << 10) | 0xc3);
      word(OLD, 0x1111);
      word(NEW, 0x2222);
      return machine;
    };
    const read = (machine: VirtMachine, pa: number) => machine.ram.i32[(pa - RAM) >> 2];
    const deterministic = prepare();
    expect(deterministic.run(1_000_000)).toEqual({ kind: "pass" });
    expect([read(deterministic, FIRST), read(deterministic, SECOND)]).toEqual([0x1111, 0x2222]);
    const threaded = prepare();
    expect((await runThreaded(threaded, { maxInstructions: 50_000_000 })).outcome).toEqual({ kind: "pass" });
    expect([read(threaded, FIRST), read(threaded, SECOND)]).toEqual([0x1111, 0x2222]);
  });
});
