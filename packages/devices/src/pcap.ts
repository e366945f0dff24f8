import * as fs from "node:fs";
import type { NetBackend } from "./net-backend.js";

// The classic libpcap file format (draft-ietf-opsawg-pcap §4–§5), which Wireshark and tcpdump read:
// a 24-byte file header, then per packet a 16-byte record header and the packet bytes.

/** Magic number of a microsecond-resolution pcap file, written in the file's byte order. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** LINKTYPE_ETHERNET: IEEE 802.3 frames, no preamble or FCS. */
export const PCAP_LINKTYPE_ETHERNET = 1;
/** Bytes of each packet recorded (the file header's snaplen): whole frames up to 64 KiB + header. */
export const PCAP_SNAPLEN = 65550;

/** One packet read back from a pcap file. */
export interface PcapRecord {
  /** Capture time in microseconds since the epoch. */
  microseconds: number;
  /** The packet's length on the wire (`data` may be shorter if it was cut at snaplen). */
  originalLength: number;
  data: Uint8Array;
}

/** The 24-byte file header (little-endian, as the host writes it). */
export function pcapFileHeader(): Uint8Array {
  const header = new Uint8Array(24);
  const view = new DataView(header.buffer);
  view.setUint32(0, PCAP_MAGIC, true);
  view.setUint16(4, 2, true); // version 2.4
  view.setUint16(6, 4, true);
  view.setInt32(8, 0, true); // thiszone (reserved, 0)
  view.setUint32(12, 0, true); // sigfigs (reserved, 0)
  view.setUint32(16, PCAP_SNAPLEN, true);
  view.setUint32(20, PCAP_LINKTYPE_ETHERNET, true);
  return header;
}

/** One packet record: header and the (at most snaplen) captured bytes. */
export function pcapRecord(frame: Uint8Array, microseconds: number): Uint8Array {
  const captured = Math.min(frame.length, PCAP_SNAPLEN);
  const record = new Uint8Array(16 + captured);
  const view = new DataView(record.buffer);
  view.setUint32(0, Math.floor(microseconds / 1_000_000), true);
  view.setUint32(4, microseconds % 1_000_000, true);
  view.setUint32(8, captured, true);
  view.setUint32(12, frame.length, true);
  record.set(frame.subarray(0, captured), 16);
  return record;
}

/**
 * Reads a pcap file's packets: either byte order, microsecond resolution, Ethernet. Throws a
 * RangeError saying what is wrong with a file that is not one.
 */
export function parsePcap(bytes: Uint8Array): { linkType: number; snaplen: number; records: PcapRecord[] } {
  if (bytes.length < 24) throw new RangeError(`a pcap file has a 24-byte header; this one has ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  const little = magic === PCAP_MAGIC;
  if (!little && view.getUint32(0, false) !== PCAP_MAGIC) throw new RangeError(`not a pcap file: magic 0x${magic.toString(16)}`);
  const snaplen = view.getUint32(16, little);
  const linkType = view.getUint32(20, little);
  const records: PcapRecord[] = [];
  let at = 24;
  while (at < bytes.length) {
    if (at + 16 > bytes.length) throw new RangeError(`pcap record at byte ${at} has a truncated header`);
    const seconds = view.getUint32(at, little);
    const micros = view.getUint32(at + 4, little);
    const captured = view.getUint32(at + 8, little);
    const originalLength = view.getUint32(at + 12, little);
    if (at + 16 + captured > bytes.length) throw new RangeError(`pcap record at byte ${at} claims ${captured} bytes past the end of the file`);
    records.push({ microseconds: seconds * 1_000_000 + micros, originalLength, data: bytes.slice(at + 16, at + 16 + captured) });
    at += 16 + captured;
  }
  return { linkType, snaplen, records };
}

/**
 * A backend that records, in a pcap file, every frame passing through `inner` in either direction
 * (as `-object filter-dump` does in QEMU), then passes it on unchanged. Each record is appended as
 * it happens, so the file is readable while the VM runs. Timestamps are the host's wall clock.
 */
export class PcapDump implements NetBackend {
  readonly inner: NetBackend;
  readonly path: string;
  onReceive: ((frame: Uint8Array) => void) | undefined = undefined;
  private fd: number | undefined;
  private readonly clock: () => number;

  /** `clock`: microseconds since the epoch (default: the host's wall clock). */
  constructor(inner: NetBackend, path: string, clock: () => number = () => Math.round((performance.timeOrigin + performance.now()) * 1000)) {
    this.inner = inner;
    this.path = path;
    this.clock = clock;
    this.fd = fs.openSync(path, "w");
    fs.writeSync(this.fd, pcapFileHeader());
    inner.onReceive = (frame) => {
      this.record(frame);
      this.onReceive?.(frame);
    };
    inner.onLinkChange = (up) => this.onLinkChange?.(up);
  }

  onLinkChange: ((up: boolean) => void) | undefined = undefined;

  get linkUp(): boolean | undefined {
    return this.inner.linkUp;
  }

  send(frame: Uint8Array): void {
    this.record(frame);
    this.inner.send(frame);
  }

  /** Closes the file; frames passed on afterwards are no longer recorded. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private record(frame: Uint8Array): void {
    if (this.fd === undefined) return;
    fs.writeSync(this.fd, pcapRecord(frame, this.clock()));
  }
}
