import { PAGE_SHIFT, PAGE_SIZE } from "./address.js";
import type { GuestMemory } from "./guest-memory.js";
import { PagedMemory } from "./paged-memory.js";

/**
 * Copies every page of `source` that holds anything into `target` at the same guest-physical
 * address (both must have the same base and size): pages of a VM's memory that were never
 * touched read as zero and are skipped, so the copy backs no more pages than the source had (a
 * machine reset keeps RAM this way). Returns false if the target refused a page.
 */
export function copyGuestMemory(source: GuestMemory, target: GuestMemory): boolean {
  if (source.base !== target.base || source.size !== target.size) throw new RangeError("copyGuestMemory: the memories differ in base or size");
  const first = source.base >>> PAGE_SHIFT;
  const pages = source.size >>> PAGE_SHIFT;
  for (let page = first; page < first + pages; page++) {
    if (source instanceof PagedMemory && source.currentFrame(page) < 0) continue;
    const from = source.frameOffset(page, false);
    const to = target.frameOffset(page, true);
    if (from < 0 || to < 0) return false;
    target.u8.set(source.u8.subarray(from, from + PAGE_SIZE), to);
  }
  return true;
}
