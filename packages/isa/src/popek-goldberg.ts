import {
  ALL_OPS, csrAccess, isBehaviorSensitive, isControlSensitive, isPrivileged, isSensitive, isUserCounter, opName,
} from "./classes.js";
import { CSR, csrName } from "./csr.js";
import { decode } from "./decode.js";
import { encode } from "./encode.js";
import { Op, type Instruction } from "./opcodes.js";
import { userSstatusAccessTraps, type IsaProfile, type IsaProfileName } from "./profiles.js";

/*
 * A mechanical check of Popek & Goldberg's virtualization theorems ("Formal Requirements for
 * Virtualizable Third Generation Architectures", CACM 17(7), 1974) on an ISA profile, over a
 * finite set of instruction forms that covers every class of behaviour the ISA has.
 *
 * Definitions (P&G, adapted to RV32 with M, S and U modes; see classes.ts):
 * - privileged: traps in user mode and does not trap in supervisor (here: the most privileged,
 *   M) mode.
 * - control-sensitive: can change the machine's configuration (mode, trap and interrupt state,
 *   translation, resources); behaviour-sensitive: its effect depends on that configuration or on
 *   the real machine. Sensitive: either.
 * - Theorem 1: a VMM (efficient, resource-controlling, equivalent) can be built if the sensitive
 *   instructions are a subset of the privileged ones. The whole guest, kernel included, runs
 *   directly in user mode, and every sensitive instruction reaches the VMM by trapping.
 * - Theorem 3: a hybrid VMM can be built if the *user-sensitive* instructions are a subset of the
 *   privileged ones. Only the guest's virtual user mode runs directly; everything in its virtual
 *   supervisor mode is interpreted in software, so what the guest kernel's instructions do in real
 *   user mode is irrelevant. An instruction is user-sensitive if, executed in user mode (without
 *   trapping), it is control- or behaviour-sensitive: it changes the real configuration, or it
 *   behaves differently from how it would on the real machine in (virtual) user mode.
 *
 * Instructions that trap in every mode (ECALL, EBREAK, illegal encodings, writes to read-only
 * CSRs) never complete without the VMM seeing them: they are innocuous, neither sensitive nor
 * privileged, and are left out.
 */

/** Whether a theorem's condition holds, and the instruction forms that violate it. */
export interface TheoremResult {
  holds: boolean;
  /** Sorted, unique, assembly-like descriptions: "csrr sstatus", "csrw sstatus", "csrr cycle", "mret"... */
  offending: string[];
}

export interface PopekGoldbergReport {
  profile: IsaProfileName;
  /** Theorem 1: every sensitive instruction is privileged (a trap-and-emulate VMM exists). */
  theorem1: TheoremResult;
  /** Theorem 3: every user-sensitive instruction is privileged (a hybrid VMM exists). */
  theorem3: TheoremResult;
}

export interface PopekGoldbergOptions {
  /**
   * Whether the user counters (cycle, time, instret, hpmcounter*) trap in U-mode because the VMM
   * clears mcounteren/scounteren, as our hypervisor does. Default true.
   */
  countersTrap?: boolean;
}

/** One instruction form and its description. */
interface Form {
  insn: Instruction;
  text: string;
}

function isCsrOp(op: Op): boolean {
  return op >= Op.CSRRW && op <= Op.CSRRCI;
}

/**
 * The instruction forms checked: every non-Zicsr operation once (its operands do not change its
 * class), and for each of the 4096 CSR addresses the three things a Zicsr instruction can do to a
 * CSR: read it (csrr = csrrs a0, csr, x0), write it (csrw = csrrw x0, csr, a0) and both
 * (csrrw a0, csr, a0). The other Zicsr opcodes and operands fall into one of these three.
 */
function instructionForms(): Form[] {
  const forms: Form[] = [];
  for (const op of ALL_OPS) {
    if (isCsrOp(op)) continue;
    // ILLEGAL has no encoding of its own; all-zero bits are one.
    const insn = op === Op.ILLEGAL ? decode(0) : decode(encode(op, {}));
    forms.push({ insn, text: opName(op) });
  }
  const A0 = 10;
  for (let csr = 0; csr < 4096; csr++) {
    const name = csrName(csr) ?? `0x${csr.toString(16).padStart(3, "0")}`;
    forms.push({ insn: decode(encode(Op.CSRRS, { rd: A0, rs1: 0, csr })), text: `csrr ${name}` });
    forms.push({ insn: decode(encode(Op.CSRRW, { rd: 0, rs1: A0, csr })), text: `csrw ${name}` });
    forms.push({ insn: decode(encode(Op.CSRRW, { rd: A0, rs1: A0, csr })), text: `csrrw ${name}` });
  }
  return forms;
}

/** Traps in every mode, so the VMM always sees it: innocuous. */
function trapsInEveryMode(insn: Instruction): boolean {
  switch (insn.op) {
    case Op.ECALL:
    case Op.EBREAK:
    case Op.ILLEGAL:
      return true;
    default:
      // CSR address bits 11:10 = 3: read-only, writes are illegal in every mode.
      return csrAccess(insn)?.writes === true && insn.csr >>> 10 === 3;
  }
}

/** A U-mode Zicsr access to sstatus that the profile lets complete without trapping. */
function isSilentSstatusForm(profile: IsaProfile, insn: Instruction): boolean {
  const access = csrAccess(insn);
  return access !== undefined && insn.csr === CSR.sstatus && !userSstatusAccessTraps(profile, access);
}

/**
 * Privileged on a profile: traps in U-mode and not in M-mode. As `isPrivileged`, except for the
 * sstatus forms the profile makes non-trapping, and for the user counters, which trap in U-mode
 * exactly when the VMM makes them (`countersTrap`).
 */
export function isPrivilegedOn(profile: IsaProfile, insn: Instruction, options: PopekGoldbergOptions = {}): boolean {
  if (trapsInEveryMode(insn)) return false;
  if (isSilentSstatusForm(profile, insn)) return false;
  if (csrAccess(insn) !== undefined && isUserCounter(insn.csr)) return options.countersTrap ?? true;
  return isPrivileged(insn);
}

/**
 * User-sensitive on a profile (P&G §5): executed in user mode without trapping, it changes the
 * real configuration or behaves differently from the real machine in (virtual) user mode.
 *
 * Ask it of every instruction that completes in U-mode. The user counters do, unless the VMM
 * makes them trap; they reveal real time and events (behaviour-sensitive), so they are
 * user-sensitive, and theorem 3 needs them privileged. The sstatus forms the profile lets
 * through: a leaky read returns the real sstatus, not the guest's, so it is behaviour-sensitive
 * in user mode; a silently dropped write changes nothing, and on the real machine a user-mode
 * program's sstatus write is dropped just the same (that is what the profile's hardware does), so
 * virtual user mode sees exactly the native behaviour: not user-sensitive. Every other sensitive
 * instruction traps in U-mode on these profiles.
 */
export function isUserSensitiveOn(profile: IsaProfile, insn: Instruction): boolean {
  if (trapsInEveryMode(insn)) return false;
  const completesInUserMode =
    isSilentSstatusForm(profile, insn) || (csrAccess(insn) !== undefined && isUserCounter(insn.csr)) ||
    !isPrivileged(insn);
  if (!completesInUserMode) return false;
  if (isBehaviorSensitive(insn)) return true;
  // A control-sensitive write that completes in U-mode counts unless the profile drops it.
  return isControlSensitive(insn) && !isSilentSstatusForm(profile, insn);
}

function result(offending: Iterable<string>): TheoremResult {
  const sorted = [...new Set(offending)].sort();
  return { holds: sorted.length === 0, offending: sorted };
}

/** Checks P&G theorems 1 and 3 on a profile over every instruction form (see `instructionForms`). */
export function checkPopekGoldberg(profile: IsaProfile, options: PopekGoldbergOptions = {}): PopekGoldbergReport {
  const theorem1: string[] = [];
  const theorem3: string[] = [];
  for (const { insn, text } of instructionForms()) {
    if (trapsInEveryMode(insn)) continue;
    const privileged = isPrivilegedOn(profile, insn, options);
    if (isSensitive(insn) && !privileged) theorem1.push(text);
    if (isUserSensitiveOn(profile, insn) && !privileged) theorem3.push(text);
  }
  return { profile: profile.name, theorem1: result(theorem1), theorem3: result(theorem3) };
}
