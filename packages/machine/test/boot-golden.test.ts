import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VirtMachine, virtDeviceTree, type BootOptions, type MachineOptions } from "@matryoshka/machine";
import { guestPath } from "@matryoshka/testkit";

/**
 * Boots of the board pinned to what the code before the device registry produced (the device
 * tree, the boot protocol's placements and the mask ROM), byte for byte: guests print things
 * derived from the tree and are compared against QEMU, so none of it may move. The hashes were
 * computed with the hand-written generator of commit d979f59.
 */
const hello = new Uint8Array(readFileSync(guestPath("hello")));
const firmware = new Uint8Array(readFileSync(guestPath("boot-firmware")));
const bootKernel = new Uint8Array(readFileSync(guestPath("boot-kernel")));
const raw = Uint8Array.from([0x73, 0x00, 0x50, 0x10, 0x6f, 0x00, 0x00, 0x00]); // wfi; j .
/** A Linux RISC-V Image header (magic "RSC\x05" at 56) with a 3 MiB image_size. */
const image = (() => {
  const bytes = new Uint8Array(4096);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, 3 << 20, true);
  view.setUint32(56, 0x05435352, true);
  return bytes;
})();
const smallInitrd = new TextEncoder().encode("initrd contents\n");
const bigInitrd = new Uint8Array(1 << 20).map((_, i) => i * 7);
const long = Array.from({ length: 40 }, (_, i) => `opt${i}=value${i}`).join(" ");

interface Case {
  label: string;
  machine: MachineOptions;
  boot: BootOptions;
}

const cases: Case[] = [];
for (let harts = 1; harts <= 8; harts++) cases.push({ label: `hello, ${harts} harts`, machine: { harts }, boot: { kernel: hello } });
for (const memoryMiB of [8, 16, 100, 255, 256, 257, 1024, 2047]) {
  cases.push({ label: `hello, ${memoryMiB} MiB`, machine: { memoryMiB }, boot: { kernel: hello } });
  cases.push({ label: `hello, ${memoryMiB} MiB, initrd`, machine: { memoryMiB, harts: 2 }, boot: { kernel: hello, initrd: smallInitrd, append: "console=ttyS0" } });
}
for (const append of ["", "console=ttyS0", "a", "ab", "abc", "abcd", long]) {
  cases.push({ label: `hello, append ${JSON.stringify(append.slice(0, 12))}`, machine: {}, boot: { kernel: hello, append } });
}
cases.push(
  { label: "raw binary", machine: {}, boot: { kernel: raw } },
  { label: "raw binary, 3 harts, big initrd", machine: { harts: 3, memoryMiB: 64 }, boot: { kernel: raw, initrd: bigInitrd } },
  { label: "Linux Image, 300 MiB, initrd, append", machine: { memoryMiB: 300 }, boot: { kernel: image, initrd: bigInitrd, append: "root=/dev/ram" } },
  { label: "firmware and kernel", machine: {}, boot: { kernel: bootKernel, bios: firmware, append: "console=ttyS0 matryoshka.depth=0", initrd: smallInitrd } },
  { label: "firmware and kernel, 8 harts, 512 MiB", machine: { harts: 8, memoryMiB: 512 }, boot: { kernel: bootKernel, bios: firmware, initrd: bigInitrd } },
  { label: "firmware, Image", machine: { harts: 4, memoryMiB: 32 }, boot: { kernel: image, bios: firmware } },
);

/** Everything a boot leaves for the guest to find: the tree, where things went, the mask ROM. */
function fingerprint(test: Case): string {
  const machine = new VirtMachine({ ...test.machine, rtcEpochMilliseconds: 0 });
  const info = machine.boot(test.boot);
  const rom = new Uint8Array(0x100);
  for (let i = 0; i < rom.length; i++) rom[i] = machine.bus.load(0x1000 + i, 1);
  const placements = JSON.stringify({
    fdtAddress: info.fdtAddress,
    startAddress: info.startAddress,
    initrd: info.initrd,
    entry: info.kernel.entry,
    format: info.kernel.format,
    pcs: machine.harts.map((hart) => hart.pc),
  });
  return createHash("sha256").update(info.fdt).update(placements).update(rom).digest("hex").slice(0, 16);
}

const GOLDEN: Record<string, string> = {
  "hello, 1 harts": "e7ada1e5c8e23f4d",
  "hello, 2 harts": "a8c88a6c477e8b73",
  "hello, 3 harts": "6a92b0a9e1e345bb",
  "hello, 4 harts": "72576b4f930fa70b",
  "hello, 5 harts": "c5575902c27dd8c9",
  "hello, 6 harts": "4370d8d7379ce525",
  "hello, 7 harts": "4bba4d83a2357272",
  "hello, 8 harts": "251d72d973a1fa11",
  "hello, 8 MiB": "cd74ea6009ee9dcd",
  "hello, 8 MiB, initrd": "ae5a60cf7baa7454",
  "hello, 16 MiB": "c26db8ea3cb0da2d",
  "hello, 16 MiB, initrd": "2042063ef6fbd624",
  "hello, 100 MiB": "b86d0c8b68077571",
  "hello, 100 MiB, initrd": "b992a1cc81d2259b",
  "hello, 255 MiB": "80bb5a0a5bdc5909",
  "hello, 255 MiB, initrd": "4868d209e3677b3d",
  "hello, 256 MiB": "59e569c0def74e62",
  "hello, 256 MiB, initrd": "144ab253cdfe6a0a",
  "hello, 257 MiB": "f6ef9da8c5da9716",
  "hello, 257 MiB, initrd": "520d1b6d697248b5",
  "hello, 1024 MiB": "15c57d045f7b4f10",
  "hello, 1024 MiB, initrd": "ec0ff72ac7f42830",
  "hello, 2047 MiB": "7dec6d3e259b00d0",
  "hello, 2047 MiB, initrd": "9efd8ffca5301da9",
  "hello, append \"\"": "ee310f09589870bb",
  "hello, append \"console=ttyS\"": "a5ba24206ee16112",
  "hello, append \"a\"": "4f865a09e3af76a4",
  "hello, append \"ab\"": "ef79d0a8cbf78306",
  "hello, append \"abc\"": "b12f161c7d9b636a",
  "hello, append \"abcd\"": "b596d16719c65070",
  "hello, append \"opt0=value0 \"": "14841de2a4a92e69",
  "raw binary": "6f057ad6d761b1ff",
  "raw binary, 3 harts, big initrd": "174101bc18e43884",
  "Linux Image, 300 MiB, initrd, append": "7b5014c76c85462f",
  "firmware and kernel": "acb971bf84edec92",
  "firmware and kernel, 8 harts, 512 MiB": "d3417f887acdd5ee",
  "firmware, Image": "88332e1f6bd7da76",
};

describe("boots pinned to the generator before the device registry", () => {
  it.each(cases)("$label", (test) => {
    expect(fingerprint(test)).toBe(GOLDEN[test.label]);
  });

  it("keeps virtDeviceTree's tree for a given ISA string", () => {
    const dtb = virtDeviceTree({ harts: 2, memoryBase: 0x8000_0000, memorySize: 64 << 20, isa: "rv32ima" });
    expect(createHash("sha256").update(dtb).digest("hex").slice(0, 16)).toBe("3abd407a689f0952");
  });
});
