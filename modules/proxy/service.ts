/**
 * The proxy on the control thread. It never touches a request: it runs
 * `[proxy] workers` data-path threads (worker.ts, by messages.ts), tells them
 * the config (a `configure` of a new generation at start and at each
 * reload), the state of every server (its active check from the shared
 * `checks` service, its passive observation, the operator's runtime change),
 * and the stick entries learned elsewhere (another worker, the peer over the
 * cluster bus: peers.ts); it sums their counters for the status and the
 * metrics, polling each worker at most one request at a time. A thread that
 * dies is replaced WORKER_RESTART_MS later with the same config, states and
 * stick entries. The listeners run by themselves, or, when a resource of
 * agent "proxy" is configured, while the resource manager runs that
 * resource here.
 */
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import type { RouteSpec } from "../../core/api/routes.ts";
import type { AgentAction, AgentResult } from "../../core/agent.ts";
import type { ClusterBus } from "../../core/cluster.ts";
import type { Counter } from "../../core/metrics.ts";
import { parseDuration } from "../../core/duration.ts";
import { retireWorker, workerEntry } from "../../core/threads.ts";
import type { Cancel } from "../../core/time.ts";
import type { ChecksService, ChecksSubscription, ChecksWant } from "../checks/control.ts";
import type { ServerChange } from "../checks/engine.ts";
import { LATENCY_BUCKETS_MS, MAX_STICK_BATCH, STOP_GRACE_MS, WORKER_RESTART_MS, type FromWorker, type ServerState, type StickEntry, type ToWorker, type WorkerConfig, type WorkerStats } from "./messages.ts";
import { FILE_READER, workerConfig, type CertificateReader } from "./resolve.ts";
import { applyAdmin, observedKey, restoreAdmin, serverStates, type AdminChange, type AdminVerb } from "./admin.ts";
import { decodeStick, encodeStick, mergeStick, PROXY_CHANNEL, pruneStick, stickCount, stickEntries, type StickLimits, type StickReplica } from "./peers.ts";
import { addStats, emptyStats } from "./stats.ts";
import { proxyRoutes } from "./routes.ts";

/** Each worker is asked for its counters this often (one request in flight a worker at most). */
export const STATS_EVERY_MS = 1000;
/** How long a start (or the resource's start) waits for every worker to say it listens. */
export const LISTEN_WAIT_MS = 10_000;
/** Stick entries for the peer are gathered this long, then sent in STICK_MESSAGES_PER_FLUSH bus messages at most (the rest wait). */
export const STICK_FLUSH_MS = 250;
export const STICK_MESSAGES_PER_FLUSH = 4;
/** Expired stick entries are forgotten this often. */
const PRUNE_EVERY_MS = 10_000;
/** Checks in flight at once the proxy asks the checks module for. */
const CHECK_CONCURRENCY = 16;
/** The section of the node's state file (core/state.ts) that keeps the runtime changes across a restart. */
const STATE_SECTION = "proxy";

/** One data-path thread's place: the thread (null while it waits to be started again) and what it last said. */
interface Slot {
  index: number;
  worker: Worker | null;
  /** The generation it said it listens with. */
  generation: number | null;
  error: string | null;
  statsAsked: boolean;
  stats: WorkerStats | null;
  restart: Cancel | null;
  restarts: number;
}

/** A server marked down by live traffic, until its active check brings it back or `until` passes. */
interface Observation {
  reason: string;
  at: number;
  clear: Cancel;
}

export class ProxyService implements ModuleInstance {
  private config!: Config;
  private current!: WorkerConfig;
  private slots: Slot[] = [];
  /** Whether the listeners are to run: always without a "proxy" resource, else while it is started here. */
  private active = false;
  /** A worker said it served its first client since the listeners started (proxy.served is emitted once a start). */
  private served = false;
  private checks: { service: ChecksService; subscription: ChecksSubscription } | null = null;
  private bus: { bus: ClusterBus; unlisten: () => void } | null = null;
  private admin: Record<string, AdminChange> = {};
  private readonly observed = new Map<string, Observation>();
  private states = new Map<string, ServerState>();
  private readonly replica: StickReplica = new Map();
  private limits = new Map<string, StickLimits>();
  /** Entries for the peer, newest per backend and key. */
  private readonly forPeer = new Map<string, StickEntry>();
  /** The counters of threads gone (their gauges left out). */
  private retired = emptyStats();
  private readonly retiring = new Set<Promise<void>>();
  /** Called at each `listening`, to let a start waiting for every worker look again. */
  private readonly heardListening = new Set<() => void>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private withdraw: (() => void) | null = null;
  private readonly m: Record<"requests" | "responses" | "connections" | "refused" | "queueFull" | "queueTimeouts" | "retries" | "redispatches" | "serverRequests" | "serverErrors" | "latency" | "observed" | "accessLogDropped", Counter>;

  constructor(
    private readonly ctx: ModuleContext,
    /** The workers' entry (tests may give another). */
    private readonly entry = workerEntry("modules/proxy/worker.ts"),
    private readonly read: CertificateReader = FILE_READER,
  ) {
    const mx = ctx.metrics;
    this.m = {
      requests: mx.counter("tandem_proxy_frontend_requests_total", "requests a frontend received"),
      responses: mx.counter("tandem_proxy_frontend_responses_total", "responses a frontend sent, by status class"),
      connections: mx.counter("tandem_proxy_frontend_connections_total", "client connections a frontend accepted"),
      refused: mx.counter("tandem_proxy_frontend_refused_total", "client connections closed at once because the frontend had maxconn open"),
      queueFull: mx.counter("tandem_proxy_backend_queue_full_total", "requests answered 503 because the backend's queue was full"),
      queueTimeouts: mx.counter("tandem_proxy_backend_queue_timeouts_total", "requests answered 503 after waiting queue_timeout"),
      retries: mx.counter("tandem_proxy_backend_retries_total", "connect attempts after a failed one"),
      redispatches: mx.counter("tandem_proxy_backend_redispatches_total", "retries sent to another server"),
      serverRequests: mx.counter("tandem_proxy_server_requests_total", "requests sent to a server"),
      serverErrors: mx.counter("tandem_proxy_server_errors_total", "errors observed on a server (connect errors, timeouts, and 5xx with observe layer7)"),
      latency: mx.counter("tandem_proxy_server_response_ms_bucket", "responses of a server within le milliseconds (cumulative, as a Prometheus histogram's buckets)"),
      observed: mx.counter("tandem_proxy_server_observed_down_total", "times live traffic marked a server down (passive health)"),
      accessLogDropped: mx.counter("tandem_proxy_access_log_dropped_total", "access log lines the workers dropped because stdout took them too slowly"),
    };
    const totals = () => this.totals();
    mx.collect("tandem_proxy_frontend_active", "client connections open now", () => Object.entries(totals().frontends).map(([frontend, f]) => ({ labels: { frontend }, value: f.active })));
    mx.collect("tandem_proxy_backend_queue", "requests waiting for a server now", () => Object.entries(totals().backends).map(([backend, b]) => ({ labels: { backend }, value: b.queued })));
    mx.collect("tandem_proxy_server_active", "requests in flight to a server now", () =>
      Object.entries(totals().backends).flatMap(([backend, b]) => Object.entries(b.servers).map(([server, s]) => ({ labels: { backend, server }, value: s.active }))),
    );
    mx.collect("tandem_proxy_server_up", "1 when the server takes traffic by its checks and live traffic", () => [...this.states.values()].map((s) => ({ labels: { backend: s.backend, server: s.key }, value: s.up ? 1 : 0 })));
    mx.collect("tandem_proxy_server_weight", "the server's weight now (the operator's, else its checked one)", () => [...this.states.values()].map((s) => ({ labels: { backend: s.backend, server: s.key }, value: s.weight })));
    mx.collect("tandem_proxy_server_ready", "1 when the operator lets the server take new requests (not drain or maint)", () => [...this.states.values()].map((s) => ({ labels: { backend: s.backend, server: s.key }, value: s.admin === "ready" ? 1 : 0 })));
  }

  async start(config: Config): Promise<void> {
    this.config = config;
    this.current = this.resolve(config, 1);
    this.limits = limitsOf(this.current);
    this.admin = this.restored();
    this.checks = this.subscribe();
    this.follow();
    this.states = new Map(this.stateList().map((s) => [observedKey(s.backend, s.key), s]));
    this.withdraw = this.ctx.services.provideAgent("proxy", { run: (action) => this.agent(action) });
    this.timers = [setInterval(() => this.poll(), STATS_EVERY_MS), setInterval(() => this.flush(), STICK_FLUSH_MS), setInterval(() => pruneStick(this.replica, this.limits, this.ctx.clock.wall()), PRUNE_EVERY_MS)];
    if (!this.managed()) {
      const errors = await this.listen();
      if (errors.length) throw new Error(`the proxy cannot listen: ${errors.join("; ")}`);
    }
  }

  /** Certificates are read again; a new generation reaches every worker, which keeps serving what is in flight on the old one. */
  async reload(config: Config): Promise<void> {
    const next = this.resolve(config, this.current.generation + 1);
    this.config = config;
    this.current = next;
    this.limits = limitsOf(next);
    const service = this.ctx.services.get("checks");
    if (service && service === this.checks?.service) this.checks.subscription.update(this.want());
    else {
      this.checks?.subscription.close();
      this.checks = this.subscribe();
    }
    this.follow();
    if (!this.active && !this.managed()) {
      const errors = await this.listen();
      if (errors.length) this.ctx.events.emit("proxy.error", { message: `the proxy cannot listen: ${errors.join("; ")}` });
      return;
    }
    if (!this.active) return;
    for (const slot of this.slots.slice(0, this.workerCount())) this.configure(slot);
    this.resize();
    this.pushStates("reload");
    const errors = await this.listening(next.generation);
    if (errors.length) this.ctx.events.emit("proxy.error", { message: `generation ${next.generation}: ${errors.join("; ")}` });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.withdraw?.();
    this.checks?.subscription.close();
    this.checks = null;
    this.bus?.unlisten();
    this.bus = null;
    for (const o of this.observed.values()) o.clear();
    await this.unlisten();
  }

  status(): Record<string, unknown> {
    const totals = this.totals();
    const backends = this.current?.backends ?? [];
    return {
      active: this.active,
      managed: this.config ? this.managed() : false,
      generation: this.current?.generation ?? 0,
      workers: this.slots.map((s) => ({ index: s.index, state: s.worker ? (s.generation === null ? "starting" : "running") : "restarting", generation: s.generation, error: s.error, restarts: s.restarts })),
      frontends: (this.current?.frontends ?? []).map((f) => ({ name: f.name, mode: f.mode, bind: f.bind, tls: f.certificates.length > 0, ...(totals.frontends[f.name] ?? { connections: 0, active: 0, requests: 0, status: {}, refused: 0 }) })),
      backends: backends.map((b) => {
        const t = totals.backends[b.name];
        return {
          name: b.name,
          service: b.service,
          balance: b.balance,
          queued: t?.queued ?? 0,
          queueFull: t?.queueFull ?? 0,
          queueTimeouts: t?.queueTimeouts ?? 0,
          retries: t?.retries ?? 0,
          redispatches: t?.redispatches ?? 0,
          stick: stickCount(this.replica)[b.name] ?? 0,
          servers: b.servers.map((s) => {
            const state = this.states.get(observedKey(b.name, s.key));
            const st = t?.servers[s.key];
            return {
              key: s.key,
              backup: s.backup,
              up: state?.up ?? true,
              checked: this.checks?.service.health(s.key)?.healthy ?? null,
              observed: this.observed.get(observedKey(b.name, s.key))?.reason ?? null,
              admin: state?.admin ?? "ready",
              weight: state?.weight ?? s.weight,
              change: this.admin[s.key] ?? null,
              requests: st?.requests ?? 0,
              active: st?.active ?? 0,
              errors: st?.errors ?? 0,
            };
          }),
        };
      }),
    };
  }

  routes(): RouteSpec[] {
    return proxyRoutes({ status: () => this.status(), servers: () => this.serverKeys(), change: (key, v) => this.change(key, v) });
  }

  /** An operator's change of a server: kept in the state dir, in force at once on every worker; what the server has now. */
  private change(key: string, v: AdminVerb): AdminChange | null {
    this.admin = applyAdmin(this.admin, key, v);
    this.ctx.state.put(STATE_SECTION, this.admin);
    this.pushStates(`the operator's ${v.verb}${v.verb === "weight" ? ` ${v.weight}` : ""}`);
    return this.admin[key] ?? null;
  }

  private resolve(config: Config, generation: number): WorkerConfig {
    return workerConfig(config.raw, dirname(config.file), this.read, generation);
  }

  private managed(): boolean {
    return (this.config.raw.resources?.resource ?? []).some((r) => r.agent === "proxy");
  }

  private serverKeys(): Set<string> {
    return new Set(this.current.backends.flatMap((b) => b.servers.map((s) => s.key)));
  }

  /** The changes kept before the restart, for the servers still in the config. */
  private restored(): Record<string, AdminChange> {
    const kept = this.ctx.state.get(STATE_SECTION);
    if (kept === undefined) return {};
    const r = restoreAdmin(kept, this.serverKeys());
    const where = { file: this.ctx.state.file, section: STATE_SECTION };
    if ("problem" in r) {
      this.ctx.log.error({ ...where, problem: r.problem }, "the kept runtime changes are not valid; ignored: the proxy starts with none");
      return {};
    }
    if (r.dropped.length) this.ctx.log.warn({ ...where, dropped: r.dropped }, "kept runtime changes of servers no longer in the config are dropped");
    return r.changes;
  }

  private want(): ChecksWant {
    return { services: [...new Set(this.current.backends.map((b) => b.service))], concurrency: CHECK_CONCURRENCY, initial: "up" };
  }

  private subscribe(): { service: ChecksService; subscription: ChecksSubscription } | null {
    const service = this.ctx.services.get("checks");
    if (!service) {
      if (this.current.backends.length) throw new Error("the checks module is not running: the backends' [[services]] cannot be checked");
      return null;
    }
    return { service, subscription: service.subscribe(this.want(), (c) => this.checked(c)) };
  }

  /** A check's verdict: a server whose check was down and passes again is no longer held down by live traffic. */
  private checked(c: ServerChange): void {
    if (c.previous === "down" && c.healthy) for (const b of this.current.backends) this.unobserve(observedKey(b.name, c.key));
    this.pushStates(`check: ${c.reason}`);
  }

  /** The cluster bus of the heartbeat running now (another after a reload that restarted it), if any: the peer's stick entries arrive on it. */
  private follow(): void {
    const bus = this.ctx.services.get("cluster");
    if (bus === this.bus?.bus) return;
    this.bus?.unlisten();
    this.bus = bus
      ? {
          bus,
          unlisten: bus.listen(PROXY_CHANNEL, (from, data) => {
            const entries = decodeStick(data);
            if (!entries) return void this.ctx.log.warn({ from, bytes: data.length }, "a stick message from the peer is not valid; dropped");
            const fresh = mergeStick(this.replica, this.limits, entries, this.ctx.clock.wall(), true);
            if (fresh.length) for (const slot of this.slots) this.sendStick(slot, fresh);
          }),
        }
      : null;
  }

  /** Send the peer what waits for it, a few messages at most. */
  private flush(): void {
    if (!this.bus || !this.forPeer.size) return;
    const pending = [...this.forPeer.values()];
    const { messages, taken } = encodeStick(pending, this.bus.bus.maxMessageBytes, STICK_MESSAGES_PER_FLUSH);
    for (const m of messages) this.bus.bus.send(PROXY_CHANNEL, m);
    for (const e of pending.slice(0, taken)) this.forPeer.delete(`${e.backend}\n${e.key}`);
  }

  private stateList(): ServerState[] {
    const service = this.checks?.service;
    return serverStates(this.current.backends, (key) => service?.health(key), this.admin, new Set(this.observed.keys()));
  }

  /** Tell the workers every server's state when one changed, with an event for each that did. */
  private pushStates(reason: string): void {
    const list = this.stateList();
    const next = new Map(list.map((s) => [observedKey(s.backend, s.key), s]));
    let changed = next.size !== this.states.size;
    for (const [k, s] of next) {
      const was = this.states.get(k);
      if (was && was.up === s.up && was.admin === s.admin && was.weight === s.weight) continue;
      changed = true;
      if (was) this.ctx.events.emit("proxy.server", { backend: s.backend, server: s.key, up: s.up, admin: s.admin, weight: s.weight, was: { up: was.up, admin: was.admin, weight: was.weight }, reason });
    }
    this.states = next;
    if (changed) for (const slot of this.slots) this.post(slot, { type: "servers", states: list });
  }

  /** A server its check does not bring back is held down as long as its check needs to rise (interval × rise), at least a second. */
  private observe(backend: string, server: string, reason: string): void {
    const k = observedKey(backend, server);
    const b = this.current.backends.find((x) => x.name === backend);
    if (!b?.servers.some((s) => s.key === server)) return;
    this.m.observed.inc({ backend, server });
    this.ctx.events.emit("proxy.observed", { backend, server, reason });
    const check = (this.config.raw.services ?? []).find((s) => s.name === b.service)?.check;
    const hold = Math.max(1000, (check ? parseDuration(check.interval)! : 0) * (check?.rise ?? 1));
    this.observed.get(k)?.clear();
    this.observed.set(k, { reason, at: this.ctx.clock.wall(), clear: this.ctx.clock.after(hold, () => this.unobserve(k) && this.pushStates("passive health: the hold ended")) });
    this.pushStates(`passive health: ${reason}`);
  }

  private unobserve(k: string): boolean {
    const o = this.observed.get(k);
    if (!o) return false;
    o.clear();
    return this.observed.delete(k);
  }

  private workerCount(): number {
    return this.config.raw.proxy!.workers ?? availableParallelism();
  }

  /** Start the listeners: a thread a worker; the errors of those that could not listen within LISTEN_WAIT_MS. */
  private async listen(): Promise<string[]> {
    this.active = true;
    this.served = false;
    this.resize();
    return this.listening(this.current.generation);
  }

  private async unlisten(): Promise<void> {
    this.active = false;
    for (const slot of this.slots) this.retire(slot);
    this.slots = [];
    await Promise.all(this.retiring);
  }

  /** As many slots as `workers` says: new ones start, extra ones stop. */
  private resize(): void {
    const n = this.workerCount();
    while (this.slots.length < n) {
      const slot: Slot = { index: this.slots.length, worker: null, generation: null, error: null, statsAsked: false, stats: null, restart: null, restarts: 0 };
      this.slots.push(slot);
      this.spawn(slot);
    }
    for (const slot of this.slots.splice(n)) this.retire(slot);
  }

  /** Wait until every worker listens with `generation` or says why not, LISTEN_WAIT_MS at most; their errors. */
  private async listening(generation: number): Promise<string[]> {
    const settled = () => this.slots.every((s) => s.error !== null || (s.generation ?? 0) >= generation);
    if (!settled()) {
      await new Promise<void>((resolve) => {
        const done = () => {
          cancel();
          this.heardListening.delete(look);
          resolve();
        };
        const look = () => void (settled() && done());
        const cancel = this.ctx.clock.after(LISTEN_WAIT_MS, done);
        this.heardListening.add(look);
      });
    }
    return this.slots.flatMap((s) => (s.error !== null ? [`worker ${s.index}: ${s.error}`] : (s.generation ?? 0) < generation ? [`worker ${s.index}: not listening after ${LISTEN_WAIT_MS} ms`] : []));
  }

  private post(slot: Slot, m: ToWorker): void {
    slot.worker?.postMessage(m);
  }

  /** The current config, and which worker of how many it is (a share of maxconn each; without reuse_port only the first listens). */
  private configure(slot: Slot): void {
    this.post(slot, { type: "configure", config: this.current, worker: { index: slot.index, count: this.workerCount() }, node: this.ctx.node.name });
  }

  private sendStick(slot: Slot, entries: readonly StickEntry[]): void {
    for (let i = 0; i < entries.length; i += MAX_STICK_BATCH) this.post(slot, { type: "stick", entries: entries.slice(i, i + MAX_STICK_BATCH) });
  }

  /** A new thread in `slot`, told the config, every server's state and every stick entry held. */
  private spawn(slot: Slot): void {
    const worker = new Worker(this.entry);
    slot.worker = worker;
    slot.generation = null;
    slot.error = null;
    slot.statsAsked = false;
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.heard(slot, e.data);
    worker.onerror = (e) => this.died(slot, worker, e.message);
    // A thread that exits without an uncaught error (process.exit) is as dead.
    worker.addEventListener("close", (e) => this.died(slot, worker, `the thread exited with code ${(e as CloseEvent).code}`));
    this.configure(slot);
    this.post(slot, { type: "servers", states: this.stateList() });
    this.sendStick(slot, stickEntries(this.replica));
  }

  /** Its counters are kept; a new thread takes its place WORKER_RESTART_MS later while the listeners are to run. */
  private died(slot: Slot, worker: Worker, message: string): void {
    if (slot.worker !== worker) return;
    this.ctx.log.error({ worker: slot.index, error: message }, "a proxy worker thread failed; a new one takes over");
    this.ctx.events.emit("proxy.error", { worker: slot.index, message });
    worker.terminate();
    this.keep(slot);
    slot.worker = null;
    slot.generation = null;
    slot.restart = this.ctx.clock.after(WORKER_RESTART_MS, () => {
      slot.restart = null;
      if (!this.active || !this.slots.includes(slot)) return;
      slot.restarts++;
      this.spawn(slot);
    });
  }

  /** The slot's last counters join those of threads gone. */
  private keep(slot: Slot): void {
    if (slot.stats) this.retired = addStats(this.retired, slot.stats, false);
    slot.stats = null;
    slot.statsAsked = false;
  }

  /** Tell the thread to stop (in-flight requests end within STOP_GRACE_MS) and terminate it once it says so, or a second after the grace. */
  private retire(slot: Slot): void {
    slot.restart?.();
    slot.restart = null;
    const worker = slot.worker;
    slot.worker = null;
    this.keep(slot);
    if (!worker) return;
    const done = retireWorker(worker, this.ctx.clock, STOP_GRACE_MS + 1000);
    this.retiring.add(done);
    void done.then(() => this.retiring.delete(done));
  }

  private heard(slot: Slot, m: FromWorker): void {
    switch (m.type) {
      case "listening":
        slot.generation = m.generation;
        slot.error = m.error ?? null;
        if (m.error) this.ctx.events.emit("proxy.error", { worker: slot.index, generation: m.generation, message: m.error });
        for (const look of [...this.heardListening]) look();
        break;
      case "observed":
        this.observe(m.backend, m.server, m.reason);
        break;
      case "served":
        if (this.served || !this.active) break;
        this.served = true;
        this.ctx.events.emit("proxy.served", { frontend: m.frontend, backend: m.backend, server: m.server, client: m.client, status: m.status, servedAt: m.at });
        break;
      case "stick": {
        const fresh = mergeStick(this.replica, this.limits, m.entries, this.ctx.clock.wall(), false);
        if (!fresh.length) break;
        for (const other of this.slots) if (other !== slot) this.sendStick(other, fresh);
        if (this.bus) for (const e of fresh) this.forPeer.set(`${e.backend}\n${e.key}`, e);
        break;
      }
      case "stats":
        slot.stats = m.stats;
        slot.statsAsked = false;
        this.count();
        break;
    }
  }

  /** Ask each worker for its counters, unless it has not answered the last request. */
  private poll(): void {
    for (const slot of this.slots) {
      if (!slot.worker || slot.statsAsked) continue;
      slot.statsAsked = true;
      this.post(slot, { type: "stats" });
    }
  }

  /** The counters of the threads running now and of those gone. */
  private totals(): WorkerStats {
    return this.slots.reduce((sum, s) => (s.stats ? addStats(sum, s.stats) : sum), this.retired);
  }

  /** The counter metrics follow the totals. */
  private count(): void {
    const t = this.totals();
    const set = (c: Counter, labels: Record<string, string>, value: number) => void (c.cell(labels).value = value);
    set(this.m.accessLogDropped, {}, t.accessLogDropped);
    for (const [frontend, f] of Object.entries(t.frontends)) {
      set(this.m.requests, { frontend }, f.requests);
      set(this.m.connections, { frontend }, f.connections);
      set(this.m.refused, { frontend }, f.refused);
      for (const [klass, n] of Object.entries(f.status)) set(this.m.responses, { frontend, class: klass }, n);
    }
    for (const [backend, b] of Object.entries(t.backends)) {
      set(this.m.queueFull, { backend }, b.queueFull);
      set(this.m.queueTimeouts, { backend }, b.queueTimeouts);
      set(this.m.retries, { backend }, b.retries);
      set(this.m.redispatches, { backend }, b.redispatches);
      for (const [server, s] of Object.entries(b.servers)) {
        set(this.m.serverRequests, { backend, server }, s.requests);
        set(this.m.serverErrors, { backend, server }, s.errors);
        let below = 0;
        [...LATENCY_BUCKETS_MS, "+Inf" as const].forEach((le, i) => {
          below += s.latencyMs[i] ?? 0;
          set(this.m.latency, { backend, server, le: String(le) }, below);
        });
      }
    }
  }

  /** The proxy resource's agent: start and stop run the listeners here or not; monitor asks whether every worker listens. */
  private async agent(action: AgentAction): Promise<AgentResult> {
    const started = this.ctx.clock.now();
    const result = (status: AgentResult["status"], message = ""): AgentResult => ({ action, status, exitCode: null, durationMs: Math.round(this.ctx.clock.now() - started), output: "", outputBytes: 0, message });
    if (action === "start") {
      const errors = this.active ? await this.listening(this.current.generation) : await this.listen();
      return errors.length ? result("failed", errors.join("; ")) : result("ok", `${this.slots.length} workers listen`);
    }
    if (action === "stop") {
      await this.unlisten();
      return result("ok", "the listeners are closed");
    }
    if (action === "monitor" || action === "probe") {
      if (!this.active) return result("not-running");
      const errors = this.slots.flatMap((s) => (s.error !== null ? [`worker ${s.index}: ${s.error}`] : []));
      return errors.length ? result("failed", errors.join("; ")) : result("ok");
    }
    return result("unimplemented", `the proxy has no ${action} action`);
  }
}

/** Each backend's stick-table bounds. */
function limitsOf(c: WorkerConfig): Map<string, StickLimits> {
  return new Map(c.backends.map((b) => [b.name, { size: b.stick_size, expireMs: parseDuration(b.stick_expire)! }]));
}
