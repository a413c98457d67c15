/**
 * The director's shell: owns the health checks of its services (always
 * running, on the standby too, so a takeover starts from current health),
 * decides the dataplane's state (engine.ts) after every change of health,
 * admin override or activity, and reconciles the dataplane with it, one
 * reconcile at a time, the newest state winning. It is active by itself, or,
 * when a resource of agent "director" is configured, while the resource
 * manager runs that resource here.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import type { RouteSpec } from "../../core/api/routes.ts";
import type { AgentAction, AgentResult, RunOptions } from "../../core/agent.ts";
import { Checker } from "../checks/service.ts";
import type { ServiceRaw } from "../checks/config.ts";
import type { DirectorRaw } from "./config.ts";
import { decide, type DirectorOutput, type Health } from "./engine.ts";
import { NftablesDataplane } from "./dataplane/nftables.ts";
import { IpvsDataplane, PROC_IP_VS } from "./dataplane/ipvs.ts";
import type { Dataplane } from "./dataplane/model.ts";
import { directorRoutes } from "./routes.ts";
import { restoreOverrides } from "./overrides.ts";

/** The dataplane is compared with the desired state this often even without a change, to repair drift. */
export const RECONCILE_EVERY_MS = 10_000;
const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";
/** The section of the node's state file (core/state.ts) that keeps the overrides across a restart. */
const STATE_SECTION = "director";

export class DirectorService implements ModuleInstance {
  private config!: Config;
  private checker: Checker | null = null;
  private dataplane!: Dataplane;
  private active = false;
  /** The admin's weights by server key (0: drained), kept across reloads and restarts until cleared. */
  private overrides: Record<string, number> = {};
  private wasUp: Record<string, boolean> = {};
  private last: DirectorOutput | null = null;
  private lastReconcile: { at: number; ms: number; changes: number; error: string | null } | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private withdraw: (() => void) | null = null;

  constructor(private readonly ctx: ModuleContext) {
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
    this.active = !this.managed();
    this.checker = this.newChecker();
    this.checker.start();
    this.withdraw = this.ctx.services.provideAgent("director", { run: (action, options) => this.agent(action, options) });
    this.timer = setInterval(() => this.schedule(), RECONCILE_EVERY_MS);
    await this.settled();
  }

  async reload(config: Config): Promise<void> {
    const dataplane = this.choose(config.raw.director!);
    this.config = config;
    this.dataplane = dataplane;
    if (!this.managed()) this.active = true;
    this.checker!.reload(this.services());
    this.schedule();
  }

  /** The dataplane is left as it is: a restart must not drop live connections (a stop of the director resource empties it). */
  async stop(): Promise<void> {
    this.withdraw?.();
    if (this.timer) clearInterval(this.timer);
    this.checker?.stop();
    await this.running;
  }

  status(): Record<string, unknown> {
    return {
      dataplane: this.dataplane?.name,
      active: this.active,
      reconcile: this.lastReconcile,
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

  /** Every real server of the virtual services, by key "SERVICE/ADDRESS:PORT". */
  private serverKeys(): Set<string> {
    return new Set(this.services().flatMap((s) => s.servers.map((srv) => `${s.name}/${srv.address}:${srv.port ?? s.port}`)));
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
    const name = d.dataplane === "auto" ? (existsSync(PROC_IP_VS) ? "ipvs" : "nftables") : d.dataplane;
    if (this.dataplane?.name === name) return this.dataplane;
    const warn = (message: string) => this.ctx.events.emit("director.warning", { message });
    if (name === "nftables") return new NftablesDataplane({ warn });
    const ipvs = new IpvsDataplane({ warn });
    ipvs.family();
    return ipvs;
  }

  private newChecker(): Checker {
    const initial = this.section().virtual_service.some((v) => v.alpha) ? "down" : "up";
    return new Checker({
      services: this.services(),
      concurrency: this.section().check_concurrency,
      initial,
      clock: this.ctx.clock,
      random: this.ctx.random,
      onChange: (change) => {
        this.ctx.events.emit("director.server", { ...change });
        this.schedule();
      },
    });
  }

  private health(): Map<string, Health> {
    const out = new Map<string, Health>();
    for (const s of this.checker?.status() ?? []) for (const srv of s.servers) out.set(srv.key, { healthy: srv.healthy, weight: srv.weight });
    return out;
  }

  /** One reconcile at a time; a change during one asks for another after it, with the newest state. */
  private schedule(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    });
  }

  /** Reconcile, and wait until no reconcile is running or asked for: the dataplane then holds the newest state. */
  private async settled(): Promise<void> {
    this.schedule();
    while (this.running) await this.running;
  }

  private async reconcile(): Promise<void> {
    const d = this.section();
    const out = decide(
      { virtualServices: d.virtual_service, services: this.services(), health: this.health(), overrides: this.overrides, wasUp: this.wasUp, active: this.active },
      !d.virtual_service.some((v) => v.alpha),
    );
    for (const v of out.views) if ((this.wasUp[v.name] ?? true) !== v.up) this.ctx.events.emit("director.virtual-service", { name: v.name, up: v.up, healthyWeight: v.healthyWeight, sorry: v.sorry });
    this.wasUp = out.up;
    this.last = out;
    const at = this.ctx.clock.wall();
    try {
      if (this.active && d.virtual_service.some((v) => v.forwarding === "nat")) this.forwardIPv4();
      const r = await this.dataplane.reconcile(out.desired);
      this.lastReconcile = { at, ms: Math.round(r.ms * 10) / 10, changes: r.diff.length, error: null };
      if (r.diff.length) this.ctx.events.emit("director.reconcile", { changes: r.diff.length, ms: this.lastReconcile.ms, active: this.active });
    } catch (e) {
      this.lastReconcile = { at, ms: 0, changes: 0, error: (e as Error).message };
      this.ctx.events.emit("director.error", { message: (e as Error).message });
    }
  }

  /** NAT forwarding needs the kernel to forward: as LVS-NAT operators set it, the director does when it programs a nat service. */
  private forwardIPv4(): void {
    if (existsSync(IP_FORWARD) && readFileSync(IP_FORWARD, "utf8").trim() !== "1") writeFileSync(IP_FORWARD, "1\n");
  }

  /** The director resource's agent: start and stop make this node the active director or not; monitor asks the dataplane. */
  private async agent(action: AgentAction, _options: RunOptions): Promise<AgentResult> {
    const started = this.ctx.clock.now();
    const result = (status: AgentResult["status"], message = ""): AgentResult => ({ action, status, exitCode: null, durationMs: Math.round(this.ctx.clock.now() - started), output: "", outputBytes: 0, message });
    if (action === "start" || action === "stop") {
      this.active = action === "start";
      await this.settled();
      const error = this.lastReconcile?.error;
      return error ? result("failed", error) : result("ok", `${this.active ? "programmed" : "emptied"} the ${this.dataplane.name} dataplane`);
    }
    if (action === "monitor" || action === "probe") {
      // What the kernel holds decides (a table left by an earlier run counts as running, so that it is stopped or kept).
      const held = await this.dataplane.read().catch((e: Error) => e);
      if (held instanceof Error) return result("failed", held.message);
      if (held.length === 0) return result("not-running");
      this.active = true;
      return result("ok");
    }
    return result("unimplemented", `the director has no ${action} action`);
  }
}
