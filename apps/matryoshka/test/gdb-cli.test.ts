import { spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { encodePacket, PacketReader } from "@matryoshka/gdbstub";
import { guestPath, repoRoot, runFrontDoor } from "@matryoshka/testkit";

const gdbAvailable = spawnSync("gdb-multiarch", ["--version"], { stdio: "ignore" }).status === 0;
if (!gdbAvailable) console.log("[skip] the gdb-multiarch tests of run --gdb: gdb-multiarch is not installed (scripts/setup.sh installs it)");

type Ended = { status: number | null; stdout: string; stderr: string };

/** Starts `matryoshka run … --gdb tcp:127.0.0.1:0 --gdb-wait`; resolves with the port once it waits for gdb, and the run's end. */
function waitingForGdb(args: string[], wait = true): Promise<{ port: number; done: Promise<Ended> }> {
  return new Promise((resolve, reject) => {
    const child = spawn("pnpm", ["matryoshka", "run", ...args, "--gdb", "tcp:127.0.0.1:0", ...(wait ? ["--gdb-wait"] : [])], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const done = new Promise<Ended>((end) => child.on("close", (status) => end({ status, stdout, stderr })));
    child.on("error", reject);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /^gdb: waiting on tcp:127\.0\.0\.1:(\d+)$/m.exec(stderr);
      if (match) resolve({ port: Number(match[1]), done });
    });
    void done.then(() => reject(new Error(`the run ended before it waited for gdb: ${stderr}`)));
  });
}

/** gdb-multiarch in batch mode: the commands, in order, against the guest's ELF (for its symbols). */
function gdbBatch(elf: string, port: number, commands: string[]): Promise<{ status: number | null; output: string }> {
  const args = ["-batch", "-nx", "-ex", "set architecture riscv:rv32", "-ex", `target remote 127.0.0.1:${port}`];
  for (const command of commands) args.push("-ex", command);
  args.push(elf);
  return new Promise((resolve, reject) => {
    const child = spawn("gdb-multiarch", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, output }));
  });
}

describe.skipIf(!gdbAvailable)("gdb-multiarch against run --gdb --gdb-wait (the triggers guest)", () => {
  const elf = guestPath("triggers");
  const cases = [
    { depth: 0, level: undefined, priv: "Machine" },
    { depth: 2, level: undefined, priv: "Machine" },
    // The machine's hart under two hypervisors runs the guest's code in U-mode, at the same addresses.
    { depth: 2, level: 0, priv: "User" },
  ];
  it.each(cases)("depth $depth, level $level: break, step, registers, memory, watchpoint, continue", async ({ depth, level, priv }) => {
    const run = await waitingForGdb([elf, "--depth", String(depth), ...(level === undefined ? [] : ["--gdb-level", String(level)])]);
    const gdb = await gdbBatch(elf, run.port, [
      "info registers pc",
      "break *count",
      "continue",
      "info registers pc priv",
      "stepi",
      "info registers pc",
      "set var *(unsigned int *)&data = 0x1234abcd",
      "x/2xw &data",
      "watch *(unsigned int *)&watched",
      "continue",
      "continue",
      "delete",
      "continue",
    ]);
    const ended = await run.done;
    const out = gdb.output;
    // --gdb-wait: nothing ran yet. The guest's hart is at its reset vector; the machine's, under a
    // hypervisor, has entered no guest context yet.
    expect(out).toMatch(level === undefined ? /pc\s+0x1000\s/ : /pc\s+0x0\s/);
    expect(out).toMatch(/Breakpoint 1, 0x8[0-9a-f]+ in count \(\)/);
    expect(out).toMatch(new RegExp(`priv\\s+0x[03]\\s+prv:[03] \\[${priv}`));
    expect(out).toMatch(/pc\s+0x8[0-9a-f]+\s+0x8[0-9a-f]+ <count\+2>/); // one compressed instruction on
    expect(out).toMatch(/<data>:\s+0x1234abcd\s+0x/);
    expect(out).toContain("Old value = 0\nNew value = 1");
    expect(out).toContain("Old value = 1\nNew value = 2");
    expect(out).toContain("[Inferior 1 (Remote target) exited normally]");
    expect(gdb.status).toBe(0);
    // The guest then finishes with its normal transcript.
    expect(ended.stdout).toContain("watched = 3 ok");
    expect(ended.stdout).toContain("triggers: 21 checks, 0 failed");
    expect(ended.status).toBe(0);
  });
});

/** A raw protocol client: sends packets (or bytes), and waits for the next reply packet. */
function rawClient(port: number) {
  const socket = connect(port, "127.0.0.1");
  const reader = new PacketReader();
  const replies: string[] = [];
  let wake: (() => void) | undefined;
  socket.on("data", (bytes: Buffer) => {
    for (const event of reader.feed(bytes)) if (event.kind === "packet") replies.push(event.payload);
    wake?.();
  });
  const next = async (): Promise<string> => {
    while (replies.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return replies.shift()!;
  };
  return {
    send: (packet: string) => socket.write(encodePacket(packet)),
    interrupt: () => socket.write(Uint8Array.of(0x03)),
    next,
    close: () => socket.end(),
  };
}

describe("run --gdb with a client of its own (no gdb needed)", () => {
  it("stops the running guest when a client attaches, continues it, interrupts it on Ctrl-C, and lets it finish after D", async () => {
    const run = await waitingForGdb([guestPath("crc32"), "--depth", "1"], false);
    const client = rawClient(run.port);
    client.send("?");
    expect(await client.next()).toBe("T05thread:01;");
    client.send("c");
    client.interrupt();
    expect(await client.next()).toBe("T02thread:01;");
    client.send("g");
    expect(await client.next()).toMatch(/^[0-9a-f]{264}$/);
    client.send("mzz,4");
    expect(await client.next()).toBe("E01");
    client.send("D");
    expect(await client.next()).toBe("OK");
    client.close();
    const ended = await run.done;
    expect(ended.status).toBe(0);
    expect(ended.stdout).toContain("crc32");
  });
});

describe("run --gdb's options", () => {
  it("refuse a bad address, a level deeper than the stack, and --gdb-wait alone, with status 2 and one line", async () => {
    const hello = guestPath("hello");
    for (const [args, message] of [
      [["--gdb", "localhost:1234"], /expected tcp:HOST:PORT/],
      [["--gdb", "tcp::99999"], /expected tcp:HOST:PORT/],
      [["--gdb", "tcp::0", "--gdb-level", "3", "--depth", "2"], /--gdb-level 3 is deeper than --depth 2/],
      [["--gdb-wait"], /--gdb-wait and --gdb-level need --gdb/],
      [["--gdb", "tcp::0", "--threads"], /--gdb needs the deterministic run/],
    ] as const) {
      const result = await runFrontDoor(["run", hello, ...args]);
      expect({ args, status: result.status }).toEqual({ args, status: 2 });
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
  });

  it("runs the guest unattended when no gdb comes (without --gdb-wait)", async () => {
    const result = await runFrontDoor(["run", guestPath("hello"), "--gdb", "tcp:127.0.0.1:0"]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^gdb: waiting on tcp:127\.0\.0\.1:\d+\n$/);
    expect(result.stdout).toContain("Hello");
  });
});
