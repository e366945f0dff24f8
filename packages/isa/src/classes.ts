import { CSR } from "./csr.js";
import { Op, type Instruction } from "./opcodes.js";

export { CSR, csrName, type PrivSpec } from "./csr.js";

// The user counters' bounds as module constants: the hart checks them on every counter access.
const CYCLE = CSR.cycle;
const HPMCOUNTER31 = CSR.hpmcounter31;
const CYCLEH = CSR.cycleh;
const HPMCOUNTER31H = CSR.hpmcounter31h;

/*
 * Instruction classes for Popek-Goldberg reasoning ("Formal Requirements for Virtualizable Third
 * Generation Architectures", CACM 1974), applied to RV32 with M, S and U modes.
 *
 * - privileged: traps when executed in user mode and does not trap in the most privileged mode.
 *   An instruction that traps in *every* mode (ECALL, EBREAK, ILLEGAL) is not privileged in this
 *   sense; it is merely trapping.
 * - control-sensitive: attempts to change the configuration of the machine: the privilege mode,
 *   trap and interrupt state, address translation, or the processor's availability.
 * - behaviour-sensitive: its result depends on that configuration or on the real machine: which
 *   mode it runs in, privileged registers, or the real passage of time.
 * - sensitive: either of the two. P&G's theorem 1: a trap-and-emulate VMM exists if every sensitive
 *   instruction is privileged. RISC-V was designed to meet it for everything but the user-level
 *   counters, which the VMM makes trap by clearing mcounteren/scounteren bits.
 *
 * ECALL and EBREAK trap in every mode by design, so a deprivileged guest kernel's ECALL still
 * reaches the VMM, which reflects it into the guest with the cause the guest expects. They never
 * complete without the VMM seeing them, so they can neither change nor reveal real state behind
 * its back: not sensitive. The same holds for ILLEGAL encodings.
 *
 * FENCE.I is not sensitive: it only orders this hart's own stores before its own later
 * instruction fetches, state the guest owns; a VMM that caches decoded or translated guest code
 * must track guest stores to code pages anyway, whether or not the guest executes FENCE.I.
 *
 * Loads, stores and AMOs are not sensitive either. Their effect depends on address translation,
 * but under a VMM the translation the hardware uses is the one the VMM installs (shadow or
 * nested page tables), so the VMM decides what every guest address means; P&G model this as
 * relocation, which makes memory accesses innocuous. The privileged part, changing translation,
 * is done by satp writes and SFENCE.VMA, which are sensitive and privileged.
 */

/** Lowercase mnemonics, indexed by Op (the base instruction for compressed encodings). */
const OP_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [key, op] of Object.entries(Op)) names[op] = key.toLowerCase().replace(/_/g, ".");
  return names;
})();

/** Every operation, ILLEGAL included, in numeric order. */
export const ALL_OPS: readonly Op[] = Object.values(Op).sort((a, b) => a - b);

/** The lowercase mnemonic of an operation: "addi", "lr.w", "amoswap.w", "fence.i", "sfence.vma"... */
export function opName(op: Op): string {
  const name = OP_NAMES[op];
  if (name === undefined) throw new RangeError(`opName: ${op} is not an Op`);
  return name;
}

function isCsrOp(op: Op): boolean {
  return op >= Op.CSRRW && op <= Op.CSRRCI;
}

/**
 * What a Zicsr instruction does to its CSR (unpriv §9.1): CSRRW/CSRRWI with rd = x0 do not read
 * it (no read side effects), CSRRS/CSRRC with rs1 = x0 and the *I forms with uimm = 0 do not
 * write it. Undefined for other instructions.
 */
export function csrAccess(insn: Instruction): { reads: boolean; writes: boolean } | undefined {
  switch (insn.op) {
    case Op.CSRRW:
    case Op.CSRRWI:
      return { reads: insn.rd !== 0, writes: true };
    case Op.CSRRS:
    case Op.CSRRC:
    case Op.CSRRSI:
    case Op.CSRRCI:
      return { reads: true, writes: insn.rs1 !== 0 };
    default:
      return undefined;
  }
}

/**
 * Lowest privilege level that may access a CSR: address bits 9:8 (priv §2.1, "CSR address mapping
 * conventions"): 0 user, 1 supervisor, 2 hypervisor, 3 machine.
 */
export function csrPrivilege(address: number): 0 | 1 | 2 | 3 {
  return ((address >>> 8) & 3) as 0 | 1 | 2 | 3;
}

/**
 * The unprivileged counters: cycle, time, instret, hpmcounter3..31 and their high halves
 * (0xC00-0xC1F, 0xC80-0xC9F). U- and S-mode reads trap only if mcounteren/scounteren say so.
 */
export function isUserCounter(address: number): boolean {
  return (address >= CYCLE && address <= HPMCOUNTER31) || (address >= CYCLEH && address <= HPMCOUNTER31H);
}

/**
 * True if the instruction traps when executed in U-mode on a standard hart but not in M-mode:
 * MRET, SRET, WFI (priv §3.3.3: WFI in U-mode raises an illegal-instruction exception unless it
 * completes within an implementation-specific bounded time, so software must treat it as
 * trapping), SFENCE.VMA, and every Zicsr access to a CSR whose address bits 9:8 are nonzero. The
 * user counters are not privileged: whether they trap is configuration (m/scounteren), which is
 * why they are sensitive. An access that is illegal in every mode (for example a write to the
 * read-only mhartid) is still classified by its CSR address.
 */
export function isPrivileged(insn: Instruction): boolean {
  switch (insn.op) {
    case Op.MRET:
    case Op.SRET:
    case Op.WFI:
    case Op.SFENCE_VMA:
      return true;
    default:
      return isCsrOp(insn.op) && csrPrivilege(insn.csr) > 0;
  }
}

/**
 * Control-sensitive: writes privileged CSRs; MRET/SRET (change mode, interrupt enables);
 * SFENCE.VMA (changes which translations are in effect); WFI (gives up the processor until an
 * interrupt, i.e. changes the resources the hart has).
 */
export function isControlSensitive(insn: Instruction): boolean {
  switch (insn.op) {
    case Op.MRET:
    case Op.SRET:
    case Op.WFI:
    case Op.SFENCE_VMA:
      return true;
    default: {
      const access = csrAccess(insn);
      return access !== undefined && access.writes && csrPrivilege(insn.csr) > 0;
    }
  }
}

/**
 * Behaviour-sensitive: reads a privileged CSR; reads a user counter (cycle, time, instret and
 * the hpmcounters reveal the real machine's time and events); MRET/SRET (where they go and which
 * mode they enter depend on mepc/sepc and mstatus.MPP/SPP).
 */
export function isBehaviorSensitive(insn: Instruction): boolean {
  switch (insn.op) {
    case Op.MRET:
    case Op.SRET:
      return true;
    default: {
      const access = csrAccess(insn);
      return access !== undefined && access.reads && (csrPrivilege(insn.csr) > 0 || isUserCounter(insn.csr));
    }
  }
}

/** Control- or behaviour-sensitive. */
export function isSensitive(insn: Instruction): boolean {
  return isControlSensitive(insn) || isBehaviorSensitive(insn);
}

/** All four classes of an instruction. */
export interface InstructionClass {
  privileged: boolean;
  controlSensitive: boolean;
  behaviorSensitive: boolean;
  sensitive: boolean;
}

export function classify(insn: Instruction): InstructionClass {
  const controlSensitive = isControlSensitive(insn);
  const behaviorSensitive = isBehaviorSensitive(insn);
  return {
    privileged: isPrivileged(insn),
    controlSensitive,
    behaviorSensitive,
    sensitive: controlSensitive || behaviorSensitive,
  };
}
