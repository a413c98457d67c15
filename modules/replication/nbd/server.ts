/**
 * The NBD server: Bun sockets (a unix socket, and TCP where asked) serving
 * BlockStores by name through the pure codec (codec.ts). One Connection a
 * client: the handshake by `stepHandshake`, then requests read by
 * `readRequest` and carried out concurrently (clients pipeline), replies
 * written as each finishes, in any order, with the request's cookie.
 *
 * Bounds (`Limits`): the bytes held for input are one request and its
 * payload (at most the export's maximum payload) plus what the socket
 * delivered at once; a connection carries out at most `inFlight` requests
 * holding at most `inFlightBytes` of payload (WRITE data, READ data) at a
 * time, and stops reading past either or while more than `queuedOutput`
 * bytes of replies wait for the client to read them. A handshake has
 * HANDSHAKE_TIMEOUT_MS. It runs on whatever thread constructs it: the
 * node runs it in a worker (worker.ts), never on the heartbeat's thread.
 */
import type { Socket, SocketListener, TCPSocketListener, UnixSocketListener } from "bun";
import { unlinkSync } from "node:fs";
import {
  CMD,
  CMD_FLAG,
  concat,
  DEFAULT_MAX_PAYLOAD,
  failure,
  greeting,
  initialHandshake,
  readReplyHeader,
  readRequest,
  REQUEST_HEADER_BYTES,
  stepHandshake,
  success,
  validExport,
  type Export,
  type HandshakeState,
  type Request,
  type Session,
} from "./codec.ts";
import { NBD_ERR, StoreError, type BlockStore } from "./store.ts";
import { MSG_DONTWAIT, SOL_SOCKET, sys } from "../../../core/os/libc.ts";

export const HANDSHAKE_TIMEOUT_MS = 10_000;
export type Limits = {
  /** Requests carried out at once on one connection (qemu and fio keep up to 16..128 in flight). */
  inFlight: number;
  /** Payload bytes (WRITE data held, READ data to come) of the requests carried out at once; one request may pass it alone. */
  inFlightBytes: number;
  /** Reply bytes waiting for a slow reader before the connection stops reading requests. */
  queuedOutput: number;
};
export const DEFAULT_LIMITS: Limits = { inFlight: 64, inFlightBytes: 64 * 1024 * 1024, queuedOutput: 64 * 1024 * 1024 };
/** A WRITE payload at least this large is gathered in its own buffer, not through the input buffer. */
const DIRECT_PAYLOAD_BYTES = 64 * 1024;
/** Replies smaller than this are copied into one write with the others of their turn; larger ones go out on their own. */
const COALESCE_BYTES = 64 * 1024;
/**
 * The send buffer asked for on a connection (the kernel caps it at
 * net.core.wmem_max): a unix socket's default (208 KiB) takes a 1 MiB READ
 * reply in five writes, each after a turn of the event loop. Unix sockets
 * only: on TCP a fixed SO_SNDBUF turns the kernel's autotuning off.
 */
const SEND_BUFFER = 4 * 1024 * 1024;
const SO_SNDBUF = 7;
/** Bytes asked of the kernel at once for requests (a large WRITE's payload is asked for whole). */
const PULL_BYTES = 64 * 1024;
/** What Bun reads at most for one data event: a read that long may have left more in the socket. */
const BUN_READ_BYTES = 512 * 1024;
/** How long a connection that answered every request polls its socket for the next (`pollNext`). */
const POLL_MS = 0.032;
/** How long requests found by polling are served one after another before the thread gives its event loop a turn. */
const POLL_TURN_MS = 2;
/** The most idle moments (every request answered) a connection lets pass without polling, after polls that found nothing. */
const POLL_BACKOFF_MAX = 1024;
/** The bytes of READ and WRITE buffers a connection keeps for reuse (a sequential stream of 1 MiB reads keeps 8..32 in flight). */
const SPARE_BYTES = 32 * 1024 * 1024;

export type ExportConfig = {
  name: string;
  description?: string;
  store: BlockStore;
  /** A read-only export (announced READ_ONLY; writes get EPERM here, before the store). */
  readOnly?: boolean;
  /** The store is one backing shared by all connections (a file, a volume): NBD_FLAG_CAN_MULTI_CONN. */
  multiConn?: boolean;
  maxPayload?: number;
};

export type Listen = { unix?: string; tcp?: { hostname: string; port: number } };

export type ServerStats = {
  connections: number;
  sessions: number;
  requests: number;
  refused: number;
  failed: number;
  disconnects: number;
  bytesRead: number;
  bytesWritten: number;
  /** The most payload bytes one connection held in flight at once. */
  peakInFlightBytes: number;
};

type Served = { export: Export; store: BlockStore };
/**
 * A large WRITE's payload as it arrives: Bun's chunks (each its own
 * buffer: kept, not copied) and what `pull` read itself, into `spare`
 * (a buffer of the payload's length, reused where the store releases
 * it, filled from where `pull` began), in the order they came.
 */
type Collecting = { request: Request; parts: Uint8Array[]; filled: number; spare?: { buf: Uint8Array; at: number } };
type Sock = Socket<Connection>;

export class NbdServer {
  private readonly served = new Map<string, Served>();
  private readonly listeners: SocketListener<Connection>[] = [];
  private readonly connections = new Set<Connection>();
  private stopping = false;
  private unixPath: string | undefined;
  readonly stats: ServerStats = { connections: 0, sessions: 0, requests: 0, refused: 0, failed: 0, disconnects: 0, bytesRead: 0, bytesWritten: 0, peakInFlightBytes: 0 };

  constructor(
    exports: readonly ExportConfig[],
    readonly limits: Limits = DEFAULT_LIMITS,
  ) {
    for (const c of exports) {
      const e: Export = {
        name: c.name,
        description: c.description ?? "",
        size: c.store.size,
        readOnly: c.readOnly ?? false,
        multiConn: c.multiConn ?? false,
        minBlock: 1,
        preferredBlock: Math.max(512, c.store.blockSize),
        maxPayload: c.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      };
      if (!validExport(e)) throw new Error(`export ${JSON.stringify(c.name)}: size or block sizes out of NBD's bounds`);
      if (this.served.has(e.name)) throw new Error(`export ${JSON.stringify(c.name)} given twice`);
      this.served.set(e.name, { export: e, store: c.store });
    }
  }

  /** The export named `name`; "" is the first one (NBD's default export). */
  find(name: string): Served | undefined {
    if (name === "") return this.served.values().next().value;
    return this.served.get(name);
  }

  listen(where: Listen): { port?: number } {
    const handlers = (unix: boolean) => ({
      binaryType: "uint8array" as const,
      socket: {
        open: (s: Sock) => {
          if (this.stopping) return void s.end();
          // A unix socket's buffer is small (a 1 MiB READ reply would leave in several turns); TCP's autotunes, and a fixed SO_SNDBUF stops that: TCP loopback measured slower with it (seq write 0.85×, read 0.9×).
          if (unix) growSendBuffer(s);
          // Replies are small and waited for: no Nagle delay on TCP (a unix socket ignores it), as nbdkit does.
          s.setNoDelay(true);
          const c = new Connection(s, this);
          s.data = c;
          this.connections.add(c);
          this.stats.connections++;
        },
        data: (s: Sock, d: Uint8Array) => s.data?.received(d),
        drain: (s: Sock) => s.data?.drained(),
        close: (s: Sock) => {
          s.data?.closed();
          this.connections.delete(s.data);
        },
        error: (s: Sock) => s.data?.closed(),
      },
    });
    let port: number | undefined;
    if (where.unix !== undefined) {
      unlinkStale(where.unix);
      this.listeners.push(Bun.listen<Connection>({ unix: where.unix, ...handlers(true) }) as UnixSocketListener<Connection>);
      this.unixPath = where.unix;
    }
    if (where.tcp) {
      const l = Bun.listen<Connection>({ hostname: where.tcp.hostname, port: where.tcp.port, ...handlers(false) }) as TCPSocketListener<Connection>;
      this.listeners.push(l);
      port = l.port;
    }
    return { port };
  }

  exports(): Export[] {
    return [...this.served.values()].map((s) => s.export);
  }

  /** Stops listening; connections stop reading, finish what is in flight, send its replies and close. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const l of this.listeners) l.stop(false);
    this.listeners.length = 0;
    if (this.unixPath !== undefined) unlinkStale(this.unixPath);
    await Promise.all([...this.connections].map((c) => c.shutdown()));
  }
}

/** The socket's descriptor, where Bun shows it; -1 where not. */
function socketFd(s: Sock): number {
  const fd = (s as unknown as { fd?: unknown }).fd;
  return typeof fd === "number" && fd >= 0 ? fd : -1;
}

/** A larger send buffer, where Bun shows the socket's descriptor; a refusal leaves the default (slower, not wrong). */
function growSendBuffer(s: Sock): void {
  const fd = socketFd(s);
  if (fd >= 0) sys().setsockopt(fd, SOL_SOCKET, SO_SNDBUF, new Int32Array([SEND_BUFFER]), 4);
}

function unlinkStale(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
}

/**
 * Bytes received and not yet used, with a read position. A chunk of Bun's
 * arriving while nothing is held is adopted as it is (each data event has
 * a buffer of its own), so what is kept of it (`keep`) is a view, not a
 * copy; bytes that must wait for more go into a growable buffer of ours,
 * reused, whose kept bytes are copied.
 */
class InputBuffer {
  private own: Uint8Array = new Uint8Array(64 * 1024);
  private buf: Uint8Array = this.own;
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  view(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  append(d: Uint8Array): void {
    if (this.length === 0) {
      this.buf = d;
      this.start = 0;
      this.end = d.length;
      return;
    }
    this.room(d.length).set(d);
    this.end += d.length;
  }

  /** The next `n` bytes, dropped from here: a view of an adopted chunk, a copy of our own buffer. */
  keep(n: number): Uint8Array {
    const b = this.buf.subarray(this.start, this.start + n);
    this.drop(n);
    return this.buf === this.own ? b.slice() : b;
  }

  drop(n: number): void {
    this.start += n;
    if (this.start === this.end) {
      this.buf = this.own;
      this.start = this.end = 0;
    }
  }

  /** Room for at least `n` more bytes after what is held, in our own buffer, to fill in place (then `filled`). */
  room(n: number): Uint8Array {
    const held = this.length;
    if (this.buf === this.own && this.own.length - this.end >= n) return this.own.subarray(this.end);
    const into = this.own.length >= held + n ? this.own : new Uint8Array(Math.max(held + n, this.own.length * 2));
    if (into === this.buf) into.copyWithin(0, this.start, this.end);
    else into.set(this.view());
    this.own = this.buf = into;
    this.start = 0;
    this.end = held;
    return into.subarray(held);
  }

  filled(n: number): void {
    this.end += n;
  }
}

class Connection {
  private readonly input = new InputBuffer();
  /** The socket's descriptor, read from directly (`pull`); -1 where Bun does not show it. */
  private readonly fd: number;
  private handshake: HandshakeState | null = initialHandshake();
  private session: Session | null = null;
  private store: BlockStore | null = null;
  /** Idle moments to let pass before the next poll (`pollNext`), and how many the next poll that finds nothing lets pass. */
  private pollSkip = 0;
  private pollBackoff = 1;
  /** When this connection's last data event ran: a turn of Bun's event loop. */
  private turnAt = 0;
  /** Payload bytes of a refused WRITE still to drop as they arrive. */
  private skip = 0;
  /** A large WRITE whose payload is arriving. */
  private payload: Collecting | null = null;
  private inFlight = 0;
  private inFlightBytes = 0;
  private readonly output: Uint8Array[] = [];
  /** READ buffers out in replies not yet written whole; buffers done with, kept for reuse (`spare`, `keep`). */
  private readonly lent = new Set<Uint8Array>();
  private readonly spares: Uint8Array[] = [];
  private spareBytes = 0;
  /** Replies of this turn of the event loop, not yet written. */
  private batch: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private closing = false;
  private paused = false;
  private readonly timer: ReturnType<typeof setTimeout>;
  private idle: (() => void) | null = null;

  constructor(
    private readonly socket: Sock,
    private readonly server: NbdServer,
  ) {
    this.fd = socketFd(socket);
    this.timer = setTimeout(() => this.hangUp(), HANDSHAKE_TIMEOUT_MS);
    this.send(greeting());
  }

  received(d: Uint8Array): void {
    this.turnAt = performance.now();
    if (this.ended) return;
    const read = d.length;
    this.server.stats.bytesRead += read;
    if (this.skip > 0) {
      const n = Math.min(this.skip, d.length);
      this.skip -= n;
      d = d.subarray(n);
    }
    const w = this.payload;
    if (w) {
      const n = Math.min(w.request.length - w.filled, d.length);
      this.collected(w, d.subarray(0, n));
      d = d.subarray(n);
    }
    if (!this.payload) {
      this.input.append(d);
      this.work();
    }
    this.pull(read >= BUN_READ_BYTES);
  }

  /** A piece of the payload being collected; the WRITE starts once it is whole. */
  private collected(w: Collecting, part: Uint8Array): void {
    w.parts.push(part);
    w.filled += part.length;
    if (w.filled < w.request.length) return;
    this.payload = null;
    this.start(w.request, w.parts, w.spare?.buf);
  }

  /**
   * Reads what else the socket holds straight to where it goes, with
   * recv(MSG_DONTWAIT): a large WRITE's payload into one buffer of its own,
   * requests into the input buffer. Bun's data event copies each chunk
   * once more than the kernel does (from its read buffer, 512 KiB, into a
   * new one): a 1 MiB WRITE arrives mostly here. It reads only where more
   * is likely waiting (a large payload still coming, or the last read came
   * back full: `more`), and goes on only while each read gets all it asked
   * for: a read that finds nothing costs a call, which small requests at a
   * high rate paid on every event. Bun's poll (level-triggered) tells of
   * the rest.
   */
  private pull(more: boolean): void {
    if (this.fd < 0 || (!this.payload && !more)) return;
    let full = true;
    while (full && this.reading()) full = this.readSocket() === "full";
  }

  /** One recv(MSG_DONTWAIT) to where the next bytes go: "none" when the socket had none, "full" when it gave all that was asked for. */
  private readSocket(): "none" | "some" | "full" {
    const libc = sys();
    const w = this.payload;
    if (w) {
      const left = w.request.length - w.filled;
      if (!w.spare) w.spare = { buf: this.spare(w.request.length), at: w.filled };
      const into = w.spare.buf.subarray(w.spare.at, w.spare.at + left);
      const n = Number(libc.recv(this.fd, into, into, MSG_DONTWAIT));
      if (n <= 0) return "none";
      this.server.stats.bytesRead += n;
      w.spare.at += n;
      this.collected(w, into.subarray(0, n));
      return n === into.length ? "full" : "some";
    }
    const into = this.input.room(PULL_BYTES);
    const n = Number(libc.recv(this.fd, into, into, MSG_DONTWAIT));
    if (n <= 0) return "none";
    this.server.stats.bytesRead += n;
    this.input.filled(n);
    if (this.skip > 0) {
      const k = Math.min(this.skip, n);
      this.skip -= k;
      this.input.drop(k);
    }
    this.work();
    return n === into.length ? "full" : "some";
  }

  private reading(): boolean {
    return !this.ended && !this.paused && !this.handshake;
  }

  /**
   * Once every request is answered, the replies go out and the socket is
   * polled for the next request for up to POLL_MS before the thread goes
   * back to Bun's poll: a client that waits for each reply (qd1) sends
   * the next within tens of microseconds, and a thread that sleeps is
   * woken across cores for it (in a VM, an interrupt to a halted vCPU),
   * which took longer than the request. QEMU's I/O threads poll the same
   * way, up to 32 µs by default. A poll that finds nothing doubles the
   * number of idle moments let pass before the next (up to POLL_BACKOFF_MAX),
   * so a slower client or an idle connection costs a poll now and then;
   * one that finds a request resets it. What a poll finds is served at
   * once, without a turn of the event loop: past POLL_TURN_MS since the
   * last turn the thread goes back to it (its timers, other sockets, the
   * volume's peer link) and Bun's poll finds the next request.
   */
  private pollNext(): void {
    if (this.fd < 0 || this.inFlight > 0 || this.payload || this.skip > 0 || this.input.length > 0 || !this.reading()) return;
    if (performance.now() - this.turnAt > POLL_TURN_MS) return;
    if (this.pollSkip > 0) return void this.pollSkip--;
    this.flush();
    if (this.output.length > 0) return;
    const deadline = performance.now() + POLL_MS;
    let got: "none" | "some" | "full" = "none";
    while (got === "none" && this.reading() && performance.now() < deadline) got = this.readSocket();
    if (got === "none") {
      this.pollSkip = this.pollBackoff;
      this.pollBackoff = Math.min(2 * this.pollBackoff, POLL_BACKOFF_MAX);
      return;
    }
    this.pollBackoff = 1;
    this.pull(got === "full");
  }

  /** Uses what the input holds, while it can and the bounds allow. */
  private work(): void {
    while (!this.ended) {
      if (this.handshake) {
        if (!this.negotiate()) return;
        continue;
      }
      if (this.full()) {
        this.pause();
        return;
      }
      if (!this.transmit()) return;
    }
  }

  private negotiate(): boolean {
    const step = stepHandshake(this.handshake!, this.input.view(), {
      find: (name) => this.server.find(name)?.export,
      list: () => this.server.exports(),
    });
    this.input.drop(step.consumed);
    this.handshake = step.state;
    for (const b of step.send) this.send(b);
    if (step.end?.kind === "close") {
      this.server.stats.disconnects++;
      this.hangUp();
      return false;
    }
    if (step.end?.kind === "transmission") {
      clearTimeout(this.timer);
      this.handshake = null;
      this.session = step.end.session;
      this.store = this.server.find(this.session.export.name)!.store;
      this.server.stats.sessions++;
      return true;
    }
    return step.consumed > 0;
  }

  private transmit(): boolean {
    const session = this.session!;
    const r = readRequest(this.input.view(), session);
    switch (r.kind) {
      case "need":
        if (r.request && r.bytes - REQUEST_HEADER_BYTES >= DIRECT_PAYLOAD_BYTES) this.collect(r.request);
        return false;
      case "disconnect":
        this.server.stats.disconnects++;
        this.hangUp();
        return false;
      case "refuse":
        this.input.drop(r.consumed);
        this.skip = r.skip;
        this.server.stats.refused++;
        this.send(failure(session, r.request.cookie, r.errno, r.message));
        return true;
      case "request": {
        this.input.drop(r.consumed - (r.payload?.length ?? 0));
        const payload = r.payload && this.input.keep(r.payload.length);
        return this.start(r.request, payload);
      }
    }
  }

  /**
   * A large WRITE's payload is kept as it arrives, without copying: Bun's
   * chunks (each data event has a buffer of its own) and what `pull` reads
   * into a buffer of the payload's; a store with writev writes them as
   * they are, another gets them joined. Only what waited in our own input
   * buffer is copied (it is reused).
   */
  private collect(request: Request): void {
    this.input.drop(REQUEST_HEADER_BYTES);
    const have = this.input.keep(this.input.length);
    this.payload = { request, parts: have.length ? [have] : [], filled: have.length };
  }

  /** Carries out a request (DISC: closes once the others are answered); false when no more are to be read. `spare`: the buffer under a WRITE's payload, to reuse once written. */
  private start(request: Request, payload: Uint8Array | Uint8Array[] | undefined, spare?: Uint8Array): boolean {
    if (request.type === CMD.DISC) {
      this.ended = true;
      void this.whenIdle().then(() => this.endWhenFlushed());
      return false;
    }
    this.server.stats.requests++;
    const bytes = request.type === CMD.READ || request.type === CMD.WRITE ? request.length : 0;
    this.inFlight++;
    this.inFlightBytes += bytes;
    this.server.stats.peakInFlightBytes = Math.max(this.server.stats.peakInFlightBytes, this.inFlightBytes);
    void this.serve(request, payload, spare).finally(() => this.done(bytes));
    return true;
  }

  private async serve(r: Request, payload: Uint8Array | Uint8Array[] | undefined, spare: Uint8Array | undefined): Promise<void> {
    const session = this.session!;
    const store = this.store!;
    const fua = (r.flags & CMD_FLAG.FUA) !== 0;
    try {
      switch (r.type) {
        case CMD.READ: {
          const data = store.readInto && r.length >= COALESCE_BYTES ? await this.readIntoSpare(store, r) : await store.read(r.offset, r.length);
          this.send(readReplyHeader(session, r));
          this.send(data);
          return;
        }
        case CMD.WRITE:
          if (!Array.isArray(payload)) await store.write(r.offset, payload!, fua);
          else if (store.writev) await store.writev(r.offset, payload, fua);
          else await store.write(r.offset, concat(payload), fua);
          // Written from a buffer still in this core's cache: the next WRITE's payload goes there.
          if (spare && store.releasesWrites) this.keep(spare);
          break;
        case CMD.FLUSH:
          await store.flush();
          break;
        case CMD.TRIM:
          await store.trim(r.offset, r.length);
          if (fua) await store.flush();
          break;
        case CMD.WRITE_ZEROES:
          await store.writeZeroes(r.offset, r.length);
          if (fua) await store.flush();
          break;
      }
      this.send(success(r.cookie));
    } catch (e) {
      this.server.stats.failed++;
      const errno = e instanceof StoreError ? e.errno : NBD_ERR.EIO;
      this.send(failure(session, r.cookie, errno, (e as Error).message ?? String(e)));
    }
  }

  /** A large READ into a buffer of an earlier request (`spare`). */
  private async readIntoSpare(store: BlockStore, r: Request): Promise<Uint8Array> {
    const data = this.spare(r.length);
    await store.readInto!(r.offset, data);
    this.lent.add(data);
    return data;
  }

  private done(bytes: number): void {
    this.inFlight--;
    this.inFlightBytes -= bytes;
    if (this.inFlight === 0 && this.idle) this.idle();
    this.resumeIfRoom();
    this.pollNext();
  }

  private pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  private resumeIfRoom(): void {
    if (!this.paused || this.ended || this.full()) return;
    this.paused = false;
    this.socket.resume();
    this.work();
  }

  private full(): boolean {
    const l = this.server.limits;
    return this.inFlight >= l.inFlight || this.inFlightBytes >= l.inFlightBytes || this.queued > l.queuedOutput;
  }

  private whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }

  /** Finishes what is in flight, then closes. */
  async shutdown(): Promise<void> {
    if (this.handshake) return this.hangUp();
    this.ended = true;
    await this.whenIdle();
    clearTimeout(this.timer);
    this.endWhenFlushed();
  }

  /**
   * Queues `b` to go out; what is queued in one turn of the event loop (the
   * replies of the requests that one read brought) goes out together, the
   * small pieces in one write.
   */
  private send(b: Uint8Array): void {
    this.batch.push(b);
    if (this.batch.length > 1) return;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    const parts = this.batch;
    if (parts.length === 0) return;
    this.batch = [];
    let small: Uint8Array[] = [];
    for (const b of parts) {
      if (b.length < COALESCE_BYTES) {
        small.push(b);
        continue;
      }
      this.writeOut(concat(small));
      small = [];
      this.writeOut(b);
    }
    this.writeOut(concat(small));
  }

  private writeOut(b: Uint8Array): void {
    if (b.length === 0) return;
    this.server.stats.bytesWritten += b.length;
    const lent = this.lent.delete(b);
    if (this.output.length === 0) {
      const n = this.socket.write(b);
      if (n < 0) return;
      if (n === b.length) return void (lent && this.keep(b));
      b = b.subarray(n);
    }
    this.output.push(b);
    this.queued += b.length;
  }

  /**
   * A buffer of `length` bytes, one kept (`keep`) where there is one: no
   * allocation, no garbage (a 1 MiB buffer a request keeps the collector
   * busy), and a recent one is still in the cache.
   */
  private spare(length: number): Uint8Array {
    for (let i = this.spares.length - 1; i >= 0; i--) {
      const b = this.spares[i]!;
      if (b.length !== length) continue;
      this.spares.splice(i, 1);
      this.spareBytes -= length;
      return b;
    }
    return Buffer.allocUnsafe(length);
  }

  /** Keeps a buffer done with (a READ reply the kernel took whole at once, a WRITE's written payload) for the next request of its length; the oldest go past SPARE_BYTES. */
  private keep(b: Uint8Array): void {
    this.spares.push(b);
    this.spareBytes += b.length;
    while (this.spareBytes > SPARE_BYTES) this.spareBytes -= this.spares.shift()!.length;
  }

  drained(): void {
    while (this.output.length > 0) {
      const b = this.output[0]!;
      const n = this.socket.write(b);
      if (n < 0) return;
      this.queued -= n;
      if (n < b.length) {
        this.output[0] = b.subarray(n);
        return;
      }
      this.output.shift();
    }
    if (this.closing) return void this.socket.end();
    this.resumeIfRoom();
  }

  /** Closes once every reply queued has gone out (a soft disconnect's replies are the client's). */
  private endWhenFlushed(): void {
    this.closing = true;
    this.flush();
    if (this.output.length === 0) this.socket.end();
  }

  private hangUp(): void {
    this.flush();
    this.ended = true;
    clearTimeout(this.timer);
    this.socket.end();
  }

  closed(): void {
    this.ended = true;
    clearTimeout(this.timer);
  }
}
