/**
 * The kernel thread: the entry of a Bun Worker the replication thread starts
 * when a volume names a kernel device (`device = "/dev/nbdN"`). Its calls
 * block (a unix socket's handshake, generic netlink), so they run here, never
 * on the replication thread that serves the NBD socket they talk to, nor on
 * the heartbeat's. Attach: connect to the volume's NBD socket, do the
 * handshake (nbd/client.ts), and give the socket to the kernel's NBD device
 * (core/os/nbd.ts) with the export's size and flags. Detach: refused while
 * the device is held (mounted), else NBD_CMD_DISCONNECT.
 */
import { closeSocket } from "../../core/os/libc.ts";
import { blockDeviceBusy, connectUnix, nbdConnect, nbdDisconnect, nbdIndexOf, readExact, writeAll } from "../../core/os/nbd.ts";
import { negotiate } from "./nbd/client.ts";
import type { FromKernelThread, ToKernelThread } from "./messages.ts";

declare const self: Worker;

/** Each read and write of the handshake waits this long at most. */
export const HANDSHAKE_IO_MS = 2000;
/** Seconds the kernel lets a request take before it fails it: the peer link's own bound (5 s of silence) and a resync's pace stay well inside. */
export const REQUEST_TIMEOUT_S = 60;
/** The block size the kernel device announces: the volume's 4 KiB. */
export const DEVICE_BLOCK_BYTES = 4096;

const post = (m: FromKernelThread) => self.postMessage(m);

function attach(m: Extract<ToKernelThread, { type: "attach" }>): void {
  const index = nbdIndexOf(m.device)!;
  const fd = connectUnix(m.socket, HANDSHAKE_IO_MS);
  try {
    const got = negotiate({ read: (n) => readExact(fd, n, `the handshake with ${m.socket}`), write: (b) => writeAll(fd, b, `the handshake with ${m.socket}`) }, m.export);
    // The kernel takes its own reference to the socket: this thread's descriptor is closed below.
    nbdConnect({ index, sizeBytes: got.size, blockSize: DEVICE_BLOCK_BYTES, timeoutSeconds: REQUEST_TIMEOUT_S, serverFlags: got.flags, clientFlags: 0, fds: [fd] });
  } finally {
    closeSocket(fd);
  }
}

function detach(m: Extract<ToKernelThread, { type: "detach" }>): void {
  if (blockDeviceBusy(m.device)) throw new Error(`${m.device} is in use (mounted?): stop what uses it first`);
  nbdDisconnect(nbdIndexOf(m.device)!);
}

self.onmessage = (e: MessageEvent<ToKernelThread>) => {
  const m = e.data;
  if (m.type === "stop") return post({ type: "stopped" });
  try {
    if (m.type === "attach") attach(m);
    else detach(m);
    post({ type: "done", id: m.id });
  } catch (err) {
    post({ type: "done", id: m.id, error: (err as Error).message });
  }
};
