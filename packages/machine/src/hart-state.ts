import type { Hart } from "@matryoshka/cpu";
import { CSR } from "@matryoshka/isa";
import type { HartState } from "./threaded-shared.js";

/**
 * Hands a hart's state between threads: the main thread's `Hart` objects stay the board's harts,
 * a threaded run builds one `Hart` per worker from them and copies the state back at the end.
 * TLBs and decoded code are not state (each worker starts with empty ones).
 */

/** CSRs copied as plain fields (their WARL rules already hold for the values read). */
const FIELDS = [
  "mstatus", "medeleg", "mideleg", "mie", "mipSoftware", "mtvec", "stvec", "mepc", "sepc", "mcause", "scause",
  "mtval", "stval", "mscratch", "sscratch", "satp", "mcounteren", "scounteren", "menvcfg", "senvcfg", "mcountinhibit",
] as const;

/** Keys of the trigger registers in `HartState.csrs` (negative: not CSR numbers); trigger i's are the key - i. */
const TSELECT_KEY = -5;
const TDATA1_KEY = -100;
const TDATA2_KEY = -200;
const MAX_TRIGGERS = 16;

/** Where mhpmevent0 would be: mhpmeventN is at this + N (`Hart.mhpmevent` is indexed by N). */
const MHPMEVENT_BASE = CSR.mhpmevent3 - 3;

export function captureHart(hart: Hart): HartState {
  const csrs: [number, number][] = FIELDS.map((name, i) => [i, hart[name]]);
  // The counters' bookkeeping (mcycle/minstret offsets and frozen values under mcountinhibit) is
  // copied verbatim: rebuilding it through CSR writes would be off by the writing instruction's own
  // increment (priv. 1.12 §3.1.11).
  csrs.push([-1, hart.cycleOffset], [-2, hart.instretOffset], [-3, hart.frozenCycle ?? Number.NaN], [-4, hart.frozenInstret ?? Number.NaN]);
  // PMP through its CSRs: 16 cfg registers of 4 entries, then the addresses (priv. §3.7.1).
  for (let register = 0; register * 4 < hart.pmp.count; register++) csrs.push([CSR.pmpcfg0 + register, hart.readCsr(CSR.pmpcfg0 + register)!]);
  for (let entry = 0; entry < hart.pmp.count; entry++) csrs.push([CSR.pmpaddr0 + entry, hart.readCsr(CSR.pmpaddr0 + entry)!]);
  for (let event = 3; event < 32; event++) csrs.push([MHPMEVENT_BASE + event, hart.mhpmevent[event]!]);
  // The debug triggers (Sdtrig): tselect, then each trigger's tdata1 and tdata2.
  const triggers = hart.triggers;
  csrs.push([TSELECT_KEY, triggers.tselect]);
  for (let i = 0; i < triggers.count; i++) csrs.push([TDATA1_KEY - i, triggers.tdata1[i]!], [TDATA2_KEY - i, triggers.tdata2[i]!]);
  return {
    x: hart.x.slice(),
    pc: hart.pc,
    priv: hart.priv,
    csrs,
    mcycle: hart.mcycle,
    minstret: hart.minstret,
    steps: hart.steps,
    trapped: hart.trapped,
    reservation: hart.reservation,
    reservationValue: hart.reservationValue,
    mhpmcounter: hart.mhpmcounter.slice(),
    exceptionCounts: hart.exceptionCounts.slice(),
    interruptCounts: hart.interruptCounts.slice(),
  };
}

export function restoreHart(hart: Hart, state: HartState): void {
  hart.x.set(state.x);
  hart.pc = state.pc;
  hart.priv = state.priv;
  hart.steps = state.steps;
  hart.trapped = state.trapped;
  hart.reservation = state.reservation;
  hart.reservationValue = state.reservationValue;
  hart.mhpmcounter.set(state.mhpmcounter);
  hart.exceptionCounts.set(state.exceptionCounts);
  hart.interruptCounts.set(state.interruptCounts);
  const pmpConfig: [number, number][] = [];
  let tselect = 0;
  const saved: { tdata1: number; tdata2: number }[] = [];
  const trigger = (i: number) => (saved[i] ??= { tdata1: 0, tdata2: 0 });
  for (const [key, value] of state.csrs) {
    if (key >= 0 && key < FIELDS.length) (hart as unknown as Record<string, number>)[FIELDS[key]!] = value;
    else if (key === -1) hart.cycleOffset = value;
    else if (key === -2) hart.instretOffset = value;
    else if (key === -3) hart.frozenCycle = Number.isNaN(value) ? undefined : value;
    else if (key === -4) hart.frozenInstret = Number.isNaN(value) ? undefined : value;
    else if (key >= CSR.pmpcfg0 && key <= CSR.pmpcfg15) pmpConfig.push([key, value]);
    else if (key >= CSR.pmpaddr0 && key <= CSR.pmpaddr63) hart.writeCsr(key, value);
    else if (key >= CSR.mhpmevent3 && key <= CSR.mhpmevent31) hart.mhpmevent[key - MHPMEVENT_BASE] = value;
    else if (key === TSELECT_KEY) tselect = value;
    else if (key <= TDATA1_KEY && key > TDATA1_KEY - MAX_TRIGGERS) trigger(TDATA1_KEY - key).tdata1 = value;
    else if (key <= TDATA2_KEY && key > TDATA2_KEY - MAX_TRIGGERS) trigger(TDATA2_KEY - key).tdata2 = value;
  }
  // Through the trigger CSRs' own WARL rules, which keep the armed flags right.
  const triggers = hart.triggers;
  triggers.reset();
  saved.forEach(({ tdata1, tdata2 }, i) => {
    if (i >= triggers.count) return;
    triggers.writeTselect(i);
    triggers.writeTdata1(tdata1);
    triggers.writeTdata2(tdata2);
  });
  triggers.writeTselect(tselect);
  // Configuration last: a locked entry ignores later address writes (priv. §3.7.1.3).
  for (const [csr, value] of pmpConfig) hart.writeCsr(csr, value);
  hart.flushTlbs();
  hart.needsResync = true;
}
