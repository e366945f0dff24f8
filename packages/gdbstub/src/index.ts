export { encodePacket, fromHex, hexToWord, MAX_PACKET, PacketReader, parseHexNumber, toHex, unescapeBinary, wordToHex, type ProtocolEvent } from "./packets.js";
export { FIRST_CSR_REGNUM, PC_REGNUM, PRIV_REGNUM, targetDescription, type CsrName, type DebugTarget } from "./target.js";
export { GdbStub, type Connection, type PendingAccess } from "./stub.js";
export { HartDebugger, HartTarget } from "./hart-target.js";
export { listenGdb, type GdbServer } from "./tcp.js";
