/** A reader for flattened device trees (Devicetree Specification v0.4 §5), for tests. */
export interface DtNode {
  name: string;
  props: Map<string, Uint8Array>;
  children: DtNode[];
}

export function readFdt(dtb: Uint8Array): DtNode {
  const view = new DataView(dtb.buffer, dtb.byteOffset, dtb.byteLength);
  if (view.getUint32(0) !== 0xd00dfeed) throw new Error("not a flattened device tree");
  let at = view.getUint32(8);
  const strings = view.getUint32(12);
  const text = (from: number) => {
    let end = from;
    while (dtb[end] !== 0) end++;
    return new TextDecoder().decode(dtb.subarray(from, end));
  };
  const stack: DtNode[] = [];
  let root: DtNode | undefined;
  for (;;) {
    const token = view.getUint32(at);
    at += 4;
    if (token === 1) {
      const name = text(at);
      at += (name.length + 4) & ~3;
      const node: DtNode = { name, props: new Map(), children: [] };
      stack.at(-1)?.children.push(node);
      root ??= node;
      stack.push(node);
    } else if (token === 2) {
      stack.pop();
    } else if (token === 3) {
      const length = view.getUint32(at);
      const name = text(strings + view.getUint32(at + 4));
      stack.at(-1)!.props.set(name, dtb.slice(at + 8, at + 8 + length));
      at += 8 + ((length + 3) & ~3);
    } else if (token === 9) {
      return root!;
    } else if (token !== 4) {
      throw new Error(`bad token ${token}`);
    }
  }
}

/** The node at a path such as "/soc/serial@10000000". */
export function nodeAt(root: DtNode, path: string): DtNode | undefined {
  let node: DtNode | undefined = root;
  for (const part of path.split("/").filter(Boolean)) node = node?.children.find((c) => c.name === part);
  return node;
}

export function u32s(value: Uint8Array | undefined): number[] {
  if (value === undefined) return [];
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return Array.from({ length: value.length / 4 }, (_, i) => view.getUint32(4 * i));
}

export function strings(value: Uint8Array | undefined): string[] {
  if (value === undefined) return [];
  return new TextDecoder().decode(value).split("\0").slice(0, -1);
}
