// The QEMU runner is a public package of its own (the CLI's `oracle` command uses it); tests keep
// finding it here beside the guests.
export * from "@matryoshka/qemu-oracle";
export * from "./guests.js";
export * from "./front-door.js";
export * from "./fuzz.js";
