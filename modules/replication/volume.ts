/**
 * The volume's shell: the engine (engine.ts) over the node's backing device
 * (a FileStore), its metadata (metadata.ts) and the peer link (a TCP
 * connection framed and sealed by link.ts), and the volume as the
 * BlockStore the NBD server serves. It runs on the replication thread
 * (worker.ts), never the heartbeat's.
 *
 * - Effects are carried out in order: metadata written and synced before
 *   the disk operations after it; a write after the earlier writes it
 *   overlaps (so overlapping writes land in the order issued) and after the
 *   last flush, read or resync write, which wait for everything before
 *   them; writes that do not overlap run at once (a large one is copied in
 *   the thread pool, FileStore.write); frames queued on the socket in
 *   order, a frame's large data sealed in a buffer of its own (no join),
 *   and what one turn of the event loop queued sent together at its end
 *   (acknowledgements batched).
 * - The link: the node whose name sorts first dials the other's address and
 *   port, every RECONNECT_MS while the engine wants a link; the other
 *   listens and takes one connection at a time (a new one replaces the old,
 *   which is reported down first). Each side pings every PING_MS and drops
 *   a link silent for SILENT_MS.
 * - Resync reads are paced by the rate (a token bucket of one second). The
 *   application comes first (DRBD's resync controller): within FOREGROUND_MS
 *   of a request of the NBD clients the reads go at RESYNC_MIN_RATE at most,
 *   with no burst; while `holdResync` holds them (the kernel device's
 *   handshake on this thread's NBD socket), they wait.
 */
import type { Socket, TCPSocketListener } from "bun";
import { createHash } from "node:crypto";
import { FileStore, NBD_ERR, StoreError, type BlockStore } from "./nbd/store.ts";
import { MetaStore } from "./metadata.ts";
import { EXTERNAL_META_SUFFIX } from "./config.ts";
import { PeerSession, MAX_WRITE } from "./link.ts";
import { concat as joinParts } from "./nbd/codec.ts";
import { cutPayload, payloadBytes, type Payload } from "./payload.ts";
import {
  freshMeta,
  initialState,
  metaOf,
  serves,
  step,
  wantsLink,
  type Effect,
  type Input,
  type Meta,
  type NbdError,
  type PeerMessage,
  type State,
  type VolumeEvent,
  type VolumeParams,
} from "./engine.ts";
import type { ClusterKeys } from "../../core/crypto/keyfile.ts";
import type { Cancel, Clock } from "../../core/time.ts";

/** What an operator may ask of a volume (the CLI, the API). */
export const COMMANDS = ["promote", "promote-force", "demote", "connect", "disconnect", "discard-my-data", "verify"] as const;
export type VolumeCommand = (typeof COMMANDS)[number];

export const RECONNECT_MS = 1000;
export const PING_MS = 1000;
export const SILENT_MS = 5000;
/** After an application's request, the resync keeps to RESYNC_MIN_RATE this long (DRBD's c-min-rate, while application I/O is seen). */
export const FOREGROUND_MS = 500;
export const RESYNC_MIN_RATE = 4 * 2 ** 20;
/** Bytes queued on the peer socket past which new writes and flushes wait until it drains to half. */
export const MAX_LINK_QUEUE = 64 * 2 ** 20;

/** What the shell reports: the engine's events, and a failed backing device (the volume then answers EIO). */
export type ShellEvent = VolumeEvent | { type: "disk-failed"; error: string };

export interface VolumeOptions {
  params: VolumeParams;
  device: string;
  metadata: "internal" | "external";
  cluster: string;
  keys: ClusterKeys;
  self: { address: string; port: number };
  peer: { address: string; port: number };
  resyncRate: number;
  /** The link's messages sealed (AES-256-GCM), not only authenticated (the volume's `encrypt`). */
  encrypt: boolean;
  clock: Clock;
  onEvent(e: ShellEvent): void;
}

export interface VolumeStatus {
  name: string;
  role: State["role"];
  connection: State["conn"];
  reason?: string;
  disk: State["disk"];
  peerPrimary: boolean;
  generations: State["gen"];
  outOfSyncBytes: number;
  writesInFlight: number;
  linkErrors: number;
  resync?: { bytesLeft: number; bytesPerSecond: number; etaSeconds: number | null };
  /** Bytes resynced since the volume opened: written here as a resync target, read and sent as a source (a counter: a stalled resync stops it). */
  resyncedBytes: number;
  verify?: { checkedRegions: number; regions: number; differing: number };
}

/**
 * A peer connection; `outbox`: the messages of this turn, sealed together
 * at its end (`flushing`); `queue`: frames' pieces not yet written, sent
 * then or when the socket drains.
 */
type Conn = { session: PeerSession; socket: Socket<Conn>; up: boolean; lastHeard: number; outbox: PeerMessage[]; queue: Uint8Array[]; queued: number; flushing: boolean };
/** Data bytes sealed in one frame at most (a larger message has a frame of its own). */
const FRAME_DATA_BYTES = 2 ** 20;
/** Queued pieces smaller than this are joined into one socket write (the acks and small writes of one turn). */
const COALESCE_BYTES = 64 * 1024;

const ERRNO: Record<NbdError, number> = { EPERM: NBD_ERR.EPERM, EIO: NBD_ERR.EIO, EINVAL: NBD_ERR.EINVAL };

export class Volume implements BlockStore {
  readonly size: number;
  readonly blockSize = 4096;
  private readonly state: State;
  /** The last disk operation that waits for all before it (a flush, a resync write, a read); resolves when it is done. */
  private barrier: Promise<void> = Promise.resolve();
  /** Writes issued since that barrier, not yet done: each waits only for the barrier and the earlier ones it overlaps. */
  private readonly writing = new Set<{ offset: number; end: number; done: Promise<void> }>();
  private readonly waiting = new Map<number, { resolve(): void; reject(e: Error): void }>();
  private nextId = 1;
  private conn: Conn | null = null;
  private listener: TCPSocketListener<Conn> | null = null;
  private timers: Cancel[] = [];
  private stopped = false;
  /** Why the backing device failed, once it has. */
  private failed: string | null = null;
  private drainWaiters: Array<() => void> = [];
  private linkErrors = 0;
  private bucketAt = 0;
  /** When the NBD clients last asked something of the volume. */
  private foregroundAt = -Infinity;
  /** Holds on the resync reads (holdResync), and the reads that wait for them to go. */
  private holds = 0;
  private held: Array<() => void> = [];
  private resyncStart: { at: number; bytes: number } | null = null;
  private resyncedBytes = 0;

  private constructor(
    private readonly o: VolumeOptions,
    private readonly store: FileStore,
    private readonly meta: MetaStore,
    found: Meta | undefined,
  ) {
    this.size = o.params.size;
    const initial = found ?? freshMeta(o.params.size, o.params.regionBytes);
    if (!found) meta.write(initial);
    this.state = initialState(o.params, initial);
  }

  /** Opens the device and its metadata (a new volume's when there is none) and starts the link. */
  static open(o: VolumeOptions): Volume {
    const store = FileStore.open(o.device, { writesInPool: true });
    if (store.size < o.params.size) {
      store.close();
      throw new Error(`${o.device} holds ${store.size} bytes, less than the volume's ${o.params.size}`);
    }
    const internal = o.metadata === "internal";
    const opened = MetaStore.open(internal ? o.device : o.device + EXTERNAL_META_SUFFIX, internal, { size: o.params.size, regionBytes: o.params.regionBytes });
    if (opened.problem) {
      store.close();
      opened.store.close();
      throw new Error(`the metadata of volume ${o.params.volume} on ${o.device} is unreadable: ${opened.problem}`);
    }
    const v = new Volume(o, store, opened.store, opened.found);
    v.startLink();
    return v;
  }

  status(): VolumeStatus {
    const s = this.state;
    const oos = s.oos.count * s.p.regionBytes;
    const out: VolumeStatus = {
      name: s.p.volume,
      role: s.role,
      connection: s.conn,
      ...(s.reason ? { reason: s.reason } : {}),
      disk: s.disk,
      peerPrimary: s.peerPrimary,
      generations: s.gen,
      outOfSyncBytes: Math.min(oos, s.p.size),
      writesInFlight: s.writes.size,
      linkErrors: this.linkErrors,
      resyncedBytes: this.resyncedBytes,
    };
    if (s.verify) out.verify = { checkedRegions: s.verify.checked, regions: s.regions, differing: s.verify.differing };
    if ((s.conn === "sync-source" || s.conn === "sync-target") && this.resyncStart) {
      const secs = (this.o.clock.now() - this.resyncStart.at) / 1000;
      const rate = secs > 0 ? Math.max(0, this.resyncStart.bytes - out.outOfSyncBytes) / secs : 0;
      out.resync = { bytesLeft: out.outOfSyncBytes, bytesPerSecond: Math.round(rate), etaSeconds: rate > 0 ? Math.round(out.outOfSyncBytes / rate) : null };
    }
    return out;
  }

  /** The operator's (or the resource manager's) commands; the engine's refusal, if it refused (also a "refused" event). */
  command(c: VolumeCommand): string | undefined {
    const effects = c === "promote" || c === "promote-force" ? this.input({ type: "promote", fresh: fresh(), at: this.o.clock.wall(), force: c === "promote-force" }) : this.input({ type: c });
    for (const e of effects) if (e.kind === "event" && e.event.type === "refused") return e.event.reason;
    return undefined;
  }

  /** Resync reads wait from now until the returned release is called (once; it is idempotent): what the caller does on this thread goes first. */
  holdResync(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds > 0) return;
      const held = this.held;
      this.held = [];
      for (const go of held) go();
    };
  }

  // BlockStore: what the NBD server calls. Each is the application's I/O, which the resync yields to (paced).

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.foregroundAt = this.o.clock.now();
    if (!serves(this.state)) throw new StoreError(NBD_ERR.EPERM, "the volume is not primary here");
    if (offset + length > this.size) throw new StoreError(NBD_ERR.EINVAL, `range ${offset}+${length} past the end`);
    return this.store.read(offset, length);
  }

  write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    return this.writev(offset, data, fua);
  }

  /** A write in the pieces the NBD server read it in: they go to the disk (one pwritev) and the peer (authenticated where they lie) as they are. */
  async writev(offset: number, data: Payload, fua: boolean): Promise<void> {
    this.foregroundAt = this.o.clock.now();
    const bytes = payloadBytes(data);
    for (let at = 0; at < bytes; at += MAX_WRITE) {
      const part = bytes <= MAX_WRITE ? data : cutPayload(data, at, Math.min(bytes, at + MAX_WRITE));
      await this.request((id) => ({ type: "write", id, offset: offset + at, data: part }));
    }
    if (fua) await this.flush();
  }

  flush(): Promise<void> {
    this.foregroundAt = this.o.clock.now();
    return this.request((id) => ({ type: "flush", id }));
  }

  /** A trim leaves the content as it was on both sides (NBD allows it), so the replicas stay identical. */
  async trim(offset: number, length: number): Promise<void> {
    if (!serves(this.state)) throw new StoreError(NBD_ERR.EPERM, "the volume is not primary here");
    if (offset + length > this.size) throw new StoreError(NBD_ERR.EINVAL, `range ${offset}+${length} past the end`);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    for (let at = 0; at < length; at += MAX_WRITE) await this.write(offset + at, new Uint8Array(Math.min(MAX_WRITE, length - at)), false);
  }

  private async request(make: (id: number) => Input): Promise<void> {
    while (this.conn && this.conn.queued > MAX_LINK_QUEUE && !this.stopped) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    if (this.failed) throw new StoreError(NBD_ERR.EIO, `the backing device failed: ${this.failed}`);
    if (this.stopped) throw new StoreError(NBD_ERR.EIO, "the volume is stopping");
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.input(make(id));
    });
  }

  /** Stops the volume; a primary with nothing under way demotes first, so a clean stop leaves nothing to resync (its hot extents are clean). */
  async stop(): Promise<void> {
    if (this.state.role === "primary" && !this.failed) {
      await this.diskIdle();
      this.input({ type: "demote" });
    }
    this.stopped = true;
    this.release(null);
    for (const c of this.timers) c();
    this.timers = [];
    this.conn?.socket.end();
    this.listener?.stop(true);
    await this.diskIdle();
    // A resync's progress since its last checkpoint: a clean restart resumes where it stopped.
    if (!this.failed) this.meta.write(metaOf(this.state));
    for (const w of this.waiting.values()) w.reject(new StoreError(NBD_ERR.EIO, "the volume stopped"));
    this.waiting.clear();
    this.meta.close();
    this.store.close();
  }

  private input(i: Input): Effect[] {
    const { effects } = step(this.state, i);
    for (const e of effects) this.perform(e);
    return effects;
  }

  private perform(e: Effect): void {
    switch (e.kind) {
      case "meta":
        this.meta.write(e.meta);
        return;
      case "disk-write": {
        const { data } = e;
        const bytes = payloadBytes(data);
        return this.onDisk(
          () => (data instanceof Uint8Array ? this.store.write(e.offset, data, e.durable) : this.store.writev(e.offset, data, e.durable)),
          () => {
            if (e.origin === "resync") this.resyncedBytes += bytes;
            this.input({ type: "disk-written", origin: e.origin, ref: e.ref });
          },
          // A resync's writes are acknowledged in order: they stay in line.
          e.origin === "resync" ? undefined : { offset: e.offset, end: e.offset + bytes },
        );
      }
      case "disk-flush":
        return this.onDisk(() => this.store.flush(), () => this.input({ type: "disk-flushed", origin: e.origin, ref: e.ref }));
      case "disk-read":
        return this.paced(e.length, () => {
          let data: Uint8Array = new Uint8Array(0);
          this.onDisk(
            async () => void (data = await this.store.read(e.offset, e.length)),
            () => {
              this.resyncedBytes += data.length;
              this.input({ type: "resync-read", region: e.region, data });
            },
          );
        });
      case "disk-digest": {
        let digest: Uint8Array = new Uint8Array(0);
        return this.onDisk(
          async () => void (digest = new Uint8Array(createHash("sha256").update(await this.store.read(e.offset, e.length)).digest())),
          () => this.input({ type: "digest", origin: e.origin, region: e.region, digest }),
        );
      }
      case "send":
        return this.send(e.msg);
      case "drop-link": {
        // After this step's effects: the link-down it causes is an input of its own.
        const c = this.conn;
        if (c) queueMicrotask(() => this.drop(c));
        return;
      }
      case "reply": {
        const w = this.waiting.get(e.id);
        if (!w) return;
        this.waiting.delete(e.id);
        if (e.error) w.reject(new StoreError(ERRNO[e.error] as 1, `refused: ${e.error}`));
        else w.resolve();
        return;
      }
      case "event":
        if (e.event.type === "connection" && (e.event.conn === "sync-source" || e.event.conn === "sync-target"))
          this.resyncStart = { at: this.o.clock.now(), bytes: this.state.oos.count * this.state.p.regionBytes };
        this.o.onEvent(e.event);
        if (e.event.type === "connection" && e.event.conn === "connecting") this.startLink();
        return;
    }
  }

  /**
   * A disk operation, ordered: a write (`range`) after the last barrier and
   * the earlier writes it overlaps (so overlapping writes land in the order
   * issued, and others run at once: the thread pool copies several large
   * writes while this thread goes on); any other operation after
   * everything before it. A failure stops the volume's I/O (the disk is
   * gone: the peer has the data).
   */
  private onDisk(op: () => Promise<void>, done: () => void, range?: { offset: number; end: number }): void {
    const before: Promise<void>[] = [this.barrier];
    for (const w of this.writing) if (!range || (w.offset < range.end && range.offset < w.end)) before.push(w.done);
    const p = (before.length === 1 ? this.barrier : Promise.all(before)).then(op).then(
      () => {
        if (!this.stopped) done();
      },
      (err) => {
        if (this.failed) return;
        this.failed = (err as Error).message;
        this.o.onEvent({ type: "disk-failed", error: this.failed });
        for (const w of this.waiting.values()) w.reject(new StoreError(NBD_ERR.EIO, `the backing device failed: ${this.failed}`));
        this.waiting.clear();
        this.stopped = true;
        if (this.conn) this.drop(this.conn);
      },
    );
    if (!range) {
      this.barrier = p;
      this.writing.clear();
      return;
    }
    const w = { ...range, done: p };
    this.writing.add(w);
    void p.then(() => this.writing.delete(w));
  }

  /** Resolves once every disk operation issued so far is done. */
  private diskIdle(): Promise<unknown> {
    return Promise.all([this.barrier, ...[...this.writing].map((w) => w.done)]);
  }

  private paced(bytes: number, fn: () => void): void {
    if (this.holds > 0) return void this.held.push(() => !this.stopped && this.paced(bytes, fn));
    const now = this.o.clock.now();
    const foreground = now - this.foregroundAt < FOREGROUND_MS;
    const rate = foreground ? Math.min(this.o.resyncRate, RESYNC_MIN_RATE) : this.o.resyncRate;
    this.bucketAt = Math.max(this.bucketAt, foreground ? now : now - 1000) + (bytes / rate) * 1000;
    const wait = this.bucketAt - now;
    if (wait <= 0) fn();
    else this.timers.push(this.o.clock.after(wait, () => !this.stopped && fn()));
  }

  private startLink(): void {
    if (this.stopped) return;
    if (this.o.params.self > this.o.params.peer) {
      this.listener ??= Bun.listen<Conn>({ hostname: this.o.self.address, port: this.o.self.port, socket: this.handlers() });
      return;
    }
    if (this.conn || !wantsLink(this.state)) return;
    Bun.connect<Conn>({ hostname: this.o.peer.address, port: this.o.peer.port, socket: this.handlers() }).catch(() => {
      this.timers.push(this.o.clock.after(RECONNECT_MS, () => this.startLink()));
    });
  }

  private handlers() {
    return {
      binaryType: "uint8array" as const,
      open: (socket: Socket<Conn>) => {
        if (this.stopped || !wantsLink(this.state)) return void socket.end();
        if (this.conn) this.drop(this.conn);
        const session = new PeerSession({
          cluster: this.o.cluster,
          keys: this.o.keys,
          volume: this.o.params.volume,
          self: this.o.params.self,
          peer: this.o.params.peer,
          geometry: { size: this.o.params.size, regionBytes: this.o.params.regionBytes },
          encrypt: this.o.encrypt,
          random: crypto.getRandomValues(new Uint8Array(32)),
          helloNonce: crypto.getRandomValues(new Uint8Array(12)),
        });
        const c: Conn = { session, socket, up: false, lastHeard: this.o.clock.now(), outbox: [], queue: [], queued: 0, flushing: false };
        socket.data = c;
        this.conn = c;
        this.enqueue(c, session.hello());
        this.ping(c);
      },
      data: (socket: Socket<Conn>, chunk: Uint8Array) => {
        const c = socket.data;
        if (!c || c !== this.conn) return;
        c.lastHeard = this.o.clock.now();
        for (const r of c.session.receive(chunk)) {
          if (r.kind === "error") {
            this.linkErrors++;
            return this.drop(c);
          }
          if (r.kind === "hello") {
            c.up = true;
            this.input({ type: "link-up", fresh: fresh() });
          } else if (c === this.conn) this.input({ type: "frame", msg: r.msg });
        }
      },
      drain: (socket: Socket<Conn>) => {
        const c = socket.data;
        if (c) this.flushQueue(c);
      },
      close: (socket: Socket<Conn>) => {
        const c = socket.data;
        if (c) this.drop(c);
      },
      error: (socket: Socket<Conn>) => {
        const c = socket.data;
        if (c) this.drop(c);
      },
      connectError: () => {
        this.timers.push(this.o.clock.after(RECONNECT_MS, () => this.startLink()));
      },
    };
  }

  private ping(c: Conn): void {
    this.timers.push(
      this.o.clock.after(PING_MS, () => {
        if (c !== this.conn) return;
        if (this.o.clock.now() - c.lastHeard > SILENT_MS) return this.drop(c);
        if (c.up) this.send({ t: "ping" });
        this.ping(c);
      }),
    );
  }

  private drop(c: Conn): void {
    if (c !== this.conn) return;
    this.conn = null;
    c.socket.end();
    this.release(null);
    if (c.up && !this.stopped) this.input({ type: "link-down", fresh: fresh() });
    if (!this.stopped && this.o.params.self < this.o.params.peer) this.timers.push(this.o.clock.after(RECONNECT_MS, () => this.startLink()));
  }

  private send(msg: PeerMessage): void {
    const c = this.conn;
    if (!c?.up) return;
    c.outbox.push(msg);
    this.flushSoon(c);
  }

  private enqueue(c: Conn, bytes: Uint8Array): void {
    c.queue.push(bytes);
    c.queued += bytes.length;
    this.flushSoon(c);
  }

  /** What one turn of the event loop queues goes out together at its end. */
  private flushSoon(c: Conn): void {
    if (c.flushing) return;
    c.flushing = true;
    queueMicrotask(() => this.flushQueue(c));
  }

  /** The turn's messages sealed in frames of up to FRAME_DATA_BYTES of data, in order. */
  private sealOutbox(c: Conn): void {
    let batch: PeerMessage[] = [];
    let bytes = 0;
    const seal = () => {
      for (const piece of c.session.sealParts(batch)) {
        c.queue.push(piece);
        c.queued += piece.length;
      }
      batch = [];
      bytes = 0;
    };
    for (const m of c.outbox) {
      const n = m.t === "data" || m.t === "rs-data" ? payloadBytes(m.data) : m.t === "handshake" ? m.bitmap.length : 0;
      if (batch.length > 0 && bytes + n > FRAME_DATA_BYTES) seal();
      batch.push(m);
      bytes += n;
    }
    if (batch.length > 0) seal();
    c.outbox = [];
  }

  private flushQueue(c: Conn): void {
    c.flushing = false;
    if (c.up && c === this.conn) this.sealOutbox(c);
    while (c.queue.length > 0) {
      let head = c.queue[0]!;
      let small = 0;
      while (small < c.queue.length && c.queue[small]!.length < COALESCE_BYTES) small++;
      if (small > 1) {
        head = joinParts(c.queue.slice(0, small));
        c.queue.splice(0, small, head);
      }
      const n = c.socket.write(head);
      c.queued -= Math.max(0, n);
      if (n < head.length) {
        c.queue[0] = head.subarray(Math.max(0, n));
        return;
      }
      c.queue.shift();
    }
    this.release(c);
  }

  /** Writes waiting for the link to drain go on once it is at half the bound, or gone. */
  private release(c: Conn | null): void {
    if (c && c === this.conn && c.queued > MAX_LINK_QUEUE / 2) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

/** A generation identifier: random, nonzero, below 2^53. */
function fresh(): number {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return (hi! % 2 ** 21) * 2 ** 32 + lo! || 1;
}
