export {
  HartState,
  MATRYOSHKA_EXTENSION,
  MatryoshkaFunction,
  DBCN_MAX_BYTES,
  REMOTE_FENCE_PAGE_LIMIT,
  SharedPage,
  SBI_IMPLEMENTATION_ID,
  SBI_IMPLEMENTATION_VERSION,
  SBI_SPEC_VERSION,
  SbiError,
  SbiExtension,
  SbiFirmware,
  SRST_REASON_FAILURE_CODE,
  type SbiFirmwareOptions,
  type SbiFirmwareState,
  type SbiStats,
} from "./sbi.js";
export { DIRECT_PAGING_VERSION, DirectPaging, MMU_MACHINE_FRAMES_MAX, MMU_UPDATE_MAX, PTE_IO } from "./direct-paging.js";
export type { DirectPagingState } from "./direct-paging.js";
