import { describe, expect, it } from "vitest";
import {
  MemoryBlockBackend, VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_F_INDIRECT_DESC, VIRTIO_INTERRUPT_CONFIG_CHANGE,
  VIRTIO_INTERRUPT_USED_BUFFER, VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FEATURES_OK, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
  VirtioMmioRegister as R,
} from "@matryoshka/devices";
import { VIRT, VirtMachine, type RunOutcome } from "@matryoshka/machine";
import { guestPhysical as gpa, type GuestMemory, type Ram } from "@matryoshka/memory";
import { bareMetal, Hypervisor, vmFootprintBytes, type Platform, type VM } from "@matryoshka/vmm";
import {
  bootStack, buildStack, ConsoleCapture, fillPattern, freeHostPages, guestBoardOptions, guestImage, HostMemoryGuard, MIB,
  runGuestAt, runSliced, scriptPlayer, ScriptOp, shadowHostPages, snapshotLevel, vmHostPages, writeScript, type GuestMachineOptions, type GuestRun,
  type ScriptEntry, type Stack,
} from "./support.js";

/** Instructions per `vm.run` when VMs take turns. */
const SLICE = 100_000;

interface Runner {
  vm: VM;
  console: ConsoleCapture;
  outcome?: RunOutcome;
  slices: number;
}

/** Two or more VMs of one hypervisor on one bare-metal host: each VM's board is its own guest's. */
function sideBySide(names: string[], extraHostMiB = 0): { host: VirtMachine; runners: Runner[] } {
  const hostMiB = names.length * Math.ceil(vmFootprintBytes(128) / MIB) + extraHostMiB;
  const host = new VirtMachine({ memoryMiB: hostMiB });
  const hypervisor = new Hypervisor(bareMetal(host));
  const runners = names.map((name): Runner => {
    const console = new ConsoleCapture();
    const vm = hypervisor.createVm({ ...guestBoardOptions(name, console.sink), name });
    vm.boot({ kernel: guestImage(name) });
    return { vm, console, slices: 0 };
  });
  return { host, runners };
}

/** One slice of a runner's VM; true once its guest has finished. */
function step(runner: Runner, slice: number): boolean {
  if (runner.outcome !== undefined) return true;
  runner.slices++;
  const outcome = runner.vm.run(slice);
  if (outcome.kind !== "limit") runner.outcome = outcome;
  return runner.outcome !== undefined;
}

const soloRuns = new Map<string, GuestRun>();
function solo(name: string, depth: number): GuestRun {
  const key = `${name}@${depth}`;
  let run = soloRuns.get(key);
  if (run === undefined) {
    run = runGuestAt(name, depth, { slice: SLICE });
    soloRuns.set(key, run);
  }
  return run;
}

describe("VMs side by side under one hypervisor", () => {
  it.each([
    ["kernel (with its disk) and crc32", ["kernel", "crc32"]],
    ["hello, interrupts and traps", ["hello", "interrupts", "traps"]],
  ])("%s, interleaved slice by slice, behave exactly as when each runs alone", (_label, names) => {
    const { runners } = sideBySide(names);
    let turns = 0;
    while (!runners.map((runner) => step(runner, SLICE)).every(Boolean)) turns++;
    expect(turns).toBeGreaterThan(0);
    for (const [i, runner] of runners.entries()) {
      const name = names[i]!;
      const bare = solo(name, 0);
      const alone = solo(name, 1);
      expect(bare.outcome).toEqual({ kind: "pass" });
      expect(bare.output.length).toBeGreaterThan(0);
      expect({ name, outcome: runner.outcome, output: runner.console.text }).toEqual({ name, outcome: bare.outcome, output: bare.output });
      expect({ name, output: alone.output }).toEqual({ name, output: bare.output });
      // The VM's hypervisor saw exactly the exits it sees when the VM runs alone: the neighbour
      // left no trace in its view (same trace hash, same counters, same shadow-table work).
      expect({ name, ...snapshotLevel(runner.vm) }).toEqual({ name, ...alone.levels[0]! });
      expect(runner.vm.board.instructions).toBe(bare.instructions);
    }
    // The outputs really are different: a mix-up of consoles could not go unnoticed.
    expect(new Set(runners.map((runner) => runner.console.text)).size).toBe(names.length);
  });
});

describe("memory isolation between VMs", () => {
  /** Slices of the misbehaving VM: small, so that it takes many turns. */
  const B_SLICE = 5_000;

  it.each([
    ["A (crc32) made before B (isolation)", ["crc32", "isolation"], 1],
    ["B (isolation) made before A (crc32)", ["isolation", "crc32"], 0],
  ] as const)("%s: B's slices change no host byte outside the frames B owns", (_label, names, bIndex) => {
    const { host, runners } = sideBySide([...names], 4);
    const a = runners[1 - bIndex]!;
    const b = runners[bIndex]!;
    const ram = host.ram as Ram;
    // Host memory no VM owns yet: fill it so that any stray write, zeros included, shows. Frames
    // a VM takes from it during its slice become its own (and so may change).
    const free = freeHostPages(ram, [a.vm, b.vm]);
    expect(free.length).toBeGreaterThan(1024);
    fillPattern(ram, free, 0x5eed);

    const guard = new HostMemoryGuard(ram);
    const aChanges: number[] = [];
    for (let turn = 0; b.outcome === undefined; turn++) {
      guard.snapshot();
      step(b, B_SLICE);
      expect({ turn, changedOutsideB: guard.changes(vmHostPages(b.vm)) }).toEqual({ turn, changedOutsideB: [] });
      if (a.outcome === undefined && turn < 4) {
        // Positive control of the guard: A's own slices do change A's memory, and nothing else.
        guard.snapshot();
        step(a, SLICE);
        aChanges.push(guard.changes(vmHostPages(b.vm), 1000).length);
        expect({ turn, changedOutsideA: guard.changes(vmHostPages(a.vm)) }).toEqual({ turn, changedOutsideA: [] });
      } else {
        step(a, SLICE);
      }
    }
    expect(aChanges.length).toBe(4);
    expect(aChanges.some((pages) => pages > 0)).toBe(true);
    // B took many turns, A ran between them.
    expect(b.slices).toBeGreaterThan(10);
    while (!step(a, SLICE));

    const isolationBare = solo("isolation", 0);
    expect(isolationBare.outcome).toEqual({ kind: "pass" });
    expect(isolationBare.output).toMatch(/ok/);
    expect(isolationBare.output).not.toMatch(/FAIL/);
    expect({ outcome: b.outcome, output: b.console.text }).toEqual({ outcome: isolationBare.outcome, output: isolationBare.output });
    const crcBare = solo("crc32", 0);
    expect({ outcome: a.outcome, output: a.console.text }).toEqual({ outcome: crcBare.outcome, output: crcBare.output });
  });
});

// ---------------------------------------------------------------------------------------------
// virtio-blk DMA outside the VM's RAM: a tiny guest drives the device (its MMIO accesses trap and
// are emulated against the VM's board), with descriptors the test wrote into guest RAM.

const RAM_END = VIRT.dram.base + 128 * MIB;
/** The first disk takes the highest virtio-mmio slot, IRQ 8 (as QEMU). */
const VIRTIO_BASE = VIRT.virtio.base + (VIRT.virtio.count - 1) * VIRT.virtio.size;
const VIRTIO_IRQ = VIRT.virtio.firstIrq + VIRT.virtio.count - 1;
const PLIC_PENDING = VIRT.plic.base + 0x1000;
const QUEUE_SIZE = 8;
const SECTOR = 512;
const SENTINEL = 0xa5;
const STATUS_SENTINEL = 0xff;

/** What a case puts in its descriptors. */
interface DmaCase {
  name: string;
  /** IN reads `sector` into the data buffer; OUT writes the data buffer to `sector`. */
  type: number;
  sector: number;
  /** Where the data buffer is, by default in RAM. */
  data?: number;
  /** Where the request header and the status byte are, by default in RAM. */
  header?: number;
  status?: number;
  /** Where the queue is, by default in RAM (the layout itself then lies outside). */
  queue?: number;
  /** Use an indirect table at this address for the whole chain. */
  indirect?: number;
  /** A valid request: answered OK through the used ring. */
  valid: boolean;
}

const CASES: DmaCase[] = [
  { name: "read into RAM (positive control)", type: VIRTIO_BLK_T_IN, sector: 1, valid: true },
  { name: "write from RAM (positive control)", type: VIRTIO_BLK_T_OUT, sector: 2, valid: true },
  { name: "read through an indirect table in RAM (positive control)", type: VIRTIO_BLK_T_IN, sector: 3, indirect: 0, valid: true },
  { name: "read into a buffer just past the end of RAM", type: VIRTIO_BLK_T_IN, sector: 1, data: RAM_END, valid: false },
  { name: "read into a buffer straddling the end of RAM", type: VIRTIO_BLK_T_IN, sector: 1, data: RAM_END - SECTOR / 2, valid: false },
  // 2^32 + an address in RAM: a device that kept only the low 32 bits would write into RAM.
  { name: "read into a buffer above 4 GiB aliasing RAM", type: VIRTIO_BLK_T_IN, sector: 1, data: 0x1_0000_0000 + VIRT.dram.base + 0x30_0000, valid: false },
  { name: "read into the UART (MMIO, not RAM)", type: VIRTIO_BLK_T_IN, sector: 1, data: VIRT.uart0.base, valid: false },
  { name: "read into the hole at 0", type: VIRTIO_BLK_T_IN, sector: 1, data: 0, valid: false },
  // Would leak memory beyond the VM into the disk.
  { name: "write from a buffer past the end of RAM", type: VIRTIO_BLK_T_OUT, sector: 4, data: RAM_END, valid: false },
  { name: "write from a buffer straddling the end of RAM", type: VIRTIO_BLK_T_OUT, sector: 4, data: RAM_END - SECTOR / 2, valid: false },
  { name: "request header past the end of RAM", type: VIRTIO_BLK_T_IN, sector: 1, header: RAM_END + 0x1000, valid: false },
  { name: "status byte past the end of RAM", type: VIRTIO_BLK_T_IN, sector: 1, status: RAM_END, valid: false },
  { name: "indirect table past the end of RAM", type: VIRTIO_BLK_T_IN, sector: 1, indirect: RAM_END - 16, valid: false },
  { name: "queue (descriptor table) past the end of RAM", type: VIRTIO_BLK_T_IN, sector: 1, queue: RAM_END, valid: false },
];

/** Guest-physical areas of case `i`: 64 KiB each, from 0x80100000. */
function caseArea(i: number) {
  const base = VIRT.dram.base + 0x10_0000 + i * 0x1_0000;
  return { queue: base, header: base + 0x2000, indirect: base + 0x2100, status: base + 0x2200, data: base + 0x3000 };
}

/** Legacy queue layout at `queue` (QueueAlign 4096): descriptors, available ring, used ring on the next page. */
function ringLayout(queue: number) {
  return { desc: queue, avail: queue + 16 * QUEUE_SIZE, used: queue + 0x1000 };
}

function disk(): MemoryBlockBackend {
  const bytes = new Uint8Array(64 * SECTOR);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 9) * 13 + 1) & 0xff;
  return new MemoryBlockBackend(bytes);
}

/** Writes the case's request into guest RAM (only the parts that lie in RAM) and returns its driver script. */
function prepareCase(ram: GuestMemory, version: 1 | 2, i: number, c: DmaCase): ScriptEntry[] {
  const area = caseArea(i);
  const header = c.header ?? area.header;
  const data = c.data ?? area.data;
  const status = c.status ?? area.status;
  const queue = c.queue ?? area.queue;
  const ring = ringLayout(queue);
  const put = (address: number, bytes: Uint8Array) => ram.contains(gpa(address), bytes.length) && ram.write(gpa(address), bytes);
  const view = (length: number) => {
    const bytes = new Uint8Array(length);
    return { bytes, view: new DataView(bytes.buffer) };
  };
  // Request header: type, reserved, sector.
  const h = view(16);
  h.view.setUint32(0, c.type, true);
  h.view.setUint32(8, c.sector, true);
  put(header, h.bytes);
  put(status, Uint8Array.of(STATUS_SENTINEL));
  // The data buffer: a pattern to write (OUT) or sentinels that a read must replace (IN). Buffers
  // not wholly in RAM hold sentinels (both straddling cases share the last bytes of RAM).
  const buffer = new Uint8Array(SECTOR).fill(SENTINEL);
  if (c.type === VIRTIO_BLK_T_OUT && ram.contains(gpa(data), SECTOR)) for (let k = 0; k < SECTOR; k++) buffer[k] = (k * 31 + i) & 0xff;
  if (ram.contains(gpa(data), SECTOR)) put(data, buffer);
  else if (data < RAM_END && data + SECTOR > RAM_END) put(data, buffer.subarray(0, RAM_END - data));
  // The aliased RAM page of the above-4-GiB buffer.
  if (data >= 0x1_0000_0000) put(data - 0x1_0000_0000, buffer);
  // Three descriptors: header (readable), data (writable for IN), status (writable).
  const descriptors = view(48);
  const writeDescriptor = (at: number, address: number, length: number, flags: number, next: number) => {
    descriptors.view.setUint32(at, address % 0x1_0000_0000, true);
    descriptors.view.setUint32(at + 4, Math.floor(address / 0x1_0000_0000), true);
    descriptors.view.setUint32(at + 8, length, true);
    descriptors.view.setUint16(at + 12, flags, true);
    descriptors.view.setUint16(at + 14, next, true);
  };
  writeDescriptor(0, header, 16, VIRTQ_DESC_F_NEXT, 1);
  writeDescriptor(16, data, SECTOR, VIRTQ_DESC_F_NEXT | (c.type === VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0), 2);
  writeDescriptor(32, status, 1, VIRTQ_DESC_F_WRITE, 0);
  if (c.indirect === undefined) {
    put(ring.desc, descriptors.bytes);
  } else {
    const table = c.indirect || area.indirect;
    put(table, descriptors.bytes);
    const head = view(16);
    head.view.setUint32(0, table, true);
    head.view.setUint32(8, 48, true);
    head.view.setUint16(12, VIRTQ_DESC_F_INDIRECT, true);
    put(ring.desc, head.bytes);
  }
  // Available ring: flags 0, idx 1, ring[0] = head 0. Used ring: idx 0.
  const avail = view(4 + 2 * QUEUE_SIZE);
  avail.view.setUint16(2, 1, true);
  put(ring.avail, avail.bytes);
  put(ring.used, new Uint8Array(4 + 8 * QUEUE_SIZE));

  const features = c.indirect === undefined ? 0 : 1 << VIRTIO_F_INDIRECT_DESC;
  const store = (register: number, value: number): ScriptEntry => ({ op: ScriptOp.Store, address: VIRTIO_BASE + register, value });
  const load = (address: number): ScriptEntry => ({ op: ScriptOp.Load, address, value: 0xdead_beef });
  const script: ScriptEntry[] = [store(R.Status, 0), store(R.Status, VIRTIO_STATUS_ACKNOWLEDGE), store(R.Status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)];
  let driverStatus = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
  if (version === 1) {
    script.push(store(R.DriverFeaturesSel, 0), store(R.DriverFeatures, features), store(R.GuestPageSize, 4096));
    script.push(store(R.QueueSel, 0), store(R.QueueNum, QUEUE_SIZE), store(R.QueueAlign, 4096), store(R.QueuePFN, queue / 4096));
  } else {
    driverStatus |= VIRTIO_STATUS_FEATURES_OK;
    script.push(store(R.DriverFeaturesSel, 1), store(R.DriverFeatures, 1), store(R.DriverFeaturesSel, 0), store(R.DriverFeatures, features));
    script.push(store(R.Status, driverStatus), store(R.QueueSel, 0), store(R.QueueNum, QUEUE_SIZE));
    script.push(store(R.QueueDescLow, ring.desc), store(R.QueueDescHigh, 0), store(R.QueueDriverLow, ring.avail), store(R.QueueDriverHigh, 0));
    script.push(store(R.QueueDeviceLow, ring.used), store(R.QueueDeviceHigh, 0), store(R.QueueReady, 1));
  }
  script.push(store(R.Status, driverStatus | VIRTIO_STATUS_DRIVER_OK), store(R.QueueNotify, 0));
  // What the driver then reads: Status, InterruptStatus, the PLIC's pending bits, used->idx.
  script.push(load(VIRTIO_BASE + R.Status), load(VIRTIO_BASE + R.InterruptStatus), load(PLIC_PENDING));
  if (ram.contains(gpa(ring.used), 4)) script.push(load(ring.used));
  return script;
}

/** What the guest observed for one case, and what its buffers hold afterwards. */
interface Observed {
  name: string;
  status: number;
  interruptStatus: number;
  irqPending: boolean;
  usedIdx: number | undefined;
  used0: number[] | undefined;
  statusByte: number | undefined;
  /** The bytes of the data buffer that lie in RAM (or its aliased page in RAM). */
  dataInRam: Uint8Array | undefined;
}

interface DmaRun {
  outcome: RunOutcome;
  observed: Observed[];
  disk: Uint8Array;
  changedOutsideVm: string[];
  watched: number;
  failure: string | undefined;
}

/**
 * The host for `depth` (0: the bare board) with the disk VM beside a neighbour VM at every level,
 * and 4 MiB of free host memory, so that there is host memory all around the VM under test.
 */
function dmaStack(depth: number, backend: MemoryBlockBackend, version: 1 | 2): { stack: Stack; allowed: (ramToo?: boolean) => Set<number> } {
  const options: GuestMachineOptions = { disks: [backend], virtioVersion: version, rtcEpochMilliseconds: 0 };
  if (depth === 0) return { stack: buildStack(0, options), allowed: () => new Set() };
  const NEIGHBOUR_MIB = 4;
  // Inside out: level k's RAM holds a neighbour VM, the next level's VM and 4 MiB to spare.
  const sizes = [128];
  for (let level = depth - 1; level >= 0; level--) {
    sizes.unshift(Math.ceil((vmFootprintBytes(NEIGHBOUR_MIB) + vmFootprintBytes(sizes[0]!)) / MIB) + 4);
  }
  const host = new VirtMachine({ memoryMiB: sizes[0] });
  let platform: Platform = bareMetal(host);
  const vms: VM[] = [];
  for (let level = 1; level <= depth; level++) {
    const hypervisor = new Hypervisor(platform);
    hypervisor.createVm({ memoryMiB: NEIGHBOUR_MIB, name: `neighbour${level}` });
    const vm = hypervisor.createVm(level === depth ? { ...options, memoryMiB: 128 } : { memoryMiB: sizes[level] });
    vms.push(vm);
    platform = vm;
  }
  const stack: Stack = { guest: vms[depth - 1]!.board, host, vms };
  // What may change while the VM's guest runs: the frames the VM owns (at the end), and the shadow
  // tables of the levels beneath it, which shadow its contexts. Without `ramToo`, only the latter.
  const vm = vms[depth - 1]!;
  const allowed = (ramToo = true): Set<number> => {
    const pages = ramToo ? vmHostPages(vm) : shadowHostPages(vm);
    for (const below of vms.slice(0, -1)) for (const page of shadowHostPages(below)) pages.add(page);
    return pages;
  };
  return { stack, allowed };
}

function runDmaCases(depth: number, version: 1 | 2, cases: DmaCase[]): DmaRun {
  const backend = disk();
  const { stack, allowed } = dmaStack(depth, backend, version);
  const ram = stack.guest.ram;
  const hostRam = stack.host.ram as Ram;
  // Recognizable bytes in all host memory no VM owns (the neighbours are never booted, so they
  // own nothing: frames are taken on first touch).
  fillPattern(hostRam, freeHostPages(hostRam, stack.vms), 0x1234);
  const guard = new HostMemoryGuard(hostRam);
  bootStack(stack, scriptPlayer());
  // Each case resets the device first, as a driver does after DEVICE_NEEDS_RESET.
  const scripts = cases.map((c, i) => prepareCase(ram, version, i, c));
  const addresses = writeScript(ram, scripts.flat());
  guard.snapshot();
  const target = stack.vms.at(-1) ?? stack.guest;
  const { outcome } = runSliced((n) => target.run(n), 1_000_000, 10);
  const allowedPages = allowed();
  const changedOutsideVm = depth === 0 ? [] : guard.changes(allowedPages);
  const watched = hostRam.size - allowedPages.size * 4096;

  const word = (address: number) => ram.readU32(gpa(address))!;
  let entry = 0;
  const observed = cases.map((c, i): Observed => {
    const script = scripts[i]!;
    const loads = script.map((s, k) => ({ s, at: addresses[entry + k]! })).filter(({ s }) => s.op === ScriptOp.Load);
    entry += script.length;
    const value = (k: number) => (loads[k] === undefined ? undefined : word(loads[k]!.at + 8));
    const area = caseArea(i);
    const data = c.data ?? area.data;
    const status = c.status ?? area.status;
    const ring = ringLayout(c.queue ?? area.queue);
    let dataInRam: Uint8Array | undefined;
    if (ram.contains(gpa(data), SECTOR)) dataInRam = ram.read(gpa(data), SECTOR);
    else if (data < RAM_END && data + SECTOR > RAM_END) dataInRam = ram.read(gpa(data), RAM_END - data);
    else if (data >= 0x1_0000_0000) dataInRam = ram.read(gpa(data - 0x1_0000_0000), SECTOR);
    return {
      name: c.name,
      status: value(0)!,
      interruptStatus: value(1)!,
      irqPending: ((value(2)! >>> VIRTIO_IRQ) & 1) === 1,
      usedIdx: value(3) === undefined ? undefined : value(3)! >>> 16,
      used0: ram.contains(gpa(ring.used), 12) ? [word(ring.used + 4), word(ring.used + 8)] : undefined,
      statusByte: ram.contains(gpa(status), 1) ? ram.read(gpa(status), 1)![0] : undefined,
      dataInRam,
    };
  });
  return { outcome, observed, disk: backend.bytes, changedOutsideVm, watched, failure: stack.guest.virtio[0]!.failure };
}

describe("virtio DMA outside the VM's RAM is a device error the driver sees, never a host exception", () => {
  const original = disk().bytes;
  const sector = (bytes: Uint8Array, n: number) => bytes.slice(n * SECTOR, (n + 1) * SECTOR);

  describe.each([1, 2] as const)("virtio-mmio version %i", (version) => {
    const runs = new Map<number, DmaRun>();
    const runAt = (depth: number) => {
      let run = runs.get(depth);
      if (run === undefined) {
        run = runDmaCases(depth, version, CASES);
        runs.set(depth, run);
      }
      return run;
    };

    it.each([0, 1, 2])("depth %i: every request gets the expected answer", (depth) => {
      const run = runAt(depth);
      expect(run.outcome).toEqual({ kind: "pass" });
      const written = new Set<number>();
      for (const [i, c] of CASES.entries()) {
        const seen = run.observed[i]!;
        if (c.valid) {
          expect(seen, c.name).toMatchObject({ status: expect.any(Number), interruptStatus: VIRTIO_INTERRUPT_USED_BUFFER, irqPending: true, usedIdx: 1 });
          expect(seen.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, c.name).toBe(0);
          expect(seen.status & VIRTIO_STATUS_DRIVER_OK, c.name).toBe(VIRTIO_STATUS_DRIVER_OK);
          expect({ name: c.name, used0: seen.used0, statusByte: seen.statusByte }).toEqual({
            name: c.name,
            used0: [0, c.type === VIRTIO_BLK_T_IN ? SECTOR + 1 : 1],
            statusByte: VIRTIO_BLK_S_OK,
          });
          if (c.type === VIRTIO_BLK_T_IN) expect(seen.dataInRam, c.name).toEqual(sector(original, c.sector));
          else {
            written.add(c.sector);
            expect(sector(run.disk, c.sector), c.name).toEqual(Uint8Array.from({ length: SECTOR }, (_, k) => (k * 31 + i) & 0xff));
          }
        } else {
          // DEVICE_NEEDS_RESET and a configuration-change interrupt on the device's line; the
          // request never completes and nothing is written.
          expect({ name: c.name, needsReset: (seen.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0 }).toEqual({ name: c.name, needsReset: true });
          expect({ name: c.name, interruptStatus: seen.interruptStatus & VIRTIO_INTERRUPT_CONFIG_CHANGE, irqPending: seen.irqPending }).toEqual({
            name: c.name,
            interruptStatus: VIRTIO_INTERRUPT_CONFIG_CHANGE,
            irqPending: true,
          });
          expect({ name: c.name, usedIdx: seen.usedIdx ?? 0, statusByte: seen.statusByte ?? STATUS_SENTINEL }).toEqual({
            name: c.name,
            usedIdx: 0,
            statusByte: STATUS_SENTINEL,
          });
          if (seen.dataInRam !== undefined) {
            expect({ name: c.name, untouched: seen.dataInRam.every((b) => b === SENTINEL) }).toEqual({ name: c.name, untouched: true });
          }
        }
      }
      // Only the valid writes reached the disk: nothing beyond the VM's RAM leaked into it.
      for (let n = 0; n < original.length / SECTOR; n++) {
        if (!written.has(n)) expect({ sector: n, bytes: sector(run.disk, n) }).toEqual({ sector: n, bytes: sector(original, n) });
      }
      expect(run.failure).toMatch(/outside guest memory/);
      if (depth > 0) {
        expect(run.watched).toBeGreaterThan(4 * MIB);
        expect({ depth, changedOutsideVm: run.changedOutsideVm }).toEqual({ depth, changedOutsideVm: [] });
      }
    });

    it.each([1, 2])("depth %i: the guest sees exactly what it sees on the bare board", (depth) => {
      const bare = runAt(0);
      const nested = runAt(depth);
      expect(nested.observed).toEqual(bare.observed);
      expect(nested.disk).toEqual(bare.disk);
      expect(nested.failure).toBe(bare.failure);
    });
  });

  it("a guest's own DMA into its RAM does show in host memory (the guard sees a VM's writes)", () => {
    // Positive control of the host-memory guard: with the VM's RAM not excluded, a valid read
    // into RAM is a change the guard reports.
    const backend = disk();
    const { stack, allowed } = dmaStack(1, backend, 1);
    const guard = new HostMemoryGuard(stack.host.ram as Ram);
    bootStack(stack, scriptPlayer());
    writeScript(stack.guest.ram, prepareCase(stack.guest.ram, 1, 0, CASES[0]!));
    guard.snapshot();
    const { outcome } = runSliced((n) => stack.vms[0]!.run(n), 1_000_000, 10);
    expect(outcome).toEqual({ kind: "pass" });
    expect(guard.changes(allowed(false), 1000).length).toBeGreaterThan(0);
    expect(guard.changes(allowed(true), 1000)).toEqual([]);
  });
});
