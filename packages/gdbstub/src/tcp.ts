import { createServer, type AddressInfo, type Socket } from "node:net";
import type { GdbStub } from "./stub.js";

/** A listening stub (see `listenGdb`). */
export interface GdbServer {
  readonly host: string;
  /** The port it listens on (the one chosen, when asked for port 0). */
  readonly port: number;
  /** Stops listening and drops the client, if any. */
  close(): Promise<void>;
}

/**
 * Serves a stub on TCP (QEMU's `-gdb tcp::PORT`): one client at a time (another is turned away),
 * and a client that goes away without `D` detaches all the same.
 */
export function listenGdb(stub: GdbStub, host: string, port: number): Promise<GdbServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    const connection = { write: (bytes: Uint8Array) => void socket.write(bytes), end: () => void socket.end() };
    if (!stub.attach(connection)) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const gone = () => {
      sockets.delete(socket);
      if (stub.isAttached(connection)) stub.detach();
    };
    socket.on("data", (bytes: Buffer) => stub.receive(bytes));
    socket.on("close", gone);
    socket.on("error", gone);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      resolve({
        host,
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.end();
            server.close(() => done());
            // A client that does not hang up within a moment is cut off.
            setTimeout(() => sockets.forEach((socket) => socket.destroy()), 200).unref();
          }),
      });
    });
  });
}
