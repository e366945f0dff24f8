export { UART_SIZE, Uart16550 } from "./uart.js";
export { TEST_DEVICE_SIZE, TestDevice } from "./test-device.js";
export type { FinisherEvent } from "./test-device.js";
