/**
 * A flattened device tree (DTB) writer, per the Devicetree Specification v0.4 §5: header, memory
 * reservation block, structure block and strings block, all big-endian.
 */

export type FdtValue = number[] | string | string[] | Uint8Array | null;

export interface FdtNode {
  name: string;
  props: [string, FdtValue][];
  children: FdtNode[];
}

export function node(name: string, props: [string, FdtValue][] = [], children: FdtNode[] = []): FdtNode {
  return { name, props, children };
}

/** A `<u32 ...>` cell list. */
export const cells = (...values: number[]): number[] => values.map((v) => v >>> 0);

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_END = 9;

class ByteWriter {
  private bytes = new Uint8Array(4096);
  length = 0;
  private ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  u32(value: number): void {
    this.ensure(4);
    new DataView(this.bytes.buffer).setUint32(this.length, value >>> 0, false);
    this.length += 4;
  }
  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }
  align4(): void {
    while (this.length % 4 !== 0) this.raw(new Uint8Array(1));
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

const encoder = new TextEncoder();

function encodeValue(value: FdtValue): Uint8Array {
  if (value === null) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") value = [value];
  if (value.length > 0 && typeof value[0] === "string") {
    const parts = (value as string[]).map((s) => [...encoder.encode(s), 0]).flat();
    return Uint8Array.from(parts);
  }
  const numbers = value as number[];
  const out = new Uint8Array(numbers.length * 4);
  const view = new DataView(out.buffer);
  numbers.forEach((n, i) => view.setUint32(i * 4, n >>> 0, false));
  return out;
}

/** Serializes a tree rooted at `root` (whose name must be "") into a DTB. */
export function buildFdt(root: FdtNode, bootCpuId = 0): Uint8Array {
  const structure = new ByteWriter();
  const strings = new ByteWriter();
  const stringOffsets = new Map<string, number>();
  const stringOffset = (name: string): number => {
    let offset = stringOffsets.get(name);
    if (offset === undefined) {
      offset = strings.length;
      strings.raw(encoder.encode(name));
      strings.raw(new Uint8Array(1));
      stringOffsets.set(name, offset);
    }
    return offset;
  };
  const emit = (n: FdtNode): void => {
    structure.u32(FDT_BEGIN_NODE);
    structure.raw(encoder.encode(n.name));
    structure.raw(new Uint8Array(1));
    structure.align4();
    for (const [name, value] of n.props) {
      const data = encodeValue(value);
      structure.u32(FDT_PROP);
      structure.u32(data.length);
      structure.u32(stringOffset(name));
      structure.raw(data);
      structure.align4();
    }
    for (const child of n.children) emit(child);
    structure.u32(FDT_END_NODE);
  };
  emit(root);
  structure.u32(FDT_END);

  const headerSize = 40;
  const reservationOffset = headerSize; // 8-byte aligned
  const reservationSize = 16; // just the terminating entry
  const structOffset = reservationOffset + reservationSize;
  const stringsOffset = structOffset + structure.length;
  const total = stringsOffset + strings.length;
  const out = new ByteWriter();
  for (const word of [
    FDT_MAGIC, total, structOffset, stringsOffset, reservationOffset,
    17, 16, bootCpuId, strings.length, structure.length,
  ]) out.u32(word);
  out.raw(new Uint8Array(reservationSize));
  out.raw(structure.result());
  out.raw(strings.result());
  return out.result();
}
