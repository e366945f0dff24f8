import * as net from "node:net";
import { MAX_FRAME_BYTES, MIN_FRAME_BYTES, type NetBackend } from "./net-backend.js";

/** What a socket backend has done. */
export interface SocketNetStats {
  framesSent: number;
  framesReceived: number;
  /** Frames the VM sent while no peer was connected. */
  droppedUnconnected: number;
  /** Frames from the peer whose length prefix is below an Ethernet header or above the largest frame. */
  malformed: number;
}

export interface SocketNetOptions {
  /** `listen`: wait for one peer on host:port; `connect`: connect to a listening peer. */
  mode: "listen" | "connect";
  host: string;
  /** 0 with `listen` picks a free port (see `address`). */
  port: number;
  /** `connect`: how long to keep retrying while nobody listens yet, in ms (default 10,000). */
  retryMilliseconds?: number;
}

/** Bytes of the length prefix before each frame: a 32-bit big-endian count. */
const PREFIX = 4;

/**
 * A point-to-point link over TCP, speaking QEMU's `-netdev stream` (and `-netdev socket`) wire
 * format: each frame is sent as a 4-byte big-endian length and then the frame, so two matryoshka
 * processes, or matryoshka and QEMU, can be wired together. `listen` accepts one peer at a time
 * (as QEMU does); `connect` retries until the listener is up. The link is up while a peer is
 * connected; frames sent meanwhile are dropped and counted. A length prefix out of range is
 * counted and its frame skipped, so one bad frame does not desynchronize the stream.
 */
export class SocketNetBackend implements NetBackend {
  readonly options: SocketNetOptions;
  readonly stats: SocketNetStats = { framesSent: 0, framesReceived: 0, droppedUnconnected: 0, malformed: 0 };
  onReceive: ((frame: Uint8Array) => void) | undefined = undefined;
  onLinkChange: ((up: boolean) => void) | undefined = undefined;
  /** Resolves once listening (with the bound address) or once first connected. */
  readonly ready: Promise<{ host: string; port: number }>;
  private server: net.Server | undefined;
  private socket: net.Socket | undefined;
  private closed = false;
  /** Bytes received and not yet made into frames. */
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes still to discard of a frame whose length was out of range. */
  private skip = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly waiters: Array<() => void> = [];

  constructor(options: SocketNetOptions) {
    this.options = options;
    this.ready = options.mode === "listen" ? this.listen() : this.connect();
    // A failure to listen or connect is reported through `ready`; keep it from being unhandled.
    this.ready.catch(() => {});
  }

  get linkUp(): boolean {
    return this.socket !== undefined;
  }

  send(frame: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined) {
      this.stats.droppedUnconnected++;
      return;
    }
    const prefix = Buffer.alloc(PREFIX);
    prefix.writeUInt32BE(frame.length, 0);
    socket.write(prefix);
    socket.write(frame);
    this.stats.framesSent++;
  }

  /** Resolves when a frame arrives, the link changes or the backend closes (for a run loop with nothing to do). */
  activity(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drops the connection at once and stops listening. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.server?.close();
    this.setSocket(undefined);
  }

  /**
   * Ends the connection after every frame already sent has been handed to the peer's side of TCP
   * (so a guest's last frame before it exits is not lost), then closes as `close` does.
   */
  async end(): Promise<void> {
    const socket = this.socket;
    if (socket !== undefined && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once("close", () => resolve());
        socket.end();
        setTimeout(resolve, 2000).unref(); // a peer that never closes its side does not hold us up
      });
    }
    this.close();
  }

  private listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        if (this.socket !== undefined || this.closed) {
          socket.destroy(); // one peer at a time
          return;
        }
        this.setSocket(socket);
      });
      this.server = server;
      server.once("error", reject);
      server.listen(this.options.port, this.options.host, () => {
        const address = server.address() as net.AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  private connect(): Promise<{ host: string; port: number }> {
    const deadline = Date.now() + (this.options.retryMilliseconds ?? 10_000);
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const socket = net.connect(this.options.port, this.options.host);
        socket.once("connect", () => {
          socket.removeAllListeners("error");
          this.setSocket(socket);
          resolve({ host: this.options.host, port: this.options.port });
        });
        socket.once("error", (error) => {
          socket.destroy();
          if (this.closed) reject(new Error("closed"));
          else if (Date.now() >= deadline) reject(new Error(`cannot connect to ${this.options.host}:${this.options.port}: ${error.message}`));
          else this.retryTimer = setTimeout(attempt, 100);
        });
      };
      attempt();
    });
  }

  private setSocket(socket: net.Socket | undefined): void {
    const was = this.socket !== undefined;
    this.socket = socket;
    this.pending = Buffer.alloc(0);
    this.skip = 0;
    if (socket !== undefined) {
      socket.setNoDelay(true);
      socket.on("data", (chunk: Buffer) => this.data(chunk));
      socket.on("error", () => {}); // a reset peer is a closed link; 'close' follows
      socket.on("close", () => {
        if (this.socket === socket) this.setSocket(undefined);
      });
    }
    if (was !== (socket !== undefined)) {
      this.onLinkChange?.(socket !== undefined);
      this.wake();
    }
  }

  private data(chunk: Buffer): void {
    let buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buffer.length);
        this.skip -= n;
        buffer = buffer.subarray(n);
        if (this.skip > 0) break;
      }
      if (buffer.length < PREFIX) break;
      const length = buffer.readUInt32BE(0);
      if (length < MIN_FRAME_BYTES || length > MAX_FRAME_BYTES) {
        this.stats.malformed++;
        this.skip = length;
        buffer = buffer.subarray(PREFIX);
        continue;
      }
      if (buffer.length < PREFIX + length) break;
      // A copy the device can keep: the chunk's memory belongs to Node's pool.
      const frame = new Uint8Array(buffer.subarray(PREFIX, PREFIX + length));
      buffer = buffer.subarray(PREFIX + length);
      this.stats.framesReceived++;
      this.onReceive?.(frame);
    }
    this.pending = Buffer.from(buffer); // detach from the chunk
    this.wake();
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
