import { beforeEach, describe, expect, it } from "vitest";
import { Bus, Ram } from "@matryoshka/memory";
import {
  Access, Pmp, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, SATP_MODE_SV32, Tlb,
  WALK_ACCESS_FAULT, WALK_PAGE_FAULT, WalkInfo, walkSv32, type TranslationState,
} from "@matryoshka/mmu";
import { Priv } from "@matryoshka/isa";

const RAM = 0x8000_0000;
const ROOT = 0x8000_0000; // level-1 table
const L0 = 0x8000_1000; // level-0 table

let ram: Ram;
let bus: Bus;
const pmp = new Pmp(0);
const info = new WalkInfo();
const state = (priv: number, extra: Partial<TranslationState> = {}): TranslationState => ({
  satp: SATP_MODE_SV32 | (ROOT >>> 12),
  priv,
  sum: false,
  mxr: false,
  ...extra,
});
const pte = (pa: number, flags: number) => (((pa >>> 12) << 10) | flags) >>> 0;
const setPte = (tableAt: number, index: number, value: number) => bus.store(tableAt + 4 * index, 4, value);
const readPte = (tableAt: number, index: number) => bus.load(tableAt + 4 * index, 4);

beforeEach(() => {
  ram = new Ram(RAM, 1 << 24);
  bus = new Bus(ram);
  // va 0x40000000 (vpn1 = 0x100) → L0 table; va 0x40001000 → frame 0x80010000.
  setPte(ROOT, 0x100, pte(L0, PTE_V));
  setPte(L0, 1, pte(0x8001_0000, PTE_V | PTE_R | PTE_W));
});

describe("Sv32 walk (privileged spec 1.12 §4.3.2)", () => {
  it("translates through two levels and sets A, and D on a store, as QEMU does", () => {
    expect(walkSv32(bus, pmp, 0x4000_1234, Access.Load, state(Priv.S), info)).toBe(0x8001_0234);
    expect(readPte(L0, 1) & (PTE_A | PTE_D)).toBe(PTE_A);
    expect(walkSv32(bus, pmp, 0x4000_1234, Access.Store, state(Priv.S), info)).toBe(0x8001_0234);
    expect(readPte(L0, 1) & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
    expect(info.level).toBe(0);
  });

  it("faults on invalid entries, reserved W-without-R, and missing permissions", () => {
    expect(walkSv32(bus, pmp, 0x4000_2000, Access.Load, state(Priv.S), info)).toBe(WALK_PAGE_FAULT);
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Fetch, state(Priv.S), info)).toBe(WALK_PAGE_FAULT);
    setPte(L0, 1, pte(0x8001_0000, PTE_V | PTE_W));
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Store, state(Priv.S), info)).toBe(WALK_PAGE_FAULT);
  });

  it("keeps user and supervisor pages apart, with SUM for S loads and never S fetches", () => {
    setPte(L0, 1, pte(0x8001_0000, PTE_V | PTE_R | PTE_X | PTE_U));
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Load, state(Priv.U), info)).toBe(0x8001_0000);
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Load, state(Priv.S), info)).toBe(WALK_PAGE_FAULT);
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Load, state(Priv.S, { sum: true }), info)).toBe(0x8001_0000);
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Fetch, state(Priv.S, { sum: true }), info)).toBe(WALK_PAGE_FAULT);
    setPte(L0, 1, pte(0x8001_0000, PTE_V | PTE_R));
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Load, state(Priv.U), info)).toBe(WALK_PAGE_FAULT);
  });

  it("lets MXR loads read execute-only pages", () => {
    setPte(L0, 1, pte(0x8001_0000, PTE_V | PTE_X));
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Load, state(Priv.S), info)).toBe(WALK_PAGE_FAULT);
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Load, state(Priv.S, { mxr: true }), info)).toBe(0x8001_0000);
  });

  it("maps 4 MiB superpages and faults on misaligned ones", () => {
    setPte(ROOT, 0x101, pte(0x8040_0000, PTE_V | PTE_R));
    expect(walkSv32(bus, pmp, 0x4052_3456, Access.Load, state(Priv.S), info)).toBe(0x8052_3456);
    expect(info.level).toBe(1);
    setPte(ROOT, 0x101, pte(0x8040_1000, PTE_V | PTE_R));
    expect(walkSv32(bus, pmp, 0x4052_3456, Access.Load, state(Priv.S), info)).toBe(WALK_PAGE_FAULT);
  });

  it("faults when level 0 holds a pointer, and on page tables outside memory", () => {
    setPte(L0, 1, pte(0x8001_0000, PTE_V));
    expect(walkSv32(bus, pmp, 0x4000_1000, Access.Load, state(Priv.S), info)).toBe(WALK_PAGE_FAULT);
    setPte(ROOT, 0x102, pte(0x1000_0000_0, PTE_V));
    expect(walkSv32(bus, pmp, 0x4080_0000, Access.Load, state(Priv.S), info)).toBe(WALK_ACCESS_FAULT);
  });

  it("produces physical addresses above 4 GiB from 22-bit PPNs (Sv32 is a 34-bit space)", () => {
    setPte(L0, 3, ((0x3f_ffff << 10) | PTE_V | PTE_R | PTE_A) >>> 0);
    expect(walkSv32(bus, pmp, 0x4000_3010, Access.Load, state(Priv.S), info)).toBe(0x3_ffff_f010);
  });
});

describe("Tlb", () => {
  it("hits by virtual page, and flushes by page, by frame and entirely", () => {
    const tlb = new Tlb();
    tlb.fill(0x4000_1000, 0x1_0000, 0x80010);
    const vpn = 0x4000_1;
    expect(tlb.tag[vpn & 255]).toBe(vpn);
    tlb.flushFrame(0x80010);
    expect(tlb.tag[vpn & 255]).toBe(-1);
    tlb.fill(0x4000_1000, 0x1_0000, 0x80010);
    tlb.flushPage(0x4000_1fff);
    expect(tlb.tag[vpn & 255]).toBe(-1);
    tlb.fill(0x4000_1000, 0x1_0000, 0x80010);
    tlb.flush();
    expect(tlb.tag[vpn & 255]).toBe(-1);
  });
});
