import { MSTATUS, Priv, StopReason, type Engine, type Hart } from "@matryoshka/cpu";
import type { VirtMachine } from "@matryoshka/machine";
import { carriesInstruction, ExitKind, type Platform, type PlatformHart } from "./platform.js";

/** A hardware hart driven by a hypervisor: guest contexts run in U-mode, every trap comes back as an exit. */
class BareMetalHart implements PlatformHart {
  readonly x: Int32Array;
  retired = 0;
  exitCause = 0;
  exitTval = 0;
  exitInstruction = 0;
  private readonly hart: Hart;
  private readonly engine: Engine;

  constructor(hart: Hart, engine: Engine) {
    this.hart = hart;
    this.engine = engine;
    this.x = hart.x;
    // What an M-mode hypervisor would program once: traps never reach M-mode software (they are
    // intercepted), U-mode may touch all of memory through PMP (the shadow tables decide what
    // the guest reaches), no SUM/MXR/MPRV, and the counters trap in U-mode so the guest's reads
    // of cycle, time and instret are emulated.
    hart.interceptTraps = true;
    if (hart.pmp.count > 0) {
      hart.writeCsr(0x3b0, 0xffff_ffff); // pmpaddr0: NAPOT over the whole 34-bit space
      hart.writeCsr(0x3a0, 0x1f); // pmpcfg0: entry 0 NAPOT, R W X
    }
    hart.mstatus &= ~(MSTATUS.SUM | MSTATUS.MXR | MSTATUS.MPRV);
    hart.mcounteren = 0;
    hart.mie = 0;
    hart.satp = 0;
    hart.priv = Priv.U;
  }

  get pc(): number {
    return this.hart.pc;
  }
  set pc(value: number) {
    this.hart.pc = value;
  }
  get reservation(): number {
    return this.hart.reservation;
  }
  set reservation(value: number) {
    this.hart.reservation = value;
  }
  get reservationValue(): number {
    return this.hart.reservationValue;
  }
  set reservationValue(value: number) {
    this.hart.reservationValue = value;
  }

  enter(satp: number, budget: number, sensitiveCalls = false): ExitKind {
    const hart = this.hart;
    hart.sensitiveCalls = sensitiveCalls;
    if (hart.satp !== satp) {
      hart.satp = satp;
      hart.flushTlbs(); // our TLBs are not tagged by ASID
    }
    hart.priv = Priv.U;
    hart.needsResync = true;
    const steps = hart.steps;
    const trapped = hart.trapped;
    const reason = this.engine.run(hart, budget);
    this.retired = hart.steps - steps - (hart.trapped - trapped);
    if (reason === StopReason.Intercept) {
      this.exitCause = hart.interceptedCause;
      this.exitTval = hart.interceptedTval;
      this.exitInstruction = carriesInstruction(hart.interceptedCause) ? hart.interceptedInstruction : 0;
      return ExitKind.Trap;
    }
    return reason === StopReason.Budget ? ExitKind.Budget : ExitKind.Stop;
  }

  flushTlb(va?: number): void {
    if (va === undefined) this.hart.flushTlbs();
    else for (const tlb of this.hart.tlbs) tlb.flushPage(va);
    this.hart.needsResync = true;
  }
}

/**
 * One hardware hart as a platform hart, on its own: what a hypervisor running a vCPU on a worker
 * thread makes of the hart that thread stands for (see threaded.ts). `flushTlb` is the platform's
 * `flushTlbs` for that hart alone.
 */
export function bareMetalHart(hart: Hart, engine: Engine): PlatformHart & { flushTlb(va?: number): void } {
  return new BareMetalHart(hart, engine);
}

/**
 * The hardware as a Platform (DESIGN.md §3): the machine's RAM is the hypervisor's memory, and its
 * harts enter guest contexts in U-mode with traps intercepted, which is what an M-mode hypervisor
 * on real RISC-V hardware does with its trap vector. The machine's own devices are left alone:
 * every VM has its own.
 */
export function bareMetal(machine: VirtMachine): Platform {
  const harts = machine.harts.map((hart) => new BareMetalHart(hart, machine.engine));
  return {
    name: "bare metal",
    level: 0,
    memory: machine.ram,
    harts,
    // Only a translating engine can keep sensitive instructions from executing natively.
    sensitiveCalls: machine.engine.name === "bt",
    flushTlbs: (va) => {
      for (const hart of harts) hart.flushTlb(va);
    },
    memoryWritten: (pa, length) => machine.codeCache.invalidateRange(pa, length),
  };
}
