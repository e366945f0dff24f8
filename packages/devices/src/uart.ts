import type { AccessSize, MmioDevice } from "@matryoshka/memory";

export const UART_SIZE = 0x100;

// Register offsets (DLAB=0 unless noted) and bits of the 16550A.
const RBR_THR = 0;
const IER = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;
const IER_RDA = 0x01;
const IER_THRE = 0x02;
const LCR_DLAB = 0x80;
const LSR_DR = 0x01;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const IIR_NONE = 0x01;
const IIR_THRE = 0x02;
const IIR_RDA = 0x04;
const IIR_FIFO = 0xc0;
const FCR_FIFO_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;
const MCR_LOOP = 0x10;

/** A UART's registers and receive FIFO, as plain data (see `Uart16550.saveState`). */
export interface UartState {
  rx: number[];
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  fcr: number;
  divisor: number;
  thrInterrupt: boolean;
}

/**
 * The ns16550a UART of QEMU `virt`: transmission is instantaneous (bytes go to `output`), input
 * bytes queue in a receive FIFO fed by the host, and the interrupt line (received data available,
 * transmitter empty) goes to the PLIC.
 */
export class Uart16550 implements MmioDevice {
  private readonly output: (byte: number) => void;
  private readonly irq: (level: boolean) => void;
  private readonly rx: number[] = [];
  private ier = 0;
  private lcr = 0x03;
  private mcr = 0;
  private scr = 0;
  private fcr = 0;
  private divisor = 0x0c;
  /** Transmitter-empty interrupt latch: set when THR empties, cleared by reading IIR or writing THR. */
  private thrInterrupt = false;

  constructor(output: (byte: number) => void, irq: (level: boolean) => void = () => {}) {
    this.output = output;
    this.irq = irq;
  }

  /** Queues bytes typed by the host. */
  receive(bytes: Iterable<number>): void {
    for (const byte of bytes) this.rx.push(byte & 0xff);
    this.updateIrq();
  }

  /**
   * Takes up to `max` received bytes past the registers, as a firmware console reading the same
   * line does (SBI DBCN console_read).
   */
  take(max: number): Uint8Array {
    const bytes = Uint8Array.from(this.rx.splice(0, Math.max(0, Math.min(max, this.rx.length))));
    this.updateIrq();
    return bytes;
  }

  /** Everything the guest can observe, for a snapshot (the receive FIFO included). */
  saveState(): UartState {
    return { rx: this.rx.slice(), ier: this.ier, lcr: this.lcr, mcr: this.mcr, scr: this.scr, fcr: this.fcr, divisor: this.divisor, thrInterrupt: this.thrInterrupt };
  }

  /** Puts back what `saveState` returned, and drives the interrupt line to match. */
  restoreState(state: UartState): void {
    this.rx.length = 0;
    for (const byte of state.rx) this.rx.push(byte & 0xff);
    this.ier = state.ier;
    this.lcr = state.lcr;
    this.mcr = state.mcr;
    this.scr = state.scr;
    this.fcr = state.fcr;
    this.divisor = state.divisor;
    this.thrInterrupt = state.thrInterrupt;
    this.updateIrq();
  }

  /** Bytes waiting to be read by the guest. */
  get pendingInput(): number {
    return this.rx.length;
  }

  private interruptId(): number {
    if ((this.ier & IER_RDA) !== 0 && this.rx.length > 0) return IIR_RDA;
    if ((this.ier & IER_THRE) !== 0 && this.thrInterrupt) return IIR_THRE;
    return IIR_NONE;
  }

  private updateIrq(): void {
    this.irq(this.interruptId() !== IIR_NONE);
  }

  read(offset: number, size: AccessSize): number | undefined {
    if (size !== 1) return offset === 0 ? this.read(0, 1) : 0;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR: {
        if (dlab) return this.divisor & 0xff;
        const byte = this.rx.shift() ?? 0;
        this.updateIrq();
        return byte;
      }
      case IER: return dlab ? (this.divisor >>> 8) & 0xff : this.ier;
      case IIR_FCR: {
        const id = this.interruptId();
        if (id === IIR_THRE) {
          this.thrInterrupt = false;
          this.updateIrq();
        }
        return id | ((this.fcr & FCR_FIFO_ENABLE) !== 0 ? IIR_FIFO : 0);
      }
      case LCR: return this.lcr;
      case MCR: return this.mcr;
      case LSR: return LSR_THRE | LSR_TEMT | (this.rx.length > 0 ? LSR_DR : 0);
      case MSR: return (this.mcr & MCR_LOOP) !== 0 ? 0 : 0xb0; // CTS, DSR, DCD asserted
      case SCR: return this.scr;
      default: return 0;
    }
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (size !== 1) return this.write(offset, 1, value & 0xff);
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR:
        if (dlab) {
          this.divisor = (this.divisor & 0xff00) | value;
        } else {
          if ((this.mcr & MCR_LOOP) !== 0) this.rx.push(value);
          else this.output(value);
          // The byte leaves at once, so the holding register is empty again.
          this.thrInterrupt = true;
        }
        break;
      case IER:
        if (dlab) {
          this.divisor = (this.divisor & 0x00ff) | (value << 8);
        } else {
          const enablingThre = (value & IER_THRE) !== 0 && (this.ier & IER_THRE) === 0;
          this.ier = value & 0x0f;
          if (enablingThre) this.thrInterrupt = true; // THR is empty, so the interrupt fires
        }
        break;
      case IIR_FCR:
        this.fcr = value & 0xc9;
        if ((value & FCR_CLEAR_RX) !== 0) this.rx.length = 0;
        break;
      case LCR: this.lcr = value; break;
      case MCR: this.mcr = value & 0x1f; break;
      case SCR: this.scr = value; break;
      default: break;
    }
    this.updateIrq();
    return true;
  }
}
