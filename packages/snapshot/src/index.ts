export { decodeSnapshot, encodeSnapshot, jsonSection, readJsonSection, requireSection, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, SnapshotError } from "./format.js";
export type { Section } from "./format.js";
export { decodeRam, encodeRam, PAGE_BYTES } from "./ram.js";
export { bootSections, captureLevels, describeDisks, fileSha256, loadRun, restoreLevels, saveRun, snapshotConfig } from "./run.js";
export type { LevelState, LoadedRun, SavedDisk, SavedRun, SaveRunOptions, SnapshotConfig } from "./run.js";
