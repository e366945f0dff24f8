import { describe, expect, it } from "vitest";
import { encode, Op } from "@matryoshka/isa";
import { VirtMachine } from "@matryoshka/machine";
import { guestPhysical as gpa } from "@matryoshka/memory";
import { bareMetal, Hypervisor, type VM } from "@matryoshka/vmm";
import { hostChangedOutside, li, Program as SbiProgram } from "./program.js";
import {
  DIRECT_PAGING_VERSION, MATRYOSHKA_EXTENSION, MatryoshkaFunction, MMU_MACHINE_FRAMES_MAX, MMU_UPDATE_MAX, PTE_IO, SbiError, SbiExtension,
  SbiFirmware,
} from "@matryoshka/paravirt";

// Direct paging driven by a raw S-mode program: the page tables are laid out by the test in the
// VM's RAM before the guest starts (they are plain data until the guest pins them), and the
// guest pins, updates and installs them with the MMU_* calls, saving every result.

const RAM_BASE = 0x8000_0000;
const VM_MIB = 8;
const RESULTS = RAM_BASE + 0x10000;
const LIST = RAM_BASE + 0x20000;
const HANDLER = RAM_BASE + 0x3000;
const TRAP_RECORD = RESULTS + 0x800;
const table = (n: number) => RAM_BASE + 0x40000 + n * 0x1000;
const L0_OK = table(0);
const ROOT = table(1);
const USER_ROOT = table(2);
const L0_OUTSIDE = table(3);
const L0_BELOW = table(4);
const L0_WRITABLE_TABLE = table(5);
const L1_UNPINNED_POINTER = table(6);
const UNPINNED = table(7);
const L1_IO = table(8);
const L0_IO_ON_RAM = table(9);
const L0_SELF_WRITABLE = table(10);
const L0_UNTOLD = table(11);
/** Where the guest asks for the machine frames of its first pages. */
const P2M = RESULTS + 0x400;
/** A page L0_OK maps writable: it cannot be pinned while it is. */
const WRITABLE_DATA = RAM_BASE + 0x50000;
/** Pages the guest touches after switching to its own tables (64 of them). */
const TOUCHED = RAM_BASE + 0x60000;

const V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;

class Program extends SbiProgram {
  constructor() {
    super(RESULTS);
  }

  mmu(fn: number, ...args: number[]): number {
    return this.call(MATRYOSHKA_EXTENSION, fn, ...args);
  }

  image(): Uint8Array {
    const code = this.bytes();
    const image = new Uint8Array(HANDLER - RAM_BASE + 64);
    if (code.byteLength > HANDLER - RAM_BASE) throw new Error("program too long");
    image.set(code);
    // The trap handler: record scause and stval, skip the instruction, return.
    const handler = [
      ...li(5, TRAP_RECORD),
      encode(Op.CSRRS, { rd: 6, rs1: 0, csr: 0x142 }), encode(Op.SW, { rs1: 5, rs2: 6, imm: 0 }),
      encode(Op.CSRRS, { rd: 6, rs1: 0, csr: 0x143 }), encode(Op.SW, { rs1: 5, rs2: 6, imm: 4 }),
      encode(Op.CSRRS, { rd: 6, rs1: 0, csr: 0x141 }), encode(Op.ADDI, { rd: 6, rs1: 6, imm: 4 }), encode(Op.CSRRW, { rd: 0, rs1: 6, csr: 0x141 }),
      encode(Op.SRET),
    ];
    image.set(new Uint8Array(new Uint32Array(handler).buffer), HANDLER - RAM_BASE);
    return image;
  }
}

interface Setup {
  vm: VM;
  host: VirtMachine;
  firmware: SbiFirmware;
  /** Machine frame of a guest-physical address (pinning its page, as MMU_MACHINE_FRAMES does). */
  mfn: (gpa: number) => number;
  /** A frame of the other VM (touched, so it has one), and a frame nobody owns. */
  neighbourFrame: number;
  freeFrame: number;
  /** A frame of the VM's own that the guest was never told (backed, not pinned). */
  untoldFrame: number;
  write: (gpa: number, value: number) => void;
  read: (gpa: number) => number;
}

/**
 * A host with another VM beside the one under test, frames handed out top down, so that machine
 * frames differ from guest frames and are not even in the same order.
 */
function setup(options: { directPaging?: boolean } = {}): Setup {
  const host = new VirtMachine({ memoryMiB: 48 });
  for (let i = 0; i < host.ram.i32.length; i++) host.ram.i32[i] = Math.imul(i, 0x9e3779b1);
  const hypervisor = new Hypervisor(bareMetal(host), { frameOrder: "descending" });
  const neighbour = hypervisor.createVm({ memoryMiB: 4 });
  neighbour.memory.writeU32(gpa(RAM_BASE), 1);
  const firmware = new SbiFirmware(options);
  const vm = hypervisor.createVm({ memoryMiB: VM_MIB, backend: firmware });
  const ram = vm.board.ram;
  vm.memory.writeU32(gpa(RAM_BASE + 0x7f_f000), 1);
  return {
    vm,
    host,
    firmware,
    mfn: (address) => vm.memory.pin(address >>> 12),
    neighbourFrame: neighbour.memory.currentFrame(RAM_BASE >>> 12),
    // Descending order hands out the top first: the bottom frame is the last anyone gets.
    freeFrame: host.ram.base >>> 12,
    untoldFrame: vm.memory.currentFrame((RAM_BASE + 0x7f_f000) >>> 12),
    write: (address, value) => ram.writeU32(gpa(address), value),
    read: (address) => ram.readU32(gpa(address))!,
  };
}

const leaf = (mfn: number, perms: number) => ((mfn << 10) | perms | V | A | D) >>> 0;
const pointer = (mfn: number) => ((mfn << 10) | V) >>> 0;
const slot = (tableAddress: number, va: number, level: 0 | 1) => tableAddress + 4 * (level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff);

/** Lays out the test's tables (see the constants) in the VM's RAM, as the guest's initial data. */
function layTables({ mfn, write, neighbourFrame, freeFrame, untoldFrame }: Setup): void {
  for (let n = 0; n < 12; n++) for (let offset = 0; offset < 4096; offset += 4) write(table(n) + offset, 0);
  // L0_OK: identity for the first MiB: code r-x, tables r--, the rest rw-, all U (the kernel
  // runs in the platform's U-mode).
  for (let page = 0; page < 256; page++) {
    const gpa = RAM_BASE + page * 4096;
    const perms = gpa < RAM_BASE + 0x10000 ? R | X | U : gpa >= table(0) && gpa < RAM_BASE + 0x50000 ? R | U : R | W | U;
    write(slot(L0_OK, gpa, 0), leaf(mfn(gpa), perms));
  }
  write(slot(ROOT, RAM_BASE, 1), pointer(mfn(L0_OK)));
  write(L0_OUTSIDE + 5 * 4, leaf(neighbourFrame, R | W | U)); // another VM's frame
  write(L0_BELOW, leaf(freeFrame, R | U)); // a frame nobody owns
  write(L0_UNTOLD + 3 * 4, leaf(untoldFrame, R | U)); // the VM's own, but never handed to the guest
  write(L0_WRITABLE_TABLE, leaf(mfn(L0_OK), R | W | U));
  write(L1_UNPINNED_POINTER, pointer(mfn(UNPINNED)));
  write(slot(L1_IO, 0x0c00_0000, 1), ((0x0c00_0000 >>> 12) << 10) | R | W | U | PTE_IO); // the PLIC, 4 MiB
  write(L0_IO_ON_RAM, ((RESULTS >>> 12) << 10) | R | W | U | PTE_IO); // "device" memory that is RAM
  write(L0_SELF_WRITABLE + 8, leaf(mfn(L0_SELF_WRITABLE), R | W | U)); // a table that maps itself writable
}



describe("direct paging: page tables validated by the hypervisor, walked with no shadow", () => {
  it("pins and updates valid tables, refuses every mapping outside the VM or of a table, and runs the guest on them", () => {
    const s = setup();
    const { vm, host, mfn, write, read } = s;
    const p = new Program();
    p.words.push(...li(5, HANDLER), encode(Op.CSRRW, { rd: 0, rs1: 5, csr: 0x105 })); // stvec
    const info = p.mmu(MatryoshkaFunction.MMU_INFO);
    const p2m = p.mmu(MatryoshkaFunction.MMU_MACHINE_FRAMES, RAM_BASE >>> 12, 4, P2M);
    const p2mPastRam = p.mmu(MatryoshkaFunction.MMU_MACHINE_FRAMES, (RAM_BASE >>> 12) + VM_MIB * 256 - 1, 2, P2M);
    const p2mTooMany = p.mmu(MatryoshkaFunction.MMU_MACHINE_FRAMES, RAM_BASE >>> 12, MMU_MACHINE_FRAMES_MAX + 1, P2M);
    const p2mListOutside = p.mmu(MatryoshkaFunction.MMU_MACHINE_FRAMES, RAM_BASE >>> 12, 1, 0x1000_0000);
    const outside = p.mmu(MatryoshkaFunction.MMU_PIN, L0_OUTSIDE, 0);
    const below = p.mmu(MatryoshkaFunction.MMU_PIN, L0_BELOW, 0);
    const untold = p.mmu(MatryoshkaFunction.MMU_PIN, L0_UNTOLD, 0);
    const pointerToUnpinned = p.mmu(MatryoshkaFunction.MMU_PIN, L1_UNPINNED_POINTER, 1);
    const ok = p.mmu(MatryoshkaFunction.MMU_PIN, L0_OK, 0);
    const twice = p.mmu(MatryoshkaFunction.MMU_PIN, L0_OK, 0);
    const writableTable = p.mmu(MatryoshkaFunction.MMU_PIN, L0_WRITABLE_TABLE, 0);
    const selfWritable = p.mmu(MatryoshkaFunction.MMU_PIN, L0_SELF_WRITABLE, 0);
    const mappedWritable = p.mmu(MatryoshkaFunction.MMU_PIN, WRITABLE_DATA, 0);
    const badLevel = p.mmu(MatryoshkaFunction.MMU_PIN, UNPINNED, 2);
    const unaligned = p.mmu(MatryoshkaFunction.MMU_PIN, UNPINNED + 8, 0);
    const notRam = p.mmu(MatryoshkaFunction.MMU_PIN, 0x1000_0000, 0);
    const io = p.mmu(MatryoshkaFunction.MMU_PIN, L1_IO, 1);
    const ioOnRam = p.mmu(MatryoshkaFunction.MMU_PIN, L0_IO_ON_RAM, 0);
    const root = p.mmu(MatryoshkaFunction.MMU_PIN, ROOT, 1);
    const userRoot = p.mmu(MatryoshkaFunction.MMU_PIN, USER_ROOT, 1);
    // Updates (the lists are laid out below): one good entry, then one outside the VM.
    const partial = p.mmu(MatryoshkaFunction.MMU_UPDATE, LIST, 2);
    const intoUnpinned = p.mmu(MatryoshkaFunction.MMU_UPDATE, LIST + 0x100, 1);
    const tableWritable = p.mmu(MatryoshkaFunction.MMU_UPDATE, LIST + 0x200, 1);
    const listOutside = p.mmu(MatryoshkaFunction.MMU_UPDATE, 0x7000_0000, 1);
    const tooMany = p.mmu(MatryoshkaFunction.MMU_UPDATE, LIST, MMU_UPDATE_MAX + 1);
    const referenced = p.mmu(MatryoshkaFunction.MMU_UNPIN, L0_OK);
    const unpinnedRoot = p.mmu(MatryoshkaFunction.MMU_SET_ROOTS, UNPINNED, USER_ROOT);
    const sharedOnTable = p.mmu(MatryoshkaFunction.REGISTER_SHARED, L0_OK);
    const readIntoTable = p.call(SbiExtension.DBCN, 1, 16, L0_OK, 0);
    const roots = p.mmu(MatryoshkaFunction.MMU_SET_ROOTS, ROOT, USER_ROOT);
    // From here the platform walks ROOT. satp reads back the root's machine frame.
    p.words.push(encode(Op.CSRRS, { rd: 5, rs1: 0, csr: 0x180 }), encode(Op.SW, { rs1: 8, rs2: 5, imm: 0x700 }));
    // Touch 64 pages: no shadow table is filled for any of them.
    p.words.push(...li(6, TOUCHED), ...li(7, 64), ...li(9, 4096));
    p.words.push(encode(Op.SW, { rs1: 6, rs2: 7, imm: 0 }), encode(Op.ADD, { rd: 6, rs1: 6, rs2: 9 }));
    p.words.push(encode(Op.ADDI, { rd: 7, rs1: 7, imm: -1 }), encode(Op.BNE, { rs1: 7, rs2: 0, imm: -12 }));
    // A store to a page table through its read-only mapping: the guest's own store page fault.
    p.words.push(...li(6, L0_OK), encode(Op.SW, { rs1: 6, rs2: 0, imm: 0 }));
    // Unpinning a root in use is refused too.
    const rootInUse = p.mmu(MatryoshkaFunction.MMU_UNPIN, ROOT);
    p.call(SbiExtension.SRST, 0, 0, 0);

    vm.boot({ kernel: p.image() });
    layTables(s);
    // The first list: a good entry (remapping a page), then one mapping another VM's frame.
    write(LIST, slot(L0_OK, RAM_BASE + 0xf0000, 0));
    write(LIST + 4, leaf(mfn(RAM_BASE + 0x100000), R | W | U));
    write(LIST + 8, slot(L0_OK, RAM_BASE + 0xf1000, 0));
    write(LIST + 12, leaf(s.neighbourFrame, R | W | U));
    write(LIST + 0x100, UNPINNED);
    write(LIST + 0x104, leaf(mfn(RAM_BASE), R | U));
    write(LIST + 0x200, slot(L0_OK, RAM_BASE + 0xf2000, 0));
    write(LIST + 0x204, leaf(mfn(ROOT), R | W | U));
    const before = host.ram.i32.slice();
    const slotBefore = read(slot(L0_OK, RAM_BASE + 0xf1000, 0));
    const fillsBefore = vm.stats.shadow.fills;

    const outcome = vm.run(5_000_000);
    const result = (k: number) => [read(RESULTS + 8 * k) | 0, read(RESULTS + 8 * k + 4)];
    expect(outcome).toEqual({ kind: "pass" });
    expect(result(info)).toEqual([SbiError.SUCCESS, DIRECT_PAGING_VERSION]);
    expect(result(p2m)[0]).toBe(SbiError.SUCCESS);
    const machine = [0, 1, 2, 3].map((i) => read(P2M + 4 * i));
    expect(machine).toEqual([0, 1, 2, 3].map((i) => mfn(RAM_BASE + i * 4096)));
    // The test means something only if machine frames are neither guest frames nor consecutive.
    expect(machine[0]).not.toBe(RAM_BASE / 4096);
    expect(machine[1]! - machine[0]!).not.toBe(1);
    expect(result(p2mPastRam)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(p2mTooMany)[0]).toBe(SbiError.INVALID_PARAM);
    expect(result(p2mListOutside)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(outside)).toEqual([SbiError.INVALID_ADDRESS, 5]); // the entry at fault
    expect(result(below)).toEqual([SbiError.INVALID_ADDRESS, 0]);
    expect(result(untold)).toEqual([SbiError.INVALID_ADDRESS, 3]);
    expect(result(pointerToUnpinned)[0]).toBe(SbiError.INVALID_PARAM);
    expect(result(ok)[0]).toBe(SbiError.SUCCESS);
    expect(result(twice)[0]).toBe(SbiError.ALREADY_AVAILABLE);
    expect(result(writableTable)[0]).toBe(SbiError.DENIED);
    expect(result(selfWritable)).toEqual([SbiError.DENIED, 2]);
    expect(result(mappedWritable)[0]).toBe(SbiError.DENIED);
    expect(result(badLevel)[0]).toBe(SbiError.INVALID_PARAM);
    expect(result(unaligned)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(notRam)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(io)[0]).toBe(SbiError.SUCCESS);
    expect(result(ioOnRam)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(root)[0]).toBe(SbiError.SUCCESS);
    expect(result(userRoot)[0]).toBe(SbiError.SUCCESS);
    expect(result(partial)).toEqual([SbiError.INVALID_ADDRESS, 1]);
    expect(read(slot(L0_OK, RAM_BASE + 0xf0000, 0))).toBe(leaf(mfn(RAM_BASE + 0x100000), R | W | U));
    expect(read(slot(L0_OK, RAM_BASE + 0xf1000, 0))).toBe(slotBefore); // refused: never written
    expect(result(intoUnpinned)).toEqual([SbiError.INVALID_PARAM, 0]);
    expect(result(tableWritable)).toEqual([SbiError.DENIED, 0]);
    expect(result(listOutside)[0]).toBe(SbiError.INVALID_ADDRESS);
    expect(result(tooMany)[0]).toBe(SbiError.INVALID_PARAM);
    expect(result(referenced)[0]).toBe(SbiError.DENIED);
    expect(result(unpinnedRoot)[0]).toBe(SbiError.INVALID_PARAM);
    expect(result(sharedOnTable)[0]).toBe(SbiError.DENIED);
    expect(result(readIntoTable)[0]).toBe(SbiError.INVALID_PARAM);
    expect(result(roots)[0]).toBe(SbiError.SUCCESS);
    expect(result(rootInUse)[0]).toBe(SbiError.DENIED);
    expect(read(RESULTS + 0x700)).toBe((0x8000_0000 | mfn(ROOT)) >>> 0);
    for (let page = 0; page < 64; page++) expect(read(TOUCHED + page * 4096)).toBe(64 - page);
    // The guest's fault, with its own cause and address; the table is intact.
    expect([read(TRAP_RECORD), read(TRAP_RECORD + 4)]).toEqual([15, L0_OK]);
    expect(read(L0_OK)).toBe(leaf(mfn(RAM_BASE), R | X | U));
    // 64 new pages and the code after the switch, with fewer fills than pages: no shadowing.
    expect(vm.stats.shadow.fills - fillsBefore).toBeLessThan(16);
    expect(s.firmware.directPaging?.pinnedTables).toBe(4); // L0_OK, L1_IO and the two roots
    expect(hostChangedOutside(vm, before)).toBe(0);
  });

  it("stops the VM when a pinned table is written other than by MMU_UPDATE, before the platform can walk it", () => {
    const s = setup();
    const { vm, host, read } = s;
    const p = new Program();
    const pinned = p.mmu(MatryoshkaFunction.MMU_PIN, L0_OK, 0);
    // Untranslated (shadowed) context: a plain store into the pinned table.
    p.words.push(...li(6, L0_OK), ...li(7, 0x7fff_fc00 | V | R | W | X | U), encode(Op.SW, { rs1: 6, rs2: 7, imm: 0x10 }));
    p.call(SbiExtension.SRST, 0, 0, 0);
    vm.boot({ kernel: p.image() });
    layTables(s);
    const before = host.ram.i32.slice();
    const outcome = vm.run(1_000_000);
    expect(read(RESULTS + 8 * pinned)).toBe(SbiError.SUCCESS);
    expect(outcome.kind).toBe("stopped");
    expect(outcome.kind === "stopped" && outcome.reason).toMatch(/page table at 0x80040000 was written outside MMU_UPDATE/);
    expect(hostChangedOutside(vm, before)).toBe(0);
  });

  it("is not offered when the firmware is made without it: the guest's tables are shadowed", () => {
    const s = setup({ directPaging: false });
    const p = new Program();
    const info = p.mmu(MatryoshkaFunction.MMU_INFO);
    const pin = p.mmu(MatryoshkaFunction.MMU_PIN, L0_OK, 0);
    p.call(SbiExtension.SRST, 0, 0, 0);
    s.vm.boot({ kernel: p.image() });
    expect(s.vm.run(1_000_000)).toEqual({ kind: "pass" });
    expect(s.read(RESULTS + 8 * info) | 0).toBe(SbiError.NOT_SUPPORTED);
    expect(s.read(RESULTS + 8 * pin) | 0).toBe(SbiError.NOT_SUPPORTED);
  });
});
