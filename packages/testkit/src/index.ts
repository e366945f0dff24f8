export * from "./qemu.js";
export * from "./guests.js";
