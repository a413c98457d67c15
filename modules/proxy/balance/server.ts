/**
 * A backend's server inside a worker's balancer: where it is, what the config
 * and the control side say of it, and what this worker knows of its load.
 */
import type { HeapItem } from "./heap.ts";
import type { ProxyServer, ServerState } from "../messages.ts";

export type Admin = ServerState["admin"];

/** What the data path reads of a server (the balancer alone changes it). */
export interface Server {
  /** serverKey(address, port) */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly backup: boolean;
  /** Its place in the config: `first` fills servers in this order. */
  readonly order: number;
  /** The value of the stickiness cookie that names it: a hash of its key, the same on every worker and node. */
  readonly cookie: string;
  /** Requests (tcp: connections) in flight at most; Infinity when the config sets none. */
  readonly maxconn: number;
  readonly weight: number;
  /** The active check's verdict. */
  readonly up: boolean;
  readonly admin: Admin;
  /** Marked down by passive health (error_limit consecutive errors) and not yet back through its active check. */
  readonly observedDown: boolean;
  /** Requests (tcp: connections) of this worker in flight to it. */
  readonly inflight: number;
  /** Consecutive errors observed on live traffic. */
  readonly errors: number;
}

/** The balancer's own record: a Server plus the bookkeeping of the algorithms. */
export class Srv implements Server, HeapItem {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  backup: boolean;
  order: number;
  cookie = "";
  maxconn: number;
  configWeight: number;
  weight: number;
  up = true;
  admin: Admin = "ready";
  observedDown = false;
  /** After an observation: the active check has reported it down (or the operator put it in maint) since; the next up brings it back. */
  recovering = false;
  inflight = 0;
  errors = 0;
  /** In the set the algorithm balances over (usable, and active or the chosen backup). */
  inPool = false;
  /** No longer in the config; kept until its in-flight requests are released. */
  removed = false;
  heapIndex = -1;
  /** roundrobin: turns taken since the pool was last built. */
  turns = 0;
  /** leastconn: when it was last picked (a counter), so equal loads take turns. */
  lastPick = 0;

  constructor(s: ProxyServer, order: number) {
    this.key = s.key;
    this.address = s.address;
    this.port = s.port;
    this.backup = s.backup;
    this.order = order;
    this.maxconn = s.maxconn ?? Infinity;
    this.configWeight = s.weight;
    this.weight = s.weight;
  }

  get free(): boolean {
    return this.inflight < this.maxconn;
  }

  /** Algorithms may choose it for a new client. */
  get eligible(): boolean {
    return this.up && !this.observedDown && this.admin === "ready" && this.weight > 0 && !this.removed;
  }

  /** A stick entry or cookie may still send its client to it: draining (or weight 0) is fine, down or maint is not. */
  get stickable(): boolean {
    return this.up && !this.observedDown && this.admin !== "maint" && !this.removed;
  }
}
