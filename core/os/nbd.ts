/**
 * The kernel's NBD client (drivers/block/nbd.c) through its generic netlink
 * family "nbd" (<linux/nbd-netlink.h>): connect /dev/nbdN to sockets that
 * already finished an NBD handshake, with the export's size, block size and
 * transmission flags, and disconnect it again. The kernel speaks only the
 * transmission phase: the handshake is the caller's, over a unix socket
 * opened here with blocking, bounded reads and writes (run it on a thread
 * of its own, never the heartbeat's). The attribute builders are pure;
 * the calls act on the kernel of the calling process and need root.
 */
import { resolveFamily, GenlSocket } from "./genetlink.ts";
import { ERRNO, OsError, SOL_SOCKET, SO_RCVTIMEO, SO_SNDTIMEO, check, closeSocket, cString, lastErrno, openSocket, setTimeoutOption, sys } from "./libc.ts";
import { nlaMap, nlaNested, nlaU32, nlaU64, readU32, type Nla } from "./nlattr.ts";

export const NBD_GENL_FAMILY_NAME = "nbd";
export const NBD_GENL_VERSION = 1;

/** Commands of the family. */
export const NBD_CMD = { CONNECT: 1, DISCONNECT: 2, RECONFIGURE: 3, LINK_DEAD: 4, STATUS: 5 } as const;
/** Attributes of CONNECT and DISCONNECT (the kernel's policy: INDEX u32, the sizes, timeouts and flags u64, SOCKETS nested). */
export const NBD_ATTR = { INDEX: 1, SIZE_BYTES: 2, BLOCK_SIZE_BYTES: 3, TIMEOUT: 4, SERVER_FLAGS: 5, CLIENT_FLAGS: 6, SOCKETS: 7, DEAD_CONN_TIMEOUT: 8, DEVICE_LIST: 9 } as const;
/** In NBD_ATTR_SOCKETS: an item per socket, each holding its file descriptor (u32). */
export const NBD_SOCK_ITEM = 1;
export const NBD_SOCK_FD = 1;
/** Client flags: free the device when it is disconnected; disconnect when the last opener closes it. */
export const NBD_CFLAG = { DESTROY_ON_DISCONNECT: 1 << 0, DISCONNECT_ON_CLOSE: 1 << 1 } as const;

/** Devices are /dev/nbd0 to /dev/nbd{nbds_max - 1}; the index is a u32, and the kernel takes at most 2^20 minors. */
const MAX_INDEX = 2 ** 20 - 1;

export interface NbdConnect {
  /** N of /dev/nbdN. */
  index: number;
  sizeBytes: number;
  /** A power of two from 512 to the page size. */
  blockSize: number;
  /** Seconds a request may take before the kernel times it out (then the dead-connection wait). */
  timeoutSeconds: number;
  /** The export's transmission flags from the handshake (NBD_FLAG_*). */
  serverFlags: number;
  clientFlags: number;
  /** Sockets in the transmission phase, one per connection. */
  fds: readonly number[];
  /** Seconds the kernel waits for a dead connection to be replaced before it fails requests. */
  deadConnTimeoutSeconds?: number;
}

/** N of "/dev/nbdN"; undefined for any other path. */
export function nbdIndexOf(device: string): number | undefined {
  const m = /^\/dev\/nbd(0|[1-9][0-9]{0,6})$/.exec(device);
  return m && Number(m[1]) <= MAX_INDEX ? Number(m[1]) : undefined;
}

/** CONNECT's attributes, in the header's order. Pure; RangeError on a value out of its type's range. */
export function connectAttrs(c: NbdConnect): Nla[] {
  if (!c.fds.length) throw new RangeError("NBD_CMD_CONNECT needs a socket");
  return [
    nlaU32(NBD_ATTR.INDEX, c.index),
    nlaU64(NBD_ATTR.SIZE_BYTES, BigInt(c.sizeBytes)),
    nlaU64(NBD_ATTR.BLOCK_SIZE_BYTES, BigInt(c.blockSize)),
    nlaU64(NBD_ATTR.TIMEOUT, BigInt(c.timeoutSeconds)),
    nlaU64(NBD_ATTR.SERVER_FLAGS, BigInt(c.serverFlags)),
    nlaU64(NBD_ATTR.CLIENT_FLAGS, BigInt(c.clientFlags)),
    nlaNested(
      NBD_ATTR.SOCKETS,
      c.fds.map((fd) => nlaNested(NBD_SOCK_ITEM, [nlaU32(NBD_SOCK_FD, fd)])),
    ),
    ...(c.deadConnTimeoutSeconds !== undefined ? [nlaU64(NBD_ATTR.DEAD_CONN_TIMEOUT, BigInt(c.deadConnTimeoutSeconds))] : []),
  ];
}

export const disconnectAttrs = (index: number): Nla[] => [nlaU32(NBD_ATTR.INDEX, index)];

const family = (what: string) => resolveFamily(NBD_GENL_FAMILY_NAME, `the kernel has no NBD client (modprobe nbd) for ${what}`);

/**
 * Connects /dev/nbdN to the sockets (the kernel takes its own reference: the
 * caller may close them after); the index the kernel used. Their receive and
 * send timeouts are cleared first: the kernel reads with the socket's own,
 * and takes the EAGAIN of an idle device for a dead connection. OsError:
 * EBUSY when the device is connected already.
 */
export function nbdConnect(c: NbdConnect): number {
  const what = `connect /dev/nbd${c.index}`;
  const id = family(what);
  for (const fd of c.fds) {
    setTimeoutOption(fd, SOL_SOCKET, SO_RCVTIMEO, 0, () => what);
    setTimeoutOption(fd, SOL_SOCKET, SO_SNDTIMEO, 0, () => what);
  }
  const socket = new GenlSocket(what);
  try {
    const replies = socket.query(what, id, NBD_CMD.CONNECT, NBD_GENL_VERSION, connectAttrs(c));
    return readU32(nlaMap(replies[0]?.attrs ?? []).get(NBD_ATTR.INDEX)) ?? c.index;
  } finally {
    socket.close();
  }
}

/** Disconnects /dev/nbdN: the kernel sends NBD_CMD_DISC to the server and fails what is still queued. */
export function nbdDisconnect(index: number): void {
  const what = `disconnect /dev/nbd${index}`;
  const socket = new GenlSocket(what);
  try {
    socket.request(what, family(what), NBD_CMD.DISCONNECT, NBD_GENL_VERSION, disconnectAttrs(index));
  } finally {
    socket.close();
  }
}

// <fcntl.h>
const O_RDONLY = 0;
const O_EXCL = 0o200;
const O_CLOEXEC = 0o2000000;

/**
 * Whether a block device is held (mounted, or opened exclusively: a
 * filesystem, a device-mapper table): an exclusive open of it fails with
 * EBUSY then. False when it is free; OsError on another failure.
 */
export function blockDeviceBusy(device: string): boolean {
  const fd = sys().open(cString(device), O_RDONLY | O_EXCL | O_CLOEXEC);
  if (fd >= 0) {
    sys().close(fd);
    return false;
  }
  const errno = lastErrno();
  if (errno === ERRNO.EBUSY) return true;
  throw new OsError(`open ${device}`, errno);
}

// <sys/socket.h>, <sys/un.h>
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SUN_PATH_BYTES = 108;
const SOCKADDR_UN_BYTES = 2 + SUN_PATH_BYTES;
const MSG_NOSIGNAL = 0x4000;

/** struct sockaddr_un for `path`; RangeError when the path does not fit (107 bytes). Pure. */
export function sockaddrUn(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length === 0 || bytes.length >= SUN_PATH_BYTES || bytes.includes(0)) throw new RangeError(`"${path}" is not a unix socket path of 1 to ${SUN_PATH_BYTES - 1} bytes`);
  const out = new Uint8Array(SOCKADDR_UN_BYTES);
  new DataView(out.buffer).setUint16(0, AF_UNIX, true);
  out.set(bytes, 2);
  return out;
}

/** A blocking stream socket connected to the unix socket `path`, each read and write bounded by `timeoutMs`; close it with closeSocket. */
export function connectUnix(path: string, timeoutMs: number): number {
  const what = () => `connect to ${path}`;
  const fd = openSocket(AF_UNIX, SOCK_STREAM, 0, what);
  try {
    setTimeoutOption(fd, SOL_SOCKET, SO_RCVTIMEO, timeoutMs, what);
    setTimeoutOption(fd, SOL_SOCKET, SO_SNDTIMEO, timeoutMs, what);
    const sa = sockaddrUn(path);
    check(sys().connect(fd, sa, sa.length), what);
    return fd;
  } catch (err) {
    closeSocket(fd);
    throw err;
  }
}

/**
 * Reads and writes on a socket from connectUnix, all of them together
 * within `ms` from now: each waits for what is left of it (its socket
 * timeout set before it); OsError ETIMEDOUT once nothing is left, EAGAIN
 * when a call used it up.
 */
export function boundedStream(fd: number, ms: number, what: string): { read(n: number): Uint8Array; write(bytes: Uint8Array): void } {
  const until = performance.now() + ms;
  const left = (option: number): void => {
    const rest = Math.ceil(until - performance.now());
    if (rest <= 0) throw new OsError(what, ERRNO.ETIMEDOUT, `not done within ${ms} ms`);
    setTimeoutOption(fd, SOL_SOCKET, option, rest, () => what);
  };
  return {
    read: (n) => (left(SO_RCVTIMEO), readExact(fd, n, what)),
    write: (bytes) => (left(SO_SNDTIMEO), writeAll(fd, bytes, what)),
  };
}

/** Writes all of `bytes`; OsError (EAGAIN after the socket's timeout). */
export function writeAll(fd: number, bytes: Uint8Array, what: string): void {
  for (let at = 0; at < bytes.length; ) {
    const rest = bytes.subarray(at);
    const n = Number(sys().send(fd, rest, rest, MSG_NOSIGNAL));
    if (n < 0) {
      const errno = lastErrno();
      if (errno === ERRNO.EINTR) continue;
      throw new OsError(what, errno);
    }
    at += n;
  }
}

/** Reads exactly `n` bytes; OsError on a timeout (EAGAIN) or when the peer closes first (ECONNRESET). */
export function readExact(fd: number, n: number, what: string): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; ) {
    const rest = out.subarray(at);
    const got = Number(sys().recv(fd, rest, rest, 0));
    if (got < 0) {
      const errno = lastErrno();
      if (errno === ERRNO.EINTR) continue;
      throw new OsError(what, errno);
    }
    if (got === 0) throw new OsError(what, ERRNO.ECONNRESET, `the server closed the connection after ${at} of ${n} bytes`);
    at += got;
  }
  return out;
}
