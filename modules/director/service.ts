/**
 * The director's shell: subscribes to the checks module's service for the
 * servers of its virtual services (checked on the standby too, so a
 * takeover starts from current health),
 * decides the dataplane's state (engine.ts) after every change of health,
 * admin override or activity, and reconciles the dataplane with it, one
 * reconcile at a time, the newest state winning. It is active by itself, or,
 * when a resource of agent "director" is configured, while the resource
 * manager runs that resource here. Every node programs the dataplane, so a
 * takeover costs only the address; with a `sync` section the connections are
 * synchronised (conntrackd on nftables, the kernel's sync daemon on IPVS),
 * primary where the director is active, backup elsewhere.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import { serverKey } from "../../core/net/address.ts";
import type { RouteSpec } from "../../core/api/routes.ts";
import type { AgentAction, AgentResult, RunOptions } from "../../core/agent.ts";
import type { ChecksService, ChecksSubscription, ChecksWant } from "../checks/control.ts";
import type { ServiceRaw } from "../checks/config.ts";
import type { DirectorRaw, SyncRaw } from "./config.ts";
import { initialHealthy, step, type DirectorEffect, type DirectorOutput, type DirectorState, type DirectorStep, type Health } from "./engine.ts";
import { NftablesDataplane } from "./dataplane/nftables.ts";
import { IpvsDataplane, PROC_IP_VS } from "./dataplane/ipvs.ts";
import type { ConnectionSync, Dataplane, SyncRole } from "./dataplane/model.ts";
import { Conntrackd } from "./dataplane/conntrackd.ts";
import { syncSettings } from "./dataplane/conntrackd-conf.ts";
import { IpvsSyncDaemon } from "./dataplane/ipvs-sync.ts";
import { directorRoutes } from "./routes.ts";
import { restoreOverrides } from "./overrides.ts";

/**
 * What the director tells the routing module: whether it is active here, and each virtual service's up/down (none
 * before its first decision): down as soon as decided, up once a reconcile has put its servers in the dataplane.
 */
export interface DirectorView {
  active: boolean;
  up: Record<string, boolean>;
  /** The dataplane it runs ("ipvs" or "nftables"; "auto" is decided at its start). */
  dataplane: string;
}

/** The "director" service: its view, and a watch called after every change of it. */
export interface DirectorWatch {
  view(): DirectorView;
  watch(onChange: () => void): () => void;
}

/** The dataplane is compared with the desired state this often even without a change, to repair drift. */
export const RECONCILE_EVERY_MS = 10_000;
const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";
/** The section of the node's state file (core/state.ts) that keeps the overrides across a restart. */
const STATE_SECTION = "director";

export class DirectorService implements ModuleInstance {
  private config!: Config;
  /** Its subscription, and the checks service that holds it (a checks module started again offers another). */
  private checks: { service: ChecksService; subscription: ChecksSubscription } | null = null;
  private dataplane!: Dataplane;
  /** The active/up/down machine (engine.ts). */
  private machine!: DirectorState;
  /** The admin's weights by server key (0: drained), kept across reloads and restarts until cleared. */
  private overrides: Record<string, number> = {};
  private last: DirectorOutput | null = null;
  private lastReconcile: { at: number; ms: number; changes: number; error: string | null } | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  /** Whether a reconcile asked for while one ran must read the whole dataplane (ReconcileOptions.full). */
  private againFull = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private withdraw: (() => void) | null = null;
  /** The connection synchronisation, with the section and dataplane it was made for. */
  private sync: { sync: ConnectionSync; made: string } | null = null;
  /** Role changes, one at a time in order. */
  private syncing: Promise<void> = Promise.resolve();
  /** Who watches where it is active and which virtual services are up (the routing module). */
  private readonly watchers = new Set<() => void>();
  /**
   * The virtual services' up/down as the watchers are told it: down as soon as decided, up only once a reconcile
   * has put the servers in the dataplane. The routing module announces what is up here, and an announcement ahead
   * of the servers draws connections to a director with nowhere to send them.
   */
  private shown: Record<string, boolean> = {};

  constructor(
    private readonly ctx: ModuleContext,
    /** The dataplane to program instead of the kernel's (tests put their own in). */
    private readonly given?: Dataplane,
    /** The connection synchronisation to drive instead of the kernel's (tests put their own in). */
    private readonly givenSync?: ConnectionSync,
  ) {
    const views = () => this.last?.views ?? [];
    ctx.metrics.collect("tandem_director_server_healthy", "1 when the real server passes its checks", () =>
      views().flatMap((v) => v.servers.map((s) => ({ labels: { virtual_service: v.name, server: s.key }, value: s.healthy ? 1 : 0 }))),
    );
    ctx.metrics.collect("tandem_director_server_weight", "the real server's weight in the dataplane (absent: not there)", () =>
      views().flatMap((v) => v.servers.flatMap((s) => (s.weight === null ? [] : [{ labels: { virtual_service: v.name, server: s.key }, value: s.weight }]))),
    );
    ctx.metrics.collect("tandem_director_virtual_service_up", "1 when the virtual service holds its quorum", () => views().map((v) => ({ labels: { virtual_service: v.name }, value: v.up ? 1 : 0 })));
  }

  async start(config: Config): Promise<void> {
    this.config = config;
    this.overrides = this.restored();
    this.dataplane = this.choose(this.section());
    const checks = this.checksService(config.raw.director!);
    await this.startSync(this.feed({ type: "start", virtualServices: this.section().virtual_service, managed: this.managed() }));
    this.checks = checks && { service: checks, subscription: this.subscribe(checks) };
    const agent = this.ctx.services.provideAgent("director", { run: (action, options) => this.agent(action, options) });
    const offered = this.ctx.services.provide("director", { view: () => this.view(), watch: (onChange) => this.watch(onChange) });
    this.withdraw = () => {
      agent();
      offered();
    };
    this.timer = setInterval(() => this.schedule(true), RECONCILE_EVERY_MS);
    await this.settled();
  }

  /** A checks module stopped and started again since (another service object) gets a new subscription, the old one is closed. */
  async reload(config: Config): Promise<void> {
    const dataplane = this.choose(config.raw.director!);
    const checks = this.checksService(config.raw.director!);
    this.config = config;
    this.dataplane = dataplane;
    const effects = this.feed({ type: "reload", virtualServices: this.section().virtual_service, managed: this.managed() });
    if (this.sync?.made !== this.syncMade()) {
      await this.stopSync();
      await this.startSync([{ type: "sync", role: this.machine.active ? "primary" : "backup" }]);
    } else await this.syncRoles(effects);
    if (checks && checks === this.checks?.service) this.checks.subscription.update(this.want());
    else {
      this.checks?.subscription.close();
      this.checks = checks && { service: checks, subscription: this.subscribe(checks) };
    }
    this.schedule(true);
  }

  /** The dataplane is left as it is: a restart must not drop live connections (a stop of the director resource empties it). */
  async stop(): Promise<void> {
    this.withdraw?.();
    if (this.timer) clearInterval(this.timer);
    this.checks?.subscription.close();
    await this.running;
    await this.stopSync();
  }

  status(): Record<string, unknown> {
    return {
      dataplane: this.dataplane?.name,
      active: this.machine?.active ?? false,
      reconcile: this.lastReconcile,
      sync: this.sync?.sync.status() ?? null,
      virtualServices: this.last?.views ?? [],
      overrides: this.overrides,
    };
  }

  routes(): RouteSpec[] {
    return directorRoutes({
      status: () => this.status(),
      servers: () => this.serverKeys(),
      override: (key, weight) => {
        if (weight === null) delete this.overrides[key];
        else this.overrides[key] = weight;
        this.ctx.state.put(STATE_SECTION, this.overrides);
        this.schedule();
      },
    });
  }

  /** The overrides kept before the restart, for the servers that are still in the config. */
  private restored(): Record<string, number> {
    const kept = this.ctx.state.get(STATE_SECTION);
    if (kept === undefined) return {};
    const r = restoreOverrides(kept, this.serverKeys());
    const where = { file: this.ctx.state.file, section: STATE_SECTION };
    if ("problem" in r) {
      this.ctx.log.error({ ...where, problem: r.problem }, "the kept overrides are not valid; ignored: this node starts with none");
      return {};
    }
    if (r.dropped.length) this.ctx.log.warn({ ...where, dropped: r.dropped }, "kept overrides of servers no longer in the config are dropped");
    return r.overrides;
  }

  /** Where it is active and, after its first decision, which virtual services are up. */
  private view(): DirectorView {
    return { active: this.machine.active, up: { ...this.shown }, dataplane: this.dataplane.name };
  }

  /** Tells the watchers the virtual services' up/down, if it changed. */
  private show(up: Record<string, boolean>): void {
    const same = Object.keys(up).length === Object.keys(this.shown).length && Object.entries(up).every(([name, isUp]) => this.shown[name] === isUp);
    this.shown = up;
    if (!same) for (const w of this.watchers) w();
  }

  private watch(onChange: () => void): () => void {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }

  /** Every real server of the virtual services, by key (core/net/address.ts). */
  private serverKeys(): Set<string> {
    return new Set(this.services().flatMap((s) => s.servers.map((srv) => serverKey(s, srv))));
  }

  private section(): DirectorRaw {
    return this.config.raw.director!;
  }

  private services(): ServiceRaw[] {
    const used = new Set(this.section().virtual_service.map((v) => v.service));
    return (this.config.raw.services ?? []).filter((s) => used.has(s.name));
  }

  /** Whether a resource of agent "director" decides where the director is active. */
  private managed(): boolean {
    return (this.config.raw.resources?.resource ?? []).some((r) => r.agent === "director");
  }

  /**
   * "auto": IPVS when the kernel shows it (ip_vs loaded), else nftables. An
   * explicit "ipvs" on a kernel without it fails here, with the kernel's
   * answer, rather than at every reconcile.
   */
  private choose(d: DirectorRaw): Dataplane {
    if (this.given) return this.given;
    const name = d.dataplane === "auto" ? (existsSync(PROC_IP_VS) ? "ipvs" : "nftables") : d.dataplane;
    if (this.dataplane?.name === name) return this.dataplane;
    const warn = (message: string) => this.ctx.events.emit("director.warning", { message });
    if (name === "nftables") return new NftablesDataplane({ warn });
    const ipvs = new IpvsDataplane({ warn });
    ipvs.family();
    return ipvs;
  }

  /** What the connection synchronisation is made from (its section, this node, the dataplane); "" without one. */
  private syncMade(): string {
    const s = this.section().sync;
    return s || this.givenSync ? JSON.stringify([s ?? null, this.ctx.node.name, this.dataplane.name]) : "";
  }

  private makeSync(s: SyncRaw | undefined): ConnectionSync {
    if (this.givenSync) return this.givenSync;
    const settings = syncSettings(s!, this.config.nodes.filter((n) => n.roles.includes("member")), this.ctx.node.name, this.config.cluster);
    if (this.dataplane.name === "ipvs") return new IpvsSyncDaemon(settings);
    return new Conntrackd(settings, this.ctx.log);
  }

  /** Start the connection synchronisation (with a sync section) in the role the machine's effects give. */
  private async startSync(effects: DirectorEffect[]): Promise<void> {
    const made = this.syncMade();
    if (!made) return;
    const role = effects.find((e): e is Extract<DirectorEffect, { type: "sync" }> => e.type === "sync")?.role ?? (this.machine.active ? "primary" : "backup");
    const sync = this.makeSync(this.section().sync);
    this.sync = { sync, made };
    await sync.start(role);
  }

  private async stopSync(): Promise<void> {
    const sync = this.sync?.sync;
    this.sync = null;
    await this.syncing;
    await sync?.stop().catch((err: Error) => {
      this.ctx.events.emit("director.error", { message: `connection sync (${sync.name}) stop: ${err.message}` });
    });
  }

  /** The role changes among `effects`, queued in order; resolves when they are taken. A failure is an error event: the director keeps serving new connections. */
  private syncRoles(effects: DirectorEffect[]): Promise<void> {
    const sync = this.sync?.sync;
    for (const e of effects) {
      if (e.type !== "sync" || !sync) continue;
      const role: SyncRole = e.role;
      this.syncing = this.syncing.then(() =>
        sync.become(role).catch((err: Error) => {
          this.ctx.events.emit("director.error", { message: `connection sync (${sync.name}) as ${role}: ${err.message}` });
        }),
      );
    }
    return this.syncing;
  }

  /** The services of the virtual services, checked as the director's section says (its concurrency, its alpha). */
  private want(): ChecksWant {
    const d = this.section();
    return { services: [...new Set(d.virtual_service.map((v) => v.service))], concurrency: d.check_concurrency, initial: initialHealthy(d.virtual_service) ? "up" : "down" };
  }

  /** The checks module's service (a director with virtual services needs it: they name [[services]]). */
  private checksService(d: DirectorRaw): ChecksService | null {
    const checks = this.ctx.services.get("checks");
    if (!checks && d.virtual_service.length) throw new Error("the checks module is not running: the virtual services' [[services]] cannot be checked");
    return checks ?? null;
  }

  private subscribe(checks: ChecksService): ChecksSubscription {
    return checks.subscribe(this.want(), (change) => {
      this.ctx.events.emit("director.server", { ...change });
      this.schedule();
    });
  }

  /** The newest health of each server from the checks it subscribed to; one not reported yet counts as `initial` (engine.ts). */
  private health(): Map<string, Health> {
    const out = new Map<string, Health>();
    const checks = this.checks?.service;
    for (const key of this.serverKeys()) {
      const h = checks?.health(key);
      if (h) out.set(key, { healthy: h.healthy, weight: h.weight });
    }
    return out;
  }

  /**
   * One reconcile at a time; a change during one asks for another after it, with the newest state. `full`: the
   * dataplane reads all it holds (the periodic repair of drift, a reload); a change reads back only what it touches.
   */
  private schedule(full = false): void {
    if (this.running) {
      this.again = true;
      this.againFull ||= full;
      return;
    }
    this.running = this.reconcile(full).finally(() => {
      this.running = null;
      if (this.again) {
        const next = this.againFull;
        this.again = false;
        this.againFull = false;
        this.schedule(next);
      }
    });
  }

  /** Reconcile, and wait until no reconcile is running or asked for: the dataplane then holds the newest state. */
  private async settled(): Promise<void> {
    this.schedule();
    while (this.running) await this.running;
  }

  private feed(input: DirectorStep): DirectorEffect[] {
    const { state, effects } = step(this.machine, input);
    const changed = this.machine?.active !== state.active;
    this.machine = state;
    if (changed) for (const w of this.watchers) w();
    return effects;
  }

  private async reconcile(full: boolean): Promise<void> {
    const effects = this.feed({ type: "decide", services: this.services(), health: this.health(), overrides: this.overrides });
    for (const e of effects) if (e.type === "event") this.ctx.events.emit(e.event, e.data);
    const out = effects.find((e): e is Extract<DirectorEffect, { type: "program" }> => e.type === "program")!.output;
    this.last = out;
    this.show(Object.fromEntries(out.views.map((v) => [v.name, v.up && this.shown[v.name] === true])));
    const at = this.ctx.clock.wall();
    try {
      if (this.section().virtual_service.some((v) => v.forwarding === "nat")) this.forwardIPv4();
      const r = await this.dataplane.reconcile(out.desired, { full });
      this.lastReconcile = { at, ms: Math.round(r.ms * 10) / 10, changes: r.diff.length, error: null };
      this.show(Object.fromEntries(out.views.map((v) => [v.name, v.up])));
      if (r.diff.length) this.ctx.events.emit("director.reconcile", { changes: r.diff.length, ms: this.lastReconcile.ms, active: this.machine.active });
    } catch (e) {
      this.lastReconcile = { at, ms: 0, changes: 0, error: (e as Error).message };
      this.ctx.events.emit("director.error", { message: (e as Error).message });
    }
  }

  /** NAT forwarding needs the kernel to forward: as LVS-NAT operators set it, the director does when it programs a nat service (the standby too: it is ready before a takeover). */
  private forwardIPv4(): void {
    if (existsSync(IP_FORWARD) && readFileSync(IP_FORWARD, "utf8").trim() !== "1") writeFileSync(IP_FORWARD, "1\n");
  }

  /** The director resource's agent: start and stop make this node the active director or not; monitor asks the dataplane. */
  private async agent(action: AgentAction, _options: RunOptions): Promise<AgentResult> {
    const started = this.ctx.clock.now();
    const result = (status: AgentResult["status"], message = ""): AgentResult => ({ action, status, exitCode: null, durationMs: Math.round(this.ctx.clock.now() - started), output: "", outputBytes: 0, message });
    if (action === "start" || action === "stop") {
      // The dataplane is the same active or standby: only the connection sync's role changes, unless the last reconcile failed (or none ran yet).
      await this.syncRoles(this.feed({ type: "agent", action }));
      if (!this.lastReconcile || this.lastReconcile.error) await this.settled();
      const error = this.lastReconcile?.error;
      return error ? result("failed", error) : result("ok", `${action === "start" ? "active on" : "standby on"} the ${this.dataplane.name} dataplane`);
    }
    if (action === "monitor" || action === "probe") {
      // Every node holds the dataplane: running is being the active director here, with the dataplane readable.
      if (!this.machine.active) return result("not-running");
      const held = await this.dataplane.read().catch((e: Error) => e);
      return held instanceof Error ? result("failed", held.message) : result("ok");
    }
    return result("unimplemented", `the director has no ${action} action`);
  }
}
