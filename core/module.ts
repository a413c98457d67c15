/**
 * The module contract: the runtime knows modules only through this. A module
 * is a folder whose index.ts exports one descriptor (ModuleDef), listed in
 * modules/index.ts: its name, when it runs, its config sections and rules, the
 * services, agent kinds and bus channels it offers, its dashboard panel, and
 * how to create its instance, which the lifecycle engine starts, reloads and
 * stops in dependency order.
 */
import type { Config, NodeConfig } from "./config/load.ts";
import type { ModuleConfigSpec } from "./config/schema.ts";
import type { Clock } from "./time.ts";
import type { Random } from "./random.ts";
import type { Logger } from "./log.ts";
import type { EventBus } from "./events.ts";
import type { Metrics } from "./metrics.ts";
import type { RouteSpec } from "./api/routes.ts";
import type { ServiceMap, Services } from "./cluster.ts";
import type { StateStore } from "./state.ts";
import type { Adapters } from "./adapters.ts";

export interface ModuleContext {
  node: NodeConfig;
  clock: Clock;
  random: Random;
  log: Logger;
  events: EventBus;
  metrics: Metrics;
  /** The runtime, as far as modules may see it (the API module serves it). */
  runtime: RuntimeView;
  /** What running modules offer each other (the heartbeat's cluster bus). */
  services: Services;
  /** What this node keeps across a restart, a section per module (nothing without a state dir). */
  state: StateStore;
  /** The world as the shells reach it besides clock and state (core/adapters.ts: UDP, an engine-step observer, fields modules add); the real ones when absent. */
  adapters?: Adapters;
}

export interface RuntimeView {
  status(): Record<string, unknown>;
  /** Re-read and validate the config file, then apply it; what the API's reload and SIGHUP do. */
  reload(): Promise<ReloadOutcome>;
  /** Routes of the modules that are running now. */
  routes(): RouteSpec[];
}

export type ReloadOutcome =
  | { result: "accepted" | "unchanged"; config: string }
  | { result: "rejected"; problems: string[] };

export interface ModuleInstance {
  /** Start with this config; throw to fail the start (the runtime then calls stop). */
  start(config: Config): Promise<void>;
  /** Apply a changed section. Atomic: on a throw the old section must still be in force. */
  reload(config: Config): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
  /** HTTP routes, mounted under /v1/<module>/. */
  routes?(): RouteSpec[];
}

/**
 * A module's panel on the dashboard: a browser-side function, as source text,
 * `(status, el, api, ui) => void | Promise<void>`, given the module's entry of
 * /v1/status, the panel's element to fill (textContent only), `api(path)`,
 * the page's fetch with the read token, for the module's own routes, and `ui`
 * (core/api/dashboard.ts): `ui.node` (this node's name), `ui.el`, `ui.table`,
 * `ui.row`, `ui.time`, `ui.bytes`, and `ui.action(label, question, path,
 * fields)`, a button that confirms and POSTs one of the module's admin routes
 * with the admin token. Shown while the module runs on the node; drawn again
 * on every event that changes something.
 */
export interface DashboardPanel {
  title: string;
  render: string;
}

/** The descriptor: everything the runtime, the config and the dashboard know of a module. */
export interface ModuleDef extends ModuleConfigSpec {
  name: string;
  /** Modules that must be running before this one starts, when this node runs them. */
  after: readonly string[];
  /** Whether this node runs the module, from its roles and the config. */
  selected(config: Config, node: NodeConfig): boolean;
  /** The part of the config the module reads; a reload reaches the module only when this changes. */
  section(config: Config, node: NodeConfig): unknown;
  create(ctx: ModuleContext): ModuleInstance;
  /** The services it offers while it runs (ctx.services.provide), each declared in ServiceMap from its folder. */
  services?: readonly (keyof ServiceMap)[];
  /** The cluster bus channels it speaks on; no two modules share one. */
  channels?: readonly number[];
  panel?: DashboardPanel;
}

/**
 * What no two modules of a list may share: a name, a service, a bus channel
 * (config keys and agent kinds are checked where the schema is composed).
 * Throws on a clash, a programming error of the composition root.
 */
export function checkModules(defs: readonly ModuleDef[]): void {
  const claims = new Map<string, string>();
  const claim = (what: string, by: string): void => {
    const other = claims.get(what);
    if (other !== undefined) throw new Error(`${what} is claimed by modules ${other} and ${by}`);
    claims.set(what, by);
  };
  for (const d of defs) {
    claim(`module name ${d.name}`, d.name);
    for (const s of d.services ?? []) claim(`service ${String(s)}`, d.name);
    for (const c of d.channels ?? []) claim(`bus channel ${c}`, d.name);
  }
}
