import { guestPhysical, PagedMemory, type GuestMemory } from "@matryoshka/memory";
import { SnapshotError } from "./format.js";

/*
 * A machine's RAM, sparse: only pages holding a non-zero byte are stored (a fresh machine's RAM
 * is zero, so skipping zero pages loses nothing), and the container deflates the section.
 *
 *   0  4  RAM base (guest-physical)
 *   4  4  RAM size in bytes
 *   8  4  n, pages stored
 *  12  4n page numbers, relative to the base, strictly increasing
 *   …  4096 n bytes: those pages, in that order
 */

export const PAGE_BYTES = 4096;

/** The RAM pages to store: every page, or just `pages` (numbers relative to the base), zero pages left out unless `keepZero`. */
export function encodeRam(memory: GuestMemory, pages?: Iterable<number>, keepZero = false): { data: Uint8Array; stored: number } {
  const total = memory.size / PAGE_BYTES;
  const first = memory.base / PAGE_BYTES;
  const chosen: number[] = [];
  const i32 = memory.i32;
  const candidates = pages ?? rangeOf(total);
  for (const page of candidates) {
    // A VM's page that was never touched has no frame, or a frame no level beneath has backed:
    // it reads as zero, and reading it must not back it (saving changes nothing of the run).
    const offset = memory instanceof PagedMemory ? memory.peekOffset(first + page) : memory.frameOffset(first + page, false);
    if (offset < 0 && memory instanceof PagedMemory) {
      if (keepZero) chosen.push(page);
      continue;
    }
    if (offset < 0) throw new RangeError(`RAM page ${page} cannot be read`);
    if (!keepZero) {
      let word = offset >>> 2;
      const end = word + PAGE_BYTES / 4;
      while (word < end && i32[word] === 0) word++;
      if (word === end) continue;
    }
    chosen.push(page);
  }
  const data = new Uint8Array(12 + 4 * chosen.length + PAGE_BYTES * chosen.length);
  const view = new DataView(data.buffer);
  view.setUint32(0, memory.base, true);
  view.setUint32(4, memory.size, true);
  view.setUint32(8, chosen.length, true);
  let at = 12 + 4 * chosen.length;
  chosen.forEach((page, index) => {
    view.setUint32(12 + 4 * index, page, true);
    const offset = memory instanceof PagedMemory ? memory.peekOffset(first + page) : memory.frameOffset(first + page, false);
    if (offset < 0) {
      at += PAGE_BYTES; // zero, as the array already is
      return;
    }
    data.set(memory.u8.subarray(offset, offset + PAGE_BYTES), at);
    at += PAGE_BYTES;
  });
  return { data, stored: chosen.length };
}

function* rangeOf(count: number): Iterable<number> {
  for (let page = 0; page < count; page++) yield page;
}

/**
 * Writes stored pages into `memory` (same base and size). Pages not stored are left as they are:
 * zero on a fresh machine. Returns the number of pages written. A malformed section is a
 * SnapshotError; a memory that refuses a page (a VM whose hypervisor has no frame left) a RangeError.
 */
export function decodeRam(data: Uint8Array, memory: GuestMemory): number {
  if (data.length < 12) throw new SnapshotError("corrupt: the RAM section is too short");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const base = view.getUint32(0, true);
  const size = view.getUint32(4, true);
  const count = view.getUint32(8, true);
  if (base !== memory.base || size !== memory.size) {
    throw new SnapshotError(`the saved RAM (0x${base.toString(16)}, ${size} bytes) does not match the machine's (0x${memory.base.toString(16)}, ${memory.size} bytes)`);
  }
  if (data.length !== 12 + count * (4 + PAGE_BYTES)) throw new SnapshotError(`corrupt: the RAM section's length does not hold its ${count} pages`);
  const total = size / PAGE_BYTES;
  let previous = -1;
  let at = 12 + 4 * count;
  for (let index = 0; index < count; index++) {
    const page = view.getUint32(12 + 4 * index, true);
    if (page >= total || page <= previous) throw new SnapshotError(`corrupt: RAM page number ${page} is out of order or out of range`);
    previous = page;
    if (!memory.write(guestPhysical(base + page * PAGE_BYTES), data.subarray(at, at + PAGE_BYTES))) {
      throw new RangeError(`RAM page 0x${(base + page * PAGE_BYTES).toString(16)} could not be written: no memory for it`);
    }
    at += PAGE_BYTES;
  }
  return count;
}
