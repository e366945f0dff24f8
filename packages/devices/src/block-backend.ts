import * as fs from "node:fs";

/**
 * Storage behind a block device: `size` bytes addressed by byte offset. Callers (the virtio-blk
 * model) check ranges before calling; a backend may throw on host I/O errors, which the device
 * reports to the guest as VIRTIO_BLK_S_IOERR.
 */
export interface BlockBackend {
  /** Bytes of storage. */
  readonly size: number;
  /** True when writes must be refused (the device then offers VIRTIO_BLK_F_RO). */
  readonly readOnly?: boolean;
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  /** Makes every completed write durable. */
  flush(): void;
}

/** A disk held in memory. */
export class MemoryBlockBackend implements BlockBackend {
  readonly bytes: Uint8Array;
  readonly readOnly: boolean;

  /** A zeroed disk of `size` bytes, or one over the given bytes (shared, not copied). */
  constructor(contents: Uint8Array | number, options: { readOnly?: boolean } = {}) {
    this.bytes = typeof contents === "number" ? new Uint8Array(contents) : contents;
    this.readOnly = options.readOnly ?? false;
  }

  get size(): number {
    return this.bytes.length;
  }

  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    return this.bytes.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    if (this.readOnly) throw new Error("write to a read-only disk");
    checkRange(this, offset, data.length);
    this.bytes.set(data, offset);
  }

  flush(): void {}
}

/**
 * A disk backed by a host file, read and written synchronously at offsets (fs.readSync and
 * fs.writeSync), with fs.fsyncSync on flush. The file's size at open time is the disk's size; a
 * read-only backend opens the file with "r".
 */
export class FileBlockBackend implements BlockBackend {
  readonly path: string;
  readonly size: number;
  readonly readOnly: boolean;
  private fd: number | undefined;

  constructor(path: string, options: { readOnly?: boolean } = {}) {
    this.path = path;
    this.readOnly = options.readOnly ?? false;
    this.fd = fs.openSync(path, this.readOnly ? "r" : "r+");
    try {
      this.size = fs.fstatSync(this.fd).size;
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
  }

  private get handle(): number {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    return this.fd;
  }

  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const count = fs.readSync(this.handle, out, done, length - done, offset + done);
      if (count === 0) break; // the file shrank under us: the rest reads as zeros
      done += count;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    if (this.readOnly) throw new Error(`${this.path} is read-only`);
    checkRange(this, offset, data.length);
    let done = 0;
    while (done < data.length) done += fs.writeSync(this.handle, data, done, data.length - done, offset + done);
  }

  flush(): void {
    if (!this.readOnly) fs.fsyncSync(this.handle);
  }

  /** Closes the file; the backend cannot be used afterwards. */
  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * A private, writable view of a disk image that leaves the image as it was: reads come from the
 * image (opened read-only) until a block is written; written blocks live in a scratch file, sparse
 * and as large as the image. Opening costs nothing whatever the image's size (a copy of a 3 GiB
 * image took seconds per run); the host holds one bit per 4 KiB block in memory.
 */
export class CopyOnWriteBlockBackend implements BlockBackend {
  readonly size: number;
  readonly readOnly = false;
  private readonly base: FileBlockBackend;
  private readonly scratch: FileBlockBackend;
  /** Bit b set: block b has been written, and lives in the scratch file. */
  private readonly written: Uint8Array;

  /** Over the image at `imagePath`, with written blocks in a new file at `scratchPath` (removed by the caller). */
  constructor(imagePath: string, scratchPath: string) {
    this.base = new FileBlockBackend(imagePath, { readOnly: true });
    try {
      this.size = this.base.size;
      fs.writeFileSync(scratchPath, "");
      fs.truncateSync(scratchPath, this.size);
      this.scratch = new FileBlockBackend(scratchPath);
    } catch (error) {
      this.base.close();
      throw error;
    }
    this.written = new Uint8Array(Math.ceil(this.size / COW_BLOCK / 8));
  }

  private isWritten(block: number): boolean {
    return (this.written[block >>> 3]! & (1 << (block & 7))) !== 0;
  }

  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    const out = new Uint8Array(length);
    // Runs of blocks from the same place are read at once.
    let at = offset;
    while (at < offset + length) {
      const fromScratch = this.isWritten(Math.floor(at / COW_BLOCK));
      let end = Math.min(offset + length, (Math.floor(at / COW_BLOCK) + 1) * COW_BLOCK);
      while (end < offset + length && this.isWritten(Math.floor(end / COW_BLOCK)) === fromScratch) end = Math.min(offset + length, end + COW_BLOCK);
      out.set((fromScratch ? this.scratch : this.base).read(at, end - at), at - offset);
      at = end;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    checkRange(this, offset, data.length);
    if (data.length === 0) return;
    // A block written in part gets the rest of its bytes from the image first.
    const first = Math.floor(offset / COW_BLOCK);
    const last = Math.floor((offset + data.length - 1) / COW_BLOCK);
    for (const block of first === last ? [first] : [first, last]) {
      if (this.isWritten(block)) continue;
      const start = block * COW_BLOCK;
      const length = Math.min(COW_BLOCK, this.size - start);
      if (offset > start || offset + data.length < start + length) this.scratch.write(start, this.base.read(start, length));
    }
    this.scratch.write(offset, data);
    for (let block = first; block <= last; block++) this.written[block >>> 3]! |= 1 << (block & 7);
  }

  flush(): void {
    this.scratch.flush();
  }

  /** Closes both files; the backend cannot be used afterwards. */
  close(): void {
    this.base.close();
    this.scratch.close();
  }
}

const COW_BLOCK = 4096;

function checkRange(backend: BlockBackend, offset: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > backend.size) {
    throw new RangeError(`${offset}+${length} lies outside a ${backend.size}-byte disk`);
  }
}
