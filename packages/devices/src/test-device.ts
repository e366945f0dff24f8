import type { AccessSize, MmioDevice } from "@matryoshka/memory";

export const TEST_DEVICE_SIZE = 0x1000;

const FINISHER_FAIL = 0x3333;
const FINISHER_PASS = 0x5555;
const FINISHER_RESET = 0x7777;

/** How a guest ended the machine through the test device. */
export type FinisherEvent = { kind: "pass" } | { kind: "fail"; code: number } | { kind: "reset" };

/**
 * The SiFive test/poweroff device (QEMU `sifive_test`): a write of 0x5555 powers off with
 * success, `(code << 16) | 0x3333` with failure code `code`, 0x7777 resets. Like QEMU (since 5.2)
 * it takes 16-bit writes as well as 32-bit ones: OpenSBI's syscon power-off uses a halfword store.
 * A byte access is an access fault, as on QEMU 7.2 (its region accepts 2 to 4 bytes).
 */
export class TestDevice implements MmioDevice {
  private readonly onFinish: (event: FinisherEvent) => void;

  constructor(onFinish: (event: FinisherEvent) => void) {
    this.onFinish = onFinish;
  }

  read(_offset: number, size: AccessSize): number | undefined {
    return size === 1 ? undefined : 0;
  }

  write(offset: number, size: AccessSize, value: number): boolean {
    if (size === 1) return false;
    if (offset !== 0) return true;
    const status = value & 0xffff;
    if (status === FINISHER_PASS) this.onFinish({ kind: "pass" });
    else if (status === FINISHER_FAIL) this.onFinish({ kind: "fail", code: value >>> 16 });
    else if (status === FINISHER_RESET) this.onFinish({ kind: "reset" });
    return true;
  }
}
