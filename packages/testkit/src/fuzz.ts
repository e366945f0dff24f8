// Fuzzing with fixed seeds and a time budget: the same inputs on every run (a failure names its
// seed and case, and reproduces), as many of them as the budget allows.

/** A small, fast, seedable PRNG (mulberry32): 32-bit state, uniform 32-bit outputs. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in 0..n-1 (n ≤ 2^32). */
  below(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** A uniform integer in min..max (both included). */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A 32-bit value biased towards the edges where bugs live: 0, 1, all ones, powers of two, small. */
  interesting(): number {
    switch (this.below(6)) {
      case 0: return this.pick([0, 1, 2, 0xffff_ffff, 0x7fff_ffff, 0x8000_0000, 0xffff, 0x1_0000 - 1]);
      case 1: return (2 ** this.below(32)) >>> 0;
      case 2: return ((2 ** this.below(32)) - 1) >>> 0;
      case 3: return this.below(4096);
      default: return this.u32();
    }
  }
}

/**
 * Milliseconds each fuzz target runs for: `MATRYOSHKA_FUZZ_MS` (what `pnpm fuzz` sets for long
 * runs), else `fallback` (the short budget the test suite gives it in CI).
 */
export function fuzzBudgetMs(fallback: number): number {
  const fromEnvironment = Number(process.env.MATRYOSHKA_FUZZ_MS);
  return Number.isFinite(fromEnvironment) && fromEnvironment > 0 ? fromEnvironment : fallback;
}

/** The seed fuzz targets start from: `MATRYOSHKA_FUZZ_SEED`, else the fixed `fallback`. */
export function fuzzSeed(fallback: number): number {
  const fromEnvironment = Number(process.env.MATRYOSHKA_FUZZ_SEED);
  return Number.isSafeInteger(fromEnvironment) ? fromEnvironment >>> 0 : fallback >>> 0;
}

/**
 * Runs `body` on cases 0, 1, 2, … (each with its own Random seeded from `seed` and the case
 * number, so any case reproduces alone) until `budgetMs` has passed, and at least `minCases`
 * cases. A case that throws is rethrown naming its seed and number. Returns the cases run.
 */
export function fuzz(seed: number, budgetMs: number, body: (random: Random, index: number) => void, minCases = 1): number {
  const start = performance.now();
  let index = 0;
  for (; index < minCases || performance.now() - start < budgetMs; index++) {
    const random = new Random(Math.imul(seed ^ 0x9e37_79b9, 0x85eb_ca6b) ^ Math.imul(index + 1, 0xc2b2_ae35));
    try {
      body(random, index);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`fuzz case ${index} of seed ${seed} failed: ${message}`, { cause: error });
    }
  }
  return index;
}
