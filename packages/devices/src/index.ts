export { UART_SIZE, Uart16550 } from "./uart.js";
export { TEST_DEVICE_SIZE, TestDevice } from "./test-device.js";
export type { FinisherEvent } from "./test-device.js";
export {
  DescriptorChain,
  SplitVirtqueue,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_DESC_SIZE,
  VIRTQ_MAX_SIZE,
  descriptorTableSize,
  deviceAreaSize,
  driverAreaSize,
  legacyQueueLayout,
} from "./virtqueue.js";
export type { BufferSegment, VirtqueueLayout } from "./virtqueue.js";
export {
  EmptyVirtioSlot,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  VIRTIO_INTERRUPT_CONFIG_CHANGE,
  VIRTIO_INTERRUPT_USED_BUFFER,
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_SIZE,
  VIRTIO_MMIO_VENDOR_ID,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FAILED,
  VIRTIO_STATUS_FEATURES_OK,
  VirtioMmio,
  VirtioMmioRegister,
  featureBit,
} from "./virtio-mmio.js";
export type { VirtioDevice, VirtioMmioOptions } from "./virtio-mmio.js";
export { CopyOnWriteBlockBackend, FileBlockBackend, MemoryBlockBackend } from "./block-backend.js";
export type { BlockBackend } from "./block-backend.js";
export {
  VIRTIO_BLK_DEFAULT_QUEUE_SIZE,
  VIRTIO_BLK_DEVICE_ID,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_MAX_REQUEST_BYTES,
  VIRTIO_BLK_TRANSFER_CHUNK,
  VIRTIO_BLK_SECTOR_SIZE,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VirtioBlk,
} from "./virtio-blk.js";
export type { VirtioBlkOptions, VirtioBlkStats } from "./virtio-blk.js";
export { GOLDFISH_RTC_SIZE, GoldfishRtc, GoldfishRtcRegister } from "./rtc.js";
export { HTIF_MAX_PENDING_ANSWERS, HTIF_MAX_WRITE_BYTES, HTIF_REGISTER_SIZE, Htif } from "./htif.js";
export type { HtifOptions } from "./htif.js";
