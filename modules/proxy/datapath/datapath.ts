/**
 * One worker's data path: its listeners, the current config generation, the
 * backends' state (balancers, pools, counters), and what connections ask of
 * the worker as a whole (a server for a request, its release, passive
 * observations, PROXY headers). worker.ts feeds it the control side's
 * messages; it answers through `post`. A housekeeping timer every BATCH_MS
 * expires queued requests and stick entries and sends the stick entries and
 * observations gathered since the last.
 */
import type { Socket } from "bun";
import { cryptoRandom, type Random } from "../../../core/random.ts";
import type { Server } from "../balance/balancer.ts";
import { AccessLog, clientOf, stdoutSink, type AccessSink } from "./access.ts";
import { encodeProxyV1, encodeProxyV2 } from "../http/index.ts";
import { BATCH_MS, STOP_GRACE_MS, type FromWorker, type ServerState, type StickEntry, type WorkerConfig, type WorkerPlace, type WorkerStats } from "../messages.ts";
import { BackendState, workerShare, type Waiter } from "./backends.ts";
import { Deadlines } from "./clock.ts";
import { Conn } from "./conn.ts";
import { Generation, type BackendRt, type FrontendRt } from "./generation.ts";
import { HttpSession } from "./http.ts";
import { Listeners, type Listening } from "./listeners.ts";
import { ProxyIntro } from "./intro.ts";
import type { Peer, PickKey, Session, SessionHost } from "./session.ts";
import type { FrontendCounters } from "./stats.ts";
import { TcpSession } from "./tcp.ts";

export class DataPath implements SessionHost {
  readonly deadlines = new Deadlines();
  readonly accessLog: AccessLog;
  private readonly listeners = new Listeners((l, s) => this.accepted(l, s));
  private readonly backends = new Map<string, BackendState>();
  private readonly frontendCounters = new Map<string, FrontendCounters>();
  private gen: Generation | null = null;
  private place: WorkerPlace = { index: 0, count: 1 };
  private readonly sessions = new Set<Session>();
  private stopping: (() => void) | null = null;
  /** A server's answer went to a client through this thread already (`served` is said once). */
  private answered = false;
  private housekeeping: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly post: (m: FromWorker) => void,
    private readonly random: Random = cryptoRandom(),
    /** Where the access log's lines go (stdout; tests give another). */
    accessSink: AccessSink = stdoutSink,
  ) {
    this.accessLog = new AccessLog(random, accessSink);
  }

  /** The generation new requests take. */
  get current(): Generation {
    return this.gen!;
  }

  get winding(): boolean {
    return this.stopping !== null;
  }

  /** `node`: the node's name, for the access log's lines. */
  configure(config: WorkerConfig, place?: WorkerPlace, node?: string): void {
    if (place) this.place = place;
    this.accessLog.configure(config.access_log, node);
    const names = new Set(config.backends.map((b) => b.name));
    for (const [name, b] of this.backends) if (!names.has(name)) (b.clearPools(), this.backends.delete(name));
    for (const def of config.backends) {
      const share = workerShare(def, this.place.count);
      const have = this.backends.get(def.name);
      if (have) have.configure(share);
      else this.backends.set(def.name, new BackendState(share, this.random, this.deadlines));
    }
    this.gen = new Generation(config, this.backends, this.frontendCounters);
    const listen = config.reuse_port || this.place.index === 0;
    const errors = this.stopping ? [] : this.listeners.update(listen ? config.frontends : [], config.reuse_port);
    this.housekeeping ??= setInterval(() => this.keepHouse(), BATCH_MS);
    this.post({ type: "listening", generation: config.generation, ...(errors.length ? { error: errors.join("; ") } : {}) });
  }

  servers(states: readonly ServerState[]): void {
    for (const b of this.backends.values()) b.balancer.setStates(states);
  }

  stick(entries: readonly StickEntry[]): void {
    const now = Date.now();
    for (const b of this.backends.values()) b.balancer.mergeStick(entries, now);
  }

  stats(): WorkerStats {
    const backends: WorkerStats["backends"] = {};
    for (const [name, b] of this.backends) {
      b.counters.queued = b.balancer.queued;
      for (const s of b.balancer.servers) {
        const c = b.counters.servers[s.key];
        if (c) c.active = s.inflight;
      }
      backends[name] = b.counters;
    }
    return structuredClone({ frontends: Object.fromEntries(this.frontendCounters), backends, accessLogDropped: this.accessLog.dropped });
  }

  /** Stop listening and taking requests; resolves when every client connection ended, or at the grace, when the rest are closed. */
  stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.listeners.close();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopping = null;
        if (this.housekeeping) clearInterval(this.housekeeping);
        this.housekeeping = null;
        for (const b of this.backends.values()) b.clearPools();
        this.accessLog.flush();
        resolve();
      };
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.abort();
        done();
      }, graceMs);
      this.stopping = done;
      for (const s of [...this.sessions]) s.wind();
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
    const peer: Peer = { address: socket.remoteAddress, port: socket.remotePort, localAddress: socket.localAddress, localPort: socket.localPort };
    const intro = fe.def.accept_proxy ? new ProxyIntro(this, fe, peer, (c, p, rest) => this.begin(gen, fe, c, p, rest)) : null;
    const conn = new Conn(intro ?? IDLE);
    if (intro) intro.conn = conn;
    conn.attach(socket);
    if (!fe.def.accept_proxy) this.begin(gen, fe, conn, peer, null);
  }

  /** The client's session begins (after its PROXY header, if the frontend takes one), with what it sent already. */
  private begin(gen: Generation, fe: FrontendRt, conn: Conn, peer: Peer, early: Buffer | null): void {
    const session = fe.def.mode === "tcp" ? new TcpSession(this, gen, fe, conn, peer) : new HttpSession(this, gen, fe, conn, peer);
    this.sessions.add(session);
    conn.owner = session;
    session.start(early);
  }

  /** A client connection ended (its session says so once). */
  clientClosed(fe: FrontendRt, session: Session | null): void {
    fe.counters.active--;
    if (session) this.sessions.delete(session);
    if (this.sessions.size === 0) this.stopping?.();
  }

  /** A server for a request or tcp connection: now (a Server), later through `waiter` (queued), or why not. */
  acquire(backend: BackendRt, key: PickKey, waiter: Waiter): Server | "queued" | "unavailable" | "queue_full" {
    const r = backend.state.balancer.pick({ handle: waiter, now: Date.now(), source: key.source, uri: key.uri, header: key.header, cookie: key.cookie });
    if (r === "queued") backend.state.counters.queued++;
    else if (r === "queue_full") backend.state.counters.queueFull++;
    return r;
  }

  /** The request's slot on `server` is free again. */
  release(backend: BackendRt, server: Server): void {
    backend.state.balancer.release(server);
  }

  /** A queued request's client left. */
  cancel(backend: BackendRt, waiter: Waiter): void {
    backend.state.balancer.cancel(waiter);
  }

  /** Another server for a retry: the slot moves to it; null when none is free now (the retry stays on `failed`). */
  redispatch(backend: BackendRt, failed: Server): Server | null {
    const waiter: Waiter = { granted: () => undefined };
    const r = backend.state.balancer.pick({ handle: waiter, source: "", now: Date.now(), exclude: [failed] });
    if (typeof r !== "object") {
      if (r === "queued") backend.state.balancer.cancel(waiter);
      return null;
    }
    backend.state.balancer.release(failed);
    return r;
  }

  /** The first answer only: the control side learns when this thread first served a client (the flight recorder's step after a takeover). */
  served(fe: FrontendRt, backend: BackendRt, server: Server, peer: Peer, status: number): void {
    if (this.answered) return;
    this.answered = true;
    this.post({ type: "served", frontend: fe.def.name, backend: backend.def.name, server: server.key, client: clientOf(peer), status, at: Date.now() });
  }

  observe(backend: BackendRt, server: Server, outcome: "success" | "connect_error" | "timeout" | "http_5xx"): void {
    const m = backend.state.balancer.observe(server, outcome);
    if (m) this.post(m);
  }

  /** The PROXY header a backend with send_proxy wants before a client's bytes; null without. */
  proxyHeader(backend: BackendRt, peer: Peer): Uint8Array | null {
    const v = backend.def.send_proxy;
    if (!v) return null;
    const src = { address: peer.address, port: peer.port };
    const dst = { address: peer.localAddress, port: peer.localPort };
    return v === "v1" ? encodeProxyV1(src, dst) : encodeProxyV2(src, dst);
  }

  private keepHouse(): void {
    const now = Date.now();
    const stick: StickEntry[] = [];
    for (const b of this.backends.values()) {
      const late = b.balancer.expire(now);
      b.counters.queueTimeouts += late.length;
      for (const w of late) w.granted(null);
      stick.push(...b.balancer.stickChanges());
    }
    if (stick.length) this.post({ type: "stick", entries: stick });
    this.accessLog.flush();
  }
}

const IDLE = { data() {}, end() {}, drained() {}, closed() {} };
