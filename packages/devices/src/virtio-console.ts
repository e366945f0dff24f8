import type { AccessSize } from "@matryoshka/memory";
import { featureBit, type VirtioDevice } from "./virtio-mmio.js";
import type { SplitVirtqueue } from "./virtqueue.js";

// The virtio console device, virtio 1.1 §5.3, with its single port (no VIRTIO_CONSOLE_F_MULTIPORT):
// receiveq0 (queue 0) carries input to the driver, transmitq0 (queue 1) output from it. Linux
// names the port hvc0: a second console beside the UART.

export const VIRTIO_CONSOLE_DEVICE_ID = 3;
/** Feature bits (§5.3.3). Offered: EMERG_WRITE (a byte written to `emerg_wr` is output at once). */
export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 2;
export const VIRTIO_CONSOLE_RX_QUEUE = 0;
export const VIRTIO_CONSOLE_TX_QUEUE = 1;

/** Offset of `emerg_wr` in the configuration space: after cols, rows (le16) and max_nr_ports (le32). */
const EMERG_WR = 8;
const CONFIG_SIZE = 12;
/** Input bytes held while the driver has no receive buffers; more are dropped and counted. */
const INPUT_BACKLOG = 64 * 1024;
/** Output taken from one transmit chain at most (the rest of a giant buffer is not read). */
const MAX_OUTPUT_CHUNK = 64 * 1024;

/** What the transport does for the device when input arrives between notifications. */
export interface ConsoleTransport {
  processQueue(index: number): void;
}

export interface VirtioConsoleStats {
  bytesOut: number;
  bytesIn: number;
  /** Input dropped because the backlog was full. */
  inputDropped: number;
  /** Transmit chains longer than 64 KiB: only their first 64 KiB were output. */
  outputTruncated: number;
}

/** A virtio-console device (id 3): output goes to `output`, `receive` queues input for the guest. */
export class VirtioConsole implements VirtioDevice {
  readonly deviceId = VIRTIO_CONSOLE_DEVICE_ID;
  readonly queueCount = 2;
  readonly queueSizeMax = 128;
  readonly features = featureBit(VIRTIO_CONSOLE_F_EMERG_WRITE);
  readonly stats: VirtioConsoleStats = { bytesOut: 0, bytesIn: 0, inputDropped: 0, outputTruncated: 0 };
  private readonly output: (bytes: Uint8Array) => void;
  private readonly config = new Uint8Array(CONFIG_SIZE);
  private input: number[] = [];
  private transport: ConsoleTransport | undefined;
  private active = false;

  constructor(output: (bytes: Uint8Array) => void) {
    this.output = output;
    this.config[4] = 1; // max_nr_ports: 1 (only read with MULTIPORT, which is not offered)
  }

  /** Connects the device to its transport, so input reaches the guest as it arrives. */
  attach(transport: ConsoleTransport): void {
    this.transport = transport;
  }

  /** Bytes typed on the port: kept (up to 64 KiB) until the driver has receive buffers. */
  receive(bytes: Uint8Array): void {
    const room = INPUT_BACKLOG - this.input.length;
    const taken = Math.min(room, bytes.length);
    for (let i = 0; i < taken; i++) this.input.push(bytes[i]!);
    this.stats.inputDropped += bytes.length - taken;
    if (this.active) this.transport?.processQueue(VIRTIO_CONSOLE_RX_QUEUE);
  }

  readConfig(): Uint8Array {
    return this.config;
  }

  writeConfig(offset: number, size: AccessSize, value: number): void {
    // §5.3.4: a write to emerg_wr outputs its low byte even before the driver is ready.
    if (offset === EMERG_WR && size === 4) {
      this.stats.bytesOut++;
      this.output(Uint8Array.of(value & 0xff));
    }
  }

  activate(): void {
    this.active = true;
  }

  reset(): void {
    this.active = false;
  }

  processQueue(queue: SplitVirtqueue, index: number): void {
    if (index === VIRTIO_CONSOLE_TX_QUEUE) this.transmit(queue);
    else if (index === VIRTIO_CONSOLE_RX_QUEUE) this.fill(queue);
  }

  private transmit(queue: SplitVirtqueue): void {
    for (;;) {
      const chain = queue.pop();
      if (chain === undefined) return;
      const length = Math.min(chain.readableLength, MAX_OUTPUT_CHUNK);
      if (length < chain.readableLength) this.stats.outputTruncated++;
      const bytes = chain.read(0, length);
      if (bytes === undefined) return;
      if (length > 0) this.output(bytes);
      this.stats.bytesOut += length;
      if (!queue.push(chain, 0)) return;
    }
  }

  private fill(queue: SplitVirtqueue): void {
    while (this.input.length > 0) {
      const chain = queue.pop();
      if (chain === undefined) return;
      const length = Math.min(chain.writableLength, this.input.length);
      const bytes = Uint8Array.from(this.input.slice(0, length));
      if (!chain.write(0, bytes) || !queue.push(chain, length)) return;
      this.input = this.input.slice(length);
      this.stats.bytesIn += length;
    }
  }
}
