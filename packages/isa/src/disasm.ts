import { csrName, type PrivSpec } from "./csr.js";
import { compressedForm, decode } from "./decode.js";
import { Op, type Instruction } from "./opcodes.js";

/*
 * A disassembler whose text is what GNU objdump 2.40 (`riscv64-unknown-elf-objdump -d`, default
 * options, for rv32imac_zicsr_zifencei code) prints after the raw-bytes column, aliases included:
 * `li`, `mv`, `ret`, `j`, `beqz`, `csrr`, `rdcycle`... including the quirks of that version, which
 * prints ADDI/ANDI/ORI/XORI/SLLI/SRLI/SRAI as `add`/`and`/`or`/`xor`/`sll`/`srl`/`sra`, CSRRWI
 * as `csrrw` and `csrwi` as `csrw`.
 *
 * The only deliberate differences follow the spec where objdump does not:
 * - encodings the spec reserves but objdump decodes (RV32 shifts with shamt[5] = 1, in both
 *   sizes; c.addi16sp with a zero immediate; uret, dret, and priv 1.9.1's sfence.vm and hret)
 *   print as `.4byte 0x...` / `.2byte 0x...`, the way objdump prints encodings it does not know,
 *   because the hart treats them as illegal;
 * - FENCE with nonzero fm (other than FENCE.TSO), rd or rs1, and FENCE.I with nonzero imm, rs1 or
 *   rd, which objdump prints as `.4byte`, print as the `fence ...` / `fence.i` they execute as
 *   (unpriv §2.7 and ch. 3: those fields are reserved and must be ignored).
 *
 * objdump also annotates an instruction that completes an address begun by a preceding LUI or
 * AUIPC (or that is gp-, tp- or x0-relative) with ` # <address> <symbol>`. That needs the
 * preceding instructions: `Disassembler` keeps that state across calls as objdump does, while
 * `disassemble` formats one instruction as objdump would if it were the first one it saw.
 */

/** The ABI register names objdump prints. */
export const REGISTER_NAMES: readonly string[] = [
  "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
  "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
];

/** Returns the text inside objdump's `<...>` for an address (e.g. "main" or "main+0x10"), if any. */
export type Symbolizer = (address: number) => string | undefined;

export interface DisassemblerOptions {
  /** Names addresses: branch and jump targets and the addresses of ` # ` annotations. */
  symbolize?: Symbolizer;
  /**
   * The value of `__global_pointer$`, if the program defines it: objdump then annotates every
   * gp-relative access with its address.
   */
  globalPointer?: number;
  /**
   * Which privileged spec's CSR names to print (default "1.12"). objdump follows the ELF's
   * Tag_RISCV_priv_spec attributes, and gas 2.40 records 1.11 unless told otherwise.
   */
  privSpec?: PrivSpec;
  /**
   * Whether the code may use the C extension (default true). objdump does not decode 16-bit
   * encodings in an ELF whose architecture lacks C, printing `.2byte` as for illegal ones; the
   * same holds for a hart with misa.C clear.
   */
  compressed?: boolean;
}

const X_RA = 1;
const X_GP = 3;
const X_TP = 4;
const NO_ADDRESS = -1;

/** Predecessor/successor sets of FENCE, by their 4-bit field (objdump prints "unknown" for 0). */
const FENCE_SETS: readonly string[] = [
  "unknown", "w", "r", "rw", "o", "ow", "or", "orw", "i", "iw", "ir", "irw", "io", "iow", "ior", "iorw",
];

/** Suffixes for the aq (bit 1) and rl (bit 0) bits of A-extension instructions. */
const ORDERING_SUFFIXES: readonly string[] = ["", ".rl", ".aq", ".aqrl"];

/** CSRs that objdump reads with `rd<name>` when accessed by `csrrs rd, csr, zero`. */
const COUNTER_READ_ALIASES: ReadonlyMap<number, string> = new Map([
  [0xc00, "rdcycle"], [0xc01, "rdtime"], [0xc02, "rdinstret"],
  [0xc80, "rdcycleh"], [0xc81, "rdtimeh"], [0xc82, "rdinstreth"],
]);

/** The CSRRW encoding objdump prints as `unimp`: csrrw zero, cycle, zero (a write to a read-only CSR). */
const ENCODING_UNIMP = 0xc0001073;

const OP_LOAD_NAMES: Partial<Record<Op, string>> = {
  [Op.LB]: "lb", [Op.LH]: "lh", [Op.LW]: "lw", [Op.LBU]: "lbu", [Op.LHU]: "lhu",
};
const BRANCH_NAMES: Partial<Record<Op, string>> = {
  [Op.BEQ]: "beq", [Op.BNE]: "bne", [Op.BLT]: "blt", [Op.BGE]: "bge", [Op.BLTU]: "bltu", [Op.BGEU]: "bgeu",
};
const OP_STORE_NAMES: Partial<Record<Op, string>> = { [Op.SB]: "sb", [Op.SH]: "sh", [Op.SW]: "sw" };
const OP_PLAIN_R_NAMES: Partial<Record<Op, string>> = {
  [Op.ADD]: "add", [Op.SLL]: "sll", [Op.XOR]: "xor", [Op.SRL]: "srl", [Op.SRA]: "sra", [Op.OR]: "or", [Op.AND]: "and",
  [Op.MUL]: "mul", [Op.MULH]: "mulh", [Op.MULHSU]: "mulhsu", [Op.MULHU]: "mulhu",
  [Op.DIV]: "div", [Op.DIVU]: "divu", [Op.REM]: "rem", [Op.REMU]: "remu",
};
const OP_AMO_NAMES: Partial<Record<Op, string>> = {
  [Op.SC_W]: "sc.w", [Op.AMOSWAP_W]: "amoswap.w", [Op.AMOADD_W]: "amoadd.w", [Op.AMOXOR_W]: "amoxor.w",
  [Op.AMOAND_W]: "amoand.w", [Op.AMOOR_W]: "amoor.w", [Op.AMOMIN_W]: "amomin.w", [Op.AMOMAX_W]: "amomax.w",
  [Op.AMOMINU_W]: "amominu.w", [Op.AMOMAXU_W]: "amomaxu.w",
};

function reg(n: number): string {
  return REGISTER_NAMES[n]!;
}

function hex(value: number): string {
  return `0x${(value >>> 0).toString(16)}`;
}

/**
 * Disassembles a stream of instructions the way one objdump run does, remembering which
 * registers hold the upper part of an address (set by LUI, AUIPC and C.LUI, consumed by the
 * ADDI/load/store/JALR that uses it) so it can print the same ` # address <symbol>` notes.
 */
export class Disassembler {
  private readonly symbolize: Symbolizer | undefined;
  private readonly globalPointer: number | undefined;
  private readonly privSpec: PrivSpec;
  /**
   * Whether 16-bit encodings are instructions (see `DisassemblerOptions.compressed`). Mutable
   * because ELF mapping symbols (`$x<isa>`) can switch the architecture inside a section, for
   * example around code assembled with `.option norvc`, and objdump follows them.
   */
  compressed: boolean;
  /** Per register, the address a LUI/AUIPC put there and no instruction has used yet. */
  private readonly upperAddress: number[] = new Array<number>(32).fill(NO_ADDRESS);
  /** The address to note after the current instruction, or NO_ADDRESS. */
  private noted = NO_ADDRESS;

  constructor(options: DisassemblerOptions = {}) {
    this.symbolize = options.symbolize;
    this.globalPointer = options.globalPointer === undefined ? undefined : options.globalPointer >>> 0;
    this.privSpec = options.privSpec ?? "1.12";
    this.compressed = options.compressed ?? true;
  }

  /** Forgets the LUI/AUIPC results seen so far. */
  reset(): void {
    this.upperAddress.fill(NO_ADDRESS);
  }

  /**
   * The text of the instruction `raw` (a 32-bit encoding, or a 16-bit one in the low halfword)
   * at address `pc`, for example `lw\ta0,8(sp)` or `jal\t80000010 <main>`.
   */
  disassemble(raw: number, pc: number): string {
    this.noted = NO_ADDRESS;
    const text = (raw & 3) === 3 ? this.format32(decode(raw), pc >>> 0) : this.format16(raw & 0xffff, pc >>> 0);
    if (this.noted === NO_ADDRESS) return text;
    return `${text} # ${this.address(this.noted)}`;
  }

  /** An address as objdump prints it: hex without leading zeros, then ` <symbol>` if known. */
  private address(address: number): string {
    const value = address >>> 0;
    const symbol = this.symbolize?.(value);
    return symbol === undefined ? value.toString(16) : `${value.toString(16)} <${symbol}>`;
  }

  /** The target of a PC-relative branch or jump. */
  private target(pc: number, offset: number): string {
    return this.address(pc + offset);
  }

  /**
   * Mirrors objdump's rule for annotating a register-plus-offset operand: if a LUI/AUIPC result
   * is pending in the base register, note that address plus the offset and forget it; otherwise
   * note gp-relative addresses (when __global_pointer$ is known) and tp- and x0-relative ones
   * (the offset itself). Later calls for the same instruction override earlier ones.
   */
  private noteAddress(base: number, offset: number): void {
    const upper = this.upperAddress[base]!;
    if (upper !== NO_ADDRESS) {
      this.noted = ((base !== 0 ? upper : 0) + offset) >>> 0;
      this.upperAddress[base] = NO_ADDRESS;
    } else if (base === X_GP && this.globalPointer !== undefined) {
      this.noted = (this.globalPointer + offset) >>> 0;
    } else if (base === X_TP || base === 0) {
      this.noted = offset >>> 0;
    }
  }

  private format16(c: number, pc: number): string {
    const form = this.compressed ? compressedForm(c) : undefined;
    if (form === undefined) return c === 0 && this.compressed ? "unimp" : `.2byte\t${hex(c)}`;
    const insn = decode(c);
    const { rd, rs1, rs2, imm } = insn;
    switch (form) {
      case "c.addi4spn": return `add\t${reg(rd)},sp,${imm}`;
      case "c.lw": return `lw\t${reg(rd)},${imm}(${reg(rs1)})`;
      case "c.sw": return `sw\t${reg(rs2)},${imm}(${reg(rs1)})`;
      case "c.nop": return imm === 0 ? "nop" : `c.nop\t${imm}`;
      case "c.addi":
        this.noteAddress(rd, imm);
        return `add\t${reg(rd)},${reg(rd)},${imm}`;
      case "c.jal": return `jal\t${this.target(pc, imm)}`;
      case "c.li": return rd === 0 ? `c.li\tzero,${imm}` : `li\t${reg(rd)},${imm}`;
      case "c.addi16sp": return `add\tsp,sp,${imm}`;
      case "c.lui":
        this.upperAddress[rd] = imm >>> 0;
        return `${rd === 0 ? "c.lui" : "lui"}\t${reg(rd)},${hex((imm >>> 12) & 0xfffff)}`;
      case "c.srli": return imm === 0 ? `c.srli64\t${reg(rd)}` : `srl\t${reg(rd)},${reg(rd)},${hex(imm)}`;
      case "c.srai": return imm === 0 ? `c.srai64\t${reg(rd)}` : `sra\t${reg(rd)},${reg(rd)},${hex(imm)}`;
      case "c.andi": return `and\t${reg(rd)},${reg(rd)},${imm}`;
      case "c.sub":
      case "c.xor":
      case "c.or":
      case "c.and": return `${form.slice(2)}\t${reg(rd)},${reg(rd)},${reg(rs2)}`;
      case "c.j": return `j\t${this.target(pc, imm)}`;
      case "c.beqz": return `beqz\t${reg(rs1)},${this.target(pc, imm)}`;
      case "c.bnez": return `bnez\t${reg(rs1)},${this.target(pc, imm)}`;
      case "c.slli":
        if (imm === 0) return `c.slli64\t${reg(rd)}`;
        return rd === 0 ? `c.slli\tzero,${hex(imm)}` : `sll\t${reg(rd)},${reg(rd)},${hex(imm)}`;
      case "c.lwsp": return `lw\t${reg(rd)},${imm}(sp)`;
      case "c.jr": return rs1 === X_RA ? "ret" : `jr\t${reg(rs1)}`;
      case "c.mv": return rd === 0 ? `c.mv\tzero,${reg(rs2)}` : `mv\t${reg(rd)},${reg(rs2)}`;
      case "c.ebreak": return "ebreak";
      case "c.jalr": return `jalr\t${reg(rs1)}`;
      case "c.add": return rd === 0 ? `c.add\tzero,${reg(rs2)}` : `add\t${reg(rd)},${reg(rd)},${reg(rs2)}`;
      case "c.swsp": return `sw\t${reg(rs2)},${imm}(sp)`;
    }
  }

  private format32(insn: Instruction, pc: number): string {
    const { op, rd, rs1, rs2, imm, raw } = insn;
    switch (op) {
      case Op.ILLEGAL:
        return `.4byte\t${hex(raw)}`;
      case Op.LUI:
        this.upperAddress[rd] = imm >>> 0;
        return `lui\t${reg(rd)},${hex(imm >>> 12)}`;
      case Op.AUIPC:
        this.upperAddress[rd] = (pc + imm) >>> 0;
        return `auipc\t${reg(rd)},${hex(imm >>> 12)}`;
      case Op.JAL:
        if (rd === 0) return `j\t${this.target(pc, imm)}`;
        if (rd === X_RA) return `jal\t${this.target(pc, imm)}`;
        return `jal\t${reg(rd)},${this.target(pc, imm)}`;
      case Op.JALR:
        return this.formatJalr(rd, rs1, imm);
      case Op.BEQ:
      case Op.BNE:
      case Op.BLT:
      case Op.BGE:
      case Op.BLTU:
      case Op.BGEU:
        return this.formatBranch(op, rs1, rs2, this.target(pc, imm));
      case Op.LB:
      case Op.LH:
      case Op.LW:
      case Op.LBU:
      case Op.LHU:
        this.noteAddress(rs1, imm);
        return `${OP_LOAD_NAMES[op]}\t${reg(rd)},${imm}(${reg(rs1)})`;
      case Op.SB:
      case Op.SH:
      case Op.SW:
        this.noteAddress(rs1, imm);
        return `${OP_STORE_NAMES[op]}\t${reg(rs2)},${imm}(${reg(rs1)})`;
      case Op.ADDI:
        if (rs1 === 0) return rd === 0 && imm === 0 ? "nop" : `li\t${reg(rd)},${imm}`;
        if (imm === 0) return `mv\t${reg(rd)},${reg(rs1)}`;
        this.noteAddress(rs1, imm);
        return `add\t${reg(rd)},${reg(rs1)},${imm}`;
      case Op.SLTI: return `slti\t${reg(rd)},${reg(rs1)},${imm}`;
      case Op.SLTIU: return imm === 1 ? `seqz\t${reg(rd)},${reg(rs1)}` : `sltiu\t${reg(rd)},${reg(rs1)},${imm}`;
      case Op.XORI: return imm === -1 ? `not\t${reg(rd)},${reg(rs1)}` : `xor\t${reg(rd)},${reg(rs1)},${imm}`;
      case Op.ORI: return `or\t${reg(rd)},${reg(rs1)},${imm}`;
      case Op.ANDI: return imm === 0xff ? `zext.b\t${reg(rd)},${reg(rs1)}` : `and\t${reg(rd)},${reg(rs1)},${imm}`;
      case Op.SLLI: return `sll\t${reg(rd)},${reg(rs1)},${hex(imm)}`;
      case Op.SRLI: return `srl\t${reg(rd)},${reg(rs1)},${hex(imm)}`;
      case Op.SRAI: return `sra\t${reg(rd)},${reg(rs1)},${hex(imm)}`;
      case Op.SUB: return rs1 === 0 ? `neg\t${reg(rd)},${reg(rs2)}` : `sub\t${reg(rd)},${reg(rs1)},${reg(rs2)}`;
      case Op.SLT:
        if (rs2 === 0) return `sltz\t${reg(rd)},${reg(rs1)}`;
        if (rs1 === 0) return `sgtz\t${reg(rd)},${reg(rs2)}`;
        return `slt\t${reg(rd)},${reg(rs1)},${reg(rs2)}`;
      case Op.SLTU: return rs1 === 0 ? `snez\t${reg(rd)},${reg(rs2)}` : `sltu\t${reg(rd)},${reg(rs1)},${reg(rs2)}`;
      case Op.FENCE: return formatFence(raw);
      case Op.FENCE_I: return "fence.i";
      case Op.ECALL: return "ecall";
      case Op.EBREAK: return "ebreak";
      case Op.MRET: return "mret";
      case Op.SRET: return "sret";
      case Op.WFI: return "wfi";
      case Op.SFENCE_VMA:
        if (rs2 !== 0) return `sfence.vma\t${reg(rs1)},${reg(rs2)}`;
        return rs1 === 0 ? "sfence.vma" : `sfence.vma\t${reg(rs1)}`;
      case Op.CSRRW:
      case Op.CSRRS:
      case Op.CSRRC:
      case Op.CSRRWI:
      case Op.CSRRSI:
      case Op.CSRRCI:
        return formatCsr(insn, this.privSpec);
      case Op.LR_W: return `lr.w${ORDERING_SUFFIXES[insn.aqrl]}\t${reg(rd)},(${reg(rs1)})`;
      default: {
        const amo = OP_AMO_NAMES[op];
        if (amo !== undefined) return `${amo}${ORDERING_SUFFIXES[insn.aqrl]}\t${reg(rd)},${reg(rs2)},(${reg(rs1)})`;
        return `${OP_PLAIN_R_NAMES[op]}\t${reg(rd)},${reg(rs1)},${reg(rs2)}`;
      }
    }
  }

  /**
   * JALR and its aliases. objdump annotates the base register twice, for the offset and for the
   * register operand, so a pending LUI/AUIPC address is consumed by the first and, for tp, x0 and
   * (known) gp, replaced by the second: `auipc tp,1; jalr 4(tp)` is annotated `# 4`.
   */
  private formatJalr(rd: number, rs1: number, imm: number): string {
    if (rd === 0 && rs1 === X_RA && imm === 0) return "ret";
    if (imm !== 0) this.noteAddress(rs1, imm);
    this.noteAddress(rs1, imm);
    const operand = imm === 0 ? reg(rs1) : `${imm}(${reg(rs1)})`;
    if (rd === 0) return `jr\t${operand}`;
    if (rd === X_RA) return `jalr\t${operand}`;
    return `jalr\t${reg(rd)},${operand}`;
  }

  /**
   * Branches and their zero-operand aliases. When both operands are x0 objdump picks the first
   * alias in its table: `beqz zero`, `bltz zero`, but `blez zero` (not `bgez zero`). BLTU and
   * BGEU have no aliases.
   */
  private formatBranch(op: Op, rs1: number, rs2: number, target: string): string {
    switch (op) {
      case Op.BEQ: if (rs2 === 0) return `beqz\t${reg(rs1)},${target}`; break;
      case Op.BNE: if (rs2 === 0) return `bnez\t${reg(rs1)},${target}`; break;
      case Op.BLT:
        if (rs2 === 0) return `bltz\t${reg(rs1)},${target}`;
        if (rs1 === 0) return `bgtz\t${reg(rs2)},${target}`;
        break;
      case Op.BGE:
        if (rs1 === 0) return `blez\t${reg(rs2)},${target}`;
        if (rs2 === 0) return `bgez\t${reg(rs1)},${target}`;
        break;
    }
    return `${BRANCH_NAMES[op]}\t${reg(rs1)},${reg(rs2)},${target}`;
  }
}

/**
 * FENCE as objdump prints it: `fence` for iorw,iorw, `fence.tso`, otherwise `fence pred,succ`.
 * Encodings with a reserved fm or nonzero rd/rs1 (which objdump does not decode) print as the
 * fence they execute as: FENCE.TSO if fm = 1000 with rw,rw, else a FENCE with pred and succ.
 */
function formatFence(raw: number): string {
  const fm = raw >>> 28;
  const pred = (raw >>> 24) & 0xf;
  const succ = (raw >>> 20) & 0xf;
  if (fm === 0b1000 && pred === 0b0011 && succ === 0b0011) return "fence.tso";
  if (pred === 0xf && succ === 0xf) return "fence";
  return `fence\t${FENCE_SETS[pred]},${FENCE_SETS[succ]}`;
}

/** Zicsr instructions with objdump's aliases (csrr, csrw, csrs, csrc, rdcycle..., unimp). */
function formatCsr(insn: Instruction, privSpec: PrivSpec): string {
  const { op, rd, rs1, csr } = insn;
  const csrText = csrName(csr, privSpec) ?? hex(csr);
  const immediate = op === Op.CSRRWI || op === Op.CSRRSI || op === Op.CSRRCI;
  const source = immediate ? String(rs1) : reg(rs1);
  // objdump 2.40 prints the immediate forms with the register forms' names.
  const base = op === Op.CSRRW || op === Op.CSRRWI ? "w" : op === Op.CSRRS || op === Op.CSRRSI ? "s" : "c";
  if (op === Op.CSRRW && insn.raw === ENCODING_UNIMP) return "unimp";
  if (op === Op.CSRRS && rs1 === 0) {
    const counter = COUNTER_READ_ALIASES.get(csr);
    return counter !== undefined ? `${counter}\t${reg(rd)}` : `csrr\t${reg(rd)},${csrText}`;
  }
  if (rd === 0) return `csr${base}\t${csrText},${source}`;
  return `csrr${base}\t${reg(rd)},${csrText},${source}`;
}

/**
 * The objdump text of one instruction at `pc`, formatted as if it were the first instruction of
 * the listing (so only tp- and x0-relative addresses get a ` # ` note). Use a `Disassembler` to
 * get objdump's notes for LUI/AUIPC-based addresses in a sequence.
 */
export function disassemble(raw: number, pc: number, symbolize?: Symbolizer): string {
  return new Disassembler({ symbolize }).disassemble(raw, pc);
}
