/**
 * The kernel thread: the entry of a Bun Worker the replication thread starts
 * when a volume names a kernel device (`device = "/dev/nbdN"`). Its calls
 * block (a unix socket's handshake, generic netlink), so they run here, never
 * on the replication thread that serves the NBD socket they talk to, nor on
 * the heartbeat's. Attach: connect to the volume's NBD socket, do the
 * handshake (nbd/client.ts), and give the socket to the kernel's NBD device
 * (core/os/nbd.ts) with the export's size and flags. Detach: refused while
 * the device is held (mounted), else NBD_CMD_DISCONNECT. A handshake that
 * fails on its socket (the replication thread answered too late, or closed
 * it) is tried again on a new connection, HANDSHAKE_ATTEMPTS times at most
 * (each within HANDSHAKE_MS); the netlink call is not.
 */
import { OsError, closeSocket } from "../../core/os/libc.ts";
import { blockDeviceBusy, boundedStream, connectUnix, nbdConnect, nbdDisconnect, nbdIndexOf } from "../../core/os/nbd.ts";
import { negotiate, type Negotiated } from "./nbd/client.ts";
import { HANDSHAKE_ATTEMPTS, HANDSHAKE_MS, HANDSHAKE_RETRY_MS } from "./kernel.ts";
import type { FromKernelThread, ToKernelThread } from "./messages.ts";

declare const self: Worker;

/** Seconds the kernel lets a request take before it fails it: the peer link's own bound (5 s of silence) and a resync's pace stay well inside. */
export const REQUEST_TIMEOUT_S = 60;
/** The block size the kernel device announces: the volume's 4 KiB. */
export const DEVICE_BLOCK_BYTES = 4096;

const post = (m: FromKernelThread) => self.postMessage(m);

function attach(m: Extract<ToKernelThread, { type: "attach" }>): void {
  const index = nbdIndexOf(m.device)!;
  const what = `the handshake with ${m.socket}`;
  for (let attempt = 1; ; attempt++) {
    const fd = connectUnix(m.socket, HANDSHAKE_MS);
    try {
      let got: Negotiated;
      try {
        got = negotiate(boundedStream(fd, HANDSHAKE_MS, what), m.export);
      } catch (err) {
        if (!(err instanceof OsError)) throw err;
        if (attempt >= HANDSHAKE_ATTEMPTS) throw new Error(`${(err as Error).message} (attempt ${attempt} of ${HANDSHAKE_ATTEMPTS})`);
        Bun.sleepSync(HANDSHAKE_RETRY_MS);
        continue;
      }
      // The kernel takes its own reference to the socket: this thread's descriptor is closed below.
      nbdConnect({ index, sizeBytes: got.size, blockSize: DEVICE_BLOCK_BYTES, timeoutSeconds: REQUEST_TIMEOUT_S, serverFlags: got.flags, clientFlags: 0, fds: [fd] });
      return;
    } finally {
      closeSocket(fd);
    }
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
