/** A service manager's end of sd_notify for tests: a unix datagram socket bound where NOTIFY_SOCKET says, read by polling. */
import { ERRNO, MSG_DONTWAIT, check, closeSocket, lastErrno, openSocket, sys } from "../../core/os/libc.ts";
import { AF_UNIX, SOCK_DGRAM, unixAddress } from "../../core/sd-notify.ts";

/** The largest message a test expects (systemd accepts up to a page or so). */
const MAX_MESSAGE = 4096;
const POLL_MS = 10;

export interface Received {
  at: number;
  fields: Record<string, string>;
}

export class NotifyListener {
  readonly messages: Received[] = [];
  private readonly fd: number;
  private readonly timer: ReturnType<typeof setInterval>;

  /** `socket`: a path, or "@name" for the abstract namespace. */
  constructor(readonly socket: string) {
    this.fd = openSocket(AF_UNIX, SOCK_DGRAM, 0, () => "socket(AF_UNIX, SOCK_DGRAM)");
    const { addr, length } = unixAddress(socket);
    check(sys().bind(this.fd, addr, length), () => `bind ${socket}`);
    this.timer = setInterval(() => this.drain(), POLL_MS);
  }

  drain(): void {
    const buf = new Uint8Array(MAX_MESSAGE);
    for (;;) {
      const n = Number(sys().recv(this.fd, buf, buf, MSG_DONTWAIT));
      if (n < 0) {
        const errno = lastErrno();
        if (errno === ERRNO.EAGAIN) return;
        throw new Error(`recv on ${this.socket}: errno ${errno}`);
      }
      const text = new TextDecoder().decode(buf.subarray(0, n));
      this.messages.push({ at: performance.now(), fields: Object.fromEntries(text.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)])) });
    }
  }

  /** The messages that carry `key`, in order. */
  with(key: string): Received[] {
    return this.messages.filter((m) => key in m.fields);
  }

  close(): void {
    clearInterval(this.timer);
    closeSocket(this.fd);
  }
}
