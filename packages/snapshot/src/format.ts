import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";

/*
 * The container every snapshot (and every migration stream's final image) is written in. All
 * integers are little-endian.
 *
 *   header, 20 bytes:
 *     0  8  magic "MTRYSNAP"
 *     8  4  format version (SNAPSHOT_VERSION)
 *    12  4  number of sections
 *    16  4  CRC-32 of bytes 0..15
 *   then each section:
 *     0  4  tag, four ASCII characters ("CONF", "MACH", "RAM ", …)
 *     4  4  flags: bit 0 set when the payload is deflateRaw-compressed
 *     8  4  stored length (bytes that follow)
 *    12  4  payload length once decompressed (the stored length when not compressed)
 *    16  4  CRC-32 of the section's bytes 0..15 followed by the stored bytes
 *    20  …  the stored bytes
 *
 * The payload length (new in version 2) lets a reader inflate into one buffer of the right size,
 * with no chunks to join and no copy, and refuse a section that inflates to more than it says.
 *
 * Nothing may follow the last section. A reader checks the magic, the version, the header's CRC,
 * that every section lies inside the file, each section's CRC, and that the file ends where the
 * last section does; anything else is a SnapshotError, never a partial restore.
 */

export const SNAPSHOT_MAGIC = "MTRYSNAP";
/** Bumped whenever a section's layout or meaning changes: readers refuse other versions. */
export const SNAPSHOT_VERSION = 2;

const HEADER_BYTES = 20;
const SECTION_HEADER_BYTES = 20;
const FLAG_DEFLATED = 1;
/** Sections larger than this are not believed (a corrupt length), whatever the file's size. */
const MAX_SECTION_BYTES = 0x7fff_ffff;

/** A snapshot or stream that cannot be read: truncated, corrupt, of another version, or not one at all. */
export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
}

/** One section as written: a four-character tag and its payload, compressed or not. */
export interface Section {
  tag: string;
  data: Uint8Array;
  /** deflateRaw the payload (default true). */
  compress?: boolean;
}

function checkTag(tag: string): void {
  if (!/^[\x20-\x7e]{4}$/.test(tag)) throw new RangeError(`a section tag is four printable ASCII characters, got "${tag}"`);
}

/** Writes sections into one snapshot file's bytes. */
export function encodeSnapshot(sections: readonly Section[]): Uint8Array {
  const stored = sections.map((section) => {
    checkTag(section.tag);
    const compress = section.compress ?? true;
    const data = compress ? new Uint8Array(deflateRawSync(section.data)) : section.data;
    return { tag: section.tag, flags: compress ? FLAG_DEFLATED : 0, data, raw: section.data.length };
  });
  const total = HEADER_BYTES + stored.reduce((sum, section) => sum + SECTION_HEADER_BYTES + section.data.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(SNAPSHOT_MAGIC, "latin1"), 0);
  view.setUint32(8, SNAPSHOT_VERSION, true);
  view.setUint32(12, stored.length, true);
  view.setUint32(16, crc32(out.subarray(0, 16)), true);
  let at = HEADER_BYTES;
  for (const section of stored) {
    out.set(Buffer.from(section.tag, "latin1"), at);
    view.setUint32(at + 4, section.flags, true);
    view.setUint32(at + 8, section.data.length, true);
    view.setUint32(at + 12, section.raw, true);
    view.setUint32(at + 16, crc32(section.data, crc32(out.subarray(at, at + 16))), true);
    out.set(section.data, at + SECTION_HEADER_BYTES);
    at += SECTION_HEADER_BYTES + section.data.length;
  }
  return out;
}

/** Reads a snapshot file's sections by tag (payloads decompressed), or throws a SnapshotError saying what is wrong. */
export function decodeSnapshot(bytes: Uint8Array): Map<string, Uint8Array> {
  if (bytes.length < HEADER_BYTES) {
    if (bytes.length >= 8 && Buffer.from(bytes.subarray(0, 8)).toString("latin1") !== SNAPSHOT_MAGIC) throw new SnapshotError("not a matryoshka snapshot (bad magic)");
    throw new SnapshotError(`truncated: ${bytes.length} bytes is shorter than a snapshot's header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (Buffer.from(bytes.subarray(0, 8)).toString("latin1") !== SNAPSHOT_MAGIC) throw new SnapshotError("not a matryoshka snapshot (bad magic)");
  if (view.getUint32(16, true) !== crc32(bytes.subarray(0, 16))) throw new SnapshotError("corrupt: the header's checksum does not match");
  const version = view.getUint32(8, true);
  if (version !== SNAPSHOT_VERSION) throw new SnapshotError(`snapshot format version ${version} is not supported (this build reads version ${SNAPSHOT_VERSION})`);
  const count = view.getUint32(12, true);
  const sections = new Map<string, Uint8Array>();
  let at = HEADER_BYTES;
  for (let index = 0; index < count; index++) {
    if (at + SECTION_HEADER_BYTES > bytes.length) throw new SnapshotError(`truncated: section ${index + 1} of ${count} is missing`);
    const tag = Buffer.from(bytes.subarray(at, at + 4)).toString("latin1");
    const flags = view.getUint32(at + 4, true);
    const length = view.getUint32(at + 8, true);
    const raw = view.getUint32(at + 12, true);
    const checksum = view.getUint32(at + 16, true);
    const start = at + SECTION_HEADER_BYTES;
    if (length > MAX_SECTION_BYTES || start + length > bytes.length) throw new SnapshotError(`truncated: section "${tag}" needs ${length} bytes, the file has ${Math.max(0, bytes.length - start)} left`);
    const stored = bytes.subarray(start, start + length);
    if (crc32(stored, crc32(bytes.subarray(at, at + 16))) !== checksum) throw new SnapshotError(`corrupt: section "${tag}" fails its checksum`);
    if ((flags & ~FLAG_DEFLATED) !== 0) throw new SnapshotError(`corrupt: section "${tag}" has unknown flags 0x${flags.toString(16)}`);
    // Deflate expands at most about 1032:1 (RFC 1951's longest match per bit): a larger claim is a
    // lie that would only make the reader allocate a buffer it cannot fill.
    if (raw > MAX_SECTION_BYTES || ((flags & FLAG_DEFLATED) === 0 ? raw !== length : raw > length * 1032 + 64)) throw new SnapshotError(`corrupt: section "${tag}" says it holds ${raw} bytes`);
    let data: Uint8Array;
    if ((flags & FLAG_DEFLATED) !== 0) {
      let inflated: Buffer;
      try {
        // One chunk of the announced size: no chunks joined, and never more than announced.
        inflated = inflateRawSync(stored, { chunkSize: Math.max(64, raw), maxOutputLength: Math.max(1, raw) });
      } catch {
        throw new SnapshotError(`corrupt: section "${tag}" does not decompress to the ${raw} bytes it announces`);
      }
      if (inflated.length !== raw) throw new SnapshotError(`corrupt: section "${tag}" decompresses to ${inflated.length} bytes, not the ${raw} it announces`);
      // A view, not a copy: the inflated buffer is this section's alone.
      data = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    } else {
      data = stored;
    }
    if (sections.has(tag)) throw new SnapshotError(`corrupt: section "${tag}" appears twice`);
    sections.set(tag, data);
    at = start + length;
  }
  if (at !== bytes.length) throw new SnapshotError(`corrupt: ${bytes.length - at} bytes follow the last section`);
  return sections;
}

/** A section the reader requires, or a SnapshotError naming it. */
export function requireSection(sections: Map<string, Uint8Array>, tag: string): Uint8Array {
  const data = sections.get(tag);
  if (data === undefined) throw new SnapshotError(`corrupt: the snapshot has no "${tag}" section`);
  return data;
}

/** JSON sections: UTF-8 JSON text. */
export function jsonSection(tag: string, value: unknown): Section {
  return { tag, data: new Uint8Array(Buffer.from(JSON.stringify(value), "utf8")) };
}

export function readJsonSection<T>(sections: Map<string, Uint8Array>, tag: string): T {
  const data = requireSection(sections, tag);
  try {
    return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8")) as T;
  } catch {
    throw new SnapshotError(`corrupt: section "${tag}" is not valid JSON`);
  }
}
