import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { vmFootprintBytes } from "@matryoshka/vmm";

/**
 * The partitioner's configuration file (JSON), as a user writes it. Paths are relative to the
 * file. See the README for an example.
 */
export interface PartitionConfig {
  /**
   * The host: how many harts there are to split, and (optionally) how much memory. Partitions
   * reserve their VM's memory; the shared VMs share what is left as one pool, which may be smaller
   * than their memory together (overcommit), managed by the `memory` policy.
   */
  machine: { harts: number; memoryMiB?: number };
  /** How the shared pool's memory is managed (Waldspurger's ESX memory manager); see `MemoryConfig`. */
  memory?: MemoryConfig;
  /** Policy of the shared pool (default "credit"). */
  scheduler?: SchedulerName;
  /** Guest time to run, in milliseconds (the board's 10 MHz timer: 100 000 instructions per ms). */
  duration: number;
  vms: VmConfigEntry[];
}

export interface VmConfigEntry {
  name: string;
  /** ELF (or raw image) to boot, relative to the config file. */
  guest: string;
  /** Virtual harts of the VM (default 1). */
  vcpus?: number;
  /** A partition: these host harts, exclusively. Excludes `share`. */
  harts?: number[];
  /** A share of the pool (the harts no partition took), time-sliced by `scheduler`. Excludes `harts`. */
  share?: { weight?: number; cap?: number };
  /** RAM of the VM in MiB (default 64). */
  memoryMiB?: number;
  /** Raw disk image for a virtio-blk device, relative to the config file; the VM writes to a private copy. */
  disk?: string;
  /** virtio-mmio version of the disk's transport (default 1, QEMU's). */
  virtio?: 1 | 2;
  /** Bytes typed on the VM's console at boot. */
  input?: string;
  /**
   * The name of a virtual switch to put a virtio-net card of the VM on. VMs naming the same switch
   * share one learning L2 switch, whatever their partitions or the pool: frames cross threads
   * through shared memory. The card's MAC is 52:54:00:12:34:56 + the VM's index in `vms`.
   */
  net?: string;
  /** Shared VMs: its claim on the pool's memory, against the others' (default 1000). */
  memoryShares?: number;
  /** Shared VMs: memory it keeps whatever the others need, in MiB (default 0). */
  minMiB?: number;
}

/** The shared pool's memory policy, as the config states it. */
export interface MemoryConfig {
  /** Content-based page sharing (default true). */
  sharing?: boolean;
  /** Balloon drivers: every shared VM gets a virtio-balloon device, and targets from its share (default true). */
  balloon?: boolean;
  /** The idle memory tax τ, from 0 to below 1 (default 0.75). */
  idleTax?: number;
  /** A file to swap pages to when ballooning cannot keep up, relative to the config (default: no swapping). */
  swap?: string;
}

/** The memory policy with its defaults filled in. */
export interface MemoryPlan {
  sharing: boolean;
  balloon: boolean;
  idleTax: number;
  /** Absolute path of the swap file, if swapping. */
  swapPath?: string;
}

export const SCHEDULER_NAMES = ["round-robin", "credit", "stride"] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** A board has at most 8 harts, so a partition or the shared pool (each one host machine) does too. */
export const MAX_HARTS_PER_MACHINE = 8;
/** Harts the whole machine may have: partitions are separate boards, so more than one board's worth. */
export const MAX_MACHINE_HARTS = 64;
/** Largest host RAM of one board (VirtMachine's limit), which a partition's or the pool's VMs must fit in. */
const MAX_BOARD_MIB = 2047;
const DEFAULT_VM_MIB = 64;
/**
 * Largest disk image a VM may have: the partitioner holds each VM's disk in memory (a private copy
 * sent to its worker thread), so a file of any size must not become a buffer of that size.
 */
const MAX_CONFIG_BYTES = 1048576;
export const MAX_PARTITION_DISK_BYTES = 512 * 1048576;
const DEFAULT_WEIGHT = 1;

/** A config that cannot run: every problem found, each naming the field (`vms[1].harts: ...`). */
export class PartitionConfigError extends Error {
  override readonly name = "PartitionConfigError";
  readonly problems: readonly string[];

  constructor(problems: readonly string[], source?: string) {
    super(`${source === undefined ? "" : `${source}: `}${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join("\n  ")}`}`);
    this.problems = problems;
  }
}

/** A VM as the partitioner runs it: defaults filled in, paths absolute. */
export interface PlannedVm {
  /** Position in the config's `vms` (for messages: `vms[index]`). */
  index: number;
  name: string;
  guestPath: string;
  vcpus: number;
  memoryMiB: number;
  diskPath?: string;
  virtio: 1 | 2;
  input?: string;
  /** The switch its network card is on, if it has one. */
  net?: string;
  /** Shared VMs' memory claim (1000 by default) and the MiB it keeps (0 by default). */
  memoryShares: number;
  minMiB: number;
  placement: { kind: "partition"; harts: number[] } | { kind: "shared"; weight: number; cap: number };
}

/** A validated configuration. */
export interface PartitionPlan {
  machineHarts: number;
  scheduler: SchedulerName;
  durationMs: number;
  vms: PlannedVm[];
  /** Host harts no partition took, ascending: the shared pool. */
  poolHarts: number[];
  /** The machine's memory, if the config gives it. */
  machineMemoryMiB?: number;
  /**
   * Host memory of the shared pool: what the partitions leave of `machine.memoryMiB`, or, without
   * it, exactly what the shared VMs need (no overcommit).
   */
  poolMemoryMiB: number;
  /** The pool's memory manager's policy; undefined: no memory manager (as before memory pools). */
  memory?: MemoryPlan;
}

const TOP_LEVEL_FIELDS = ["machine", "memory", "scheduler", "duration", "vms"];
const VM_FIELDS = ["name", "guest", "vcpus", "harts", "share", "memoryMiB", "disk", "virtio", "input", "memoryShares", "minMiB", "net"];
const MEMORY_FIELDS = ["sharing", "balloon", "idleTax", "swap"];
/** The most memory a machine may claim: one board's worth per hart it may have. */
const MAX_MACHINE_MIB = MAX_MACHINE_HARTS * MAX_BOARD_MIB;
const DEFAULT_MEMORY_SHARES = 1000;
const MIB = 1024 * 1024;
const SHARE_FIELDS = ["weight", "cap"];

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value);
const show = (value: unknown) => JSON.stringify(value) ?? String(value);

/** Reads and validates a config file; throws PartitionConfigError naming the file and the fields at fault. */
export function loadPartitionConfig(path: string): PartitionPlan {
  if (!existsSync(path)) throw new PartitionConfigError([`config file not found: ${path}`]);
  const stat = statSync(path);
  if (!stat.isFile()) throw new PartitionConfigError([`config is not a file: ${path}`]);
  // A config is a few hundred bytes of JSON; refuse to read a huge file whole.
  if (stat.size > MAX_CONFIG_BYTES) throw new PartitionConfigError([`config is ${stat.size} bytes, larger than ${MAX_CONFIG_BYTES / 1048576} MiB: ${path}`]);
  return parsePartitionConfig(readFileSync(path, "utf8"), path);
}

/** Validates a config's text; relative paths in it are resolved against `configPath`'s directory. */
export function parsePartitionConfig(text: string, configPath: string): PartitionPlan {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PartitionConfigError([`not valid JSON: ${error instanceof Error ? error.message : String(error)}`], configPath);
  }
  return validatePartitionConfig(json, dirname(resolve(configPath)), configPath);
}

/**
 * Checks a parsed config and builds the plan. All independent problems are collected, so that one
 * run of the command lists everything to fix.
 */
export function validatePartitionConfig(json: unknown, baseDirectory: string, source?: string): PartitionPlan {
  const problems: string[] = [];
  const fail = (): never => {
    throw new PartitionConfigError(problems, source);
  };
  if (!isObject(json)) {
    problems.push(`the config must be a JSON object with "machine", "duration" and "vms", got ${show(json)}`);
    fail();
  }
  const config = json as Record<string, unknown>;
  unknownFields(config, TOP_LEVEL_FIELDS, "", problems);

  let machineHarts = 0;
  let machineMemoryMiB: number | undefined;
  if (!isObject(config.machine)) problems.push(`machine: expected an object like { "harts": 4 }, got ${show(config.machine)}`);
  else {
    unknownFields(config.machine, ["harts", "memoryMiB"], "machine.", problems);
    const harts = config.machine.harts;
    if (!isInteger(harts) || harts < 1 || harts > MAX_MACHINE_HARTS) problems.push(`machine.harts: expected an integer from 1 to ${MAX_MACHINE_HARTS}, got ${show(harts)}`);
    else machineHarts = harts;
    const memoryMiB = config.machine.memoryMiB;
    if (memoryMiB !== undefined) {
      if (!isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > MAX_MACHINE_MIB) problems.push(`machine.memoryMiB: expected an integer from 1 to ${MAX_MACHINE_MIB}, got ${show(memoryMiB)}`);
      else machineMemoryMiB = memoryMiB;
    }
  }
  const memory = memoryPlan(config.memory, config.machine, baseDirectory, problems);

  let scheduler: SchedulerName = "credit";
  if (config.scheduler !== undefined) {
    const named = SCHEDULER_NAMES.find((name) => name === config.scheduler);
    if (named === undefined) problems.push(`scheduler: expected one of ${SCHEDULER_NAMES.map(show).join(", ")}, got ${show(config.scheduler)}`);
    else scheduler = named;
  }

  const duration = config.duration;
  let durationMs = 0;
  if (typeof duration !== "number" || !Number.isFinite(duration) || duration <= 0 || duration > 3_600_000) {
    problems.push(`duration: expected milliseconds of guest time, a number > 0 and at most 3600000, got ${show(duration)}`);
  } else durationMs = duration;

  if (!Array.isArray(config.vms) || config.vms.length === 0) {
    problems.push(`vms: expected a non-empty array of VMs, got ${show(config.vms)}`);
    fail();
  }
  const entries = config.vms as unknown[];

  const vms: PlannedVm[] = [];
  const nameOwner = new Map<string, number>();
  /** Which VM has each host hart, for "already given to" messages. */
  const hartOwner = new Map<number, string>();
  entries.forEach((entry, index) => {
    const at = `vms[${index}]`;
    if (!isObject(entry)) {
      problems.push(`${at}: expected an object with "name", "guest" and "harts" or "share", got ${show(entry)}`);
      return;
    }
    unknownFields(entry, VM_FIELDS, `${at}.`, problems);
    const before = problems.length;

    const name = typeof entry.name === "string" ? entry.name.trim() : "";
    if (name === "") problems.push(`${at}.name: expected a non-empty string, got ${show(entry.name)}`);
    else if (nameOwner.has(name)) problems.push(`${at}.name: ${show(name)} is already the name of vms[${nameOwner.get(name)}]`);
    else nameOwner.set(name, index);
    const label = name === "" ? at : show(name);

    const guestFile = existingFile(entry.guest, `${at}.guest`, "guest", baseDirectory, problems);
    const diskFile = entry.disk === undefined ? undefined : existingFile(entry.disk, `${at}.disk`, "disk image", baseDirectory, problems);

    let vcpus = 1;
    if (entry.vcpus !== undefined) {
      if (!isInteger(entry.vcpus) || entry.vcpus < 1 || entry.vcpus > MAX_HARTS_PER_MACHINE) {
        problems.push(`${at}.vcpus: expected an integer from 1 to ${MAX_HARTS_PER_MACHINE} (a board's harts), got ${show(entry.vcpus)}`);
      } else vcpus = entry.vcpus;
    }
    let memoryMiB = DEFAULT_VM_MIB;
    if (entry.memoryMiB !== undefined) {
      if (!isInteger(entry.memoryMiB) || entry.memoryMiB < 1 || Math.ceil(vmFootprintBytes(entry.memoryMiB) / 1048576) > MAX_BOARD_MIB) {
        problems.push(`${at}.memoryMiB: expected an integer from 1 to ${MAX_BOARD_MIB - 4} (the host board holds its RAM and 4 MiB of shadow tables), got ${show(entry.memoryMiB)}`);
      } else memoryMiB = entry.memoryMiB;
    }
    // Both files are read whole into host memory: check their sizes first (a file of any size,
    // even one over 2 GiB that Node cannot read at all, fails here as a config problem).
    const guestPath = withinSize(guestFile, memoryMiB * 1048576, `${at}.guest`, `the VM's ${memoryMiB} MiB of RAM (memoryMiB)`, problems);
    const diskPath = withinSize(diskFile, MAX_PARTITION_DISK_BYTES, `${at}.disk`, `the ${MAX_PARTITION_DISK_BYTES / 1048576} MiB a VM's in-memory disk may have`, problems);
    let virtio: 1 | 2 = 1;
    if (entry.virtio !== undefined) {
      if (entry.virtio !== 1 && entry.virtio !== 2) problems.push(`${at}.virtio: expected 1 (legacy) or 2 (modern), got ${show(entry.virtio)}`);
      else virtio = entry.virtio;
    }
    if (entry.input !== undefined && typeof entry.input !== "string") problems.push(`${at}.input: expected a string typed on the console at boot, got ${show(entry.input)}`);
    if (entry.net !== undefined && (typeof entry.net !== "string" || entry.net.trim() === "")) {
      problems.push(`${at}.net: expected the name of a virtual switch (VMs naming the same one share it), got ${show(entry.net)}`);
    }
    let memoryShares = DEFAULT_MEMORY_SHARES;
    if (entry.memoryShares !== undefined) {
      if (typeof entry.memoryShares !== "number" || !Number.isFinite(entry.memoryShares) || entry.memoryShares <= 0) {
        problems.push(`${at}.memoryShares: expected a number > 0, got ${show(entry.memoryShares)}`);
      } else memoryShares = entry.memoryShares;
    }
    let minMiB = 0;
    if (entry.minMiB !== undefined) {
      if (!isInteger(entry.minMiB) || entry.minMiB < 0 || entry.minMiB > memoryMiB) {
        problems.push(`${at}.minMiB: expected an integer from 0 to its memoryMiB (${memoryMiB}), got ${show(entry.minMiB)}`);
      } else minMiB = entry.minMiB;
    }
    if (entry.harts !== undefined && (entry.memoryShares !== undefined || entry.minMiB !== undefined)) {
      problems.push(`${at}: memoryShares and minMiB divide the shared pool's memory; a partition ("harts") has its memoryMiB to itself`);
    }

    let placement: PlannedVm["placement"] | undefined;
    if (entry.harts !== undefined && entry.share !== undefined) {
      problems.push(`${at}: give either "harts" (a partition of its own) or "share" (time-sliced on the shared pool), not both`);
    } else if (entry.harts === undefined && entry.share === undefined) {
      problems.push(`${at}: give either "harts" (a partition: host harts of its own, e.g. [0, 1]) or "share" (time-sliced on the shared pool, e.g. { "weight": 2 })`);
    } else if (entry.harts !== undefined) {
      placement = partition(entry.harts, `${at}.harts`, label, vcpus, machineHarts, hartOwner, problems);
    } else {
      placement = share(entry.share, `${at}.share`, scheduler, problems);
    }

    if (problems.length === before && guestPath !== undefined && placement !== undefined) {
      const net = typeof entry.net === "string" ? entry.net.trim() : undefined;
      vms.push({ index, name, guestPath, vcpus, memoryMiB, diskPath, virtio, input: entry.input as string | undefined, memoryShares, minMiB, net, placement });
    }
  });
  if (problems.length > 0) fail();

  const poolHarts: number[] = [];
  for (let hart = 0; hart < machineHarts; hart++) if (!hartOwner.has(hart)) poolHarts.push(hart);
  const shared = vms.filter((vm) => vm.placement.kind === "shared");
  if (shared.length > 0) {
    if (poolHarts.length === 0) {
      for (const vm of shared) problems.push(`vms[${vm.index}].share: no harts are left for the shared pool (partitions take all ${machineHarts} of the machine's harts)`);
    } else if (poolHarts.length > MAX_HARTS_PER_MACHINE) {
      problems.push(`machine.harts: partitions leave ${poolHarts.length} harts to the shared pool, which is one board of at most ${MAX_HARTS_PER_MACHINE}; partition more of them`);
    } else {
      const maxCap = 100 * poolHarts.length;
      for (const vm of shared) {
        const cap = vm.placement.kind === "shared" ? vm.placement.cap : 0;
        if (cap > maxCap) problems.push(`vms[${vm.index}].share.cap: ${cap}% is more than 100% × the pool's ${poolHarts.length} hart${poolHarts.length === 1 ? "" : "s"} (${maxCap}%)`);
      }
      if (machineMemoryMiB === undefined) {
        const poolMiB = Math.ceil(shared.reduce((sum, vm) => sum + vmFootprintBytes(vm.memoryMiB), 0) / MIB);
        if (poolMiB > MAX_BOARD_MIB) {
          problems.push(`vms: the shared VMs need ${poolMiB} MiB of host memory with their shadow tables, more than one board's ${MAX_BOARD_MIB} MiB; give them less memoryMiB, or set machine.memoryMiB to overcommit`);
        }
      }
    }
  }
  if (problems.length > 0) fail();
  const poolMemoryMiB = poolMemory(vms, machineMemoryMiB, problems);
  if (problems.length > 0) fail();
  // A memory pool turns the memory manager on; so does a "memory" policy on its own.
  const managed = memory ?? (machineMemoryMiB === undefined ? undefined : { sharing: true, balloon: true, idleTax: 0.75 });
  return { machineHarts, scheduler, durationMs, vms, poolHarts, machineMemoryMiB, poolMemoryMiB, memory: managed };
}

/** The "memory" policy, checked, with its defaults. */
function memoryPlan(value: unknown, machine: unknown, baseDirectory: string, problems: string[]): MemoryPlan | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    problems.push(`memory: expected an object like { "sharing": true, "balloon": true, "idleTax": 0.75 }, got ${show(value)}`);
    return undefined;
  }
  unknownFields(value, MEMORY_FIELDS, "memory.", problems);
  const plan: MemoryPlan = { sharing: true, balloon: true, idleTax: 0.75 };
  for (const flag of ["sharing", "balloon"] as const) {
    if (value[flag] === undefined) continue;
    if (typeof value[flag] !== "boolean") problems.push(`memory.${flag}: expected true or false, got ${show(value[flag])}`);
    else plan[flag] = value[flag];
  }
  if (value.idleTax !== undefined) {
    if (typeof value.idleTax !== "number" || !(value.idleTax >= 0 && value.idleTax < 1)) problems.push(`memory.idleTax: expected a number from 0 to below 1 (ESX's default 0.75), got ${show(value.idleTax)}`);
    else plan.idleTax = value.idleTax;
  }
  if (value.swap !== undefined) {
    if (typeof value.swap !== "string" || value.swap === "") problems.push(`memory.swap: expected the path of a swap file (relative to the config file), got ${show(value.swap)}`);
    else {
      const path = resolve(baseDirectory, value.swap);
      if (!existsSync(dirname(path)) || !statSync(dirname(path)).isDirectory()) problems.push(`memory.swap: the folder of the swap file does not exist: ${dirname(path)}`);
      else if (existsSync(path) && !statSync(path).isFile()) problems.push(`memory.swap: not a file: ${path}`);
      else plan.swapPath = path;
    }
  }
  if (isObject(machine) && machine.memoryMiB === undefined && value.swap !== undefined) {
    problems.push(`memory.swap: swapping needs a memory pool smaller than the VMs' memory; set machine.memoryMiB`);
  }
  return plan;
}

/**
 * The shared pool's host memory: what the partitions leave of the machine's memory (each reserves
 * its VM's RAM and shadow tables), or, with no machine memory given, what the shared VMs need.
 */
function poolMemory(vms: readonly PlannedVm[], machineMemoryMiB: number | undefined, problems: string[]): number {
  const footprintMiB = (vm: PlannedVm) => Math.ceil(vmFootprintBytes(vm.memoryMiB) / MIB);
  const shared = vms.filter((vm) => vm.placement.kind === "shared");
  if (machineMemoryMiB === undefined) return Math.ceil(shared.reduce((sum, vm) => sum + vmFootprintBytes(vm.memoryMiB), 0) / MIB);
  const reserved = vms.filter((vm) => vm.placement.kind === "partition").reduce((sum, vm) => sum + footprintMiB(vm), 0);
  if (reserved > machineMemoryMiB) {
    problems.push(`machine.memoryMiB: the partitions reserve ${reserved} MiB (their VMs' memory and shadow tables), more than the machine's ${machineMemoryMiB} MiB`);
    return 0;
  }
  if (shared.length === 0) return 0;
  const pool = Math.min(machineMemoryMiB - reserved, MAX_BOARD_MIB);
  // Every shared VM keeps its minimum and needs room for the little it cannot be without (its
  // shadow tables, taken as it runs; the 4 MiB a partition reserves is their upper bound).
  const needed = shared.reduce((sum, vm) => sum + vm.minMiB + POOL_MIB_PER_VM, 0) + POOL_RESERVE_MIB;
  if (pool < needed) {
    problems.push(
      `machine.memoryMiB: the shared pool gets ${pool} MiB (what the partitions leave), less than the ${needed} MiB its VMs cannot do without ` +
        `(their minMiB, ${POOL_MIB_PER_VM} MiB each for shadow tables and ${POOL_RESERVE_MIB} MiB for the hypervisor)`,
    );
  }
  return pool;
}

/** Host memory of the pool kept for its hypervisor (the memory manager's reserve). */
const POOL_RESERVE_MIB = 1;
/** Pool memory a shared VM cannot do without beyond its minMiB: room for its shadow tables. */
const POOL_MIB_PER_VM = 1;

function unknownFields(object: Record<string, unknown>, known: readonly string[], prefix: string, problems: string[]): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) problems.push(`${prefix}${key}: unknown field (expected ${known.map(show).join(", ")})`);
  }
}

function existingFile(value: unknown, at: string, what: string, baseDirectory: string, problems: string[]): string | undefined {
  if (typeof value !== "string" || value === "") {
    problems.push(`${at}: expected the path of the ${what} (relative to the config file), got ${show(value)}`);
    return undefined;
  }
  const path = resolve(baseDirectory, value);
  if (!existsSync(path)) problems.push(`${at}: ${what} not found: ${path}`);
  else if (!statSync(path).isFile()) problems.push(`${at}: ${what} is not a file: ${path}`);
  else return path;
  return undefined;
}

function withinSize(path: string | undefined, maxBytes: number, at: string, limit: string, problems: string[]): string | undefined {
  if (path === undefined) return undefined;
  const size = statSync(path).size;
  if (size <= maxBytes) return path;
  problems.push(`${at}: ${path} is ${size} bytes, larger than ${limit}`);
  return undefined;
}

/**
 * A partition's harts. Each vCPU gets a hart of its own, so vCPUs may not outnumber the harts: a
 * partition is dedicated hardware, and overcommitting belongs in the shared pool. Fewer vCPUs than
 * harts is allowed (the spare harts idle, as a reserved but unused CPU does).
 */
function partition(
  value: unknown,
  at: string,
  label: string,
  vcpus: number,
  machineHarts: number,
  hartOwner: Map<number, string>,
  problems: string[],
): PlannedVm["placement"] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${at}: expected a non-empty array of host hart ids, got ${show(value)}`);
    return undefined;
  }
  const before = problems.length;
  const harts: number[] = [];
  for (const hart of value) {
    if (!isInteger(hart) || hart < 0 || (machineHarts > 0 && hart >= machineHarts)) {
      problems.push(`${at}: hart ${show(hart)} is not a hart of the machine (ids 0..${Math.max(0, machineHarts - 1)})`);
    } else if (harts.includes(hart)) {
      problems.push(`${at}: hart ${hart} is listed twice`);
    } else if (hartOwner.has(hart)) {
      problems.push(`${at}: hart ${hart} is already given to ${hartOwner.get(hart)}`);
    } else harts.push(hart);
  }
  if (problems.length > before) return undefined;
  if (harts.length > MAX_HARTS_PER_MACHINE) {
    problems.push(`${at}: a partition is one board of at most ${MAX_HARTS_PER_MACHINE} harts, got ${harts.length}`);
    return undefined;
  }
  if (vcpus > harts.length) {
    problems.push(
      `${at}: ${vcpus} vCPUs pinned to ${harts.length} hart${harts.length === 1 ? "" : "s"}; a partition gives each vCPU a hart of its own ` +
        `(give it more harts, fewer vcpus, or put it in the shared pool with "share")`,
    );
    return undefined;
  }
  for (const hart of harts) hartOwner.set(hart, label);
  return { kind: "partition", harts: [...harts].sort((a, b) => a - b) };
}

function share(value: unknown, at: string, scheduler: SchedulerName, problems: string[]): PlannedVm["placement"] | undefined {
  if (!isObject(value)) {
    problems.push(`${at}: expected an object like { "weight": 2, "cap": 50 }, got ${show(value)}`);
    return undefined;
  }
  unknownFields(value, SHARE_FIELDS, `${at}.`, problems);
  const before = problems.length;
  let weight = DEFAULT_WEIGHT;
  if (value.weight !== undefined) {
    if (typeof value.weight !== "number" || !Number.isFinite(value.weight) || value.weight <= 0) {
      problems.push(`${at}.weight: expected a number > 0, got ${show(value.weight)}`);
    } else if (scheduler === "round-robin") {
      problems.push(`${at}.weight: the round-robin scheduler ignores weights; use "scheduler": "credit" or "stride"`);
    } else weight = value.weight;
  }
  let cap = 0;
  if (value.cap !== undefined) {
    // The upper bound (100 × the pool's harts) is checked once the pool is known.
    if (typeof value.cap !== "number" || !Number.isFinite(value.cap) || value.cap < 0) {
      problems.push(`${at}.cap: expected a percentage of one hart, a number >= 0 (0: uncapped), got ${show(value.cap)}`);
    } else cap = value.cap;
  }
  return problems.length > before ? undefined : { kind: "shared", weight, cap };
}
