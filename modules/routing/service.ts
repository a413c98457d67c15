/**
 * The routing module's shell: it watches what the announcement engine
 * (engine.ts) judges by — the director's service (active here, each virtual
 * service up), the heartbeat's quorum, the resource manager's standby — and
 * feeds the node's view to the engine at every change and every poll; the
 * engine's set of prefixes becomes BIRD's include (bird-conf.ts), applied
 * one at a time, the newest winning. Every poll also reads the sessions back
 * from BIRD (`show protocols`) into status, `routing.session` events and
 * metrics. A clean stop withdraws everything and waits for BIRD to take it;
 * BIRD itself keeps running (the operator's other protocols are its own).
 */
import { readFileSync } from "node:fs";
import { resolve, dirname } from "node:path";
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import { adaptersOf } from "../../core/adapters.ts";
import { parseDuration } from "../../core/duration.ts";
import type { Cancel } from "../../core/time.ts";
import { initialRouting, judge, step, type AnnouncedService, type NodeView, type RoutingEffect, type RoutingInput, type RoutingState } from "./engine.ts";
import { birdSession, includes, protocolName, renderInclude } from "./bird-conf.ts";
import { BirdControl, type Bird, type BirdPaths, type ProtocolState } from "./bird.ts";
import { sessionsOf, type RoutingRaw } from "./config.ts";
import { hostingOf, kernelVipHost, released, type Hosting, type VipHost } from "./hosting.ts";

declare module "../../core/adapters.ts" {
  interface Adapters {
    /** How the routing module reaches BIRD (modules/routing/bird.ts); the real birdc when absent. */
    bird?: (paths: BirdPaths) => Bird;
    /** How it holds the virtual addresses of active/active on IPVS (modules/routing/hosting.ts); the kernel when absent. */
    vipHost?: VipHost;
  }
}

/** The virtual services of the config that are announced, with their addresses. */
export function announcedServices(config: Config): AnnouncedService[] {
  return (config.raw.director?.virtual_service ?? []).filter((v) => v.announce && v.address !== undefined).map((v) => ({ name: v.name, address: v.address! }));
}

/** A clean stop's withdrawal is tried this often before the module stops anyway (the peers' hold time or BFD then withdraws). */
export const STOP_APPLY_TRIES = 3;

export class RoutingService implements ModuleInstance {
  private config!: Config;
  private bird!: Bird;
  private machine: RoutingState = initialRouting();
  private sessions: ProtocolState[] = [];
  private lastApply: { at: number; prefixes: readonly string[]; error: string | null } | null = null;
  private lastRead: { at: number; error: string | null } | null = null;
  /** The include to apply next (null: none waiting), and the apply under way. */
  private wanted: string | null = null;
  private applying: Promise<void> | null = null;
  private off: Array<() => void> = [];
  private poll: Cancel | null = null;
  private stopped = false;
  /** What this node holds for active/active on IPVS (hosting.ts), as last held, and why the last try to hold it failed. */
  private hosting: Hosting | null = null;
  private hostingError: string | null = null;

  constructor(private readonly ctx: ModuleContext) {
    ctx.metrics.collect("tandem_routing_session_up", "1 when the BGP session is established", () =>
      this.ours().map((p) => ({ labels: { session: p.name }, value: p.session === "Established" ? 1 : 0 })),
    );
    ctx.metrics.collect("tandem_routing_announced", "1 for each prefix this node announces", () => this.machine.announced.map((prefix) => ({ labels: { prefix }, value: 1 })));
  }

  async start(config: Config): Promise<void> {
    this.config = config;
    this.bird = this.connect();
    this.host();
    this.feed({ type: "start", services: announcedServices(config) });
    this.watchAll();
    this.observe();
    await this.flush();
    this.tick();
  }

  /** A reload that moves BIRD's files is checked before it is taken: on a throw the old section stays in force. */
  async reload(config: Config): Promise<void> {
    const before = JSON.stringify(this.paths());
    const old = this.config;
    this.config = config;
    if (JSON.stringify(this.paths()) !== before) {
      try {
        this.bird = this.connect();
      } catch (e) {
        this.config = old;
        throw e;
      }
    }
    for (const off of this.off) off();
    this.host();
    this.watchAll();
    // The view first: a service the reload adds is judged by the node as it is now (standby is polled), never by an older view.
    this.observe();
    this.feed({ type: "reload", services: announcedServices(config) });
    this.request();
    await this.flush();
  }

  /** Withdraw everything, and wait until BIRD has it (tried STOP_APPLY_TRIES times; a failure is a routing.error event). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.poll?.();
    for (const off of this.off) off();
    this.feed({ type: "stop" });
    await this.flush();
    for (let tries = 1; tries < STOP_APPLY_TRIES && this.lastApply?.error; tries++) {
      this.request();
      await this.flush();
    }
    this.host(null);
  }

  status(): Record<string, unknown> {
    return {
      include: this.paths().include,
      socket: this.paths().socket,
      announced: this.machine.announced,
      addresses: judge(this.machine).map((j) => ({ prefix: j.prefix, services: j.services, announced: !j.refused, ...(j.refused ? { reason: j.refused.reason, service: j.refused.service } : {}) })),
      view: this.machine.view,
      sessions: this.ours().map((p) => ({ name: p.name, state: p.state, session: p.session, since: p.since, info: p.info })),
      apply: this.lastApply,
      read: this.lastRead,
      hosting: this.hosting && { ...this.hosting, error: this.hostingError },
    };
  }

  /**
   * Active/active on IPVS: the announced virtual addresses on the loopback and the kernel's settings, as the
   * config wants them (`want`, by default), those it no longer wants released. At start, reload and stop, and at
   * a poll after a failure; a failure is a routing.error event (once per message) and in status.
   */
  private host(want: Hosting | null = hostingOf(this.config.raw.director, this.ctx.services.get("director")?.view().dataplane)): void {
    const host = this.vipHost();
    try {
      for (const cidr of released(this.hosting, want)) host.release(this.hosting!.device, cidr);
      this.hosting = want;
      for (const s of want?.sysctls ?? []) host.sysctl(s);
      for (const cidr of want?.addresses ?? []) host.hold(want!.device, cidr);
      this.hostingError = null;
    } catch (err) {
      const message = `active/active on IPVS: ${(err as Error).message}`;
      if (message !== this.hostingError) this.ctx.events.emit("routing.error", { message });
      this.hostingError = message;
    }
  }

  private vipHost(): VipHost {
    return adaptersOf(this.ctx).vipHost ?? kernelVipHost;
  }

  /** BIRD at this section's paths: the adapter's, or the real one once the operator's config is seen to include Tandem's file. */
  private connect(): Bird {
    const paths = this.paths();
    const given = adaptersOf(this.ctx).bird;
    if (given) return given(paths);
    const control = new BirdControl(paths);
    if (!includes(control.operatorConfig(), paths.include))
      throw new Error(`${paths.birdConfig} does not include Tandem's file: add the line  include "${paths.include}";  (after its router id and protocols)`);
    return control;
  }

  private section(): RoutingRaw {
    return this.config.raw.routing!;
  }

  /** BIRD's paths, `{node}` in them this node's name (nodes that share a file system, as a lab's, keep apart). */
  private paths(): BirdPaths {
    const r = this.section();
    const own = (path: string) => path.replaceAll("{node}", this.ctx.node.name);
    return { birdConfig: own(r.bird_config), include: own(r.include), socket: own(r.socket), birdc: r.birdc, bird: r.bird };
  }

  /** BIRD's protocols that are this node's sessions. */
  private ours(): ProtocolState[] {
    if (!this.config) return [];
    const names = new Set(sessionsOf(this.section(), this.ctx.node.name).map((s) => protocolName(s.name)));
    return this.sessions.filter((p) => names.has(p.name));
  }

  /** The director, the heartbeat and the resource manager say when they change; standby is read at every poll too. */
  private watchAll(): void {
    const s = this.ctx.services;
    this.off = [s.get("director")?.watch(() => this.observe()), s.get("cluster")?.watch(() => this.observe())].filter((o): o is () => void => o !== undefined);
  }

  /** The node's view now. Without a heartbeat the node is quorate only as the cluster's single member; an address it failed to hold is unhosted. */
  private view(): NodeView {
    const s = this.ctx.services;
    const director = s.get("director")?.view() ?? null;
    const cluster = s.get("cluster");
    const quorate = cluster ? cluster.snapshot().quorate : this.config.nodes.filter((n) => n.roles.includes("member")).length === 1;
    const unhosted = this.hostingError ? (this.hosting?.addresses ?? []) : [];
    return { director, standby: s.get("resources")?.standby?.() ?? false, quorate, ...(unhosted.length ? { unhosted } : {}) };
  }

  private observe(): void {
    if (!this.stopped) this.feed({ type: "observe", view: this.view() });
  }

  private feed(input: RoutingInput): void {
    const { state, effects } = step(this.machine, input);
    adaptersOf(this.ctx).steps?.("routing", { input, effects, state });
    this.machine = state;
    for (const e of effects) this.perform(e);
    // BIRD did not take the last include: whatever changed, it is what BIRD may still announce wrongly, so try again now.
    if (this.lastApply?.error && !this.applying) this.request();
  }

  private perform(e: RoutingEffect): void {
    if (e.type === "event") this.ctx.events.emit(e.event, e.data);
    else this.request();
  }

  /** The include for the engine's set now, applied after the one under way. */
  private request(): void {
    this.wanted = renderInclude({ cluster: this.config.cluster, node: this.ctx.node.name, sessions: this.birdSessions(), prefixes: this.machine.announced });
    if (!this.applying) this.applying = this.applyLoop().finally(() => (this.applying = null));
  }

  private async applyLoop(): Promise<void> {
    while (this.wanted !== null) {
      const text = this.wanted;
      const prefixes = this.machine.announced;
      this.wanted = null;
      const at = this.ctx.clock.wall();
      try {
        await this.bird.apply(text);
        this.lastApply = { at, prefixes, error: null };
      } catch (err) {
        this.lastApply = { at, prefixes, error: (err as Error).message };
        this.ctx.events.emit("routing.error", { message: (err as Error).message });
      }
    }
  }

  /** Resolves when the newest include has been applied (or failed). */
  private async flush(): Promise<void> {
    while (this.applying) await this.applying;
  }

  /** The sessions of this node, their passwords read from their files (relative to the config). */
  private birdSessions() {
    return sessionsOf(this.section(), this.ctx.node.name).map((s) =>
      birdSession(s, s.password_file !== undefined ? readFileSync(resolve(dirname(this.config.file), s.password_file), "utf8").trim() : s.password),
    );
  }

  /** At every poll: the view again (standby has no watch; an include BIRD failed to take is tried again with it), then the sessions from BIRD. */
  private tick(): void {
    this.poll = this.ctx.clock.after(parseDuration(this.section().poll)!, () => {
      if (this.hostingError) this.host();
      this.observe();
      void this.read().finally(() => {
        if (!this.stopped) this.tick();
      });
    });
  }

  private async read(): Promise<void> {
    const at = this.ctx.clock.wall();
    try {
      const now = await this.bird.protocols();
      const before = new Map(this.ours().map((p) => [p.name, p.session || p.state]));
      this.sessions = now;
      for (const p of this.ours()) {
        const state = p.session || p.state;
        if (before.get(p.name) !== state) this.ctx.events.emit("routing.session", { session: p.name, state, info: p.info });
      }
      this.lastRead = { at, error: null };
    } catch (err) {
      this.lastRead = { at, error: (err as Error).message };
    }
  }
}
