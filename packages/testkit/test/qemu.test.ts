import { describe, expect, it } from "vitest";
import { guestPath, listGuests, qemuAvailability, runOnQemu } from "@matryoshka/testkit";

const qemu = qemuAvailability();
if (!qemu.available) console.log(`[skip] QEMU oracle tests: ${qemu.reason}`);

describe("the bundled guests", () => {
  it("include hello and the crc32 benchmark", () => {
    expect(listGuests()).toEqual(expect.arrayContaining(["hello", "crc32"]));
  });
});

describe.skipIf(!qemu.available)("QEMU oracle", () => {
  it("runs hello and reports a test-device pass", async () => {
    const result = await runOnQemu(guestPath("hello"));
    expect(result.timedOut).toBe(false);
    expect(result.output).toBe("Hello from matryoshka guest on hart 0!\n");
    expect(result.status).toBe(0);
  });

  it("returns the CRC32 benchmark's transcript, starting with the standard check value", async () => {
    const result = await runOnQemu(guestPath("crc32"));
    expect(result.status).toBe(0);
    const lines = result.output.trim().split("\n");
    expect(lines[0]).toBe("crc32 check: cbf43926 ok");
    expect(lines).toHaveLength(17);
    expect(lines[16]).toMatch(/^round 127: [0-9a-f]{8}$/);
  });

  it("reports a timeout for a guest that never stops", async () => {
    // A 1 ms limit is far shorter than QEMU's start-up, so the run is always cut off.
    const result = await runOnQemu(guestPath("crc32"), { timeoutMs: 1 });
    expect(result.timedOut).toBe(true);
    expect(result.status).toBeNull();
  });
});
