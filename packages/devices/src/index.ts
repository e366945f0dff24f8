export { UART_SIZE, Uart16550 } from "./uart.js";
export type { UartState } from "./uart.js";
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
export type { BufferSegment, VirtqueueLayout, VirtqueueState } from "./virtqueue.js";
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
export type { VirtioDevice, VirtioMmioOptions, VirtioMmioState, VirtioQueueState, VirtioTransport } from "./virtio-mmio.js";
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
export type { GoldfishRtcState } from "./rtc.js";
export { HTIF_MAX_PENDING_ANSWERS, HTIF_MAX_WRITE_BYTES, HTIF_REGISTER_SIZE, Htif } from "./htif.js";
export type { HtifOptions } from "./htif.js";
export { MAC_BYTES, MAX_FRAME_BYTES, MIN_FRAME_BYTES, backendPair, defaultMac, formatMac, frameLengthOk, parseMac } from "./net-backend.js";
export type { NetBackend } from "./net-backend.js";
export {
  VIRTIO_NET_DEFAULT_BACKLOG,
  VIRTIO_NET_DEFAULT_QUEUE_SIZE,
  VIRTIO_NET_DEVICE_ID,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_HDR_SIZE,
  VIRTIO_NET_LEGACY_HDR_SIZE,
  VIRTIO_NET_RX_QUEUE,
  VIRTIO_NET_S_LINK_UP,
  VIRTIO_NET_TX_QUEUE,
  VirtioNet,
} from "./virtio-net.js";
export type { NetTransport, VirtioNetOptions, VirtioNetStats } from "./virtio-net.js";
export { NetSwitch } from "./net-switch.js";
export type { NetSwitchStats } from "./net-switch.js";
export { PCAP_LINKTYPE_ETHERNET, PCAP_MAGIC, PCAP_SNAPLEN, PcapDump, parsePcap, pcapFileHeader, pcapRecord } from "./pcap.js";
export type { PcapRecord } from "./pcap.js";
export { SocketNetBackend } from "./net-socket.js";
export type { SocketNetOptions, SocketNetStats } from "./net-socket.js";
export { FRAME_RING_DEFAULT_BYTES, SharedFrameRing, SharedRingNetBackend, SharedRingPort, sharedLink } from "./net-shared.js";
export type { SharedLinkBuffers } from "./net-shared.js";
export { VIRTIO_RNG_DEVICE_ID, VIRTIO_RNG_MAX_REQUEST, VirtioRng, cryptoEntropy, seededEntropy } from "./virtio-rng.js";
export type { EntropySource, VirtioRngStats } from "./virtio-rng.js";
export {
  VIRTIO_CONSOLE_DEVICE_ID,
  VIRTIO_CONSOLE_F_EMERG_WRITE,
  VIRTIO_CONSOLE_F_MULTIPORT,
  VIRTIO_CONSOLE_F_SIZE,
  VIRTIO_CONSOLE_RX_QUEUE,
  VIRTIO_CONSOLE_TX_QUEUE,
  VirtioConsole,
} from "./virtio-console.js";
export type { ConsoleTransport, VirtioConsoleStats } from "./virtio-console.js";
export {
  VIRTIO_BALLOON_DEVICE_ID, VIRTIO_BALLOON_DEFLATEQ, VIRTIO_BALLOON_F_DEFLATE_ON_OOM, VIRTIO_BALLOON_F_MUST_TELL_HOST,
  VIRTIO_BALLOON_F_STATS_VQ, VIRTIO_BALLOON_INFLATEQ, VIRTIO_BALLOON_PFN_SHIFT, VIRTIO_BALLOON_STATSQ, VirtioBalloon, VirtioBalloonStat,
} from "./virtio-balloon.js";
export type { BalloonBackend, VirtioBalloonOptions, VirtioBalloonStats } from "./virtio-balloon.js";
