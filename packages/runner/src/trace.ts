// `--trace`: QEMU's `-d` for matryoshka. Each category hooks what the hart, the VMs and the devices
// let watch (Hart.observer, VmEngine.observer, VirtioMmio.observer), set only when tracing; the
// instruction categories swap in an engine that steps one instruction at a time. Nothing here
// runs when tracing is off. Lines carry no times or host addresses: the same run traces the same.
import { StopReason, type Engine, type Hart, type HartObserver } from "@matryoshka/cpu";
import { VirtioMmio } from "@matryoshka/devices";
import { disassemble } from "@matryoshka/isa";
import type { VirtMachine } from "@matryoshka/machine";
import { ExitKind, type Stack, type VmObserver } from "@matryoshka/vmm";

/** The categories, as QEMU's -d names them where it has them. */
export const TRACE_CATEGORIES = ["in_asm", "exec", "int", "mmu", "exits", "virtio"] as const;
export type TraceCategory = (typeof TRACE_CATEGORIES)[number];

/** What to trace, and where the lines go (each ends in a newline). */
export interface TraceOptions {
  categories: ReadonlySet<TraceCategory>;
  /**
   * The level whose harts (int, mmu), VM (exits, shadow fills under mmu) and devices (virtio) are
   * traced: 0 the hardware's board, k the board of VM k. Default: the guest's own (the depth).
   * `exec` and `in_asm` always trace what the hardware executes (see `TracingEngine`).
   */
  level?: number;
  write: (line: string) => void;
}

/** A `--trace` list that names no category, an unknown one or a bad level. */
export class TraceSpecError extends Error {}

/** Parses `in_asm,int,…[,level=K]` (QEMU's -d syntax, plus the level). */
export function parseTrace(text: string): { categories: Set<TraceCategory>; level?: number } {
  const categories = new Set<TraceCategory>();
  let level: number | undefined;
  for (const item of text.split(",")) {
    const word = item.trim();
    if (word.startsWith("level=")) {
      const value = word.slice("level=".length);
      if (!/^\d{1,3}$/.test(value)) throw new TraceSpecError(`level= takes a level number (0 the hardware, k VM k), got "${value}"`);
      level = Number(value);
    } else if ((TRACE_CATEGORIES as readonly string[]).includes(word)) {
      categories.add(word as TraceCategory);
    } else {
      throw new TraceSpecError(`unknown trace category "${word}" (valid: ${TRACE_CATEGORIES.join(", ")}, and level=K)`);
    }
  }
  if (categories.size === 0) throw new TraceSpecError(`no trace category given (valid: ${TRACE_CATEGORIES.join(", ")})`);
  return { categories, level };
}

const hex = (value: number) => (value >>> 0).toString(16).padStart(8, "0");
const PRIVILEGE = ["U", "S", "?", "M"];
const ACCESS = ["fetch", "load", "store"];

/**
 * An engine that traces what it executes (`exec`: every instruction's pc; `in_asm`: each
 * instruction the first time it runs at that address in that address space, disassembled as
 * objdump would). It runs the engine beneath one instruction at a time, taking interrupts first as
 * engines do at each boundary, so the traced pc is the one that executes. QEMU traces per
 * translation block; this traces per instruction, with either engine (the translator then makes
 * one-instruction blocks: slower, same results).
 */
export class TracingEngine implements Engine {
  private readonly seen = new Set<string>();

  constructor(
    private readonly inner: Engine,
    private readonly exec: boolean,
    private readonly inAsm: boolean,
    private readonly write: (line: string) => void,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get stats(): object | undefined {
    return this.inner.stats;
  }

  run(hart: Hart, budget: number): StopReason {
    for (let remaining = budget; remaining > 0; remaining--) {
      if (hart.stopRequested) return hart.consumeStop();
      const irq = hart.pendingInterrupt();
      if (irq >= 0) {
        hart.takeInterrupt(irq);
        if (hart.stopRequested) return hart.consumeStop();
      }
      const pc = hart.pc;
      if (this.exec) this.write(`exec: hart ${hart.hartId} ${PRIVILEGE[hart.priv]} ${hex(pc)}\n`);
      if (this.inAsm) {
        const bits = hart.instructionBitsAt(pc);
        const key = `${hart.priv === 3 ? 0 : hart.satp}:${pc}:${bits}`;
        if (!this.seen.has(key)) {
          this.seen.add(key);
          this.write(`in_asm: hart ${hart.hartId} ${PRIVILEGE[hart.priv]} ${hex(pc)}: ${disassemble(bits, pc)}\n`);
        }
      }
      const reason = this.inner.run(hart, 1);
      if (reason !== StopReason.Budget) return reason;
    }
    return StopReason.Budget;
  }
}

/** Names of trap causes for trace lines (privileged spec 1.12, table 3.6). */
const CAUSES: Record<number, string> = {
  0: "fetch misaligned", 1: "fetch access fault", 2: "illegal instruction", 3: "breakpoint", 4: "load misaligned",
  5: "load access fault", 6: "store misaligned", 7: "store access fault", 8: "ecall U", 9: "ecall S", 11: "ecall M",
  12: "fetch page fault", 13: "load page fault", 15: "store page fault", 22: "virtual instruction",
};
const INTERRUPTS: Record<number, string> = { 1: "S software", 3: "M software", 5: "S timer", 7: "M timer", 9: "S external", 11: "M external" };

/** The board at `level`: the hardware's (0) or VM k's. */
function boardAt(stack: Stack, level: number): VirtMachine {
  return level === 0 ? stack.host : stack.vms[level - 1]!.board;
}

/** Hooks the stack's harts, VM and devices at the traced level (call on every stack a run builds). */
export function installTrace(stack: Stack, trace: TraceOptions): void {
  const level = trace.level ?? stack.vms.length;
  if (level > stack.vms.length) throw new RangeError(`--trace level=${level} is deeper than the stack (depth ${stack.vms.length})`);
  const { categories, write } = trace;
  const tag = `L${level}`;
  const board = boardAt(stack, level);
  if (categories.has("int") || categories.has("mmu")) {
    const observer: HartObserver = {
      trap: categories.has("int")
        ? (hart, cause, interrupt, epc, tval, from) =>
            write(
              `int: ${tag} hart ${hart.hartId} ${interrupt ? `interrupt ${cause} (${INTERRUPTS[cause] ?? "platform"})` : `exception ${cause} (${CAUSES[cause] ?? "reserved"})`} ` +
                `epc ${hex(epc)} tval ${hex(tval)} ${PRIVILEGE[from]}->${PRIVILEGE[hart.priv]} vector ${hex(hart.pc)}\n`,
            )
        : () => {},
      walk: categories.has("mmu")
        ? (hart, va, pa, access) =>
            write(`mmu: ${tag} hart ${hart.hartId} walk ${ACCESS[access] ?? access} va ${hex(va)} -> ${pa === -1 ? "page fault" : pa < 0 ? "access fault" : `pa ${hex(pa)}`}\n`)
        : () => {},
    };
    for (const hart of board.harts) hart.observer = observer;
  }
  if ((categories.has("exits") || categories.has("mmu")) && level > 0) {
    const observer: VmObserver = {
      exit: categories.has("exits")
        ? (vhart, kind, cause, tval, retired) =>
            write(
              `exits: ${tag} hart ${vhart.hartId} pc ${hex(vhart.pc)} ${
                kind === ExitKind.Trap ? (cause >= 0 && cause < 32 ? `trap ${cause} (${CAUSES[cause] ?? "reserved"}) tval ${hex(tval)}` : "platform interrupt") : kind === ExitKind.Budget ? "budget" : "platform stop"
              } after ${retired} instructions\n`,
            )
        : () => {},
      shadowFill: categories.has("mmu") ? (vhart, va, access) => write(`mmu: ${tag} hart ${vhart.hartId} shadow fill ${ACCESS[access] ?? access} va ${hex(va)}\n`) : () => {},
    };
    stack.vms[level - 1]!.engine.observer = observer;
  }
  if (categories.has("virtio")) {
    for (const { entry, device } of board.devices.entries) {
      const name = entry.name;
      if (device instanceof VirtioMmio) device.observer = (_, queue, served) => write(`virtio: ${tag} ${name} queue ${queue} notified, ${served} buffers served\n`);
    }
  }
}
