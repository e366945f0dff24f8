/*
 * The framing of GDB's remote serial protocol (GDB manual, "Remote Protocol", "Overview"):
 * `$payload#cc` with cc the modulo-256 sum of the payload bytes in two hex digits, `+`/`-`
 * acknowledgements, a lone 0x03 byte for an interrupt (Ctrl-C), and `}` escaping (the next byte
 * XOR 0x20) for `#`, `$`, `}` and `*` in binary data. Replies are never run-length encoded.
 */

/** What the reader found in the byte stream. */
export type ProtocolEvent =
  | { kind: "packet"; payload: string }
  /** A packet whose checksum did not match: the stub answers `-` and the client resends. */
  | { kind: "corrupt" }
  | { kind: "ack" }
  | { kind: "nak" }
  | { kind: "interrupt" };

/** The longest packet the stub accepts (and announces as PacketSize): longer input is dropped. */
export const MAX_PACKET = 0x4000;

const DOLLAR = 0x24;
const HASH = 0x23;
const PLUS = 0x2b;
const MINUS = 0x2d;
const INTERRUPT = 0x03;

/**
 * Splits a byte stream into protocol events. Packets are kept as latin1 strings (one character
 * per byte), so that binary `X` payloads survive intact.
 */
export class PacketReader {
  private state: "idle" | "payload" | "check1" | "check2" = "idle";
  private payload: number[] = [];
  private sum = 0;
  private check = 0;
  private overflow = false;

  /** Feeds bytes; returns the events they complete, in order. */
  feed(bytes: Uint8Array): ProtocolEvent[] {
    const events: ProtocolEvent[] = [];
    for (const byte of bytes) {
      switch (this.state) {
        case "idle":
          if (byte === DOLLAR) this.begin();
          else if (byte === PLUS) events.push({ kind: "ack" });
          else if (byte === MINUS) events.push({ kind: "nak" });
          else if (byte === INTERRUPT) events.push({ kind: "interrupt" });
          // Anything else between packets is noise: ignored, as gdbserver does.
          break;
        case "payload":
          if (byte === HASH) this.state = "check1";
          else if (byte === DOLLAR) this.begin(); // a new packet before the end: restart
          else {
            this.sum = (this.sum + byte) & 0xff;
            if (this.payload.length < MAX_PACKET) this.payload.push(byte);
            else this.overflow = true;
          }
          break;
        case "check1": {
          const digit = hexDigit(byte);
          this.check = digit < 0 ? -1 : digit << 4;
          this.state = "check2";
          break;
        }
        case "check2": {
          const digit = hexDigit(byte);
          const ok = this.check >= 0 && digit >= 0 && (this.check | digit) === this.sum && !this.overflow;
          events.push(ok ? { kind: "packet", payload: String.fromCharCode(...this.payload) } : { kind: "corrupt" });
          this.state = "idle";
          this.payload = [];
          break;
        }
      }
    }
    return events;
  }

  private begin(): void {
    this.state = "payload";
    this.payload = [];
    this.sum = 0;
    this.overflow = false;
  }
}

function hexDigit(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return -1;
}

/** Frames a reply: escapes `$ # } *` and appends the checksum. `payload` is latin1. */
export function encodePacket(payload: string): Uint8Array {
  const out: number[] = [DOLLAR];
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    const c = payload.charCodeAt(i) & 0xff;
    if (c === DOLLAR || c === HASH || c === 0x7d || c === 0x2a) {
      out.push(0x7d, c ^ 0x20);
      sum += 0x7d + (c ^ 0x20);
    } else {
      out.push(c);
      sum += c;
    }
  }
  out.push(HASH);
  const check = (sum & 0xff).toString(16).padStart(2, "0");
  out.push(check.charCodeAt(0), check.charCodeAt(1));
  return Uint8Array.from(out);
}

/** Undoes `}` escaping in binary data (the `X` packet); undefined if it ends inside an escape. */
export function unescapeBinary(data: string): Uint8Array | undefined {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === 0x7d) {
      if (++i >= data.length) return undefined;
      out.push((data.charCodeAt(i) ^ 0x20) & 0xff);
    } else {
      out.push(c & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** Bytes as lowercase hex, two digits each. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Hex to bytes; undefined for an odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A 32-bit value as the 8 hex digits of its little-endian bytes (register packets). */
export function wordToHex(value: number): string {
  const v = value >>> 0;
  return toHex(Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24));
}

/** 8 hex digits of little-endian bytes to a 32-bit value; undefined if malformed. */
export function hexToWord(hex: string): number | undefined {
  const bytes = hex.length === 8 ? fromHex(hex) : undefined;
  return bytes === undefined ? undefined : (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}

/** A big-endian hex number as in addresses and lengths (`m80000000,4`); undefined if malformed or ≥ 2^32. */
export function parseHexNumber(text: string): number | undefined {
  if (!/^[0-9a-fA-F]{1,8}$/.test(text)) return undefined;
  return parseInt(text, 16);
}
