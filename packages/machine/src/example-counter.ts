/**
 * A complete user device, as a template: a counter a guest finds by its device-tree node
 * (`compatible = "matryoshka,example-counter"`), reads and writes through MMIO, and makes raise its
 * interrupt. `guests/dt-probe` is the guest side.
 */
import type { AccessSize, MmioDevice } from "@matryoshka/memory";
import { simpleNode, type BoardDevice } from "./registry.js";

/** Register offsets, all 32-bit. */
export const ExampleCounterRegister = {
  /** Read-only: EXAMPLE_COUNTER_ID. */
  id: 0x0,
  /** The count: read it, or write a new one. */
  value: 0x4,
  /** Write-only: adds the value written to the count. */
  add: 0x8,
  /** The interrupt line: write 1 to raise it, 0 to lower it; reads its level. */
  irq: 0xc,
} as const;

/** What the id register reads: "CNT1" in little-endian ASCII. */
export const EXAMPLE_COUNTER_ID = 0x3154_4e43;
export const EXAMPLE_COUNTER_COMPATIBLE = "matryoshka,example-counter";

/** One guest access, as the device saw it. */
export interface CounterAccess {
  kind: "read" | "write";
  offset: number;
  value: number;
}

export class ExampleCounter implements MmioDevice {
  value = 0;
  level = false;
  /** Every access the guest made, in order. */
  readonly accesses: CounterAccess[] = [];
  private readonly irq: (level: boolean) => void;

  constructor(irq: (level: boolean) => void) {
    this.irq = irq;
  }

  read(offset: number, size: AccessSize): number | undefined {
    // Only aligned words decode; anything else is a bus error (the hart raises an access fault).
    if (size !== 4 || (offset & 3) !== 0) return undefined;
    let value: number;
    switch (offset) {
      case ExampleCounterRegister.id: value = EXAMPLE_COUNTER_ID; break;
      case ExampleCounterRegister.value: value = this.value; break;
      case ExampleCounterRegister.irq: value = this.level ? 1 : 0; break;
      default: return undefined;
    }
    this.accesses.push({ kind: "read", offset, value });
    return value;
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (size !== 4 || (offset & 3) !== 0) return false;
    switch (offset) {
      case ExampleCounterRegister.value: this.value = value >>> 0; break;
      case ExampleCounterRegister.add: this.value = (this.value + value) >>> 0; break;
      case ExampleCounterRegister.irq:
        this.level = (value & 1) !== 0;
        this.irq(this.level);
        break;
      default: return false;
    }
    this.accesses.push({ kind: "write", offset, value: value >>> 0 });
    return true;
  }
}

export interface ExampleCounterOptions {
  /** Default 0x4000000, the start of QEMU virt's platform-bus window (devices added at run time go there). */
  base?: number;
  /** PLIC source; default 64, the first of the platform bus's (64..95) on QEMU virt. */
  irq?: number;
  /** Told of each counter made (one per board: a rebooted guest gets a new one). */
  onCreate?: (counter: ExampleCounter) => void;
}

/** The counter as a board device: `new VirtMachine({ devices: [exampleCounter()] })`. */
export function exampleCounter(options: ExampleCounterOptions = {}): BoardDevice {
  return {
    name: "counter",
    base: options.base ?? 0x0400_0000,
    size: 0x1000,
    irq: options.irq ?? 64,
    create: (context) => {
      const counter = new ExampleCounter((level) => context.irq(level));
      options.onCreate?.(counter);
      return counter;
    },
    node: (context) => simpleNode(context, "counter", EXAMPLE_COUNTER_COMPATIBLE),
  };
}
