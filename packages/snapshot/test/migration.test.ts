import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { FileBlockBackend } from "@matryoshka/devices";
import type { EngineName } from "@matryoshka/engines";
import { runGuest, type RunOptions } from "@matryoshka/runner";
import { guestPath, repoRoot } from "@matryoshka/testkit";
import { MessageReader, MigrationError, MigrationSource, receiveMigration, type IncomingOptions, type LoadedRun } from "../src/index.js";
import { inputOf } from "./helpers.js";

const kernels = { kernel: new Uint8Array(readFileSync(guestPath("kernel"))), pv: new Uint8Array(readFileSync(guestPath("kernel-pv"))) };
const dir = mkdtempSync(join(tmpdir(), "matryoshka-migration-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function freshDisk(name: string): string {
  const path = join(dir, name);
  copyFileSync(join(repoRoot, "guests/kernel/disk.img"), path);
  return path;
}

/** A one-connection TCP server on a free loopback port. */
async function listen(): Promise<{ server: Server; port: number; connection: Promise<Socket> }> {
  const server = createServer();
  const connection = new Promise<Socket>((resolve) => server.once("connection", resolve));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { server, port: (server.address() as AddressInfo).port, connection };
}

interface Setup {
  depth: number;
  engine: EngineName;
  backend?: RunOptions["backend"];
}

function options(s: Setup) {
  // 16 MiB: small stacks, so that taking every frame (a pv VM's frame table restored) stays cheap.
  return { kernel: s.backend === "pv" ? kernels.pv : kernels.kernel, depth: s.depth, engine: s.engine, backend: s.backend, virtioVersion: 2 as const, memoryMiB: 16 };
}

/** The test kernel uninterrupted, with its disk and console input. */
async function whole(s: Setup): Promise<{ output: string; instructions: number }> {
  const disk = freshDisk("whole.img");
  const backend = new FileBlockBackend(disk);
  let output = "";
  try {
    const report = await runGuest({ ...options(s), disks: [backend], console: (b) => (output += String.fromCharCode(b)), input: inputOf("hello\n") });
    return { output, instructions: report.instructions };
  } finally {
    backend.close();
  }
}

/**
 * The source runs the kernel and migrates at `at`; `destination` handles the accepted socket
 * (normally `receiveMigration`). Returns the source's output and report, its log, and what the
 * destination got.
 */
async function migrate(s: Setup, at: number, destination: (socket: Socket) => Promise<LoadedRun | undefined>, extra: { level?: number; copyDisks?: boolean } = {}) {
  const disk = freshDisk("source.img");
  const { server, port, connection } = await listen();
  const received = connection.then(destination).finally(() => server.close());
  // Whatever the destination does, it must not be an unhandled rejection while the source runs.
  received.catch(() => {});
  const log: string[] = [];
  const source = new MigrationSource({ ...options(s), host: "127.0.0.1", port, at, level: extra.level, copyDisks: extra.copyDisks, disks: [{ path: disk }], log: (line) => log.push(line) });
  const backend = new FileBlockBackend(disk);
  let output = "";
  try {
    const report = await runGuest({
      ...options(s),
      disks: [backend],
      console: (b) => (output += String.fromCharCode(b)),
      input: inputOf("hello\n"),
      afterSlice: source.afterSlice,
      sliceInstructions: 200_000,
    });
    return { output, report, log, source, received, disk };
  } finally {
    backend.close();
  }
}

/** Runs what the destination received, as `run --incoming` does. */
async function continueAt(loaded: LoadedRun, engine: EngineName): Promise<{ output: string; instructions: number; outcome: string }> {
  const backends = loaded.config.disks.map((disk) => new FileBlockBackend(disk.path));
  let output = "";
  try {
    const report = await runGuest({
      kernel: loaded.kernel,
      depth: loaded.config.depth,
      engine,
      backend: loaded.config.backend,
      virtioVersion: loaded.config.virtioVersion,
      memoryMiB: loaded.config.memoryMiB,
      disks: backends,
      console: (b) => (output += String.fromCharCode(b)),
      resume: (stack) => loaded.restore(stack),
    });
    return { output, instructions: report.instructions, outcome: report.outcome.kind };
  } finally {
    for (const backend of backends) backend.close();
  }
}

// The tests choose their engines themselves: they run once, in the "interpreter" project.
describe.skipIf(process.env.MATRYOSHKA_ENGINE === "bt")("live migration", () => {
  const setups: (Setup & { level?: number })[] = [
    { depth: 1, engine: "interpreter" },
    { depth: 2, engine: "bt", backend: "bt", level: 2 },
    { depth: 2, engine: "bt", backend: "trap-and-emulate" },
    { depth: 1, engine: "interpreter", backend: "pv" },
    { depth: 2, engine: "bt", backend: "pv", level: 2 },
    { depth: 5, engine: "bt", backend: "bt", level: 3 },
    { depth: 30, engine: "bt", backend: "trap-and-emulate" },
  ];
  for (const s of setups) {
    it(`moves the test kernel at depth ${s.depth} (${s.engine} engine, ${s.backend ?? "trap-and-emulate"} backend, level ${s.level ?? 1}) and it continues the same run`, async () => {
      const expected = await whole(s);
      const moved = await migrate(s, 3_000_000, (socket) => receiveMigration(socket), { level: s.level });
      expect(moved.log).toEqual([]);
      expect(moved.report.paused).toBeDefined();
      const report = moved.source.report!;
      expect(report.rounds).toBeGreaterThanOrEqual(2);
      expect(report.pagesSent).toBeGreaterThan(0);
      const loaded = (await moved.received)!;
      const rest = await continueAt(loaded, s.engine);
      expect(moved.output + rest.output).toBe(expected.output);
      expect(rest.outcome).toBe("pass");
      expect(rest.instructions).toBe(expected.instructions);
      expect(Buffer.compare(readFileSync(moved.disk), readFileSync(join(repoRoot, "guests/kernel/disk.img")))).toBe(0);
    });
  }

  it("--migrate-disks copies the disk to the destination's own file, which the moved guest then uses", async () => {
    const s: Setup = { depth: 1, engine: "bt" };
    const expected = await whole(s);
    const target = join(dir, "destination.img");
    copyFileSync(join(repoRoot, "guests/kernel/disk.img"), target);
    // Scribbled on at the destination: what arrives must replace it.
    const scribbled = readFileSync(target);
    scribbled.fill(0xee, 0, 4096);
    writeFileSync(target, scribbled);
    const moved = await migrate(s, 8_000_000, (socket) => receiveMigration(socket, { diskPaths: [target] }), { copyDisks: true });
    expect(moved.log).toEqual([]);
    const loaded = (await moved.received)!;
    expect(loaded.config.disks.map((disk) => disk.path)).toEqual([target]);
    // The source's disk as it was at the handover is what the destination holds now.
    expect(Buffer.compare(readFileSync(target), readFileSync(moved.disk))).toBe(0);
    const rest = await continueAt(loaded, s.engine);
    expect(moved.output + rest.output).toBe(expected.output);
    expect(rest.instructions).toBe(expected.instructions);
    // The guest restores the sector it scratched, on the destination's disk.
    expect(Buffer.compare(readFileSync(target), readFileSync(join(repoRoot, "guests/kernel/disk.img")))).toBe(0);
  });

  it("a destination that cannot fit the VM refuses before the source stops: the source finishes the run itself", async () => {
    const s: Setup = { depth: 1, engine: "interpreter" };
    const expected = await whole(s);
    const tooSmall: IncomingOptions = { maxHostMemoryMiB: 8 };
    const moved = await migrate(s, 1_000_000, (socket) => receiveMigration(socket, tooSmall));
    await expect(moved.received).rejects.toThrow(/refused the incoming VM: the VM needs \d+ MiB of host memory/);
    expect(moved.log).toHaveLength(1);
    expect(moved.log[0]).toMatch(/the destination refused: .*host memory.*the guest keeps running here/);
    expect(moved.report.paused).toBeUndefined();
    expect(moved.report.outcome.kind).toBe("pass");
    expect(moved.output).toBe(expected.output);
    expect(moved.report.instructions).toBe(expected.instructions);
  });

  for (const when of ["after the offer", "during pre-copy", "before the acknowledgement"] as const) {
    it(`a connection dropped ${when} leaves the source running its guest, nothing lost`, async () => {
      const s: Setup = { depth: 1, engine: "interpreter" };
      const expected = await whole(s);
      const moved = await migrate(s, 1_000_000, async (socket) => {
        const reader = new MessageReader(socket);
        await reader.next(); // HELO
        if (when === "after the offer") {
          socket.destroy();
          return undefined;
        }
        socket.write(okay());
        let message = await reader.next();
        if (when === "during pre-copy") {
          socket.destroy();
          return undefined;
        }
        while (message.tag !== "STAT") message = await reader.next();
        socket.destroy();
        return undefined;
      });
      expect(moved.log).toHaveLength(1);
      expect(moved.log[0]).toMatch(/migration failed: .*the guest keeps running here/);
      expect(moved.report.paused).toBeUndefined();
      expect(moved.report.outcome.kind).toBe("pass");
      expect(moved.output).toBe(expected.output);
      expect(moved.report.instructions).toBe(expected.instructions);
    });
  }

  it("the destination reports a truncated or corrupt stream and runs nothing", async () => {
    for (const bytes of [Buffer.from("HELO"), Buffer.concat([Buffer.from("HELO"), Buffer.from([5, 0, 0, 0, 1, 2, 3, 4]), Buffer.from("{}{}{")])]) {
      const { server, port, connection } = await listen();
      const received = connection.then((socket) => receiveMigration(socket)).finally(() => server.close());
      const client = connect({ host: "127.0.0.1", port }, () => client.end(bytes));
      client.on("error", () => {});
      await expect(received).rejects.toThrow(MigrationError);
      await expect(received).rejects.toThrow(/truncated stream|corrupt stream/);
    }
  });
});

/** An OKAY message, framed as the destination frames it. */
function okay(): Buffer {
  const out = Buffer.alloc(12);
  out.write("OKAY", 0, 4, "latin1");
  out.writeUInt32LE(0, 4);
  // CRC-32 of the tag and length, with no payload.
  out.writeUInt32LE(crc32(Buffer.alloc(0), crc32(out.subarray(0, 8))), 8);
  return out;
}
