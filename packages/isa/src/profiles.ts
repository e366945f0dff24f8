/*
 * ISA profiles: how the hardware treats sensitive instructions in U-mode.
 *
 * RISC-V as specified is classically virtualizable (Popek & Goldberg 1974, theorem 1) once the VMM
 * makes the user counters trap: every instruction that reads or changes privileged state traps
 * when a deprivileged guest kernel runs it in U-mode, so the VMM sees it and emulates it against
 * the guest's virtual state ("trap and emulate").
 *
 * x86 before VT-x was the classic counterexample (Robin & Irvine, "Analysis of the Intel Pentium's
 * Ability to Support a Secure Virtual Machine Monitor", USENIX Security 2000). Among its 17
 * sensitive, unprivileged instructions:
 * - POPF in user mode (CPL 3) loads EFLAGS but silently leaves IF (the interrupt enable) and IOPL
 *   unchanged instead of faulting. A guest kernel run at CPL 3 that executes POPF to disable
 *   interrupts gets no fault; the VMM never learns that the guest wanted interrupts off.
 * - PUSHF in user mode pushes the real EFLAGS, IF and IOPL included, without faulting. A guest
 *   kernel sees the real interrupt flag and privilege bits, not the virtual ones the VMM keeps.
 *
 * The non-standard profiles here transplant those two flaws onto sstatus, RISC-V's equivalent of
 * the EFLAGS system bits (SIE, SPIE, SPP, SUM, MXR): a U-mode Zicsr write to sstatus that does not
 * read it is silently dropped (POPF), and a U-mode read returns the real sstatus (PUSHF). Either
 * breaks trap-and-emulate: a guest kernel deprivileged to U-mode accesses sstatus all the time
 * (masking interrupts, setting SUM around user copies, reading SPP in its trap handler), and
 * those accesses no longer reach the VMM, so the guest's view of its own supervisor state goes
 * wrong with nobody noticing.
 */

/** The known profiles. */
export type IsaProfileName = "standard" | "popf" | "pushf-popf";

/** How the hardware treats sensitive instructions in U-mode. */
export interface IsaProfile {
  readonly name: IsaProfileName;
  readonly description: string;
  /** U-mode Zicsr writes to sstatus do not trap; they change nothing (x86 POPF in user mode). */
  readonly silentSstatusWrites: boolean;
  /** U-mode Zicsr reads of sstatus do not trap; they return the real sstatus (x86 PUSHF). */
  readonly leakySstatusReads: boolean;
}

export const ISA_PROFILES: Readonly<Record<IsaProfileName, IsaProfile>> = Object.freeze({
  standard: Object.freeze({
    name: "standard",
    description: "RISC-V as specified: every U-mode access to sstatus raises an illegal-instruction exception",
    silentSstatusWrites: false,
    leakySstatusReads: false,
  }),
  popf: Object.freeze({
    name: "popf",
    description:
      "U-mode writes to sstatus that do not read it are silently dropped instead of trapping (like x86 POPF); " +
      "reads still trap",
    silentSstatusWrites: true,
    leakySstatusReads: false,
  }),
  "pushf-popf": Object.freeze({
    name: "pushf-popf",
    description:
      "no U-mode access to sstatus traps: reads return the real sstatus (like x86 PUSHF) and writes are silently " +
      "dropped (like x86 POPF); not classically virtualizable",
    silentSstatusWrites: true,
    leakySstatusReads: true,
  }),
});

/** The profile with this name; throws a RangeError listing the valid names for any other. */
export function isaProfile(name: string): IsaProfile {
  if (Object.prototype.hasOwnProperty.call(ISA_PROFILES, name)) return ISA_PROFILES[name as IsaProfileName];
  throw new RangeError(`unknown ISA profile "${name}"; valid profiles: ${Object.keys(ISA_PROFILES).join(", ")}`);
}

/**
 * Whether a U-mode Zicsr instruction on sstatus (0x100) traps on a profile, given what it does to
 * the CSR (`csrAccess`: CSRRS/CSRRC always read, CSRRW/CSRRWI read unless rd = x0). It does not
 * trap only if each part of it is made non-trapping: its read by `leakySstatusReads`, its write by
 * `silentSstatusWrites`. So on "popf" only the forms that write without reading (csrw, csrwi,
 * CSRRW/CSRRWI with rd = x0) are silent, and on "pushf-popf" none traps.
 */
export function userSstatusAccessTraps(profile: IsaProfile, access: { reads: boolean; writes: boolean }): boolean {
  return (access.reads && !profile.leakySstatusReads) || (access.writes && !profile.silentSstatusWrites);
}
