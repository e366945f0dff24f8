import { describe, expect, it, vi } from "vitest";
import { encode, Op } from "@matryoshka/isa";
import { VirtMachine } from "@matryoshka/machine";
import { bareMetal, Hypervisor, type VM } from "@matryoshka/vmm";
import { guestPhysical as gpa } from "@matryoshka/memory";
import { hostChangedOutside, li, Program as SbiProgram } from "./program.js";
import { MATRYOSHKA_EXTENSION, MatryoshkaFunction, DBCN_MAX_BYTES, REMOTE_FENCE_PAGE_LIMIT, SBI_SPEC_VERSION, SbiError, SbiExtension, SbiFirmware, SharedPage, SRST_REASON_FAILURE_CODE } from "@matryoshka/paravirt";

const RAM_BASE = 0x8000_0000;
const RESULTS = RAM_BASE + 0x10000;
const MESSAGE = RAM_BASE + 0x20000;
const VM_MIB = 8;

class Program extends SbiProgram {
  constructor() {
    super(RESULTS);
  }
}

function run(program: Program | Uint8Array, harts = 2, watch?: (vm: VM) => void) {
  const host = new VirtMachine({ memoryMiB: 64 });
  // A sentinel pattern over all of host RAM: what the VM does not own must stay as it was.
  for (let i = 0; i < host.ram.i32.length; i++) host.ram.i32[i] = Math.imul(i, 0x9e3779b1);
  const before = host.ram.i32.slice();
  const firmware = new SbiFirmware();
  const output: number[] = [];
  const vm: VM = new Hypervisor(bareMetal(host), { frameOrder: "interleaved" }).createVm({ memoryMiB: VM_MIB, harts, backend: firmware, console: (byte) => output.push(byte) });
  vm.boot({ kernel: program instanceof Uint8Array ? program : program.bytes() });
  watch?.(vm);
  const outcome = vm.run(2_000_000);
  const word = (address: number) => vm.board.ram.readU32(gpa(address))!;
  const result = (k: number) => [word(RESULTS + 8 * k) | 0, word(RESULTS + 8 * k + 4)];
  // Host words outside the VM's RAM and shadow-table frames: unchanged.
  const hostChanged = hostChangedOutside(vm, before);
  return { outcome, result, firmware, output: Buffer.from(output).toString("latin1"), hostChanged };
}

describe("the SBI firmware of the paravirtual backend", () => {
  it("boots the kernel in S-mode at its entry with a0 = hart id and a1 = the device tree, and answers the base extension", () => {
    const p = new Program();
    const version = p.call(SbiExtension.BASE, 0);
    const probeConsole = p.call(SbiExtension.BASE, 3, SbiExtension.DBCN);
    const probeHsm = p.call(SbiExtension.BASE, 3, SbiExtension.HSM);
    const probeUnknown = p.call(SbiExtension.BASE, 3, 0x0a00_0000);
    p.call(SbiExtension.SRST, 0, 0, 0);
    const { outcome, result, firmware } = run(p);
    expect(outcome).toEqual({ kind: "pass" });
    expect(result(version)).toEqual([SbiError.SUCCESS, SBI_SPEC_VERSION]);
    expect(result(probeConsole)).toEqual([SbiError.SUCCESS, 1]);
    expect(result(probeHsm)).toEqual([SbiError.SUCCESS, 1]);
    expect(result(probeUnknown)).toEqual([SbiError.SUCCESS, 0]);
    expect(firmware.stats.calls).toBe(5);
  });

  it("writes to the console from guest memory and reports a failure code through SRST", () => {
    const p = new Program();
    p.words.push(...li(5, 0x000a_6b6f), ...li(6, MESSAGE), encode(Op.SW, { rs1: 6, rs2: 5, imm: 0 })); // "ok\n"
    const written = p.call(SbiExtension.DBCN, 0, 3, MESSAGE, 0);
    const byte = p.call(SbiExtension.DBCN, 2, 0x21); // "!"
    // 6 MiB of RAM in one call: the firmware writes DBCN_MAX_BYTES of it (the guest asks again for the rest).
    const huge = p.call(SbiExtension.DBCN, 0, 6 * 1048576, RAM_BASE, 0);
    p.call(SbiExtension.SRST, 0, 0, SRST_REASON_FAILURE_CODE | 42);
    const { outcome, result, output } = run(p);
    expect(result(written)).toEqual([SbiError.SUCCESS, 3]);
    expect(result(byte)).toEqual([SbiError.SUCCESS, 0]);
    expect(result(huge)).toEqual([SbiError.SUCCESS, DBCN_MAX_BYTES]);
    expect(output.slice(0, 4)).toBe("ok\n!");
    expect(output).toHaveLength(4 + DBCN_MAX_BYTES);
    expect(outcome).toEqual({ kind: "fail", code: 42 });
  });

  it("answers malformed calls with the SBI error codes, and the VM and the host carry on intact", () => {
    const p = new Program();
    const ramEnd = RAM_BASE + VM_MIB * 1024 * 1024;
    const cases: [string, number, number][] = [
      ["unknown extension", p.call(0x0012_3456, 0), SbiError.NOT_SUPPORTED],
      ["unknown base function", p.call(SbiExtension.BASE, 99), SbiError.NOT_SUPPORTED],
      ["unknown timer function", p.call(SbiExtension.TIME, 7), SbiError.NOT_SUPPORTED],
      ["IPI to a hart the VM lacks", p.call(SbiExtension.IPI, 0, 0b100, 0), SbiError.INVALID_PARAM],
      ["IPI with a base past the harts", p.call(SbiExtension.IPI, 0, 1, 5), SbiError.INVALID_PARAM],
      ["hfence without the H extension", p.call(SbiExtension.RFENCE, 4, 1, 0, 0, 0x1000), SbiError.NOT_SUPPORTED],
      ["sfence.vma on a hart the VM lacks", p.call(SbiExtension.RFENCE, 1, 1, 9, 0, 0x1000), SbiError.INVALID_PARAM],
      ["status of a hart the VM lacks", p.call(SbiExtension.HSM, 2, 9), SbiError.INVALID_PARAM],
      ["starting a hart the VM lacks", p.call(SbiExtension.HSM, 0, 9, RAM_BASE, 0), SbiError.INVALID_PARAM],
      ["starting the running hart", p.call(SbiExtension.HSM, 0, 0, RAM_BASE, 0), SbiError.ALREADY_AVAILABLE],
      ["starting a hart outside RAM", p.call(SbiExtension.HSM, 0, 1, 0x1000, 0), SbiError.INVALID_ADDRESS],
      ["suspending with a reserved type", p.call(SbiExtension.HSM, 3, 5, 0, 0), SbiError.INVALID_PARAM],
      ["reset of an unknown type", p.call(SbiExtension.SRST, 0, 7, 0), SbiError.INVALID_PARAM],
      ["shutdown with a reserved reason", p.call(SbiExtension.SRST, 0, 0, 2), SbiError.INVALID_PARAM],
      ["console write from outside RAM", p.call(SbiExtension.DBCN, 0, 16, 0x1000, 0), SbiError.INVALID_PARAM],
      ["console write past the end of RAM", p.call(SbiExtension.DBCN, 0, 16, ramEnd - 8, 0), SbiError.INVALID_PARAM],
      ["console write above 4 GiB", p.call(SbiExtension.DBCN, 0, 16, RAM_BASE, 1), SbiError.INVALID_PARAM],
      ["console read into the host's memory", p.call(SbiExtension.DBCN, 1, 64, 0x7000_0000, 0), SbiError.INVALID_PARAM],
      ["unknown console function", p.call(SbiExtension.DBCN, 3), SbiError.NOT_SUPPORTED],
    ];
    const status0 = p.call(SbiExtension.HSM, 2, 0);
    const status1 = p.call(SbiExtension.HSM, 2, 1);
    p.call(SbiExtension.SRST, 0, 0, 0);
    const { outcome, result, firmware, hostChanged, output } = run(p);
    for (const [what, k, error] of cases) expect({ what, error: result(k)[0] }).toEqual({ what, error });
    expect(result(status0)).toEqual([SbiError.SUCCESS, 0]); // started
    expect(result(status1)).toEqual([SbiError.SUCCESS, 1]); // stopped
    expect(firmware.stats.errors).toBe(cases.length);
    expect(output).toBe("");
    expect(outcome).toEqual({ kind: "pass" });
    expect(hostChanged).toBe(0);
  });

  it("fences a range's pages (unsigned, even above 2 GiB), and a large range with one full flush: bounded host work per call", () => {
    const p = new Program();
    const small = p.call(SbiExtension.RFENCE, 1, 0b11, 0, 0xc000_0ffc, 8); // two pages, across a page boundary
    const large = p.call(SbiExtension.RFENCE, 1, 0b11, 0, 0xc000_0000, 0x1000_0000); // 256 MiB at 3 GiB
    const wrapping = p.call(SbiExtension.RFENCE, 2, 1, 0, 0xffff_f000, 0x2000, 0); // past 4 GiB
    p.call(SbiExtension.SRST, 0, 0, 0);
    const pages: number[] = [];
    let full = 0;
    const { outcome, result } = run(p, 2, (vm) => {
      vi.spyOn(vm.shadow, "invalidatePage").mockImplementation((va: number) => void pages.push(va));
      vi.spyOn(vm.shadow, "invalidateAll").mockImplementation(() => void full++);
    });
    expect(outcome).toEqual({ kind: "pass" });
    for (const k of [small, large, wrapping]) expect(result(k)[0]).toBe(SbiError.SUCCESS);
    // The two pages of the small range, on each of the two harts; the large and wrapping ones in
    // one flush per hart (2 + 1), not a million page invalidations.
    expect(pages).toEqual([0xc000_0000, 0xc000_1000, 0xc000_0000, 0xc000_1000]);
    expect(full).toBe(3);
    expect(REMOTE_FENCE_PAGE_LIMIT).toBe(64);
  });

  it("starts a second hart with HSM: it runs at the address given, with its id and the opaque value", () => {
    const p = new Program();
    // Hart 1's code, placed after hart 0's: store a0 and a1 at RESULTS + 0x800, then spin.
    const hart1 = 0x400;
    const start = p.call(SbiExtension.HSM, 0, 1, RAM_BASE + hart1, 0x1234_5678);
    // Wait (a bounded spin) for hart 1 to write its a1, then read its status.
    p.words.push(...li(9, 200_000), encode(Op.ADDI, { rd: 9, rs1: 9, imm: -1 }), encode(Op.BNE, { rs1: 9, rs2: 0, imm: -4 }));
    const status = p.call(SbiExtension.HSM, 2, 1);
    p.call(SbiExtension.SRST, 0, 0, 0);
    const code = p.bytes();
    expect(code.length).toBeLessThan(hart1);
    const image = new Uint8Array(hart1 + 64);
    image.set(code);
    const second = [...li(8, RESULTS + 0x800), encode(Op.SW, { rs1: 8, rs2: 10, imm: 0 }), encode(Op.SW, { rs1: 8, rs2: 11, imm: 4 }), encode(Op.JAL, { rd: 0, imm: 0 })];
    image.set(new Uint8Array(new Uint32Array(second).buffer), hart1);
    const { outcome, result } = run(image);
    expect(outcome).toEqual({ kind: "pass" });
    expect(result(start)).toEqual([SbiError.SUCCESS, 0]);
    expect(result(status)).toEqual([SbiError.SUCCESS, 0]); // started
    expect(result(0x100)).toEqual([1, 0x1234_5678]); // hart 1's a0 (its id) and a1 (opaque)
  });

  it("shares a page with the guest: a console ring it fills with plain stores, bounded however the guest lies about its indices", () => {
    const SHARED = RAM_BASE + 0x30000;
    const p = new Program();
    const unaligned = p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.REGISTER_SHARED, SHARED + 8);
    const outside = p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.REGISTER_SHARED, 0x7000_0000);
    const early = p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.DELIVER);
    const registered = p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.REGISTER_SHARED, SHARED);
    // "hi\n" into the ring with plain stores: no call; the next exit (the kick) copies it out.
    p.words.push(...li(6, SHARED));
    for (const [k, byte] of [0x68, 0x69, 0x0a].entries()) {
      p.words.push(encode(Op.LW, { rd: 7, rs1: 6, imm: SharedPage.CONSOLE_CONSUMER }), encode(Op.ADDI, { rd: 7, rs1: 7, imm: k }));
      p.words.push(encode(Op.ANDI, { rd: 7, rs1: 7, imm: SharedPage.CONSOLE_RING_SIZE - 1 }), encode(Op.ADD, { rd: 7, rs1: 7, rs2: 6 }));
      p.words.push(...li(5, byte), encode(Op.SB, { rs1: 7, rs2: 5, imm: SharedPage.CONSOLE_RING }));
    }
    // The producer as it stood at registration (the page's old contents), plus 3.
    p.words.push(encode(Op.LW, { rd: 5, rs1: 6, imm: SharedPage.CONSOLE_CONSUMER }), encode(Op.ADDI, { rd: 5, rs1: 5, imm: 3 }));
    p.words.push(encode(Op.SW, { rs1: 6, rs2: 5, imm: SharedPage.CONSOLE_PRODUCER }));
    p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.CONSOLE_KICK);
    // A lying guest: producer 1 GiB ahead of the consumer. One ring's worth at most comes out.
    p.words.push(...li(5, 0x4000_0003), encode(Op.SW, { rs1: 6, rs2: 5, imm: SharedPage.CONSOLE_PRODUCER }));
    p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.CONSOLE_KICK);
    const unknown = p.call(MATRYOSHKA_EXTENSION, 9);
    p.call(SbiExtension.SRST, 0, 0, 0);
    const { outcome, result, output, hostChanged } = run(p);
    expect(result(unaligned)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(outside)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(early)[0]).toBe(SbiError.DENIED);
    expect(result(registered)[0]).toBe(SbiError.SUCCESS);
    expect(result(unknown)[0]).toBe(SbiError.NOT_SUPPORTED);
    expect(output.startsWith("hi\n")).toBe(true);
    expect(output.length).toBe(3 + SharedPage.CONSOLE_RING_SIZE);
    expect(outcome).toEqual({ kind: "pass" });
    expect(hostChanged).toBe(0);
  });

  it("holds interrupts back while the guest masks them in the shared page, and delivers them on request", () => {
    const SHARED = RAM_BASE + 0x30000;
    const HANDLER = RAM_BASE + 0x3000;
    const p = new Program();
    p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.REGISTER_SHARED, SHARED);
    // mask = 1, stvec = HANDLER, sie.STIE, sstatus.SIE: only the mask stands in the way.
    p.words.push(...li(6, SHARED), ...li(5, 1), encode(Op.SW, { rs1: 6, rs2: 5, imm: SharedPage.IRQ_MASK }));
    p.words.push(...li(5, HANDLER), encode(Op.CSRRW, { rd: 0, rs1: 5, csr: 0x105 }));
    p.words.push(...li(5, 1 << 5), encode(Op.CSRRS, { rd: 0, rs1: 5, csr: 0x104 }), ...li(5, 1 << 1), encode(Op.CSRRS, { rd: 0, rs1: 5, csr: 0x100 }));
    p.words.push(...li(9, 0)); // s1 counts interrupts taken
    p.call(SbiExtension.TIME, 0, 0, 0); // due at once
    p.words.push(...li(7, 20_000), encode(Op.ADDI, { rd: 7, rs1: 7, imm: -1 }), encode(Op.BNE, { rs1: 7, rs2: 0, imm: -4 }));
    const whileMasked = p.call(SbiExtension.BASE, 0); // a0/a1 overwritten; s1 read from the save below
    p.words.push(encode(Op.SW, { rs1: 8, rs2: 9, imm: 0x400 }), encode(Op.LW, { rd: 5, rs1: 6, imm: SharedPage.IRQ_PENDING }), encode(Op.SW, { rs1: 8, rs2: 5, imm: 0x404 }));
    p.words.push(encode(Op.SW, { rs1: 6, rs2: 0, imm: SharedPage.IRQ_MASK }));
    p.call(MATRYOSHKA_EXTENSION, MatryoshkaFunction.DELIVER);
    p.words.push(encode(Op.SW, { rs1: 8, rs2: 9, imm: 0x408 }));
    p.call(SbiExtension.SRST, 0, 0, 0);
    const code = p.bytes();
    const image = new Uint8Array(0x3000 + 64);
    image.set(code);
    // The handler: count, push the timer away (set_timer(-1) clears STIP), return.
    const handler = [encode(Op.ADDI, { rd: 9, rs1: 9, imm: 1 }), ...li(17, SbiExtension.TIME), ...li(16, 0), ...li(10, -1), ...li(11, -1), encode(Op.ECALL), encode(Op.SRET)];
    image.set(new Uint8Array(new Uint32Array(handler).buffer), 0x3000);
    const { outcome, result } = run(image);
    expect(whileMasked).toBeGreaterThan(0);
    expect(outcome).toEqual({ kind: "pass" });
    expect(result(0x80)).toEqual([0, 1]); // while masked: none taken, one pending
    expect(result(0x81)[0]).toBe(1); // after unmasking and asking: taken once
  });
});
