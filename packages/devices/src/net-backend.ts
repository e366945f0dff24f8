// What a network device is plugged into: a backend carries whole Ethernet frames (destination MAC,
// source MAC, EtherType, payload; no preamble, no FCS) between the device and the outside.

/** The largest frame a backend or device passes on: QEMU's NET_BUFSIZE-sized limit, 64 KiB + header. */
export const MAX_FRAME_BYTES = 65550;
/** The shortest frame worth passing on: a complete Ethernet header (two MACs and the EtherType). */
export const MIN_FRAME_BYTES = 14;
/** Bytes of a MAC address. */
export const MAC_BYTES = 6;

/**
 * The link a network device transmits into and receives from (a switch port, a socket, a tap…).
 * The device calls `send` with each frame its driver transmitted; the backend calls `onReceive`
 * (which the device sets when it is plugged in) with each frame for the device. Frames handed to
 * `send` belong to the backend afterwards; frames passed to `onReceive` belong to the device.
 */
export interface NetBackend {
  send(frame: Uint8Array): void;
  /** Set by the device it is plugged into; frames that arrive while it is unset are dropped. */
  onReceive: ((frame: Uint8Array) => void) | undefined;
  /** Whether the link is up (default: always up). */
  readonly linkUp?: boolean;
  /** Set by the device to hear about carrier changes (a socket connecting or closing). */
  onLinkChange?: ((up: boolean) => void) | undefined;
}

/** Whether `frame` has a plausible Ethernet length (a header, at most `MAX_FRAME_BYTES`). */
export function frameLengthOk(frame: Uint8Array): boolean {
  return frame.length >= MIN_FRAME_BYTES && frame.length <= MAX_FRAME_BYTES;
}

/** A MAC address as "52:54:00:12:34:56". */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, MAC_BYTES), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Parses "52:54:00:12:34:56" (or with dashes); throws a RangeError naming the bad text. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== MAC_BYTES || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new RangeError(`"${text}" is not a MAC address (six hex bytes such as 52:54:00:12:34:56)`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/**
 * The n-th locally administered unicast MAC in QEMU's range: 52:54:00:12:34:56 + n, as QEMU
 * numbers the NICs it creates without `mac=`.
 */
export function defaultMac(n = 0): Uint8Array {
  const mac = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
  let carry = n;
  for (let i = MAC_BYTES - 1; i >= 3 && carry > 0; i--) {
    const sum = mac[i]! + carry;
    mac[i] = sum & 0xff;
    carry = Math.floor(sum / 256);
  }
  return mac;
}

/** Two backends joined back to back: what one side sends, the other receives (a crossover cable). */
export function backendPair(): [NetBackend, NetBackend] {
  const a: NetBackend = { onReceive: undefined, send: (frame) => b.onReceive?.(frame) };
  const b: NetBackend = { onReceive: undefined, send: (frame) => a.onReceive?.(frame) };
  return [a, b];
}
