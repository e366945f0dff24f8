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

function checkRange(backend: BlockBackend, offset: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > backend.size) {
    throw new RangeError(`${offset}+${length} lies outside a ${backend.size}-byte disk`);
  }
}
