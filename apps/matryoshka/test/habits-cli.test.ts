// The CLI's habits (issue 22): --dump-dtb, run --json and sweep --json headers, paths relative to
// INIT_CWD, Ctrl-A escapes in a pseudo-terminal, signals with --stats, tables that fit the width.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { guestPath, repoRoot, runFrontDoor } from "@matryoshka/testkit";
import { ConsoleEscapes } from "../src/escapes.js";
import { columnsOf } from "../src/io.js";
import { fittedTables } from "../src/run-view.js";

const scratch = mkdtempSync(join(tmpdir(), "matryoshka-habits-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const dtcAvailable = spawnSync("dtc", ["--version"]).status === 0;
if (!dtcAvailable) console.log("[skip] --dump-dtb parsed by dtc: dtc is not installed (setup.sh installs it)");
const pythonAvailable = spawnSync("python3", ["-c", "import pty"]).status === 0;
if (!pythonAvailable) console.log("[skip] Ctrl-A escapes in a pseudo-terminal: python3 with its pty module is not available");

/** The front door without pnpm in between, so that a signal reaches matryoshka itself. */
function spawnCli(args: string[]) {
  return spawn(process.execPath, ["--conditions=source", "--import", "tsx", "apps/matryoshka/src/main.ts", ...args], { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
}

describe("run --dump-dtb", () => {
  it.skipIf(!dtcAvailable)("writes the board's device tree, which dtc parses, and runs nothing", async () => {
    const file = join(scratch, "board.dtb");
    const { status, stdout, stderr } = await runFrontDoor(["run", guestPath("hello"), "--harts", "2", "--mem", "64", "--disk", `${guestPath("hello")},slot=3`, "--dump-dtb", file]);
    expect(stderr).toBe("");
    expect(stdout).toBe(""); // the guest never ran
    expect(status).toBe(0);
    const dts = spawnSync("dtc", ["-I", "dtb", "-O", "dts", file], { encoding: "utf8" });
    expect(dts.status).toBe(0);
    const text = dts.stdout;
    expect(text).toMatch(/memory@80000000 \{[^}]*reg = <0x00 0x80000000 0x00 0x4000000>/);
    expect(text).toContain("cpu@0 {");
    expect(text).toContain("cpu@1 {");
    expect(text).not.toContain("cpu@2 {");
    expect(text).toContain("serial@10000000 {");
    for (let slot = 0; slot < 8; slot++) expect(text).toContain(`virtio_mmio@1000${slot + 1}000 {`);
  });

  it.skipIf(!dtcAvailable)("at depth > 0 dumps the tree of the innermost VM, the board the guest sees", async () => {
    const file = join(scratch, "nested.dtb");
    const { status } = await runFrontDoor(["run", guestPath("hello"), "--depth", "2", "--mem", "32", "--dump-dtb", file]);
    expect(status).toBe(0);
    const text = spawnSync("dtc", ["-I", "dtb", "-O", "dts", file], { encoding: "utf8" }).stdout;
    expect(text).toMatch(/memory@80000000 \{[^}]*reg = <0x00 0x80000000 0x00 0x2000000>/);
  });

  it("refuses an unwritable file with status 2", async () => {
    const { status, stderr } = await runFrontDoor(["run", guestPath("hello"), "--dump-dtb", join(scratch, "no-such-folder", "x.dtb")]);
    expect(status).toBe(2);
    expect(stderr).toContain("--dump-dtb file: no such directory");
  });
});

describe("run --trace", () => {
  it("an unknown category is status 2 with the valid ones listed", async () => {
    const { status, stderr, stdout } = await runFrontDoor(["run", guestPath("hello"), "--trace", "int,tlb"]);
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("in_asm, exec, int, mmu, exits, virtio");
  });

  it("writes to stderr, or to --trace-file, the same lines for the same run", async () => {
    const toStderr = await runFrontDoor(["run", guestPath("traps"), "--trace", "int"]);
    const lines = toStderr.stderr.split("\n").filter((line) => line.startsWith("int: "));
    expect(lines.length).toBeGreaterThan(0);
    const toFile = await runFrontDoor(["run", guestPath("traps"), "--trace", "int", "--trace-file", join(scratch, "traps.trace")]);
    expect(toFile.status).toBe(toStderr.status);
    expect(toFile.stderr).not.toContain("int: ");
    expect(readFileSync(join(scratch, "traps.trace"), "utf8").trimEnd().split("\n")).toEqual(lines);
  });

  it("exits at depth 0 and --trace-file without --trace are refused", async () => {
    expect((await runFrontDoor(["run", guestPath("hello"), "--trace", "exits"])).stderr).toContain("--depth 1 or more");
    expect((await runFrontDoor(["run", guestPath("hello"), "--trace-file", join(scratch, "t")])).status).toBe(2);
  });
});

describe("--json", () => {
  it("run --json writes the statistics with a schema version, engine, backend and depth", async () => {
    const file = join(scratch, "run.json");
    const { status, stdout } = await runFrontDoor(["run", guestPath("hello"), "--depth", "2", "--json", file]);
    expect(status).toBe(0);
    expect(stdout).toContain("Hello from matryoshka");
    const json = JSON.parse(readFileSync(file, "utf8"));
    expect(json).toMatchObject({ schemaVersion: 1, command: "run", backend: "trap-and-emulate", depth: 2, status: 0, outcome: "pass" });
    expect(["interpreter", "bt"]).toContain(json.engine);
    expect(json.instructions).toBeGreaterThan(0);
    expect(json.levels.map((level: { level: number }) => level.level)).toEqual([1, 2]);
    expect(json.levels[0].exitsHandled).toBeGreaterThan(0);
  });

  it("sweep --json carries the same header", async () => {
    const file = join(scratch, "sweep.json");
    const { status } = await runFrontDoor(["sweep", guestPath("hello"), "--depths", "0,1", "--no-warmup", "--json", file]);
    expect(status).toBe(0);
    const json = JSON.parse(readFileSync(file, "utf8"));
    expect(json).toMatchObject({ schemaVersion: 1, command: "sweep", backend: "trap-and-emulate", identical: true });
    expect(["interpreter", "bt"]).toContain(json.engine);
    expect(json.depths).toHaveLength(2);
  });
});

describe("paths", () => {
  it("resolve against the folder `pnpm matryoshka` was run from (pnpm passes it as INIT_CWD)", async () => {
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      // docs/ is a folder of the repository that is no package (pnpm runs the root's script from it).
      const child = spawn("pnpm", ["matryoshka", "run", "../guests/hello/hello.elf", "--json", join(scratch, "from-subfolder.json")], { cwd: join(repoRoot, "docs"), stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("Hello from matryoshka");
    expect(run.status).toBe(0);
  });

  it("every path option follows INIT_CWD, not the process's own folder", async () => {
    const folder = mkdtempSync(join(scratch, "user-"));
    copyFileSync(guestPath("hello"), join(folder, "guest.elf"));
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "apps/matryoshka/src/main.ts", "run", "guest.elf", "--json", "stats.json"], {
      cwd: repoRoot,
      env: { ...process.env, INIT_CWD: folder },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const status = await new Promise((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(status).toBe(0);
    expect(JSON.parse(readFileSync(join(folder, "stats.json"), "utf8")).status).toBe(0);
    expect(existsSync(join(repoRoot, "stats.json"))).toBe(false);
  });

  it("a bare word that is no file in the user's folder is still a bundled guest's name", async () => {
    const folder = mkdtempSync(join(scratch, "elsewhere-"));
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "apps/matryoshka/src/main.ts", "run", "hello"], {
      cwd: repoRoot,
      env: { ...process.env, INIT_CWD: folder },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    const status = await new Promise((resolve) => child.on("close", resolve));
    expect(stdout).toContain("Hello from matryoshka");
    expect(status).toBe(0);
  });
});

describe("--stats width", () => {
  it("tables fit an 80-column width at depth 30 (COLUMNS when not a terminal)", async () => {
    const { status, stderr } = await runFrontDoor(["run", guestPath("hello"), "--depth", "30", "--stats"], { env: { ...process.env, COLUMNS: "80" } });
    expect(status).toBe(0);
    const lines = stripVTControlCharacters(stderr).split("\n");
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(80);
    // Every column is still there, in some table, with every level.
    for (const head of ["exit: budget", "reflected", "shadow fills", "pages resident/shared", "balloon held/target"]) expect(stderr).toContain(head);
    expect(stderr.match(/│ L30 /g)!.length).toBeGreaterThan(1);
  }, 60_000);

  it("fittedTables cuts columns into tables that each repeat the first column", () => {
    const head = ["name", ...Array.from({ length: 12 }, (_, index) => `column number ${index}`)];
    const rows = [["first", ...head.slice(1).map((_, index) => String(index * 1000))]];
    const text = fittedTables(head, rows, { color: false, width: 60 });
    const lines = text.split("\n");
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(60);
    expect(text.match(/ name /g)!.length).toBeGreaterThan(2);
    for (let index = 0; index < 12; index++) expect(text).toContain(`column number ${index}`);
    expect(fittedTables(head, rows, { color: false }).split("\n")[0]!.length).toBeGreaterThan(60);
  });

  it("takes the terminal's width, else COLUMNS, else none", () => {
    expect(columnsOf({ isTTY: true, columns: 91 }, { COLUMNS: "50" })).toBe(91);
    expect(columnsOf({ isTTY: false }, { COLUMNS: "50" })).toBe(50);
    expect(columnsOf({ isTTY: false }, { COLUMNS: "wide" })).toBeUndefined();
    expect(columnsOf({ isTTY: false }, {})).toBeUndefined();
  });
});

describe("signals", () => {
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    it(`${signal} with --stats prints the summary of the run so far and exits ${code}`, async () => {
      const file = join(scratch, `${signal}.json`);
      // The kernel guest waits for console input once its tasks are done; stdin stays open.
      const child = spawnCli(["run", guestPath("kernel"), "--disk", join(repoRoot, "guests/kernel/disk.img"), "--stats", "--json", file]);
      let stdout = "";
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      const exited = new Promise<number | null>((resolve) => child.on("close", (status) => resolve(status)));
      await new Promise<void>((resolve) =>
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString("latin1");
          if (stdout.includes("sched:")) resolve();
        }),
      );
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(stderr).toContain(`matryoshka: interrupted by ${signal}`);
      expect(stderr).toMatch(/instructions\s*│\s*[\d,]+/);
      const json = JSON.parse(readFileSync(file, "utf8"));
      expect(json).toMatchObject({ schemaVersion: 1, status: code, outcome: `interrupted by ${signal}` });
      expect(json.instructions).toBeGreaterThan(0);
      child.stdin.end();
    }, 60_000);
  }
});

describe("Ctrl-A escapes", () => {
  it("pass bytes, act on commands, and send one Ctrl-A for two", () => {
    const printed: string[] = [];
    const commands: string[] = [];
    let quits = 0;
    const escapes = new ConsoleEscapes({ quit: () => quits++, print: (text) => printed.push(text), command: (line) => commands.push(line) });
    expect([...escapes.filter(Uint8Array.from([0x61, 0x01, 0x01, 0x62]))]).toEqual([0x61, 0x01, 0x62]);
    expect([...escapes.filter(Uint8Array.from([0x01]))]).toEqual([]);
    expect([...escapes.filter(Uint8Array.from([0x68, 0x7a]))]).toEqual([0x7a]); // C-a split across reads
    expect(printed.join("")).toContain("C-a x    exit matryoshka");
    escapes.filter(Uint8Array.from([0x01, 0x63, ...Buffer.from("info registers\r")]));
    expect(escapes.inMonitor).toBe(true);
    expect(commands).toEqual(["info registers"]);
    expect([...escapes.filter(Uint8Array.from([0x01, 0x63, 0x71]))]).toEqual([0x71]);
    expect(escapes.inMonitor).toBe(false);
    escapes.filter(Uint8Array.from([0x01, 0x78]));
    expect(quits).toBe(1);
    expect([...escapes.filter(Uint8Array.from([0x01, 0x7a, 0x61]))]).toEqual([0x61]); // C-a z: no command, dropped
  });

  it.skipIf(!pythonAvailable)("in a pseudo-terminal: C-a c opens the monitor (stop, info registers, cont), C-a h helps, C-a x quits with status 0", async () => {
    // crc32 under two hypervisors, interpreted, runs for seconds after its first line, so each step
    // lands while the guest still runs (the test kernel finishes in about a second without input,
    // and the translator runs crc32 in one: too close).
    const plan = {
      timeout: 60,
      steps: [
        ["round 7:", "\u0001cstop\r"],
        ["paused", "info registers\r"],
        ["x31/t6", "cont\r"],
        ["running", "\u0001h"],
        ["C-a x    exit matryoshka", "\u0001x"],
      ],
    };
    const child = spawn("python3", [join(repoRoot, "apps/matryoshka/test/fixtures/pty-driver.py"), JSON.stringify(plan), process.execPath, "--conditions=source", "--import", "tsx", "apps/matryoshka/src/main.ts", "run", guestPath("crc32"), "--depth", "2", "--engine", "interpreter"], { cwd: repoRoot });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    await new Promise((resolve) => child.on("close", resolve));
    const result = JSON.parse(out) as { status: number; output: string; missing: string | null };
    expect(result.missing).toBeNull();
    expect(result.output).toContain("C-a c    switch between console and monitor");
    expect(result.output).toMatch(/hart 0 \(level 2\): pc [0-9a-f]{8} priv [USM]/);
    expect(result.output).toContain("matryoshka: terminated");
    expect(result.output).not.toContain("round 127:"); // quit before the guest's end
    expect(result.status).toBe(0);
  }, 90_000);
});
