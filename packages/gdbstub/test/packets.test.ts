import { describe, expect, it } from "vitest";
import { encodePacket, fromHex, hexToWord, PacketReader, parseHexNumber, unescapeBinary, wordToHex } from "@matryoshka/gdbstub";

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const text = (data: Uint8Array) => String.fromCharCode(...data);

describe("packet framing", () => {
  it("checks checksums: good packets come out, bad ones are reported as corrupt", () => {
    const reader = new PacketReader();
    expect(reader.feed(bytes("$g#67"))).toEqual([{ kind: "packet", payload: "g" }]);
    expect(reader.feed(bytes("$g#68"))).toEqual([{ kind: "corrupt" }]);
    expect(reader.feed(bytes("$g#zz"))).toEqual([{ kind: "corrupt" }]);
    // Upper-case checksum digits are accepted too.
    expect(reader.feed(bytes("$qC#B4"))).toEqual([{ kind: "packet", payload: "qC" }]);
  });

  it("splits acks, interrupts and packets however the bytes arrive", () => {
    const reader = new PacketReader();
    const events = [...reader.feed(bytes("+$m0,")), ...reader.feed(bytes("4#fd")), ...reader.feed(Uint8Array.of(0x03, 0x2d))];
    expect(events).toEqual([{ kind: "ack" }, { kind: "packet", payload: "m0,4" }, { kind: "interrupt" }, { kind: "nak" }]);
  });

  it("restarts on a $ inside a packet and drops overlong packets", () => {
    const reader = new PacketReader();
    expect(reader.feed(bytes("$gar$g#67"))).toEqual([{ kind: "packet", payload: "g" }]);
    const long = "a".repeat(0x5000);
    const sum = (0x61 * 0x5000) & 0xff;
    expect(reader.feed(bytes(`$${long}#${sum.toString(16).padStart(2, "0")}`))).toEqual([{ kind: "corrupt" }]);
  });

  it("escapes $ # } * in replies and sums what is sent", () => {
    expect(text(encodePacket("OK"))).toBe("$OK#9a");
    const framed = text(encodePacket("a$b#c}d*"));
    expect(framed.slice(0, -3)).toBe("$a}\u0004b}\u0003c}]d}\n");
    const body = framed.slice(1, -3);
    const sum = [...body].reduce((s, c) => s + c.charCodeAt(0), 0) & 0xff;
    expect(framed.slice(-2)).toBe(sum.toString(16).padStart(2, "0"));
  });

  it("unescapes binary data, refusing a trailing escape", () => {
    expect(Array.from(unescapeBinary("a}\u0004}]")!)).toEqual([0x61, 0x24, 0x7d]);
    expect(unescapeBinary("ab}")).toBeUndefined();
  });

  it("converts hex, refusing malformed numbers", () => {
    expect(wordToHex(0x80000000)).toBe("00000080");
    expect(hexToWord("78563412")).toBe(0x12345678);
    expect(hexToWord("7856341")).toBeUndefined();
    expect(fromHex("0g")).toBeUndefined();
    expect(fromHex("abc")).toBeUndefined();
    expect(parseHexNumber("80000000")).toBe(0x80000000);
    expect(parseHexNumber("123456789")).toBeUndefined();
    expect(parseHexNumber("")).toBeUndefined();
    expect(parseHexNumber("-1")).toBeUndefined();
  });
});
