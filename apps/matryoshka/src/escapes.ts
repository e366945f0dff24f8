// Ctrl-A escapes on a terminal's console input, as QEMU's -nographic multiplexer reads them: the
// byte after Ctrl-A is a command for matryoshka, not input for the guest.

/** Ctrl-A, the escape byte. */
export const ESCAPE = 0x01;

/** What the escapes act on: the run (quit, pause, continue) and the monitor's commands. */
export interface EscapeActions {
  /** Ctrl-A x: end the run. */
  quit(): void;
  /** Text for the user (help, the monitor's answers), already with `\r\n` line ends (the terminal is raw). */
  print(text: string): void;
  /** A monitor command line (without its line end); the monitor answers through `print`. */
  command(line: string): void;
}

/** What Ctrl-A h prints. */
export const ESCAPE_HELP = [
  "C-a h    print this help",
  "C-a x    exit matryoshka",
  "C-a c    switch between console and monitor",
  "C-a C-a  sends C-a to the guest",
].join("\r\n");

/**
 * The escape state machine. `filter` takes raw bytes from the terminal and returns those meant for
 * the guest; the others it acts on. A Ctrl-A followed by a byte that is no command is dropped with
 * both bytes, as QEMU's mux does. In monitor mode every byte goes to the monitor's line (echoed,
 * since the terminal is raw), and a line end runs it.
 */
export class ConsoleEscapes {
  private afterEscape = false;
  private monitor = false;
  private line = "";

  constructor(private readonly actions: EscapeActions) {}

  /** Whether keys go to the monitor rather than the guest. */
  get inMonitor(): boolean {
    return this.monitor;
  }

  filter(bytes: Uint8Array): Uint8Array {
    const guest: number[] = [];
    for (const byte of bytes) {
      if (this.afterEscape) {
        this.afterEscape = false;
        this.escape(byte, guest);
      } else if (byte === ESCAPE) {
        this.afterEscape = true;
      } else if (this.monitor) {
        this.monitorByte(byte);
      } else {
        guest.push(byte);
      }
    }
    return Uint8Array.from(guest);
  }

  private escape(byte: number, guest: number[]): void {
    switch (byte) {
      case 0x78: // x
        this.actions.quit();
        return;
      case 0x68: // h
        this.actions.print(`${ESCAPE_HELP}\r\n`);
        return;
      case 0x63: // c
        this.monitor = !this.monitor;
        this.line = "";
        this.actions.print(this.monitor ? "\r\nmatryoshka monitor: type help for its commands\r\n(matryoshka) " : "\r\n");
        return;
      case ESCAPE:
        if (this.monitor) this.monitorByte(byte);
        else guest.push(ESCAPE);
        return;
      default:
        return;
    }
  }

  private monitorByte(byte: number): void {
    if (byte === 0x0d || byte === 0x0a) {
      this.actions.print("\r\n");
      const line = this.line.trim();
      this.line = "";
      if (line !== "") this.actions.command(line);
      if (this.monitor) this.actions.print("(matryoshka) ");
    } else if (byte === 0x7f || byte === 0x08) {
      if (this.line.length > 0) {
        this.line = this.line.slice(0, -1);
        this.actions.print("\b \b");
      }
    } else if (byte >= 0x20 && byte < 0x7f) {
      this.line += String.fromCharCode(byte);
      this.actions.print(String.fromCharCode(byte));
    }
  }
}
