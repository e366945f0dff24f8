export { QEMU_CPU, qemuAvailability, qemuCommandLine, runOnQemu, type QemuOptions, type QemuResult } from "./qemu.js";
