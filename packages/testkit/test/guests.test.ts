import { describe, expect, it } from "vitest";
import * as oracle from "@matryoshka/qemu-oracle";
import { guestPath, guestVariants, listGuests, qemuArgsFor, runOnQemu } from "@matryoshka/testkit";

describe("the bundled guests", () => {
  it("include hello and the crc32 benchmark", () => {
    expect(listGuests()).toEqual(expect.arrayContaining(["hello", "crc32"]));
    expect(guestPath("hello")).toMatch(/guests\/hello\/hello\.elf$/);
    expect(() => guestPath("no-such-guest")).toThrow(/has no ELF/);
  });

  it("run on QEMU as their oracle.json says: the kernel with its disk, read-only", () => {
    const [legacy] = guestVariants("kernel");
    expect(qemuArgsFor(legacy!)).toEqual(expect.arrayContaining(["-device", "virtio-blk-device,drive=hd0"]));
    expect(qemuArgsFor(legacy!).find((arg) => arg.startsWith("file="))).toMatch(/guests\/kernel\/disk\.img,format=raw,if=none,id=hd0,snapshot=on$/);
  });

  it("come with the QEMU oracle of @matryoshka/qemu-oracle", () => {
    expect(runOnQemu).toBe(oracle.runOnQemu);
  });
});
