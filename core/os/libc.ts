/**
 * The few libc calls that core/os needs, through bun:ffi, and the one error
 * they throw. Loaded on first use, so a module that imports this but never
 * touches the kernel (a config check, a test of params) opens nothing.
 *
 * errno is read with `__errno_location()` right after the call that failed,
 * before any other JavaScript runs: bun:ffi has no errno of its own, and the
 * value is thread-local, so nothing else can change it between the two calls.
 */
import { dlopen, read } from "bun:ffi";
import { constants } from "node:os";

const LIBC = "libc.so.6";

const SYMBOLS = {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  bind: { args: ["i32", "buffer", "u32"], returns: "i32" },
  connect: { args: ["i32", "buffer", "u32"], returns: "i32" },
  send: { args: ["i32", "buffer", "buffer_length", "i32"], returns: "i64" },
  setsockopt: { args: ["i32", "i32", "i32", "buffer", "u32"], returns: "i32" },
  sendto: { args: ["i32", "buffer", "buffer_length", "i32", "buffer", "u32"], returns: "i64" },
  recv: { args: ["i32", "buffer", "buffer_length", "i32"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
  open: { args: ["buffer", "i32"], returns: "i32" },
  ioctl: { args: ["i32", "u64", "buffer"], returns: "i32" },
  fallocate: { args: ["i32", "i32", "i64", "i64"], returns: "i32" },
  if_nametoindex: { args: ["buffer"], returns: "u32" },
  strerror: { args: ["i32"], returns: "cstring" },
  sched_setscheduler: { args: ["i32", "i32", "buffer"], returns: "i32" },
  gettid: { args: [], returns: "i32" },
  setpriority: { args: ["i32", "u32", "i32"], returns: "i32" },
  getsid: { args: ["i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

type Libc = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];
let libc: Libc | null = null;

/** The loaded symbols (dlopen on first use). */
export function sys(): Libc {
  libc ??= dlopen(LIBC, SYMBOLS).symbols;
  return libc;
}

/** errno of the last failed call on this thread; read it at once after the call. */
export function lastErrno(): number {
  const at = sys().__errno_location();
  return at === null ? 0 : read.i32(at, 0);
}

export const ERRNO = constants.errno;
const ERRNO_NAMES = new Map<number, string>(Object.entries(ERRNO).map(([name, n]) => [n, name]));

/** "ENODEV" for 19; "errno 999" for a number this platform does not name. */
function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/**
 * A kernel call that failed: `what` says what was being done ("add
 * 198.18.5.9/24 on eth9"), `errno` the kernel's answer; the message joins
 * them with the system's text, "add 198.18.5.9/24 on eth9: No such device
 * (ENODEV)", and `detail` when there is more to say (the kernel's own words).
 */
export class OsError extends Error {
  override readonly name = "OsError";
  readonly code: string;

  constructor(
    readonly what: string,
    readonly errno: number,
    detail?: string,
  ) {
    const code = errnoName(errno);
    super(`${what}: ${sys().strerror(errno) ?? code} (${code})${detail ? `: ${detail}` : ""}`);
    this.code = code;
  }
}

/** Throws OsError with the current errno when a call returned a negative value. */
export function check<T extends number | bigint>(result: T, what: () => string): T {
  if (result < 0) throw new OsError(what(), lastErrno());
  return result;
}

/** A NUL-terminated copy of `text`, for calls that take a C string. */
export function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

const SOCKET_OPTION_INT_BYTES = 4;
const TIMEVAL_BYTES = 16;
/** Field offsets in struct timeval (64-bit). */
const TIMEVAL = { sec: 0, usec: 8 } as const;
const US_PER_MS = 1000;
const MS_PER_S = 1000;

/** setsockopt with an int value. */
export function setIntOption(fd: number, level: number, option: number, value: number, what: () => string): void {
  const v = new Int32Array([value]);
  check(sys().setsockopt(fd, level, option, v, SOCKET_OPTION_INT_BYTES), what);
}

/** setsockopt with a struct timeval of `ms` (SO_RCVTIMEO). */
export function setTimeoutOption(fd: number, level: number, option: number, ms: number, what: () => string): void {
  const tv = new DataView(new ArrayBuffer(TIMEVAL_BYTES));
  tv.setBigInt64(TIMEVAL.sec, BigInt(Math.floor(ms / MS_PER_S)), true);
  tv.setBigInt64(TIMEVAL.usec, BigInt((ms % MS_PER_S) * US_PER_MS), true);
  check(sys().setsockopt(fd, level, option, tv, TIMEVAL_BYTES), what);
}

/** Opens a socket with SOCK_CLOEXEC; throws OsError. */
export function openSocket(domain: number, type: number, protocol: number, what: () => string): number {
  return check(sys().socket(domain, type | SOCK_CLOEXEC, protocol), what);
}

export function closeSocket(fd: number): void {
  sys().close(fd);
}

const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVTIMEO = 20;
export const SO_SNDTIMEO = 21;
export const MSG_DONTWAIT = 0x40;
