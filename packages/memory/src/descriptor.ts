import type { GuestMemory } from "./guest-memory.js";
import { PagedMemory, type PagedMemoryState } from "./paged-memory.js";
import { Ram } from "./ram.js";

/**
 * A memory described in terms that survive structured cloning, so a worker thread can rebuild a
 * view of the same bytes: hardware RAM by its buffer window, a VM's paged memory by its frame
 * table (shared arrays) over the description of the memory beneath.
 */
export type MemoryDescriptor =
  | { readonly kind: "ram"; readonly buffer: SharedArrayBuffer; readonly byteOffset: number; readonly base: number; readonly size: number }
  | { readonly kind: "paged"; readonly base: number; readonly size: number; readonly state: PagedMemoryState; readonly platform: MemoryDescriptor };

/** Describes `Ram` or `PagedMemory` (anything else cannot cross threads). */
export function describeMemory(memory: GuestMemory): MemoryDescriptor {
  if (memory instanceof Ram) return { kind: "ram", buffer: memory.buffer, byteOffset: memory.byteOffset, base: memory.base, size: memory.size };
  if (memory instanceof PagedMemory) return { kind: "paged", base: memory.base, size: memory.size, state: memory.state, platform: describeMemory(memory.platform) };
  throw new TypeError("only Ram and PagedMemory can be shared with worker threads");
}

/**
 * The memory a descriptor describes, on this thread. A paged memory rebuilt here cannot take new
 * frames (the thread that owns the table populates it before sharing it); it reads and writes the
 * frames the table names, and marks the shared dirty log.
 */
export function memoryFromDescriptor(descriptor: MemoryDescriptor): GuestMemory {
  if (descriptor.kind === "ram") return new Ram(descriptor.base, descriptor.size, descriptor.buffer, descriptor.byteOffset);
  return new PagedMemory(memoryFromDescriptor(descriptor.platform), descriptor.base, descriptor.size, undefined, descriptor.state);
}
