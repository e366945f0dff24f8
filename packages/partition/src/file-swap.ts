import { closeSync, existsSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { PAGE_SIZE, type SwapStore } from "@matryoshka/memory";

/**
 * A swap store in a host file (the partition config's `"memory": { "swap": FILE }`): slot n is the
 * page at offset n × 4096. Synchronous, as `SwapStore` requires: a page is swapped in while the
 * guest access that needs it waits, as a host's swap-in blocks the faulting thread.
 */
export class FileSwapStore implements SwapStore {
  readonly path: string;
  private readonly fd: number;
  private readonly freeSlots: number[] = [];
  private slots = 0;
  private count = 0;
  /** Whether the file was ours to create, so that `close` removes it (a file the user had stays). */
  private readonly created: boolean;

  constructor(path: string) {
    this.path = path;
    this.created = !existsSync(path);
    this.fd = openSync(path, "w+");
  }

  get used(): number {
    return this.count;
  }

  write(page: Uint8Array): number {
    const slot = this.freeSlots.pop() ?? this.slots++;
    const written = writeSync(this.fd, page, 0, PAGE_SIZE, slot * PAGE_SIZE);
    if (written !== PAGE_SIZE) throw new Error(`swap file ${this.path}: wrote ${written} of ${PAGE_SIZE} bytes`);
    this.count++;
    return slot;
  }

  read(slot: number, into: Uint8Array): void {
    if (!(slot >= 0 && slot < this.slots)) throw new RangeError(`swap slot ${slot} was never written`);
    const read = readSync(this.fd, into, 0, PAGE_SIZE, slot * PAGE_SIZE);
    if (read !== PAGE_SIZE) throw new Error(`swap file ${this.path}: read ${read} of ${PAGE_SIZE} bytes of slot ${slot}`);
  }

  free(slot: number): void {
    this.freeSlots.push(slot);
    this.count--;
  }

  /** Closes the file, and removes it if this store created it. */
  close(): void {
    closeSync(this.fd);
    if (this.created) unlinkSync(this.path);
  }
}
