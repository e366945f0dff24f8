import { StopReason } from "@matryoshka/cpu";
import { GdbStub, HartDebugger, HartTarget, listenGdb, type DebugTarget, type GdbServer } from "@matryoshka/gdbstub";
import type { RunOutcome } from "@matryoshka/machine";
import type { Stack } from "@matryoshka/vmm";

/** Before the first stack is built: a target with no threads. */
const NO_TARGET: DebugTarget = {
  threads: [],
  csrs: [],
  readRegister: () => undefined,
  writeRegister: () => false,
  readMemory: () => undefined,
  writeMemory: () => false,
};

/**
 * `run --gdb`: a stub (`@matryoshka/gdbstub`) on TCP, attached to the harts of one level of the
 * run's stack, the guest's own by default.
 *
 * The guest's level is its board's: the board's run loop asks the stub before each hart's turn
 * (`VirtMachine.debugger`). A level beneath (`--gdb-level`) runs no board loop of its own: its
 * harts run the contexts the hypervisor above enters on them, so the stub watches those entries
 * (`PlatformHart.debugger`). When it stops there, every level above is asked to return (a stop
 * request on their harts) and the guest's board, which the run loop drives, pauses too.
 *
 * While stopped, the run loop waits in `afterSlice`; while running, it turns the event loop
 * between slices of `SLICE` instructions, which is when a Ctrl-C from gdb arrives.
 */
export class GdbSession {
  /** Instructions between turns of the event loop: how long a Ctrl-C may wait. */
  static readonly SLICE = 100_000;
  readonly stub: GdbStub;
  private readonly server: GdbServer;
  private readonly level: number | undefined;
  private stack: Stack | undefined;

  private constructor(stub: GdbStub, server: GdbServer, level: number | undefined) {
    this.stub = stub;
    this.server = server;
    this.level = level;
    stub.onKill = () => this.stack?.guest.stop("gdb killed the guest");
  }

  static async listen(host: string, port: number, options: { wait: boolean; level?: number }): Promise<GdbSession> {
    const stub = new GdbStub(NO_TARGET, { startStopped: options.wait });
    const server = await listenGdb(stub, host, port);
    return new GdbSession(stub, server, options.level);
  }

  get host(): string {
    return this.server.host;
  }

  get port(): number {
    return this.server.port;
  }

  /** Attaches to a stack the run built (the first, or the one after a reset). */
  readonly onStack = (stack: Stack): void => {
    this.stack = stack;
    const depth = stack.vms.length;
    const level = this.level ?? depth;
    const board = level === 0 ? stack.host : stack.vms[level - 1]!.board;
    const target = new HartTarget(board.harts);
    const stub = this.stub;
    stub.retarget(target);
    const debug = new HartDebugger(stub, target);
    if (level === depth) {
      stack.guest.debugger = debug;
      return;
    }
    for (const hart of stack.vms[level]!.platform.harts) hart.debugger = debug;
    const above = stack.vms.slice(level).flatMap((vm) => vm.board.harts);
    debug.onStop = () => {
      for (const hart of above) hart.requestStop(StopReason.Halt);
    };
    stack.guest.debugger = {
      get paused() {
        return stub.paused;
      },
      runHart: (hart, budget, run) => run(hart, budget),
    };
  };

  /** Between slices: lets gdb's packets in, and holds the run while the target is stopped. */
  readonly afterSlice = async (): Promise<boolean> => {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.stub.paused) await this.stub.waitWhileStopped();
    return false;
  };

  /** The guest ended: gdb hears its exit status, as from QEMU. */
  ended(outcome: RunOutcome): void {
    if (outcome.kind === "pass") this.stub.exited(0);
    else if (outcome.kind === "fail") this.stub.exited(outcome.code);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
