/**
 * What the stub debugs, and nothing else: threads (harts) with registers and memory. The stub
 * knows no hart, board or hypervisor; `HartTarget` (hart-target.ts) is the implementation over
 * `@matryoshka/cpu` harts.
 *
 * Register numbers are GDB's for RISC-V: 0–31 the integer registers, 32 the pc, 65 + n the CSR
 * numbered n (GDB's RISCV_FIRST_CSR_REGNUM is 65), and `PRIV_REGNUM` for the privilege mode
 * (GDB's "priv" in org.gnu.gdb.riscv.virtual). The target description gives each its number.
 */
export interface DebugTarget {
  /** Thread ids, 1 up (GDB's thread ids are positive): one per hart. */
  readonly threads: readonly number[];
  /** The CSRs it exposes, by name and number, for the target description. */
  readonly csrs: readonly CsrName[];
  readRegister(thread: number, regno: number): number | undefined;
  /** Returns false for a register that does not exist or cannot be written. */
  writeRegister(thread: number, regno: number, value: number): boolean;
  /** Reads through the thread's own translation; undefined if any byte is unmapped. */
  readMemory(thread: number, address: number, length: number): Uint8Array | undefined;
  writeMemory(thread: number, address: number, bytes: Uint8Array): boolean;
}

export interface CsrName {
  name: string;
  number: number;
}

export const PC_REGNUM = 32;
export const FIRST_CSR_REGNUM = 65;
/** After the 4096 CSR numbers. */
export const PRIV_REGNUM = FIRST_CSR_REGNUM + 4096;

const ABI_NAMES = [
  "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
  "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
];

/**
 * The target description GDB reads with `qXfer:features:read:target.xml` (GDB manual, "Target
 * Descriptions", "RISC-V Features"): riscv:rv32, the cpu feature (x0–x31 and pc), the CSRs and
 * the virtual priv register.
 */
export function targetDescription(csrs: readonly CsrName[]): string {
  const type = (n: number) => (n === 1 ? "code_ptr" : n === 2 || n === 8 ? "data_ptr" : "int");
  const cpu = ABI_NAMES.map((name, n) => `<reg name="${name}" bitsize="32" regnum="${n}" type="${type(n)}"/>`);
  cpu.push(`<reg name="pc" bitsize="32" regnum="${PC_REGNUM}" type="code_ptr"/>`);
  const csr = csrs.map((c) => `<reg name="${c.name}" bitsize="32" regnum="${FIRST_CSR_REGNUM + c.number}" group="csr"/>`);
  return (
    `<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">` +
    `<architecture>riscv:rv32</architecture>` +
    `<feature name="org.gnu.gdb.riscv.cpu">${cpu.join("")}</feature>` +
    `<feature name="org.gnu.gdb.riscv.csr">${csr.join("")}</feature>` +
    `<feature name="org.gnu.gdb.riscv.virtual"><reg name="priv" bitsize="32" regnum="${PRIV_REGNUM}" group="system"/></feature>` +
    `</target>`
  );
}
