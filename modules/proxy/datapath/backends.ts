/**
 * Every backend as this worker keeps it across config generations: its
 * balancer (balance/: server choice, load, queue, stick table, passive
 * health), and per server what the sockets need: the idle pool and the
 * counters. A server keeps them while its backend and key stay in the
 * config; a generation points at these objects, so a request that began on
 * an old generation releases its server in the same balancer.
 */
import type { Random } from "../../../core/random.ts";
import { Balancer, type Server } from "../balance/balancer.ts";
import type { ResolvedBackend } from "../messages.ts";
import type { Deadlines } from "./clock.ts";
import { backendCounters, serverCounters, type BackendCounters, type ServerCounters } from "./stats.ts";
import { Pool } from "./upstream.ts";

/** What waits in a backend's queue: told its server (or null: queue timeout) once. */
export interface Waiter {
  granted(server: Server | null): void;
}

export interface ServerExtras {
  pool: Pool;
  counters: ServerCounters;
}

export class BackendState {
  readonly balancer: Balancer<Waiter>;
  readonly counters: BackendCounters = backendCounters();
  private readonly extras = new Map<string, ServerExtras>();

  constructor(
    def: ResolvedBackend,
    random: Random,
    private readonly deadlines: Deadlines,
  ) {
    this.balancer = new Balancer<Waiter>(def, { random, dispatch: (w, s) => w.granted(s) });
    this.configure(def);
  }

  /** A new generation's definition (servers' maxconn already this worker's share). */
  configure(def: ResolvedBackend): void {
    this.balancer.configure(def);
    const keys = new Set(def.servers.map((s) => s.key));
    for (const [key, x] of this.extras) {
      if (keys.has(key)) continue;
      x.pool.clear();
      this.extras.delete(key);
      delete this.counters.servers[key];
    }
    for (const key of keys) {
      if (this.extras.has(key)) continue;
      const x = { pool: new Pool(this.deadlines), counters: serverCounters() };
      this.extras.set(key, x);
      this.counters.servers[key] = x.counters;
    }
  }

  /** A server's pool and counters; a server removed from the config while in use gets a fresh pair that no one keeps. */
  of(server: Server): ServerExtras {
    return this.extras.get(server.key) ?? { pool: new Pool(this.deadlines), counters: serverCounters() };
  }

  /** Close every idle pooled connection. */
  clearPools(): void {
    for (const x of this.extras.values()) x.pool.clear();
  }
}

/** A backend's servers with each maxconn cut to this worker's share (ceil(maxconn / workers)). */
export function workerShare(def: ResolvedBackend, workers: number): ResolvedBackend {
  if (workers <= 1) return def;
  return { ...def, servers: def.servers.map((s) => (s.maxconn === undefined ? s : { ...s, maxconn: Math.max(1, Math.ceil(s.maxconn / workers)) })) };
}
