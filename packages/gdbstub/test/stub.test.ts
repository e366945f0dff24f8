import { describe, expect, it } from "vitest";
import { CSR, encode, Op } from "@matryoshka/isa";
import { Bus, guestPhysical, Ram } from "@matryoshka/memory";
import { Hart, Interpreter, Priv } from "@matryoshka/cpu";
import { FIRST_CSR_REGNUM, GdbStub, HartDebugger, HartTarget, PacketReader, PRIV_REGNUM, wordToHex } from "@matryoshka/gdbstub";

const BASE = 0x8000_0000;
const DATA = BASE + 0x1000;
// 0: x1 = 1; 4: x5 = DATA; 8: x1 += 1; c: sw x1, 0(x5); 10: lw x6, 4(x5); 14: j 8
const PROGRAM = [
  encode(Op.ADDI, { rd: 1, rs1: 0, imm: 1 }),
  encode(Op.LUI, { rd: 5, imm: DATA }),
  encode(Op.ADDI, { rd: 1, rs1: 1, imm: 1 }),
  encode(Op.SW, { rs1: 5, rs2: 1, imm: 0 }),
  encode(Op.LW, { rd: 6, rs1: 5, imm: 4 }),
  encode(Op.JAL, { rd: 0, imm: -12 }),
];

/** A packet as GDB frames it: the payload as given (binary data already escaped), its checksum. */
function frame(payload: string): Uint8Array {
  const sum = [...payload].reduce((total, c) => total + c.charCodeAt(0), 0) & 0xff;
  return Uint8Array.from(`$${payload}#${sum.toString(16).padStart(2, "0")}`, (c) => c.charCodeAt(0));
}

/** A hart running PROGRAM under a stub, and a client that speaks to the stub in-process. */
function session(options: { startStopped?: boolean } = { startStopped: true }) {
  const ram = new Ram(BASE, 1 << 16);
  ram.write(guestPhysical(BASE), new Uint8Array(new Uint32Array(PROGRAM).buffer));
  const hart = new Hart(new Bus(ram), { pmpEntries: 0 });
  hart.reset(BASE);
  const target = new HartTarget([hart]);
  const stub = new GdbStub(target, options);
  const debug = new HartDebugger(stub, target);
  const engine = new Interpreter();
  const replies: string[] = [];
  const reader = new PacketReader();
  let ended = false;
  stub.attach({
    write: (bytes) => {
      for (const event of reader.feed(bytes)) if (event.kind === "packet") replies.push(event.payload);
    },
    end: () => void (ended = true),
  });
  const send = (payload: string): string | undefined => {
    replies.length = 0;
    stub.receive(frame(payload));
    return replies.at(-1);
  };
  /** Runs like the board: turns of `budget` until the stub stops the hart (or `turns` run out). */
  const run = (turns = 10, budget = 100) => {
    replies.length = 0;
    for (let i = 0; i < turns && !stub.paused; i++) debug.runHart(hart, budget, (h, n) => engine.run(h, n));
    return replies.at(-1);
  };
  return { ram, hart, stub, send, run, replies, ended: () => ended };
}

describe("the gdb stub on a hart", () => {
  it("answers the handshake: features, the target description, threads, the stop reason", () => {
    const { send } = session();
    expect(send("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")).toContain("qXfer:features:read+");
    expect(send("vMustReplyEmpty")).toBe("");
    expect(send("?")).toBe("T05thread:01;");
    expect(send("qfThreadInfo")).toBe("m01");
    expect(send("qsThreadInfo")).toBe("l");
    expect(send("qC")).toBe("QC01");
    expect(send("qAttached")).toBe("1");
    const xml = send("qXfer:features:read:target.xml:0,ffff")!;
    expect(xml[0]).toBe("l");
    expect(xml).toContain("<architecture>riscv:rv32</architecture>");
    expect(xml).toContain('<feature name="org.gnu.gdb.riscv.cpu">');
    expect(xml).toContain(`<reg name="mstatus" bitsize="32" regnum="${FIRST_CSR_REGNUM + CSR.mstatus}" group="csr"/>`);
    expect(xml).toContain('<reg name="tdata1"');
    // In pieces: "m" until the last.
    const first = send("qXfer:features:read:target.xml:0,10")!;
    expect(first).toBe("m" + xml.slice(1, 17));
    expect(send("qXfer:features:read:other.xml:0,10")).toBe("E00");
  });

  it("reads and writes registers, CSRs and the privilege mode", () => {
    const { send, hart } = session();
    hart.x[10] = 0x1234;
    const all = send("g")!;
    expect(all).toHaveLength(33 * 8);
    expect(all.slice(10 * 8, 11 * 8)).toBe(wordToHex(0x1234));
    expect(all.slice(32 * 8)).toBe(wordToHex(BASE));
    expect(send(`P${(11).toString(16)}=${wordToHex(0xcafe)}`)).toBe("OK");
    expect(hart.x[11]).toBe(0xcafe);
    expect(send(`p${(FIRST_CSR_REGNUM + CSR.misa).toString(16)}`)).toBe(wordToHex(hart.readCsr(CSR.misa)!));
    expect(send(`P${(FIRST_CSR_REGNUM + CSR.mscratch).toString(16)}=${wordToHex(7)}`)).toBe("OK");
    expect(hart.mscratch).toBe(7);
    expect(send(`P${(FIRST_CSR_REGNUM + CSR.mhartid).toString(16)}=${wordToHex(7)}`)).toBe("E01"); // read-only
    expect(send(`p${PRIV_REGNUM.toString(16)}`)).toBe(wordToHex(Priv.M));
    expect(send(`p${(FIRST_CSR_REGNUM + 0x8ff).toString(16)}`)).toBe("E01"); // no such CSR
    expect(send("P0=00000000")).toBe("OK");
    expect(send("Pzz=1")).toBe("E01");
    const written = "0".repeat(8) + wordToHex(5).repeat(31) + wordToHex(BASE + 8);
    expect(send(`G${written}`)).toBe("OK");
    expect([hart.x[0], hart.x[31], hart.pc >>> 0]).toEqual([0, 5, BASE + 8]);
    expect(send("G1234")).toBe("E01");
  });

  it("reads and writes memory, with M, X (escaped binary) and clean errors", () => {
    const { send, ram } = session();
    expect(send(`m${BASE.toString(16)},4`)).toBe(wordToHex(PROGRAM[0]!));
    expect(send(`M${DATA.toString(16)},2:abcd`)).toBe("OK");
    expect(ram.readU16(guestPhysical(DATA))).toBe(0xcdab);
    // Binary: 0x24 ('$') escaped as }\x04.
    expect(send(`X${(DATA + 4).toString(16)},2:}\u0004A`)).toBe("OK");
    expect(Array.from(ram.read(guestPhysical(DATA + 4), 2)!)).toEqual([0x24, 0x41]);
    expect(send(`X${DATA.toString(16)},0:`)).toBe("OK");
    expect(send("m0,4")).toBe("E14"); // nothing there
    expect(send(`m${(BASE + 0xfffe).toString(16)},4`)).toBe("E14"); // runs off the end of RAM
    expect(send("mzz,4")).toBe("E01");
    expect(send(`M${DATA.toString(16)},4:ab`)).toBe("E01");
    expect(send("M0,1:00")).toBe("E14");
    expect(send("qNoSuchThing")).toBe("");
    expect(send("Zz")).toBe("E01");
  });

  it("reads through the hart's own translation", () => {
    const { send, hart, ram } = session();
    // One megapage: virtual 0x4000_0000 → BASE (Sv32 leaf at level 1, R W X, A D set).
    const root = BASE + 0x4000;
    ram.write(guestPhysical(root + (0x4000_0000 >>> 22) * 4), new Uint8Array(new Uint32Array([((BASE >>> 12) << 10) | 0xcf]).buffer));
    hart.satp = (0x8000_0000 | (root >>> 12)) >>> 0;
    hart.priv = Priv.S;
    hart.flushTlbs();
    expect(send("m40000000,4")).toBe(wordToHex(PROGRAM[0]!));
    expect(send(`m${BASE.toString(16)},4`)).toBe("E14"); // unmapped at this privilege
  });

  it("stops at breakpoints, steps, and continues past the breakpoint it stopped at", () => {
    const { send, run, hart } = session();
    expect(send(`Z0,${(BASE + 12).toString(16)},4`)).toBe("OK");
    expect(send("c")).toBeUndefined(); // the reply comes with the stop
    expect(run()).toBe("T05thread:01;swbreak:;");
    expect(hart.pc >>> 0).toBe(BASE + 12);
    expect(hart.x[1]).toBe(2);
    expect(send("s")).toBeUndefined();
    expect(run()).toBe("T05thread:01;");
    expect(hart.pc >>> 0).toBe(BASE + 16);
    // Continue: once round the loop, to the same breakpoint.
    send("vCont;c");
    expect(run()).toBe("T05thread:01;swbreak:;");
    expect(hart.x[1]).toBe(3);
    // A hardware breakpoint (Z1) is the same check.
    expect(send(`z0,${(BASE + 12).toString(16)},4`)).toBe("OK");
    expect(send(`Z1,${(BASE + 20).toString(16)},4`)).toBe("OK");
    send("vCont;s:1;c");
    expect(run()).toBe("T05thread:01;");
    send("c");
    expect(run()).toBe("T05thread:01;swbreak:;");
    expect(hart.pc >>> 0).toBe(BASE + 20);
  });

  it("reports write, read and access watchpoints after the access, with its address", () => {
    const { send, run, hart, ram } = session();
    expect(send(`Z2,${DATA.toString(16)},4`)).toBe("OK");
    send("c");
    expect(run()).toBe(`T05thread:01;watch:${DATA.toString(16)};`);
    expect(ram.readU32(guestPhysical(DATA))).toBe(2); // the store happened
    expect(hart.pc >>> 0).toBe(BASE + 16);
    expect(send(`z2,${DATA.toString(16)},4`)).toBe("OK");
    expect(send(`Z3,${(DATA + 6).toString(16)},1`)).toBe("OK");
    send("c");
    expect(run()).toBe(`T05thread:01;rwatch:${(DATA + 6).toString(16)};`);
    expect(hart.pc >>> 0).toBe(BASE + 20);
    expect(send(`z3,${(DATA + 6).toString(16)},1`)).toBe("OK");
    expect(send(`Z4,${DATA.toString(16)},8`)).toBe("OK");
    send("c");
    expect(run()).toBe(`T05thread:01;awatch:${DATA.toString(16)};`);
    expect(send(`Z2,${DATA.toString(16)},0`)).toBe("E01");
  });

  it("stops on Ctrl-C, and a client that detaches leaves the hart running", () => {
    const { send, run, stub, hart, ended } = session();
    send("c");
    expect(stub.active).toBe(false); // nothing set: the engine runs unchecked
    run(1);
    expect(stub.paused).toBe(false);
    stub.receive(Uint8Array.of(0x03));
    expect(run(1)).toBe("T02thread:01;");
    expect(stub.paused).toBe(true);
    send(`Z0,${BASE.toString(16)},4`);
    expect(send("D")).toBe("OK");
    expect(ended()).toBe(true);
    expect(stub.paused).toBe(false);
    expect(stub.breakpoints.size).toBe(0);
    const before = hart.steps;
    run(1);
    expect(hart.steps).toBeGreaterThan(before);
  });

  it("stops the target when a client attaches, as QEMU does, and answers corrupt packets with -", () => {
    const { stub } = session({ startStopped: false });
    expect(stub.paused).toBe(true);
    const out: number[] = [];
    const other = new GdbStub(stub.target);
    other.attach({ write: (bytes) => out.push(...bytes), end: () => {} });
    other.receive(Uint8Array.from("$g#00", (c) => c.charCodeAt(0)));
    expect(out).toEqual([0x2d]);
    expect(other.attach({ write: () => {}, end: () => {} })).toBe(false); // one client at a time
  });
});
