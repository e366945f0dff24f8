import { describe, expect, it } from "vitest";
import {
  checkPopekGoldberg,
  CSR,
  csrName,
  decode,
  encode,
  ISA_PROFILES,
  isaProfile,
  isPrivilegedOn,
  isUserSensitiveOn,
  Op,
  userSstatusAccessTraps,
} from "@matryoshka/isa";

/** "csrr <name>" for every user counter: cycle, time, instret, hpmcounter3..31 and their high halves. */
const COUNTER_READS = [0xc00, 0xc80]
  .flatMap((base) => Array.from({ length: 32 }, (_, k) => `csrr ${csrName(base + k)!}`))
  .sort();

const csrr = (csr: number) => decode(encode(Op.CSRRS, { rd: 10, csr }));
const csrw = (csr: number) => decode(encode(Op.CSRRW, { rs1: 10, csr }));

describe("ISA profiles", () => {
  it("defines the three profiles", () => {
    expect(Object.keys(ISA_PROFILES)).toEqual(["standard", "popf", "pushf-popf"]);
    expect(ISA_PROFILES.standard).toMatchObject({ name: "standard", silentSstatusWrites: false, leakySstatusReads: false });
    expect(ISA_PROFILES.popf).toMatchObject({ name: "popf", silentSstatusWrites: true, leakySstatusReads: false });
    expect(ISA_PROFILES["pushf-popf"]).toMatchObject({
      name: "pushf-popf", silentSstatusWrites: true, leakySstatusReads: true,
    });
    for (const profile of Object.values(ISA_PROFILES)) expect(profile.description.length).toBeGreaterThan(0);
  });

  it("looks profiles up by name and rejects unknown names, listing the valid ones", () => {
    expect(isaProfile("popf")).toBe(ISA_PROFILES.popf);
    expect(isaProfile("pushf-popf")).toBe(ISA_PROFILES["pushf-popf"]);
    expect(() => isaProfile("x86")).toThrow(RangeError);
    expect(() => isaProfile("x86")).toThrow(/standard, popf, pushf-popf/);
    expect(() => isaProfile("toString")).toThrow(RangeError);
  });

  it("says which U-mode sstatus accesses trap", () => {
    const read = { reads: true, writes: false };
    const write = { reads: false, writes: true };
    const both = { reads: true, writes: true };
    const traps = (name: keyof typeof ISA_PROFILES) =>
      [read, write, both].map((access) => userSstatusAccessTraps(ISA_PROFILES[name], access));
    expect(traps("standard")).toEqual([true, true, true]);
    expect(traps("popf")).toEqual([true, false, true]);
    expect(traps("pushf-popf")).toEqual([false, false, false]);
  });
});

describe("Popek-Goldberg checker", () => {
  it("finds standard RISC-V virtualizable when the VMM makes the counters trap", () => {
    expect(checkPopekGoldberg(ISA_PROFILES.standard)).toEqual({
      profile: "standard",
      theorem1: { holds: true, offending: [] },
      theorem3: { holds: true, offending: [] },
    });
    expect(checkPopekGoldberg(ISA_PROFILES.standard, { countersTrap: true })).toEqual(
      checkPopekGoldberg(ISA_PROFILES.standard),
    );
  });

  it("finds the counter reads offending both theorems when they do not trap", () => {
    const report = checkPopekGoldberg(ISA_PROFILES.standard, { countersTrap: false });
    expect(report.theorem1).toEqual({ holds: false, offending: COUNTER_READS });
    expect(report.theorem3).toEqual({ holds: false, offending: COUNTER_READS });
    expect(COUNTER_READS).toHaveLength(64);
    expect(COUNTER_READS).toContain("csrr cycle");
    expect(COUNTER_READS).toContain("csrr timeh");
  });

  it("finds popf breaks theorem 1 with the silent sstatus write only, and keeps theorem 3", () => {
    expect(checkPopekGoldberg(ISA_PROFILES.popf)).toEqual({
      profile: "popf",
      theorem1: { holds: false, offending: ["csrw sstatus"] },
      theorem3: { holds: true, offending: [] },
    });
    const report = checkPopekGoldberg(ISA_PROFILES.popf, { countersTrap: false });
    expect(report.theorem1.offending).toEqual([...COUNTER_READS, "csrw sstatus"].sort());
    expect(report.theorem3.offending).toEqual(COUNTER_READS);
  });

  it("finds pushf-popf breaks both theorems, theorem 3 with the leaky sstatus reads", () => {
    expect(checkPopekGoldberg(ISA_PROFILES["pushf-popf"])).toEqual({
      profile: "pushf-popf",
      theorem1: { holds: false, offending: ["csrr sstatus", "csrrw sstatus", "csrw sstatus"] },
      theorem3: { holds: false, offending: ["csrr sstatus", "csrrw sstatus"] },
    });
  });

  it("classifies single forms per profile", () => {
    const { standard, popf } = ISA_PROFILES;
    const pushfPopf = ISA_PROFILES["pushf-popf"];
    expect([standard, popf, pushfPopf].map((p) => isPrivilegedOn(p, csrw(CSR.sstatus)))).toEqual([true, false, false]);
    expect([standard, popf, pushfPopf].map((p) => isPrivilegedOn(p, csrr(CSR.sstatus)))).toEqual([true, true, false]);
    expect([standard, popf, pushfPopf].map((p) => isUserSensitiveOn(p, csrr(CSR.sstatus)))).toEqual([
      false, false, true,
    ]);
    // a dropped write is not user-sensitive: user mode drops it natively too
    expect(isUserSensitiveOn(pushfPopf, csrw(CSR.sstatus))).toBe(false);
    // other supervisor CSRs are untouched by the profiles
    expect(isPrivilegedOn(pushfPopf, csrr(CSR.sepc))).toBe(true);
    expect(isPrivilegedOn(pushfPopf, csrw(CSR.satp))).toBe(true);
    // counters: privileged only when the VMM makes them trap; user-sensitive either way
    expect(isPrivilegedOn(standard, csrr(CSR.cycle))).toBe(true);
    expect(isPrivilegedOn(standard, csrr(CSR.cycle), { countersTrap: false })).toBe(false);
    expect(isUserSensitiveOn(standard, csrr(CSR.cycle))).toBe(true);
    // writes to read-only CSRs trap in every mode: neither privileged nor user-sensitive
    expect(isPrivilegedOn(standard, csrw(CSR.cycle))).toBe(false);
    expect(isUserSensitiveOn(standard, csrw(CSR.cycle))).toBe(false);
    // MRET and the like stay privileged on every profile
    expect(isPrivilegedOn(pushfPopf, decode(0x30200073))).toBe(true);
  });
});
