import { createServer, type Server, type Socket } from "node:net";
import type { GdbStub } from "./stub.js";

/**
 * Serves a stub on TCP (QEMU's `-gdb tcp::PORT`): one client at a time (another is turned away),
 * and a client that goes away without `D` detaches all the same.
 */
export function listenGdb(stub: GdbStub, host: string, port: number): Promise<Server> {
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    const connection = { write: (bytes: Uint8Array) => void socket.write(bytes), end: () => void socket.end() };
    if (!stub.attach(connection)) {
      socket.end();
      return;
    }
    let attached = true;
    const gone = () => {
      if (!attached) return;
      attached = false;
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
      resolve(server);
    });
  });
}
