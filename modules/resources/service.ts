/**
 * The resource manager's shell: feeds the coordinator engine the heartbeat's
 * membership and quorum, the peers' messages, agent results, fence results
 * and admin commands; performs its effects (messages on the cluster bus,
 * agent runs with their timeouts, fences); ticks it at its deadlines.
 */
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import { EngineLoop } from "../../core/engine-loop.ts";
import type { ClusterBus } from "../../core/cluster.ts";
import type { RouteSpec } from "../../core/api/routes.ts";
import type { Counter } from "../../core/metrics.ts";
import { clusterConfigOf, nodeTraitsOf, type ResourceRaw } from "./config.ts";
import type { ManagedAgent } from "./agents/index.ts";
import { realAgents, type AgentAdapters } from "./adapters.ts";
import { adaptersOf } from "../../core/adapters.ts";
import { holdsExclusive, initialState, nextDeadline, step, type AdminCommand, type AdminState, type ClusterView, type CoordParams, type Effect, type Input, type State } from "./engine.ts";
import { decodeAdmin, decodeMessage, encodeMessage, RESOURCES_CHANNEL } from "./wire.ts";
import { adminRoutes } from "./routes.ts";
import { statusOf } from "./status.ts";
import { fenceNode, type FenceDevice } from "./fencing/device.ts";

/** Reports and transitions are repeated this often, so a lost datagram is repaired. */
export const RESEND_MS = 1000;
/** A failed fence is tried again after this. */
export const FENCE_RETRY_MS = 10_000;
/** The section of the node's state file (core/state.ts) that keeps the admin state across a restart; fail counts are not kept. */
const STATE_SECTION = "resources";

/** What the resource manager offers the other modules (the "resources" service). */
export interface ResourceHolding {
  holdsExclusive(): boolean;
  /** Whether an admin put this node in standby (the routing module withdraws its announcements at once). */
  standby?(): boolean;
}

/** A bus for a node without a heartbeat (a single node): alone, quorate only when it is the only member. */
function soloBus(self: string, members: readonly string[]): ClusterBus {
  const peers = members.filter((m) => m !== self).map((name) => ({ name, status: "unknown" as const, incarnation: null }));
  return {
    snapshot: () => ({ self, peers, quorate: peers.length === 0, majority: peers.length === 0 }),
    watch: () => () => undefined,
    send: () => undefined,
    maxMessageBytes: Infinity,
    listen: () => () => undefined,
    holdResources: () => undefined,
  };
}

export function paramsOf(config: Config, self: string): CoordParams {
  return {
    self,
    members: config.nodes.filter((n) => n.roles.includes("member")).map((n) => n.name),
    config: clusterConfigOf(config.raw.resources!),
    nodeTraits: nodeTraitsOf(config.raw),
    resendMs: RESEND_MS,
    fenceRetryMs: FENCE_RETRY_MS,
  };
}

export class ResourcesService implements ModuleInstance {
  /** Built at start, from the config's params and the kept admin state. */
  private loop: EngineLoop<State, Input, Effect> | null = null;
  private config!: Config;
  private bus!: ClusterBus;
  private agents = new Map<string, ManagedAgent>();
  private devices: FenceDevice[] = [];
  private readonly running = new Map<number, AbortController>();
  private off: Array<() => void> = [];
  private onStopped: (() => void) | null = null;
  /** The admin state as last kept (JSON), so that only a change is written. */
  private kept = "";
  private readonly dropped: Counter;
  private readonly ops: Counter;
  private readonly refusedAdmin: Counter;
  private readonly unknownActions: Counter;
  private readonly machine: AgentAdapters;

  constructor(private readonly ctx: ModuleContext) {
    this.machine = adaptersOf(ctx).agents ?? realAgents;
    this.dropped = ctx.metrics.counter("tandem_resources_messages_dropped_total", "coordinator messages dropped, by reason");
    this.ops = ctx.metrics.counter("tandem_resources_operations_total", "agent operations finished, by resource, action and status");
    this.refusedAdmin = ctx.metrics.counter("tandem_resources_admin_refused_total", "peers' admin states refused, their version too far past this node's wall time, by peer");
    this.unknownActions = ctx.metrics.counter("tandem_resources_unknown_actions_total", "actions of the DC's transitions naming a resource this node does not know (the rest was done), by DC");
    const states = () => (this.loop ? Object.entries(this.state.states) : []);
    ctx.metrics.collect("tandem_resources_active", "1 when the resource runs on this node (started, or failed but not known stopped)", () =>
      states().map(([resource, s]) => ({ labels: { resource }, value: s === "stopped" || s === "unknown" ? 0 : 1 })),
    );
    ctx.metrics.collect("tandem_resources_failures", "failures counted on this node, by resource", () =>
      (this.loop?.state.failures ?? []).map((f) => ({ labels: { resource: f.resource }, value: f.count })),
    );
  }

  async start(config: Config): Promise<void> {
    this.config = config;
    this.agents = this.build(config.raw.resources!.resource);
    this.devices = this.fenceDevices(config);
    this.bus = this.ctx.services.get("cluster") ?? soloBus(this.ctx.node.name, paramsOf(config, this.ctx.node.name).members);
    const initial = initialState(paramsOf(config, this.ctx.node.name), this.restored());
    this.kept = JSON.stringify(initial.admin);
    this.loop = new EngineLoop(this.ctx.clock, initial, {
      step: (s, input) => this.step(s, input),
      nextDeadline: (s) => {
        const at = nextDeadline(s);
        return Number.isFinite(at) ? at : null;
      },
      tick: () => ({ type: "tick", ...this.time() }),
      perform: (e) => this.perform(e),
    });
    this.off = [
      this.bus.watch(() => this.feed({ type: "membership", ...this.time(), cluster: this.view() })),
      this.bus.listen(RESOURCES_CHANNEL, (from, data) => {
        const message = decodeMessage(data);
        if (!message) return this.dropped.inc({ reason: "bad-message" });
        this.feed({ type: "message", ...this.time(), from, message });
      }),
      this.ctx.services.provide("resources", { holdsExclusive: () => holdsExclusive(this.state), standby: () => this.state.admin.standby.includes(this.ctx.node.name) }),
    ];
    this.feed({ type: "start", ...this.time(), cluster: this.view() });
  }

  /** Refused by the engine (the old config stays) when a resource that changed or went away may still run here. */
  async reload(config: Config): Promise<void> {
    const before = new Map(this.config.raw.resources!.resource.map((r) => [r.name, JSON.stringify(r)] as const));
    const changed = config.raw.resources!.resource.filter((r) => before.has(r.name) && before.get(r.name) !== JSON.stringify(r));
    const added = config.raw.resources!.resource.filter((r) => !before.has(r.name));
    const agents = this.build([...changed, ...added]);
    const devices = this.fenceDevices(config);
    const refused = this.feed({ type: "reload", ...this.time(), p: paramsOf(config, this.ctx.node.name), changed: changed.map((r) => r.name) });
    if (refused) {
      for (const a of agents.values()) a.close?.();
      throw new Error(`resources ${refused.join(", ")} changed or were removed while they may run on this node: stop them first (standby, or remove them from their group and reload), then reload again`);
    }
    const kept = new Set(config.raw.resources!.resource.map((r) => r.name));
    for (const [r, a] of this.agents) {
      if (kept.has(r) && !agents.has(r)) continue;
      a.close?.();
      this.agents.delete(r);
    }
    for (const [r, a] of agents) this.agents.set(r, a);
    this.devices = devices;
    this.config = config;
  }

  async stop(): Promise<void> {
    if (this.state.phase !== "stopped") {
      const done = new Promise<void>((resolve) => (this.onStopped = resolve));
      this.feed({ type: "stop", ...this.time() });
      await done;
    }
    this.loop?.clear();
    for (const off of this.off) off();
    this.off = [];
    for (const a of this.agents.values()) a.close?.();
  }

  status(): Record<string, unknown> {
    return statusOf(this.state, this.ctx.clock.now());
  }

  routes(): RouteSpec[] {
    return adminRoutes({ config: () => this.config, state: () => this.state, status: () => this.status(), admin: (c) => this.admin(c) });
  }

  admin(command: AdminCommand): void {
    this.feed({ type: "admin", ...this.time(), command });
  }

  /** The admin state kept before the restart, if any and valid; a peer's newer one replaces it as any older one. */
  private restored(): AdminState | undefined {
    const kept = this.ctx.state.get(STATE_SECTION);
    if (kept === undefined) return undefined;
    const decoded = decodeAdmin(kept, this.ctx.clock.wall());
    if ("admin" in decoded) return decoded.admin;
    this.ctx.log.error({ file: this.ctx.state.file, section: STATE_SECTION, problem: decoded.problem }, "the kept admin state is not valid; ignored: this node starts with none");
    return undefined;
  }

  private build(resources: readonly ResourceRaw[]): Map<string, ManagedAgent> {
    return new Map(resources.map((r) => [r.name, this.machine.agent(r, this.ctx.services)] as const));
  }

  private fenceDevices(config: Config): FenceDevice[] {
    return config.raw.resources!.fence_device.map((d) => this.machine.fenceDevice(d, this.ctx.node.name, this.ctx.services, this.ctx.clock));
  }

  private time(): { now: number; wall: number } {
    return { now: this.ctx.clock.now(), wall: this.ctx.clock.wall() };
  }

  private view(): ClusterView {
    const s = this.bus.snapshot();
    return { peers: s.peers, quorate: s.quorate, majority: s.majority };
  }

  private get state(): State {
    return this.loop!.state;
  }

  /** Returns what a refused reload names (the `reload-refused` effect), if any. */
  private feed(input: Input): string[] | undefined {
    const refused = this.loop!.feed(input).find((e) => e.type === "reload-refused");
    return refused?.busy;
  }

  /** The engine's step, shown to the steps adapter and its admin state kept (when it changed) before any effect is performed. */
  private step(s: State, input: Input): { state: State; effects: readonly Effect[] } {
    const { state, effects } = step(s, input);
    this.ctx.adapters?.steps?.("resources", { input, effects, state });
    const admin = JSON.stringify(state.admin);
    if (admin !== this.kept) {
      this.ctx.state.put(STATE_SECTION, state.admin);
      this.kept = admin;
    }
    return { state, effects };
  }

  private perform(e: Effect): void {
    switch (e.type) {
      case "reload-refused":
        return; // reload() reads it from feed's answer and throws
      case "send": {
        const bytes = encodeMessage(e.message);
        if (bytes.length > this.bus.maxMessageBytes) {
          this.dropped.inc({ reason: "too-large" });
          this.ctx.events.emit("resources.error", { message: `a ${e.message.type} of ${bytes.length} bytes does not fit a frame (${this.bus.maxMessageBytes})` });
          return;
        }
        this.bus.send(RESOURCES_CHANNEL, bytes);
        return;
      }
      case "run":
        return this.run(e);
      case "cancel":
        this.running.get(e.op)?.abort();
        return;
      case "fence":
        return void this.fence(e.node);
      case "holds":
        this.bus.holdResources(e.holds);
        return;
      case "stopped":
        this.onStopped?.();
        this.onStopped = null;
        return;
      case "event":
        this.ctx.events.emit(e.event, e.data);
        return;
      case "admin-refused":
        this.refusedAdmin.inc({ from: e.from });
        return;
      case "unknown-resource":
        this.unknownActions.inc({ from: e.from });
        this.ctx.log.warn({ from: e.from, resource: e.resource, kind: e.kind }, `the DC ${e.from} asked for a ${e.kind} of ${e.resource}, a resource this node's config does not have (a reload not done here yet?); the rest of its transition was done`);
        return;
    }
  }

  private run(e: Extract<Effect, { type: "run" }>): void {
    const agent = this.agents.get(e.resource)!;
    const controller = new AbortController();
    this.running.set(e.op, controller);
    agent
      .run(e.action, { timeoutMs: e.timeoutMs, intervalMs: e.intervalMs, signal: controller.signal })
      .then(
        (r) => ({ status: r.status, message: [r.message, r.output.trim().split("\n").slice(-3).join(" | ")].filter(Boolean).join(": "), promotionScore: r.promotionScore }),
        (err: unknown) => ({ status: "error" as const, message: String(err), promotionScore: undefined }),
      )
      .then(({ status, message, promotionScore }) => {
        this.running.delete(e.op);
        this.ops.inc({ resource: e.resource, action: e.action, status });
        this.feed({ type: "result", ...this.time(), op: e.op, status, message, ...(promotionScore !== undefined ? { promotionScore } : {}) });
      });
  }

  private async fence(node: string): Promise<void> {
    const r = await fenceNode(this.devices, node);
    this.feed({ type: "fenced", ...this.time(), node, ok: r.status === "fenced", message: r.message || `${r.device}: ${r.status}` });
  }
}
