/*
 * CSR addresses (priv 1.12 §2.2, tables 2.2-2.6, and the debug spec 0.13 for the debug/trace
 * registers) and the names GNU objdump 2.40 prints for them.
 */

/** `{ pmpaddr0: 0x3b0, pmpaddr1: 0x3b1, ... }`: registers `${prefix}${i}${suffix}` at `base + i`. */
function numbered<P extends string, S extends string>(
  prefix: P, suffix: S, first: number, last: number, base: number,
): Record<`${P}${number}${S}`, number> {
  const table: Record<string, number> = {};
  for (let i = first; i <= last; i++) table[`${prefix}${i}${suffix}`] = base + i;
  return table as Record<`${P}${number}${S}`, number>;
}

/** The CSRs of `CSR` with a name of their own. */
const SINGLE_CSRS = {
  // Unprivileged counters and timers (§2.2 table 2.2), read-only views gated by m/scounteren.
  cycle: 0xc00,
  time: 0xc01,
  instret: 0xc02,
  cycleh: 0xc80,
  timeh: 0xc81,
  instreth: 0xc82,

  // Supervisor (table 2.3).
  sstatus: 0x100,
  sie: 0x104,
  stvec: 0x105,
  scounteren: 0x106,
  senvcfg: 0x10a,
  sscratch: 0x140,
  sepc: 0x141,
  scause: 0x142,
  stval: 0x143,
  sip: 0x144,
  satp: 0x180,
  scontext: 0x5a8,

  // Machine information (table 2.5).
  mvendorid: 0xf11,
  marchid: 0xf12,
  mimpid: 0xf13,
  mhartid: 0xf14,
  mconfigptr: 0xf15,

  // Machine trap setup and handling.
  mstatus: 0x300,
  misa: 0x301,
  medeleg: 0x302,
  mideleg: 0x303,
  mie: 0x304,
  mtvec: 0x305,
  mcounteren: 0x306,
  mstatush: 0x310,
  mscratch: 0x340,
  mepc: 0x341,
  mcause: 0x342,
  mtval: 0x343,
  mip: 0x344,
  mtinst: 0x34a,
  mtval2: 0x34b,

  // Machine configuration.
  menvcfg: 0x30a,
  menvcfgh: 0x31a,
  mseccfg: 0x747,
  mseccfgh: 0x757,

  // Machine counters/timers (table 2.6). There is no mtime CSR: mtime is memory-mapped.
  mcycle: 0xb00,
  minstret: 0xb02,
  mcycleh: 0xb80,
  minstreth: 0xb82,
  mcountinhibit: 0x320,

  // Debug/trace (shared with debug mode).
  tselect: 0x7a0,
  tdata1: 0x7a1,
  tdata2: 0x7a2,
  tdata3: 0x7a3,
  tinfo: 0x7a4,
  tcontrol: 0x7a5,
  mcontext: 0x7a8,
  mscontext: 0x7aa,

  // Debug mode only.
  dcsr: 0x7b0,
  dpc: 0x7b1,
  dscratch0: 0x7b2,
  dscratch1: 0x7b3,
} as const;

/** The numbered CSR families; `CSR.pmpaddr5` etc. */
type NumberedCsrs = Record<
  | `hpmcounter${number}` | `hpmcounter${number}h` | `mhpmcounter${number}` | `mhpmcounter${number}h`
  | `mhpmevent${number}` | `pmpcfg${number}` | `pmpaddr${number}`,
  number
>;

/**
 * The CSRs an RV32 hart with M, S and U modes may have (priv 1.12), by their spec name. All are
 * 32 bits wide; the `...h` registers are the upper halves of 64-bit registers on RV32.
 */
export const CSR: typeof SINGLE_CSRS & NumberedCsrs = {
  ...SINGLE_CSRS,
  // Unprivileged hardware performance counters.
  ...numbered("hpmcounter", "", 3, 31, 0xc00),
  ...numbered("hpmcounter", "h", 3, 31, 0xc80),
  // Machine memory protection (RV32: pmpcfg0..15 hold 4 entries each).
  ...numbered("pmpcfg", "", 0, 15, 0x3a0),
  ...numbered("pmpaddr", "", 0, 63, 0x3b0),
  // Machine hardware performance counters and their event selectors.
  ...numbered("mhpmcounter", "", 3, 31, 0xb00),
  ...numbered("mhpmcounter", "h", 3, 31, 0xb80),
  ...numbered("mhpmevent", "", 3, 31, 0x320),
} as typeof SINGLE_CSRS & NumberedCsrs;

/**
 * Further CSRs objdump knows by name, of extensions this ISA does not have (F, V, Zkr, H, Sstc,
 * Smstateen, AIA, Sscofpmf): only needed so the disassembler prints the same names.
 */
const OTHER_OBJDUMP_CSR_NAMES: Record<string, number> = {
  fflags: 0x001, frm: 0x002, fcsr: 0x003,
  vstart: 0x008, vxsat: 0x009, vxrm: 0x00a, vcsr: 0x00f, vl: 0xc20, vtype: 0xc21, vlenb: 0xc22,
  seed: 0x015,
  ...numbered("sstateen", "", 0, 3, 0x10c),
  sieh: 0x114, stimecmp: 0x14d, siselect: 0x150, sireg: 0x151, siph: 0x154, stopei: 0x15c,
  stimecmph: 0x15d, scountovf: 0xda0, stopi: 0xdb0,
  vsstatus: 0x200, vsie: 0x204, vstvec: 0x205, vsieh: 0x214, vsscratch: 0x240, vsepc: 0x241,
  vscause: 0x242, vstval: 0x243, vsip: 0x244, vstimecmp: 0x24d, vsiselect: 0x250, vsireg: 0x251,
  vsiph: 0x254, vstopei: 0x25c, vstimecmph: 0x25d, vsatp: 0x280, vstopi: 0xeb0,
  mvien: 0x308, mvip: 0x309,
  ...numbered("mstateen", "", 0, 3, 0x30c),
  midelegh: 0x313, mieh: 0x314, mvienh: 0x318, mviph: 0x319,
  ...numbered("mstateen", "h", 0, 3, 0x31c),
  miselect: 0x350, mireg: 0x351, miph: 0x354, mtopei: 0x35c, mtopi: 0xfb0,
  ...numbered("mhpmevent", "h", 3, 31, 0x720),
  hstatus: 0x600, hedeleg: 0x602, hideleg: 0x603, hie: 0x604, htimedelta: 0x605, hcounteren: 0x606,
  hgeie: 0x607, hvien: 0x608, hvictl: 0x609, henvcfg: 0x60a,
  ...numbered("hstateen", "", 0, 3, 0x60c),
  hidelegh: 0x613, htimedeltah: 0x615, hvienh: 0x618, henvcfgh: 0x61a,
  ...numbered("hstateen", "h", 0, 3, 0x61c),
  htval: 0x643, hip: 0x644, hvip: 0x645, hviprio1: 0x646, hviprio2: 0x647, htinst: 0x64a,
  hviph: 0x655, hviprio1h: 0x656, hviprio2h: 0x657, hgatp: 0x680, hcontext: 0x6a8, hgeip: 0xe12,
};

/**
 * Privileged-spec versions whose CSR names objdump knows. objdump names CSRs as of the version in
 * the ELF's Tag_RISCV_priv_spec attributes (gas 2.40 records 1.11 by default), or 1.12 if absent.
 */
export type PrivSpec = "1.11" | "1.12";

/** CSRs that priv 1.12 added since 1.11 (names objdump prints only for 1.12). */
const ADDED_IN_1_12: readonly number[] = [
  CSR.senvcfg, CSR.menvcfg, CSR.menvcfgh, CSR.mstatush, CSR.mtinst, CSR.mtval2, CSR.mseccfg, CSR.mseccfgh,
  CSR.mconfigptr,
  ...Array.from({ length: 12 }, (_, i) => CSR.pmpcfg0 + 4 + i), // pmpcfg4..15
  ...Array.from({ length: 48 }, (_, i) => CSR.pmpaddr0 + 16 + i), // pmpaddr16..63
];

/** CSRs of 1.11 that 1.12 dropped with the N extension (user-level traps). */
const REMOVED_IN_1_12: Record<string, number> = {
  ustatus: 0x000, uie: 0x004, utvec: 0x005, uscratch: 0x040, uepc: 0x041, ucause: 0x042, utval: 0x043, uip: 0x044,
  sedeleg: 0x102, sideleg: 0x103,
};

const NAMES_1_12: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  for (const [name, address] of Object.entries({ ...CSR, ...OTHER_OBJDUMP_CSR_NAMES })) {
    if (names.has(address)) throw new Error(`CSR table: 0x${address.toString(16)} named twice`);
    names.set(address, name);
  }
  return names;
})();

const NAMES_1_11: ReadonlyMap<number, string> = (() => {
  const names = new Map(NAMES_1_12);
  for (const address of ADDED_IN_1_12) names.delete(address);
  for (const [name, address] of Object.entries(REMOVED_IN_1_12)) names.set(address, name);
  return names;
})();

/**
 * The name objdump prints for a CSR address, or undefined for one it prints as hex. `privSpec`
 * selects the CSR set of that privileged-spec version (default 1.12, the one this ISA follows).
 */
export function csrName(address: number, privSpec: PrivSpec = "1.12"): string | undefined {
  return (privSpec === "1.12" ? NAMES_1_12 : NAMES_1_11).get(address);
}
