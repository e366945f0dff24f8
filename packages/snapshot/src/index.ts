export { decodeSnapshot, encodeSnapshot, jsonSection, readJsonSection, requireSection, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, SnapshotError } from "./format.js";
export type { Section } from "./format.js";
export { decodeRam, encodeRam, PAGE_BYTES } from "./ram.js";
export { bootSections, captureLevels, checkSnapshotConfig, describeDisks, fileSha256, loadRun, restoreLevels, saveRun, snapshotConfig, stateSections } from "./run.js";
export type { LevelState, LoadedRun, SavedDisk, SavedRun, SaveRunOptions, SnapshotConfig } from "./run.js";
export { hostMemoryMiB, MessageReader, MigrationError, MigrationSource, parseTcpAddress, receiveMigration } from "./migration.js";
export type { IncomingOptions, MigrationReport, MigrationSourceOptions } from "./migration.js";
