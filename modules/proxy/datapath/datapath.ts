/**
 * One worker's data path: its listeners, the current config generation, the
 * servers' live state and pools, the counters, and what connections ask of
 * the worker as a whole (a server for a request, its release, passive
 * observations, PROXY headers). worker.ts feeds it the control side's
 * messages; it sends back through `post`.
 */
import type { Socket } from "bun";
import type { FromWorker, ServerState, StickEntry, WorkerConfig, WorkerPlace, WorkerStats } from "../messages.ts";
import { STOP_GRACE_MS } from "../messages.ts";
import { ServerTable, type ServerRt } from "./backends.ts";
import { Deadlines } from "./clock.ts";
import { Conn, type ConnOwner } from "./conn.ts";
import { Generation, type BackendRt, type FrontendRt } from "./generation.ts";
import { Listeners, type Listening } from "./listeners.ts";
import type { BackendCounters, FrontendCounters } from "./stats.ts";
import { TcpSession } from "./tcp.ts";

/** What the balancer may hash or stick on. */
export interface PickKey {
  source: string;
  /** The server id a stick cookie named, if any. */
  cookie: string | null;
  /** uri / url_param / hdr: the value hashed; null: none in this request. */
  hash: string | null;
}

/** A client connection's owner until its session takes it. */
const IGNORE: ConnOwner = { data() {}, end() {}, drained() {}, closed() {} };

export class DataPath {
  readonly deadlines = new Deadlines();
  private readonly table = new ServerTable(this.deadlines);
  private readonly listeners = new Listeners((l, s) => this.accepted(l, s));
  private readonly counters = { frontends: new Map<string, FrontendCounters>(), backends: new Map<string, BackendCounters>() };
  private gen: Generation | null = null;
  private place: WorkerPlace = { index: 0, count: 1 };
  /** Client connections open, for the stop's wait. */
  private readonly sessions = new Set<Conn>();
  private stopping: (() => void) | null = null;
  private rr = new Map<string, number>();

  constructor(private readonly post: (m: FromWorker) => void) {}

  configure(config: WorkerConfig, place?: WorkerPlace): void {
    if (place) this.place = place;
    const { servers, gone } = this.table.resolve(config.backends, this.place.count);
    for (const s of gone) s.pool.clear();
    this.gen = new Generation(config, servers, this.counters);
    const listen = config.reuse_port || this.place.index === 0;
    const errors = this.stopping ? [] : this.listeners.update(listen ? config.frontends : [], config.reuse_port);
    this.post({ type: "listening", generation: config.generation, ...(errors.length ? { error: errors.join("; ") } : {}) });
  }

  servers(states: readonly ServerState[]): void {
    this.table.apply(states);
  }

  stick(_entries: readonly StickEntry[]): void {}

  stats(): WorkerStats {
    return structuredClone({ frontends: Object.fromEntries(this.counters.frontends), backends: Object.fromEntries(this.counters.backends) });
  }

  /** Stop listening; resolves when every client connection ended, or at the grace, when the rest are closed. */
  stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.listeners.close();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopping = null;
        for (const s of this.table.all()) s.pool.clear();
        resolve();
      };
      const timer = setTimeout(() => {
        for (const c of this.sessions) c.abort();
        done();
      }, graceMs);
      this.stopping = done;
      if (this.sessions.size === 0) done();
    });
  }

  private accepted(l: Listening, socket: Socket<Conn>): void {
    const gen = this.gen;
    const fe = gen?.frontends.get(l.frontend);
    if (!gen || !fe) return void socket.terminate();
    fe.counters.connections++;
    if (fe.counters.active >= Math.ceil(fe.def.maxconn / this.place.count)) {
      fe.counters.refused++;
      return void socket.end();
    }
    fe.counters.active++;
    socket.setNoDelay(true);
    const conn = new Conn(IGNORE);
    this.sessions.add(conn);
    const session = new TcpSession(this, gen, fe, conn, socket.remoteAddress);
    conn.owner = session;
    conn.attach(socket);
    session.start();
  }

  /** A client connection ended (its session says so once). */
  clientClosed(fe: FrontendRt, conn: Conn): void {
    fe.counters.active--;
    this.sessions.delete(conn);
    if (this.sessions.size === 0) this.stopping?.();
  }

  /** A server for a new request or connection (callback, maybe after a queue); null: none usable (503). The server's `active` counts it until `release`. */
  acquire(backend: BackendRt, _key: PickKey, cb: (s: ServerRt | null) => void): void {
    const s = this.pick(backend, null);
    if (s) s.active++;
    cb(s);
  }

  release(server: ServerRt): void {
    server.active--;
  }

  /** Another server for a retry (the failed one's `active` moves to it); null: none other is usable. */
  redispatch(backend: BackendRt, failed: ServerRt): ServerRt | null {
    const s = this.pick(backend, failed);
    if (!s) return null;
    failed.active--;
    s.active++;
    return s;
  }

  observe(_backend: BackendRt, _server: ServerRt, _reason: string): void {}

  proxyHeaderFor(_backend: BackendRt, _client: Conn, _source: string): Uint8Array | null {
    return null;
  }

  private pick(backend: BackendRt, exclude: ServerRt | null): ServerRt | null {
    const list = backend.servers.filter((s) => s.usable && !s.full && s !== exclude);
    if (!list.length) return null;
    const i = (this.rr.get(backend.def.name) ?? 0) % list.length;
    this.rr.set(backend.def.name, i + 1);
    return list[i]!;
  }
}
