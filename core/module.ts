/**
 * The module contract: the runtime knows modules only through this. A module
 * is selected by the node's roles, reads one section of the config, and is
 * started, reloaded and stopped by the lifecycle engine in dependency order.
 */
import type { Config, NodeConfig } from "./config/load.ts";
import type { Clock } from "./time.ts";
import type { Random } from "./random.ts";
import type { Logger } from "./log.ts";
import type { EventBus } from "./events.ts";
import type { Metrics } from "./metrics.ts";
import type { RouteSpec } from "./api/routes.ts";
import type { Services } from "./cluster.ts";
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
  /** The network and config file as the shells reach them (core/adapters.ts); the real ones when absent. */
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

export interface ModuleDef {
  name: string;
  /** Modules that must be running before this one starts, when this node runs them. */
  after: readonly string[];
  /** Whether this node runs the module, from its roles and the config. */
  selected(config: Config, node: NodeConfig): boolean;
  /** The part of the config the module reads; a reload reaches the module only when this changes. */
  section(config: Config, node: NodeConfig): unknown;
  create(ctx: ModuleContext): ModuleInstance;
}
