/** A shared VM's claim on the pool, as its config states it. */
export interface ShareClaim {
  weight: number;
  /** Percent of one hart, 0 for uncapped. */
  cap: number;
}

/**
 * Hart time each shared VM is promised, as a fraction of one hart (0..1), if all of them are
 * CPU-bound for the whole run: the pool's `harts` are divided in proportion to weight, but no VM
 * gets more than one hart (each VM is one scheduling entity, so it runs on at most one hart at a
 * time) or more than its cap, and what a limited VM cannot take goes to the others, again by
 * weight (water-filling, as Xen's credit accounting redistributes). `equalWeights` treats every
 * weight as 1 (round robin ignores them).
 *
 * A VM that sleeps or finishes early leaves time the others may use, so they can receive more
 * than promised; caps are hard limits under every policy.
 */
export function promisedShares(claims: readonly ShareClaim[], harts: number, equalWeights = false): number[] {
  const promised = new Array<number>(claims.length).fill(0);
  const limit = claims.map((claim) => (claim.cap > 0 ? Math.min(1, claim.cap / 100) : 1));
  const weight = claims.map((claim) => (equalWeights ? 1 : claim.weight));
  let open = claims.map((_, i) => i);
  let left = harts;
  while (open.length > 0 && left > 1e-12) {
    const total = open.reduce((sum, i) => sum + weight[i]!, 0);
    const saturated = open.filter((i) => (left * weight[i]!) / total >= limit[i]!);
    if (saturated.length === 0) {
      for (const i of open) promised[i] = (left * weight[i]!) / total;
      break;
    }
    for (const i of saturated) {
      promised[i] = limit[i]!;
      left -= limit[i]!;
    }
    open = open.filter((i) => !saturated.includes(i));
  }
  return promised;
}
