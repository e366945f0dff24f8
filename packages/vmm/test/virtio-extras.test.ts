import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { seededEntropy, type VirtioConsole } from "@matryoshka/devices";
import { buildStack } from "@matryoshka/vmm";

const guests = fileURLToPath(new URL("../../../guests/", import.meta.url));
const kernel = new Uint8Array(readFileSync(`${guests}virtio-extras/virtio-extras.elf`));

function run(depth: number, seed: number, virtioVersion: 1 | 2) {
  const uart: number[] = [];
  const hvc: number[] = [];
  let port: VirtioConsole | undefined;
  const stack = buildStack(depth, {
    memoryMiB: 16,
    virtioVersion,
    console: (b) => uart.push(b),
    rng: { entropy: seededEntropy(seed) },
    virtioConsole: { output: (bytes) => hvc.push(...bytes), onCreate: (device) => (port = device) },
  });
  (stack.vms.at(-1) ?? stack.guest).boot({ kernel });
  const outcome = stack.guest.run(200_000_000);
  return { outcome, uart: String.fromCharCode(...uart), hvc: String.fromCharCode(...hvc), port };
}

describe("virtio-rng and virtio-console, driven by a guest of our own", () => {
  for (const [depth, version] of [[0, 1], [1, 2], [2, 1]] as const) {
    it(`at depth ${depth} (virtio-mmio version ${version}): seeded entropy is repeatable, the console port carries output`, () => {
      const expected = new Uint8Array(32);
      seededEntropy(7)(expected);
      const hex = Array.from(expected, (b) => b.toString(16).padStart(2, "0")).join(" ");
      const first = run(depth, 7, version);
      expect(first.outcome).toEqual({ kind: "pass" });
      expect(first.uart).toContain(`virtio-rng: 32 bytes: ${hex}\n`);
      expect(first.hvc).toBe("hello from hvc0\n");
      expect(first.port?.stats.bytesOut).toBe(16);
      expect(run(depth, 7, version).uart).toBe(first.uart);
      expect(run(depth, 8, version).uart).not.toBe(first.uart);
    });
  }
});
