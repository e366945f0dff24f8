import { describe, expect, it } from "vitest";
import { Pmp, PMP_R, PMP_W, PMP_X } from "@matryoshka/mmu";
import { Priv } from "@matryoshka/isa";

const { M, S, U } = Priv;
const TOR = 1 << 3;
const NA4 = 2 << 3;
const NAPOT = 3 << 3;
const LOCK = 0x80;

/** pmpaddr for a NAPOT region of `size` bytes (a power of two >= 8) at `base`. */
const napot = (base: number, size: number) => base / 4 + (size / 8 - 1);

describe("PMP", () => {
  it("with no entries allows everything (pmp=false)", () => {
    const pmp = new Pmp(0);
    expect(pmp.check(0x8000_0000, 4, PMP_W, U)).toBe(true);
  });

  it("denies S and U when no active entry matches, but allows M", () => {
    const pmp = new Pmp(16);
    expect(pmp.check(0x8000_0000, 4, PMP_R, S)).toBe(false);
    expect(pmp.check(0x8000_0000, 4, PMP_R, M)).toBe(true);
  });

  it("matches TOR ranges against the previous address register", () => {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, 0x8000_0000 / 4);
    pmp.writeAddr(1, 0x8000_1000 / 4);
    pmp.writeCfg(0, (TOR | PMP_R | PMP_X) << 8);
    expect(pmp.check(0x8000_0ffc, 4, PMP_R, U)).toBe(true);
    expect(pmp.check(0x8000_0ffc, 4, PMP_W, U)).toBe(false);
    expect(pmp.check(0x8000_1000, 4, PMP_R, U)).toBe(false);
    expect(pmp.check(0x7fff_fffc, 4, PMP_R, U)).toBe(false);
  });

  it("decodes NAPOT sizes from trailing ones and NA4 as four bytes", () => {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, 0x8000_0000 / 4); // NA4: exactly one word
    pmp.writeAddr(1, napot(0x8001_0000, 0x1_0000));
    pmp.writeCfg(0, (NA4 | PMP_R) | ((NAPOT | PMP_R | PMP_W) << 8));
    expect(pmp.check(0x8000_0000, 4, PMP_R, S)).toBe(true);
    expect(pmp.check(0x8000_0004, 4, PMP_R, S)).toBe(false);
    expect(pmp.check(0x8001_fffc, 4, PMP_W, S)).toBe(true);
    expect(pmp.check(0x8002_0000, 4, PMP_W, S)).toBe(false);
  });

  it("lets the lowest-numbered matching entry decide, and fails partial matches", () => {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, napot(0x8000_0000, 0x1000));
    pmp.writeAddr(1, napot(0x8000_0000, 0x10_0000));
    pmp.writeCfg(0, NAPOT | PMP_R | ((NAPOT | PMP_R | PMP_W | PMP_X) << 8));
    expect(pmp.check(0x8000_0010, 4, PMP_W, S)).toBe(false); // entry 0 decides: read-only
    expect(pmp.check(0x8000_2000, 4, PMP_W, S)).toBe(true); // only entry 1 matches
    expect(pmp.check(0x8000_0ffe, 4, PMP_R, S)).toBe(false); // straddles entry 0's end
  });

  it("applies locked entries to M-mode and ignores writes to them", () => {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, napot(0x8000_0000, 0x1000));
    pmp.writeCfg(0, LOCK | NAPOT | PMP_R);
    expect(pmp.check(0x8000_0000, 4, PMP_W, M)).toBe(false);
    pmp.writeCfg(0, NAPOT | PMP_R | PMP_W);
    pmp.writeAddr(0, 0);
    expect(pmp.readCfg(0) & 0xff).toBe(LOCK | NAPOT | PMP_R);
    expect(pmp.readAddr(0)).toBe(napot(0x8000_0000, 0x1000));
  });

  it("treats the reserved R=0 W=1 combination as granting no write (spec §3.7.1)", () => {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, napot(0x8000_0000, 0x1000));
    pmp.writeCfg(0, NAPOT | PMP_W);
    expect(pmp.check(0x8000_0000, 4, PMP_W, S)).toBe(false);
  });

  it("summarizes whole pages for TLBs, and refuses pages an entry splits", () => {
    const pmp = new Pmp(16);
    pmp.writeAddr(0, 0x8000_0800 / 4);
    pmp.writeAddr(1, 0x8010_0000 / 4);
    pmp.writeCfg(0, (TOR | PMP_R | PMP_W) << 8);
    expect(pmp.pagePermissions(0x8000_1000, S)).toBe(PMP_R | PMP_W);
    expect(pmp.pagePermissions(0x8000_0000, S)).toBe(-1);
    expect(pmp.pagePermissions(0x9000_0000, S)).toBe(0);
    expect(pmp.pagePermissions(0x9000_0000, M)).toBe(PMP_R | PMP_W | PMP_X);
  });
});

/** pagePermissions as first written (a closure and an array per call): the results to keep. */
function referencePagePermissions(pmp: Pmp, pagePa: number, priv: number): number {
  const splits = (pmp as unknown as { splits(pagePa: number): boolean }).splits.bind(pmp);
  const verdict = (perm: number) => {
    if (pmp.check(pagePa, 4096, perm, priv)) return 1;
    return splits(pagePa) ? -1 : 0;
  };
  let mask = 0;
  for (const perm of [PMP_R, PMP_W, PMP_X]) {
    const v = verdict(perm);
    if (v < 0) return -1;
    if (v) mask |= perm;
  }
  return mask;
}

describe("PMP page summaries", () => {
  it("agree with the per-permission definition for random configurations, pages and privileges", () => {
    let s = 0x1234_5678;
    const next = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return s >>> 0;
    };
    const BASE = 0x8000_0000;
    let split = 0;
    let uniform = 0;
    for (let config = 0; config < 300; config++) {
      const pmp = new Pmp(config % 10 === 0 ? 0 : 1 + (next() % 16));
      for (let e = 0; e < pmp.count; e++) {
        // Addresses near a few pages, at byte, word and page granularity, so entries split pages,
        // cover them whole, or are empty (TOR with the bounds reversed).
        const grain = [4, 0x100, 0x1000, 0x4000][next() % 4]!;
        pmp.writeAddr(e, (BASE + (next() % 64) * grain) / 4 + (next() % 3 === 0 ? next() % 1024 : 0));
      }
      for (let register = 0; register * 4 < pmp.count; register++) pmp.writeCfg(register, next() & 0x9f9f9f9f);
      for (let probe = 0; probe < 40; probe++) {
        const pagePa = BASE + (next() % 80) * 0x1000;
        for (const priv of [U, S, M]) {
          const expected = referencePagePermissions(pmp, pagePa, priv);
          expect(pmp.pagePermissions(pagePa, priv)).toBe(expected);
          if (expected < 0) split++;
          else uniform++;
        }
      }
    }
    // Both outcomes were exercised.
    expect(split).toBeGreaterThan(100);
    expect(uniform).toBeGreaterThan(100);
  });
});
