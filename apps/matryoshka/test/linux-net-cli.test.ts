import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PCAP_LINKTYPE_ETHERNET, parsePcap } from "@matryoshka/devices";
import { repoRoot, runFrontDoor } from "@matryoshka/testkit";

// Linux 6.1's own virtio_net driver in two `matryoshka run` processes joined by `--net socket`
// (docs/linux-virtio-net.md): the kernel built by scripts/linux/build.sh outside the repository;
// the initramfs's /init is a UDP echo server in one and a client in the other. Skipped, with a
// note, when that kernel is not built or has no virtio_net.

const CACHE = process.env.MATRYOSHKA_LINUX_CACHE ?? join(homedir(), ".cache", "matryoshka", "linux");
const FILES = ["fw_jump.bin", "Image", "initramfs.cpio", "config"];
const missing = FILES.filter((name) => !existsSync(join(CACHE, name)));
const networking = missing.length === 0 && /^CONFIG_VIRTIO_NET=y$/m.test(readFileSync(join(CACHE, "config"), "utf8"));
if (!networking) {
  console.log(
    missing.length > 0
      ? `[skip] Linux virtio_net CLI test: ${missing.join(", ")} not in ${CACHE} (build them with bash scripts/linux/build.sh)`
      : `[skip] Linux virtio_net CLI test: the kernel in ${CACHE} has no CONFIG_VIRTIO_NET (rebuild it with bash scripts/linux/build.sh)`,
  );
}

const scratch = mkdtempSync(join(tmpdir(), "matryoshka-linux-net-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * `run` arguments for the kernel with `append` after console=ttyS0. The instruction limit is
 * generous: an idle Linux has a timer armed, so its machine time jumps ahead to it, and a VM that
 * waits (wall time) for the other process's VM to boot uses up machine time fast (1.5G was not
 * enough); the test's timeout bounds the wall time.
 */
const linux = (depth: number, append: string) => [
  "run", join(CACHE, "Image"), "--bios", join(CACHE, "fw_jump.bin"), "--initrd", join(CACHE, "initramfs.cpio"),
  "--append", `console=ttyS0 ${append}`, "--mem", "64", "--depth", String(depth), "--max-insns", "200000000000",
];

interface Ended {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Starts a `run` that listens on a free port; resolves with the port once it listens, and the run's end. */
function listening(args: string[]): Promise<{ port: number; done: Promise<Ended> }> {
  return new Promise((resolve, reject) => {
    const child = spawn("pnpm", ["matryoshka", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const done = new Promise<Ended>((end) => child.on("close", (status) => end({ status, stdout, stderr })));
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

describe.skipIf(!networking)("two Linux VMs in two matryoshka processes over --net socket", () => {
  it("the client's 16 UDP datagrams come back from the server; both power off; the pcap holds ARP and UDP", { timeout: 1_800_000 }, async () => {
    const dump = join(scratch, "client.pcap");
    const server = await listening([...linux(1, "mtest=udp-server maddr=10.0.0.1"), "--net", "socket,listen=127.0.0.1:0,mac=52:54:00:00:00:01"]);
    const client = await runFrontDoor([
      ...linux(1, "mtest=udp-client maddr=10.0.0.2 mpeer=10.0.0.1 mcount=16"),
      "--net", `socket,connect=127.0.0.1:${server.port},mac=52:54:00:00:00:02`, "--net-dump", dump,
    ]);
    const served = await server.done;
    expect(client.stdout, client.stdout.slice(-1500) + client.stderr).toMatch(/udp-client: 16\/16 replies from the server, \d+ retries/);
    expect(served.stdout, served.stdout.slice(-1500) + served.stderr).toMatch(/udp-server: echoed (1[6-9]|[2-9]\d) datagrams/);
    // Powered off: the test device's "pass", so both exit 0.
    expect(client.status).toBe(0);
    expect(served.status).toBe(0);

    // The client's card saw ARP both ways, then IPv4 UDP to and from port 7777.
    const pcap = parsePcap(new Uint8Array(readFileSync(dump)));
    expect(pcap.linkType).toBe(PCAP_LINKTYPE_ETHERNET);
    const etherType = (data: Uint8Array) => (data[12]! << 8) | data[13]!;
    expect(pcap.records.some((r) => etherType(r.data) === 0x0806)).toBe(true);
    const udp = pcap.records.filter((r) => etherType(r.data) === 0x0800 && r.data[23] === 17);
    const toServer = udp.filter((r) => r.data.subarray(30, 34).join(".") === "10.0.0.1");
    const fromServer = udp.filter((r) => r.data.subarray(26, 30).join(".") === "10.0.0.1");
    // 16 datagrams and the "bye" out (more if the first went before the server listened), 16 back.
    expect(toServer.length).toBeGreaterThanOrEqual(17);
    expect(fromServer.length).toBeGreaterThanOrEqual(16);
    expect((fromServer[0]!.data[36]! << 8) | fromServer[0]!.data[37]!).toBe(7777);
  });
});
