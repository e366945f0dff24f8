import { MAC_BYTES, frameLengthOk, type NetBackend } from "./net-backend.js";

/** What a switch has done, for observability. */
export interface NetSwitchStats {
  /** Frames that came in on some port. */
  frames: number;
  /** Copies sent to every other port (broadcast, multicast, or a destination not learned yet). */
  flooded: number;
  /** Frames sent to the one port their destination was learned on. */
  forwarded: number;
  /** Frames whose destination lives on the port they came from: they go nowhere. */
  filtered: number;
  /** Frames shorter than an Ethernet header or longer than the largest frame. */
  malformed: number;
}

/** A 48-bit MAC as a number (exact in a double), the learning table's key. */
function macKey(frame: Uint8Array, at: number): number {
  let key = 0;
  for (let i = 0; i < MAC_BYTES; i++) key = key * 256 + frame[at + i]!;
  return key;
}

/**
 * A virtual Ethernet switch, as a learning bridge (IEEE 802.1D §7.7–7.8): it learns which port each
 * unicast source address lives behind, sends a frame for a learned address to that port alone, and
 * floods broadcast, multicast and unknown destinations to every port but the one it came in on.
 * A frame never goes back out of its own port, so a VM only receives frames addressed to it,
 * broadcast or multicast ones, and those flooded before the switch learned where their
 * destination is. Frames are delivered synchronously, in one thread.
 */
export class NetSwitch {
  readonly name: string;
  readonly stats: NetSwitchStats = { frames: 0, flooded: 0, forwarded: 0, filtered: 0, malformed: 0 };
  private readonly ports: NetBackend[] = [];
  private readonly table = new Map<number, number>();

  constructor(name = "switch") {
    this.name = name;
  }

  /** A new port: a backend to plug one device into. */
  port(): NetBackend {
    const index = this.ports.length;
    const port: NetBackend = { onReceive: undefined, send: (frame) => this.input(index, frame) };
    this.ports.push(port);
    return port;
  }

  /** The port a MAC address was learned on, if it was. */
  portOf(mac: Uint8Array): number | undefined {
    return this.table.get(macKey(mac, 0));
  }

  private input(from: number, frame: Uint8Array): void {
    this.stats.frames++;
    if (!frameLengthOk(frame)) {
      this.stats.malformed++;
      return;
    }
    // Learn from unicast sources only: a group address as a source is bogus (802.3 §3.2.3).
    if ((frame[6]! & 1) === 0) this.table.set(macKey(frame, 6), from);
    const group = (frame[0]! & 1) !== 0;
    const to = group ? undefined : this.table.get(macKey(frame, 0));
    if (to === undefined) {
      for (let i = 0; i < this.ports.length; i++) {
        if (i === from) continue;
        this.stats.flooded++;
        // Each receiver owns its frame: give each its own copy.
        this.ports[i]!.onReceive?.(frame.slice());
      }
      return;
    }
    if (to === from) {
      this.stats.filtered++;
      return;
    }
    this.stats.forwarded++;
    this.ports[to]!.onReceive?.(frame);
  }
}
