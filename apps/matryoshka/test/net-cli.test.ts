import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PCAP_LINKTYPE_ETHERNET, parsePcap } from "@matryoshka/devices";
import { guestPath, repoRoot, runFrontDoor } from "@matryoshka/testkit";

const scratch = mkdtempSync(join(tmpdir(), "matryoshka-net-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Starts `matryoshka run` listening on a free port; resolves with the port once it listens, and the run's end. */
function listening(args: string[]): Promise<{ port: number; done: Promise<{ status: number | null; stdout: string; stderr: string }> }> {
  return new Promise((resolve, reject) => {
    const child = spawn("pnpm", ["matryoshka", "run", ...args, "--net", "socket,listen=127.0.0.1:0,mac=52:54:00:00:00:0e"], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((end) => child.on("close", (status) => end({ status, stdout, stderr })));
    child.on("error", reject);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening for a network peer on [^\s]+:(\d+)/.exec(stderr);
      if (match) resolve({ port: Number(match[1]), done });
    });
    void done.then(() => reject(new Error(`the listener ended before listening: ${stderr}`)));
  });
}

describe("matryoshka run --net socket (two processes, QEMU -netdev stream framing)", () => {
  for (const { echoDepth, pingDepth, virtio } of [
    { echoDepth: 0, pingDepth: 0, virtio: "1" },
    { echoDepth: 2, pingDepth: 1, virtio: "2" },
  ]) {
    it(`net-echo at depth ${echoDepth} answers net-ping at depth ${pingDepth} (virtio ${virtio}); --net-dump writes a pcap file`, async () => {
      const dumpPath = join(scratch, `ping-${echoDepth}-${pingDepth}.pcap`);
      const echo = await listening([guestPath("net-echo"), "--depth", String(echoDepth), "--virtio-version", virtio]);
      const ping = await runFrontDoor([
        "run", guestPath("net-ping"), "--depth", String(pingDepth), "--virtio-version", virtio,
        "--net", `socket,connect=127.0.0.1:${echo.port}`, "--net-dump", dumpPath,
      ]);
      const echoed = await echo.done;
      expect(ping.stdout).toContain("net-ping: 16/16 replies from 52:54:00:00:00:0e");
      expect(ping.status).toBe(0);
      expect(echoed.stdout).toContain("net-echo: echoed");
      expect(echoed.status).toBe(0);

      // Every frame the ping VM sent or received, in order: ping n, its reply, …, then the goodbye.
      const pcap = parsePcap(new Uint8Array(readFileSync(dumpPath)));
      expect(pcap.linkType).toBe(PCAP_LINKTYPE_ETHERNET);
      const tags = pcap.records.map((r) => String.fromCharCode(...r.data.subarray(14, 22)));
      expect(tags.filter((t) => t === "MTRYPING").length).toBeGreaterThanOrEqual(16);
      expect(tags.filter((t) => t === "MTRYPONG").length).toBeGreaterThanOrEqual(16);
      expect(tags.at(-1)).toBe("MTRYBYE!");
      const firstReply = pcap.records[tags.indexOf("MTRYPONG")]!.data;
      expect(Array.from(firstReply.subarray(0, 12))).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x52, 0x54, 0, 0, 0, 0x0e]);
      for (let i = 1; i < pcap.records.length; i++) expect(pcap.records[i]!.microseconds).toBeGreaterThanOrEqual(pcap.records[i - 1]!.microseconds);
    });
  }

  it("refuses a malformed --net and --net-dump without --net", async () => {
    const bad = await runFrontDoor(["run", guestPath("net-ping"), "--net", "socket,listen=nowhere"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/listen= takes HOST:PORT/);
    const lonely = await runFrontDoor(["run", guestPath("net-ping"), "--net-dump", join(scratch, "x.pcap")]);
    expect(lonely.status).toBe(2);
    expect(lonely.stderr).toMatch(/give --net too/);
  });
});

describe("matryoshka run --rng, --rng-seed and --virtio-console", () => {
  it("gives the guest repeatable entropy with a seed, fresh entropy without, and a console port writing to a file", async () => {
    const hvc = join(scratch, "hvc0.txt");
    const seeded = await runFrontDoor(["run", guestPath("virtio-extras"), "--depth", "1", "--rng-seed", "7", "--virtio-console", hvc]);
    expect(seeded.status).toBe(0);
    expect(readFileSync(hvc, "utf8")).toBe("hello from hvc0\n");
    const again = await runFrontDoor(["run", guestPath("virtio-extras"), "--rng-seed", "7", "--virtio-console", hvc]);
    const line = (text: string) => /virtio-rng: 32 bytes:.*/.exec(text)?.[0];
    expect(line(again.stdout)).toBe(line(seeded.stdout));
    const fresh = await runFrontDoor(["run", guestPath("virtio-extras"), "--rng", "--virtio-console", hvc]);
    expect(fresh.status).toBe(0);
    expect(line(fresh.stdout)).toMatch(/^virtio-rng: 32 bytes:( [0-9a-f]{2}){32}$/);
    expect(line(fresh.stdout)).not.toBe(line(seeded.stdout));
  });
});

