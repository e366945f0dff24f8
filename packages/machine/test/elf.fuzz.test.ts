import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LoadError, parseKernel, VirtMachine } from "@matryoshka/machine";
import { fuzz, fuzzBudgetMs, fuzzSeed, guestPath, type Random } from "@matryoshka/testkit";

// The ELF loader against mutated guests: every input loads or fails with a LoadError, in bounded
// time; and what loads, boots on a board or fails with a LoadError.

const kernel = new Uint8Array(readFileSync(guestPath("kernel")));
const hello = new Uint8Array(readFileSync(guestPath("hello")));

/** Offsets of the header fields and program/section header fields worth corrupting. */
function mutate(random: Random, original: Uint8Array): Uint8Array {
  const bytes = original.slice();
  const view = new DataView(bytes.buffer);
  const phoff = view.getUint32(28, true);
  const shoff = view.getUint32(32, true);
  const phnum = view.getUint16(44, true);
  const shnum = view.getUint16(48, true);
  const edits = random.between(1, 8);
  for (let i = 0; i < edits; i++) {
    switch (random.below(6)) {
      case 0: // a header field
        view.setUint32(random.below(13) * 4, random.interesting(), true);
        break;
      case 1: { // a program header field
        const at = phoff + 32 * random.below(Math.max(phnum, 1)) + 4 * random.below(8);
        if (at + 4 <= bytes.length) view.setUint32(at, random.interesting(), true);
        break;
      }
      case 2: { // a section header field
        const at = shoff + 40 * random.below(Math.max(shnum, 1)) + 4 * random.below(10);
        if (at + 4 <= bytes.length) view.setUint32(at, random.interesting(), true);
        break;
      }
      case 3: // counts
        view.setUint16(random.pick([44, 48, 42, 46]), random.below(0x1_0000), true);
        break;
      case 4: // random bytes anywhere
        bytes[random.below(bytes.length)] = random.u32() & 0xff;
        break;
      default: // truncation
        return bytes.subarray(0, random.below(bytes.length));
    }
  }
  return bytes;
}

describe("fuzzing the ELF loader", () => {
  it("loads every mutated ELF or refuses it with a LoadError, each in bounded time; what loads boots or is refused", () => {
    const board = new VirtMachine({ memoryMiB: 8 });
    let loaded = 0;
    const cases = fuzz(fuzzSeed(0xe1f), fuzzBudgetMs(1500), (random) => {
      const bytes = mutate(random, random.chance(0.5) ? kernel : hello);
      const start = performance.now();
      try {
        parseKernel(bytes, 0x8000_0000);
        loaded++;
        board.boot({ kernel: bytes });
      } catch (error) {
        if (!(error instanceof LoadError)) throw error;
      }
      expect(performance.now() - start).toBeLessThan(1000);
    }, 50);
    expect(cases).toBeGreaterThanOrEqual(50);
    expect(loaded).toBeGreaterThan(0);
  });
});
