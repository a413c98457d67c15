/**
 * What the heartbeat offers the modules that coordinate across nodes (the
 * resource manager): who is up, whether this node has quorum, and a channel on
 * the heartbeat's links, keys and replay guard for their own messages. A
 * module finds it in `ctx.services` while the heartbeat runs.
 */

import type { AgentAction, AgentResult, RunOptions } from "../modules/resources/agents/agent.ts";
import type { ChecksService } from "../modules/checks/control.ts";

/** `unknown`: not heard since this node started (it may be running anything). */
export type MemberStatus = "up" | "leaving" | "down" | "unknown";

export interface ClusterSnapshot {
  self: string;
  /** Every member but this node, in config order. */
  peers: Array<{ name: string; status: MemberStatus; incarnation: number | null }>;
  quorate: boolean;
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

/** The channels on the bus, one per module that speaks on it. */
export const CHANNEL = { resources: 1 } as const;

/**
 * A module that is itself a resource (the director): the resource manager's
 * agent of that name runs its actions here.
 */
export interface ModuleAgentHost {
  run(action: AgentAction, options: RunOptions): Promise<AgentResult>;
}

/** Services one module offers the others, by name. */
export interface ServiceMap {
  cluster: ClusterBus;
  director: ModuleAgentHost;
  checks: ChecksService;
}

export class Services {
  private readonly offered = new Map<keyof ServiceMap, ServiceMap[keyof ServiceMap]>();

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
}
