/** A shared VM's claim on the pool, as its config states it. */
export interface ShareClaim {
  weight: number;
  /** Percent of one hart, 0 for uncapped. */
  cap: number;
  /** Its vCPUs (default 1): each is a scheduling entity with the VM's weight and cap. */
  vcpus?: number;
}

/**
 * Hart time each shared VM is promised, as a fraction of one hart (0..`vcpus`), if all of them are
 * CPU-bound for the whole run. The hypervisor schedules vCPUs, and each vCPU carries its VM's
 * weight and cap, so the pool's `harts` are divided among vCPUs in proportion to weight, no vCPU
 * getting more than one hart (it runs on one hart at a time) or more than its cap, and what a
 * limited vCPU cannot take going to the others, again by weight (water-filling, as Xen's credit
 * accounting redistributes). A VM is promised what its vCPUs are. `equalWeights` treats every
 * weight as 1 (round robin ignores them).
 *
 * A VM that sleeps or finishes early leaves time the others may use, so they can receive more
 * than promised; caps are hard limits under every policy.
 */
export function promisedShares(claims: readonly ShareClaim[], harts: number, equalWeights = false): number[] {
  const owner: number[] = [];
  claims.forEach((claim, i) => {
    for (let v = 0; v < (claim.vcpus ?? 1); v++) owner.push(i);
  });
  const limit = owner.map((i) => (claims[i]!.cap > 0 ? Math.min(1, claims[i]!.cap / 100) : 1));
  const weight = owner.map((i) => (equalWeights ? 1 : claims[i]!.weight));
  const perVcpu = new Array<number>(owner.length).fill(0);
  let open = owner.map((_, k) => k);
  let left = harts;
  while (open.length > 0 && left > 1e-12) {
    const total = open.reduce((sum, k) => sum + weight[k]!, 0);
    const saturated = open.filter((k) => (left * weight[k]!) / total >= limit[k]!);
    if (saturated.length === 0) {
      for (const k of open) perVcpu[k] = (left * weight[k]!) / total;
      break;
    }
    for (const k of saturated) {
      perVcpu[k] = limit[k]!;
      left -= limit[k]!;
    }
    open = open.filter((k) => !saturated.includes(k));
  }
  const promised = new Array<number>(claims.length).fill(0);
  owner.forEach((i, k) => (promised[i]! += perVcpu[k]!));
  return promised;
}
