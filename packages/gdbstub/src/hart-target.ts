import { StopReason, type Hart } from "@matryoshka/cpu";
import { CSR, decodeInto, Op, type Instruction } from "@matryoshka/isa";
import { BUS_ERROR, Rom, type GuestPhysicalAddress } from "@matryoshka/memory";
import type { GdbStub, PendingAccess } from "./stub.js";
import { FIRST_CSR_REGNUM, PC_REGNUM, PRIV_REGNUM, type CsrName, type DebugTarget } from "./target.js";

/** The CSRs a debugger sees: the hart's supervisor, machine, trigger and counter registers. */
const EXPOSED: readonly (keyof typeof CSR)[] = [
  "sstatus", "sie", "stvec", "scounteren", "senvcfg", "sscratch", "sepc", "scause", "stval", "sip", "satp",
  "mstatus", "misa", "medeleg", "mideleg", "mie", "mtvec", "mcounteren", "menvcfg", "mscratch", "mepc", "mcause", "mtval", "mip",
  "mvendorid", "marchid", "mimpid", "mhartid",
  "tselect", "tdata1", "tdata2", "tdata3", "tinfo",
  "mcycle", "minstret", "mcycleh", "minstreth", "cycle", "time", "instret", "cycleh", "timeh", "instreth",
];

/** The loads and stores by operation: [size, loads, stores]. */
const ACCESS_KINDS = new Map<number, readonly [number, boolean, boolean]>([
  [Op.LB, [1, true, false]], [Op.LBU, [1, true, false]], [Op.LH, [2, true, false]], [Op.LHU, [2, true, false]],
  [Op.LW, [4, true, false]], [Op.SB, [1, false, true]], [Op.SH, [2, false, true]], [Op.SW, [4, false, true]],
  [Op.LR_W, [4, true, false]], [Op.SC_W, [4, false, true]],
  ...[Op.AMOSWAP_W, Op.AMOADD_W, Op.AMOXOR_W, Op.AMOAND_W, Op.AMOOR_W, Op.AMOMIN_W, Op.AMOMAX_W, Op.AMOMINU_W, Op.AMOMAXU_W].map(
    (op) => [op, [4, true, true]] as [number, readonly [number, boolean, boolean]],
  ),
]);

/**
 * A `DebugTarget` over harts (thread n is `harts[n - 1]`): registers, CSRs as the CSR file
 * reads and writes them (without the privilege checks, as a debugger's accesses have none), and
 * memory at virtual addresses through each hart's current translation (`Hart.debugTranslate`).
 * RAM and ROM can be read; device registers cannot (reading one could change it). Writes go to
 * RAM only, and `codeCache.invalidateRange` keeps decoded code (and, in a VM, the code cached by
 * the levels beneath) coherent with them.
 */
export class HartTarget implements DebugTarget {
  readonly harts: readonly Hart[];
  readonly threads: readonly number[];
  readonly csrs: readonly CsrName[];
  private readonly decoded: Instruction = { op: Op.ILLEGAL, rd: 0, rs1: 0, rs2: 0, imm: 0, csr: 0, aqrl: 0, length: 4, raw: 0 };
  private readonly access: PendingAccess = { address: 0, size: 0, load: false, store: false };

  constructor(harts: readonly Hart[]) {
    if (harts.length === 0) throw new RangeError("a debug target needs at least one hart");
    this.harts = harts;
    this.threads = harts.map((_, index) => index + 1);
    const first = harts[0]!;
    this.csrs = EXPOSED.map((name) => ({ name, number: CSR[name] })).filter((c) => first.readCsr(c.number) !== undefined);
  }

  private hart(thread: number): Hart | undefined {
    return Number.isInteger(thread) ? this.harts[thread - 1] : undefined;
  }

  readRegister(thread: number, regno: number): number | undefined {
    const hart = this.hart(thread);
    if (hart === undefined) return undefined;
    if (regno >= 0 && regno < 32) return hart.x[regno]! >>> 0;
    if (regno === PC_REGNUM) return hart.pc >>> 0;
    if (regno === PRIV_REGNUM) return hart.priv;
    if (regno >= FIRST_CSR_REGNUM && regno < PRIV_REGNUM) return hart.readCsr(regno - FIRST_CSR_REGNUM);
    return undefined;
  }

  writeRegister(thread: number, regno: number, value: number): boolean {
    const hart = this.hart(thread);
    if (hart === undefined) return false;
    if (regno === 0) return true; // x0 stays zero
    if (regno > 0 && regno < 32) hart.x[regno] = value | 0;
    else if (regno === PC_REGNUM) hart.pc = value | 0;
    else if (regno === PRIV_REGNUM) {
      if (value !== 0 && value !== 1 && value !== 3) return false;
      hart.priv = value;
    } else if (regno >= FIRST_CSR_REGNUM && regno < PRIV_REGNUM) {
      const csr = regno - FIRST_CSR_REGNUM;
      // Read-only CSRs (address bits 11:10 = 3) and absent ones cannot be written.
      if (hart.readCsr(csr) === undefined || csr >>> 10 === 3) return false;
      hart.writeCsr(csr, value >>> 0);
    } else {
      return false;
    }
    hart.needsResync = true;
    return true;
  }

  readMemory(thread: number, address: number, length: number): Uint8Array | undefined {
    const hart = this.hart(thread);
    if (hart === undefined) return undefined;
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const va = (address + done) >>> 0;
      const chunk = Math.min(length - done, 4096 - (va & 0xfff));
      const pa = hart.debugTranslate(va);
      if (pa < 0) return undefined;
      const ram = hart.bus.ram.read(pa as GuestPhysicalAddress, chunk);
      if (ram !== undefined) out.set(ram, done);
      else {
        const region = hart.bus.findRegion(pa);
        if (region === undefined || !(region.device instanceof Rom) || pa + chunk > region.base + region.size) return undefined;
        for (let i = 0; i < chunk; i++) {
          const byte = hart.bus.fetch(pa + i, 1);
          if (byte === BUS_ERROR) return undefined;
          out[done + i] = byte;
        }
      }
      done += chunk;
    }
    return out;
  }

  writeMemory(thread: number, address: number, bytes: Uint8Array): boolean {
    const hart = this.hart(thread);
    if (hart === undefined) return false;
    // Translate every page first, so that a write that cannot complete changes nothing.
    const pieces: { pa: number; from: number; length: number }[] = [];
    for (let done = 0; done < bytes.length; ) {
      const va = (address + done) >>> 0;
      const length = Math.min(bytes.length - done, 4096 - (va & 0xfff));
      const pa = hart.debugTranslate(va);
      if (pa < 0 || !hart.bus.ram.contains(pa as GuestPhysicalAddress, length)) return false;
      pieces.push({ pa, from: done, length });
      done += length;
    }
    for (const { pa, from, length } of pieces) {
      if (!hart.bus.ram.write(pa as GuestPhysicalAddress, bytes.subarray(from, from + length))) return false;
      hart.codeCache.invalidateRange(pa, length);
    }
    hart.flushTlbs(); // a store TLB entry may have been granted before the page held code
    hart.needsResync = true;
    return true;
  }

  /** The load or store the instruction at the hart's pc will make, or undefined (none, or unreadable). */
  pendingAccess(hart: Hart): PendingAccess | undefined {
    const bits = hart.instructionBitsAt(hart.pc);
    if (bits === 0) return undefined;
    const insn = decodeInto(bits, this.decoded);
    const access = this.access;
    const op = insn.op;
    const base = hart.x[insn.rs1]!;
    const kind = ACCESS_KINDS.get(op);
    if (kind === undefined) return undefined;
    const [size, load, store] = kind;
    const isAtomic = size === 4 && op !== Op.LW && op !== Op.SW; // LR, SC and AMOs address x[rs1] alone
    access.address = (base + (isAtomic ? 0 : insn.imm)) >>> 0;
    access.size = size;
    access.load = load;
    access.store = store;
    return access;
  }
}

/**
 * What the board's run loop calls in place of its engine while a debugger is attached
 * (`VirtMachine.debugger`): with nothing to check, the engine runs the hart as usual; otherwise
 * one instruction at a time, asking the stub before each and after it.
 *
 * With the bt engine, one-instruction runs make the translator interpret (a block longer than
 * the budget is interpreted): debugging costs translation, never correctness.
 */
export class HartDebugger {
  readonly stub: GdbStub;
  readonly target: HartTarget;
  /**
   * Called when the stub stops the target inside `runHart`: a debugger below the guest's level
   * asks the levels above to return to the run loop here (see the CLI's --gdb-level).
   */
  onStop: () => void = () => {};

  constructor(stub: GdbStub, target: HartTarget) {
    this.stub = stub;
    this.target = target;
  }

  get paused(): boolean {
    return this.stub.paused;
  }

  /**
   * Runs `hart` through `run` (its engine, or the hypervisor entry that runs it). When the stub
   * stops it, returns StopReason.Halt (so that a hypervisor entry ends too) after `onStop`.
   */
  runHart(hart: Hart, budget: number, run: (hart: Hart, budget: number) => StopReason): StopReason {
    const stub = this.stub;
    if (!stub.active) return run(hart, budget);
    const thread = this.target.harts.indexOf(hart) + 1;
    if (thread === 0) return run(hart, budget);
    const target = this.target;
    const start = hart.steps;
    while (hart.steps - start < budget) {
      if (stub.beforeInstruction(thread, hart.pc >>> 0)) return this.stopped();
      const access = stub.watchpoints.length > 0 ? target.pendingAccess(hart) : undefined;
      const watch = access === undefined ? undefined : stub.watchHit(access);
      const steps = hart.steps;
      const trapped = hart.trapped;
      const reason = run(hart, 1);
      // A watchpoint hits when the access happened: the instruction retired without a trap.
      const retired = hart.steps > steps && hart.trapped === trapped;
      if (stub.afterInstruction(thread, retired ? watch : undefined)) return this.stopped();
      if (reason !== StopReason.Budget || hart.steps === steps) return reason;
      if (!stub.active) return run(hart, budget - (hart.steps - start));
    }
    return StopReason.Budget;
  }

  private stopped(): StopReason {
    this.onStop();
    return StopReason.Halt;
  }
}
