/**
 * What running modules offer each other. The cluster bus is the contract of
 * the heartbeat with the modules that coordinate across nodes: who is up,
 * whether this node has quorum, and channels on the heartbeat's links, keys
 * and replay guard for their own messages (each module's descriptor names its
 * channels). Services are named in ServiceMap, which each module extends from
 * its own folder (declaration merging); resource agent kinds that modules run
 * are offered by kind. A module finds them in `ctx.services` while the
 * offering module runs.
 */

import type { AgentAction, AgentResult, RunOptions } from "./agent.ts";

/** `unknown`: not heard since this node started (it may be running anything). */
export type MemberStatus = "up" | "leaving" | "down" | "unknown";

/**
 * Without fencing nothing stops a holder cut off from the others but the
 * holder itself: it must have stopped its exclusive resources before the
 * leases it holds quorum on end, when the others may declare it dead and take
 * over. So it counts a vote (a peer's or the arbiter's) only until this share
 * of the lease before its end: losing quorum then, it begins stopping with
 * STOP_MARGIN × the lease (a deadtime) still to run. A group whose stops (and
 * an operation under way) take longer is safe from running twice only with
 * fencing. It costs tolerance: with an interval of a fifth of the deadtime, a
 * vote is dropped after about three heartbeats lost in a row instead of four.
 */
export const STOP_MARGIN = 0.25;

export interface ClusterSnapshot {
  self: string;
  /** Every member but this node, in config order. */
  peers: Array<{ name: string; status: MemberStatus; incarnation: number | null }>;
  quorate: boolean;
  /** Quorate by a majority (of the members, or with the arbiter's vote), so no member this node does not count is quorate too; not under a rule for a lone node (two-node, ping). */
  majority: boolean;
}

export interface ClusterBus {
  snapshot(): ClusterSnapshot;
  /** Called after every change of a peer's status or of quorum; returns the unsubscribe. */
  watch(onChange: () => void): () => void;
  /** To every peer on every link; at most `maxMessageBytes`. */
  send(channel: number, data: Uint8Array): void;
  readonly maxMessageBytes: number;
  /** Messages on a channel, from authenticated peers, each once; returns the unsubscribe. */
  listen(channel: number, onMessage: (from: string, data: Uint8Array) => void): () => void;
  /** Whether this node holds resources (the arbiter prefers such a node in a split). */
  holdResources(holds: boolean): void;
}

/**
 * A module that is itself a resource (a kind in its descriptor's `agents`):
 * the resource manager's agent of that kind runs its actions here.
 */
export interface ModuleAgentHost {
  /** `resource`: the resource run, and its params (those its kind takes: AgentKind.params). */
  run(action: AgentAction, options: RunOptions, resource?: { name: string; params: Readonly<Record<string, string>> }): Promise<AgentResult>;
}

/**
 * Services one module offers the others, by name. Empty here: the module
 * that offers one declares it from its own folder,
 * `declare module ".../core/cluster.ts" { interface ServiceMap { name: Type } }`.
 */
export interface ServiceMap {}

export class Services {
  private readonly offered = new Map<keyof ServiceMap, ServiceMap[keyof ServiceMap]>();
  private readonly agents = new Map<string, ModuleAgentHost>();

  /** Offer a service; returns its withdrawal. */
  provide<K extends keyof ServiceMap>(name: K, service: ServiceMap[K]): () => void {
    this.offered.set(name, service);
    return () => {
      if (this.offered.get(name) === service) this.offered.delete(name);
    };
  }

  get<K extends keyof ServiceMap>(name: K): ServiceMap[K] | undefined {
    return this.offered.get(name) as ServiceMap[K] | undefined;
  }

  /** Run the resource agent `kind` (one of the module's descriptor's `agents`); returns its withdrawal. */
  provideAgent(kind: string, host: ModuleAgentHost): () => void {
    this.agents.set(kind, host);
    return () => {
      if (this.agents.get(kind) === host) this.agents.delete(kind);
    };
  }

  agent(kind: string): ModuleAgentHost | undefined {
    return this.agents.get(kind);
  }
}
