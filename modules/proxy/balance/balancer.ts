/**
 * One backend's decisions in one worker: which server a request goes to,
 * who waits when every server is at maxconn, which client sticks to which
 * server, and which server live traffic marks down. No sockets, no clock, no
 * Math.random: the time comes with each call and the randomness is a Random
 * given at construction.
 */
import { parseDuration } from "../../../core/duration.ts";
import type { Random } from "../../../core/random.ts";
import type { BackendRaw } from "../config.ts";
import type { FromWorker, ResolvedBackend, ServerState, StickEntry } from "../messages.ts";
import { MAX_STICK_BATCH } from "../messages.ts";
import { type Algorithm, makeAlgorithm, type PickRequest } from "./algorithms.ts";
import { hash32 } from "./hash.ts";
import { Fifo, type Waiting } from "./queue.ts";
import { type Server, Srv } from "./server.ts";
import { StickTable } from "./stick.ts";

export type { PickRequest } from "./algorithms.ts";
export type { Admin, Server } from "./server.ts";

/**
 * Why a request got no server now. queued: it waits (the balancer hands it a
 * server through `dispatch` when a slot frees, or `expire` returns it);
 * unavailable: no server can take it (all down, in maint or excluded): 503;
 * queue_full: every usable server is at maxconn and the queue is full: 503.
 */
export type NoServer = "queued" | "unavailable" | "queue_full";

/** What happened to a request at a server, for passive health. */
export type Outcome = "success" | "connect_error" | "timeout" | "http_5xx";

export type Observed = Extract<FromWorker, { type: "observed" }>;

export interface BalancerDeps<H> {
  random: Random;
  /** A queued request got a server (its slot is taken): forward it there. May be called from release, setStates, configure and observe. */
  dispatch: (handle: H, server: Server) => void;
}

const ms = (d: string): number => parseDuration(d) ?? 0;

export class Balancer<H> {
  private readonly byKey = new Map<string, Srv>();
  private readonly byCookie = new Map<string, Srv>();
  private list: Srv[] = [];
  private pool: Srv[] = [];
  /** Pool servers with a free slot. */
  private free = 0;
  private algorithm!: Algorithm;
  private config!: ResolvedBackend;
  private queueTimeoutMs = 0;
  private stick: StickTable | undefined;
  private readonly waiting = new Fifo<H>();
  private readonly serverQueues = new Map<Srv, Fifo<H>>();
  private readonly queuedBy = new Map<H, Waiting<H>>();
  private seq = 0;

  constructor(
    config: ResolvedBackend,
    private readonly deps: BalancerDeps<H>,
  ) {
    this.configure(config);
  }

  get name(): string {
    return this.config.name;
  }

  /** The servers in config order (and removed ones still holding requests are not listed). */
  get servers(): readonly Server[] {
    return this.list;
  }

  /** Requests waiting, in the backend's queue and its servers' queues. */
  get queued(): number {
    return this.queuedBy.size;
  }

  /** Entries in the stick table. */
  get stuck(): number {
    return this.stick?.length ?? 0;
  }

  server(key: string): Server | undefined {
    return this.byKey.get(key);
  }

  /** Replace the backend's config; servers kept by key keep their load, state and stick entries. */
  configure(config: ResolvedBackend): void {
    const old = this.config as BackendRaw | undefined;
    this.config = config;
    this.queueTimeoutMs = ms(config.queue_timeout);
    const expire = ms(config.stick_expire);
    if (!config.stick_on_source) this.stick = undefined;
    else if (this.stick) this.stick.resize(expire, config.stick_size);
    else this.stick = new StickTable(expire, config.stick_size);
    // Kept while the algorithm is the same: a hash ring's points per weight stay as they were, so a server change moves only its keys.
    if (old === undefined || old.balance !== config.balance || old.hash_key !== config.hash_key) this.algorithm = makeAlgorithm(config, config.servers.map((s) => s.weight), this.deps.random);
    const next: Srv[] = [];
    const keep = new Set<string>();
    this.byCookie.clear();
    config.servers.forEach((p, order) => {
      let s = this.byKey.get(p.key);
      if (s === undefined) {
        s = new Srv(p, order);
        this.byKey.set(p.key, s);
      } else {
        if (s.weight === s.configWeight) s.weight = p.weight;
        s.configWeight = p.weight;
        s.order = order;
        s.backup = p.backup;
        s.maxconn = p.maxconn ?? Infinity;
      }
      const id = hash32(p.key).toString(16).padStart(8, "0");
      s.cookie = this.byCookie.has(id) ? `${id}${order}` : id;
      this.byCookie.set(s.cookie, s);
      keep.add(p.key);
      next.push(s);
    });
    for (const s of this.list) {
      if (keep.has(s.key)) continue;
      s.removed = true;
      this.byKey.delete(s.key);
    }
    this.list = next;
    this.rebuild();
  }

  /** Health and runtime state from the control side (states of other backends are ignored). */
  setStates(states: readonly ServerState[]): void {
    let changed = false;
    for (const st of states) {
      if (st.backend !== this.config.name) continue;
      const s = this.byKey.get(st.key);
      if (s === undefined) continue;
      if (s.observedDown) {
        if (!st.up || st.admin === "maint") s.recovering = true;
        else if (s.recovering) {
          s.observedDown = s.recovering = false;
          s.errors = 0;
          changed = true;
        }
      }
      if (s.up !== st.up || s.admin !== st.admin || s.weight !== st.weight) changed = true;
      s.up = st.up;
      s.admin = st.admin;
      s.weight = st.weight;
    }
    if (changed) this.rebuild();
  }

  /**
   * A server for this request, or why none. A cookie naming a server, then
   * a stick entry, send the client to its server if that server is up and not
   * in maint (drain is honoured); otherwise the algorithm picks among the
   * usable servers. The server's slot is taken: `release` it when done.
   */
  pick(req: PickRequest<H>): Server | NoServer {
    const ex = req.exclude;
    if (this.config.cookie !== undefined && req.cookie !== undefined) {
      const s = this.byCookie.get(req.cookie);
      if (s !== undefined && s.stickable && !(ex !== undefined && ex.includes(s))) return this.assign(s, req);
    }
    const stick = this.stick;
    if (stick !== undefined) {
      const key = stick.lookup(req.source, req.now);
      const s = key === undefined ? undefined : this.byKey.get(key);
      if (s !== undefined && s.stickable && !(ex !== undefined && ex.includes(s))) return this.assign(s, req);
    }
    if (this.pool.length === 0) return "unavailable";
    const s = this.free > 0 || this.algorithm.binds ? this.algorithm.pick(req) : undefined;
    if (s !== undefined) return this.assign(s, req);
    if (ex !== undefined && this.pool.every((p) => ex.includes(p))) return "unavailable";
    return this.enqueue(req, undefined);
  }

  /** The request on `server` ended (or its connect failed): its slot goes to the next request waiting for it, if any. */
  release(server: Server): void {
    const s = server as Srv;
    s.inflight--;
    if (s.inPool) {
      if (s.inflight === s.maxconn - 1) this.free++;
      this.algorithm.released(s);
    }
    const w = this.nextFor(s);
    if (w !== undefined) this.serve(w, s);
  }

  /** A queued request left (its client went away); false when it was not queued. */
  cancel(handle: H): boolean {
    const w = this.queuedBy.get(handle);
    if (w === undefined) return false;
    this.unqueue(w);
    return true;
  }

  /** Requests that waited queue_timeout by `now` (answer them 503), and stick entries unused for stick_expire dropped. */
  expire(now: number): H[] {
    this.stick?.expire(now);
    const out: H[] = [];
    const limit = now - this.queueTimeoutMs;
    const drain = (q: Fifo<H>) => {
      while (q.head !== undefined && q.head.at <= limit) {
        out.push(q.head.handle);
        this.unqueue(q.head);
      }
    };
    drain(this.waiting);
    for (const q of this.serverQueues.values()) drain(q);
    return out;
  }

  /**
   * What a request met at `server` (observe layer4: connect errors and
   * timeouts count; layer7: 5xx too; anything else resets the count). At
   * error_limit consecutive errors the server is marked down in this worker
   * and the returned message tells the control side; it comes back after its
   * active check reports it down and then up again (or the operator puts it
   * in maint and back).
   */
  observe(server: Server, outcome: Outcome): Observed | undefined {
    const s = server as Srv;
    const mode = this.config.observe;
    if (mode === "none" || s.removed) return undefined;
    const error = outcome === "connect_error" || outcome === "timeout" || (outcome === "http_5xx" && mode === "layer7");
    if (!error) {
      s.errors = 0;
      return undefined;
    }
    s.errors++;
    if (s.observedDown || s.errors < this.config.error_limit) return undefined;
    s.observedDown = true;
    s.recovering = false;
    this.rebuild();
    return { type: "observed", backend: this.config.name, server: s.key, reason: `${s.errors} consecutive errors (observe ${mode}), the last a ${outcome.replace("_", " ")}` };
  }

  /** Stick entries created or refreshed here since the last call, at most `max`, one per key. */
  stickChanges(max = MAX_STICK_BATCH): StickEntry[] {
    return this.stick?.changes(this.config.name, max) ?? [];
  }

  /** Stick entries from another worker or the peer (entries of other backends are ignored). */
  mergeStick(entries: readonly StickEntry[], now: number): void {
    if (this.stick === undefined) return;
    const mine = entries.filter((e) => e.backend === this.config.name);
    this.stick.merge(mine, now);
  }

  private assign(s: Srv, req: PickRequest<H>): Server | NoServer {
    if (!s.free) return this.enqueue(req, s);
    this.take(s, req.source, req.now);
    return s;
  }

  private take(s: Srv, source: string, now: number): void {
    s.inflight++;
    if (s.inPool) {
      if (s.inflight === s.maxconn) this.free--;
      this.algorithm.taken(s);
    }
    this.stick?.touch(source, s.key, now);
  }

  private enqueue(req: PickRequest<H>, server: Srv | undefined): NoServer {
    if (this.queuedBy.size >= this.config.queue) return "queue_full";
    const w: Waiting<H> = { handle: req.handle, source: req.source, exclude: req.exclude, at: req.now, seq: ++this.seq, server, queue: undefined, prev: undefined, next: undefined };
    this.queueOf(server).push(w);
    this.queuedBy.set(req.handle, w);
    return "queued";
  }

  private queueOf(server: Srv | undefined): Fifo<H> {
    if (server === undefined) return this.waiting;
    let q = this.serverQueues.get(server);
    if (q === undefined) this.serverQueues.set(server, (q = new Fifo<H>()));
    return q;
  }

  private unqueue(w: Waiting<H>): void {
    const q = w.queue!;
    q.remove(w);
    this.queuedBy.delete(w.handle);
    if (q.size === 0 && w.server !== undefined) this.serverQueues.delete(w.server);
  }

  /** The request a free slot of s serves next: the older of s's own queue head and the first backend-queue entry that may go to s. */
  private nextFor(s: Srv): Waiting<H> | undefined {
    if (this.queuedBy.size === 0 || !s.free) return undefined;
    const own = s.stickable ? this.serverQueues.get(s)?.head : undefined;
    let any = s.inPool ? this.waiting.head : undefined;
    while (any !== undefined && any.exclude !== undefined && any.exclude.includes(s)) any = any.next;
    if (own === undefined) return any;
    return any !== undefined && any.seq < own.seq ? any : own;
  }

  private serve(w: Waiting<H>, s: Srv): void {
    this.unqueue(w);
    this.take(s, w.source, w.at);
    this.deps.dispatch(w.handle, s);
  }

  /**
   * The pool: the usable active servers, or when there is none the first
   * usable backup in config order (HAProxy without `option allbackups`).
   * Requests waiting for a server that can no longer take them go back to
   * the backend's queue, and free slots take waiting requests.
   */
  private rebuild(): void {
    for (const s of this.pool) s.inPool = false;
    let pool = this.list.filter((s) => !s.backup && s.eligible);
    if (pool.length === 0) {
      const backup = this.list.find((s) => s.backup && s.eligible);
      pool = backup ? [backup] : [];
    }
    this.free = 0;
    for (const s of pool) {
      s.inPool = true;
      if (s.free) this.free++;
    }
    this.pool = pool;
    this.algorithm.rebuild(pool);
    for (const [s, q] of this.serverQueues) {
      if (s.stickable) continue;
      for (let w = q.head; w !== undefined; w = q.head) {
        q.remove(w);
        w.server = undefined;
        this.waiting.insertBySeq(w);
      }
      this.serverQueues.delete(s);
    }
    for (const s of this.list) {
      for (let w = this.nextFor(s); w !== undefined; w = this.nextFor(s)) this.serve(w, s);
    }
  }
}
