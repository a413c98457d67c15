/**
 * The service manager's notification protocol (sd_notify(3)), without
 * libsystemd: one datagram per message, "KEY=VALUE" lines, to the unix socket
 * that systemd names in NOTIFY_SOCKET (a path, or "@name" in the abstract
 * namespace). The node says READY=1 when it runs, RELOADING=1 then READY=1
 * around a reload, STOPPING=1 when it stops, STATUS= what it is doing, and
 * pets the watchdog (WATCHDOG=1) every half WATCHDOG_USEC from the control
 * thread, so a control loop that stops turning is killed and restarted.
 *
 * Sent with MSG_DONTWAIT: a full or absent manager never blocks the control
 * thread; a failed send is reported once (to the caller's log) and dropped.
 */
import { ERRNO, MSG_DONTWAIT, closeSocket, lastErrno, OsError, openSocket, sys } from "./os/libc.ts";

export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
/** struct sockaddr_un: sa_family_t then sun_path[108]. */
const SUN_PATH_OFFSET = 2;
const SUN_PATH_BYTES = 108;
const US_PER_MS = 1000;
/** How often the watchdog is petted within WATCHDOG_USEC, as sd_watchdog_enabled(3) advises. */
const PETS_PER_WATCHDOG = 2;

export interface NotifyEnv {
  /** NOTIFY_SOCKET as given: "/run/systemd/notify" or "@abstract-name". */
  socket: string;
  /** Pet the watchdog this often (half of WATCHDOG_USEC); undefined when the manager set no watchdog for this process. */
  watchdogMs?: number;
}

/**
 * What the environment asks for, or undefined when no manager listens. A
 * WATCHDOG_PID that names another process (the variables leaked to a child)
 * means no watchdog for this one. Throws on a NOTIFY_SOCKET that is neither a
 * path nor an abstract name, or too long for sun_path.
 */
export function notifyEnv(env: Record<string, string | undefined>, pid: number): NotifyEnv | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  if (!/^[/@]/.test(socket)) throw new Error(`NOTIFY_SOCKET "${socket}" is neither an absolute path nor an abstract name (@name)`);
  if (Buffer.byteLength(socket) >= SUN_PATH_BYTES) throw new Error(`NOTIFY_SOCKET "${socket}" is longer than a unix socket address (${SUN_PATH_BYTES - 1} bytes)`);
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  const watchdogMs = forUs && Number.isSafeInteger(usec) && usec > 0 ? Math.max(1, Math.floor(usec / US_PER_MS / PETS_PER_WATCHDOG)) : undefined;
  return { socket, watchdogMs };
}

/** The sockaddr_un for `socket` and its length: a path ends with NUL; an abstract name starts with NUL and has none. */
export function unixAddress(socket: string): { addr: Uint8Array; length: number } {
  const path = Buffer.from(socket);
  if (socket.startsWith("@")) path[0] = 0;
  const addr = new Uint8Array(SUN_PATH_OFFSET + SUN_PATH_BYTES);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(path, SUN_PATH_OFFSET);
  return { addr, length: SUN_PATH_OFFSET + path.length + (socket.startsWith("@") ? 0 : 1) };
}

/** "KEY=VALUE" lines of a message; a newline inside a value (a STATUS from an error text) becomes a space. */
export function notifyMessage(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${String(v).replace(/\n/g, " ")}`)
    .join("\n");
}

/** Opens a datagram socket to the manager; each send is one message. */
export class Notifier {
  private readonly fd: number;
  private readonly to: { addr: Uint8Array; length: number };
  private failed = false;

  constructor(
    readonly env: NotifyEnv,
    private readonly onError: (message: string) => void,
  ) {
    this.to = unixAddress(env.socket);
    this.fd = openSocket(AF_UNIX, SOCK_DGRAM, 0, () => `socket(AF_UNIX, SOCK_DGRAM) for NOTIFY_SOCKET ${env.socket}`);
  }

  send(fields: Record<string, string | number>): boolean {
    const message = new TextEncoder().encode(notifyMessage(fields));
    const sent = sys().sendto(this.fd, message, message, MSG_DONTWAIT, this.to.addr, this.to.length);
    if (sent >= 0) {
      this.failed = false;
      return true;
    }
    const errno = lastErrno();
    // Reported once per run of failures: a manager that went away must not flood the log every pet.
    if (!this.failed) this.onError(new OsError(`notify the service manager at ${this.env.socket}`, errno).message + (errno === ERRNO.EAGAIN ? " (its queue is full)" : ""));
    this.failed = true;
    return false;
  }

  close(): void {
    closeSocket(this.fd);
  }
}
