export { ExitKind } from "./platform.js";
export type { Platform, PlatformHart } from "./platform.js";
export { bareMetal } from "./bare-metal.js";
export { TrapAndEmulate } from "./trap-and-emulate.js";
export type { ExitStats } from "./trap-and-emulate.js";
export { VM } from "./vm.js";
export type { VmConfig, VmPlacement, VmStats } from "./vm.js";
export { DEFAULT_SHADOW_FRAMES, Hypervisor, vmFootprintBytes } from "./hypervisor.js";
