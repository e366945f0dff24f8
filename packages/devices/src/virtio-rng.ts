import { randomFillSync } from "node:crypto";
import type { VirtioDevice } from "./virtio-mmio.js";
import type { SplitVirtqueue } from "./virtqueue.js";

// The virtio entropy device, virtio 1.1 §5.4: one request queue of device-writable buffers that
// the device fills with random bytes. No feature bits, no configuration space.

export const VIRTIO_RNG_DEVICE_ID = 4;
/** Bytes given per request at most: a driver posting a huge buffer gets this many (§5.4.6.2 lets the device write fewer). */
export const VIRTIO_RNG_MAX_REQUEST = 64 * 1024;

/** Fills `out` with random bytes. */
export type EntropySource = (out: Uint8Array) => void;

/** The host's cryptographic RNG (node:crypto), as QEMU's rng-random backend reads /dev/urandom. */
export const cryptoEntropy: EntropySource = (out) => {
  randomFillSync(out);
};

/**
 * A deterministic stream from `seed` (xoshiro128**, seeded through SplitMix32), for runs that must
 * repeat exactly (`--rng-seed`). Not for cryptography.
 */
export function seededEntropy(seed: number): EntropySource {
  let x = seed >>> 0;
  const splitmix = () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = Uint32Array.of(splitmix(), splitmix(), splitmix(), splitmix());
  const next = () => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  };
  return (out) => {
    for (let i = 0; i < out.length; i += 4) {
      const word = next();
      for (let j = 0; j < 4 && i + j < out.length; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
    }
  };
}

function rotl(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

/** What the device has given out. */
export interface VirtioRngStats {
  requests: number;
  bytes: number;
  /** Chains with no device-writable buffer: returned with nothing written. */
  empty: number;
}

/** A virtio-rng device (id 4) drawing on an `EntropySource` (default: the host's crypto RNG). */
export class VirtioRng implements VirtioDevice {
  readonly deviceId = VIRTIO_RNG_DEVICE_ID;
  readonly queueCount = 1;
  readonly queueSizeMax = 64;
  readonly features = 0n;
  readonly stats: VirtioRngStats = { requests: 0, bytes: 0, empty: 0 };
  private readonly entropy: EntropySource;
  private readonly config = new Uint8Array(0);

  constructor(entropy: EntropySource = cryptoEntropy) {
    this.entropy = entropy;
  }

  readConfig(): Uint8Array {
    return this.config;
  }

  reset(): void {}

  processQueue(queue: SplitVirtqueue): void {
    for (;;) {
      const chain = queue.pop();
      if (chain === undefined) return;
      const length = Math.min(chain.writableLength, VIRTIO_RNG_MAX_REQUEST);
      if (length === 0) this.stats.empty++;
      const bytes = new Uint8Array(length);
      this.entropy(bytes);
      if (!chain.write(0, bytes) || !queue.push(chain, length)) return;
      this.stats.requests++;
      this.stats.bytes += length;
    }
  }
}
