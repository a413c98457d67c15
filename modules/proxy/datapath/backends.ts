/**
 * The servers of every backend as this worker sees them: where they are,
 * their health and the operator's state, what is in flight to each (for
 * maxconn), their idle pool and counters. A server keeps its object (pool,
 * counters, connections in flight) across configs while its backend and key
 * stay; a config generation is a snapshot that points at these objects.
 */
import type { ProxyServer, ResolvedBackend, ServerState } from "../messages.ts";
import type { Deadlines } from "./clock.ts";
import { serverCounters, type ServerCounters } from "./stats.ts";
import { Pool } from "./upstream.ts";

export class ServerRt {
  up = true;
  admin: ServerState["admin"] = "ready";
  weight: number;
  /** Requests (http) or connections (tcp) in flight to it from this worker. */
  active = 0;
  readonly pool: Pool;
  readonly counters: ServerCounters = serverCounters();

  constructor(
    readonly backend: string,
    public def: ProxyServer,
    /** Its share of the server's maxconn in this worker (Infinity: no limit). */
    public maxconn: number,
    deadlines: Deadlines,
  ) {
    this.weight = def.weight;
    this.pool = new Pool(deadlines);
  }

  /** Takes new clients: healthy, ready and weighted. */
  get usable(): boolean {
    return this.up && this.admin === "ready" && this.weight > 0;
  }

  get full(): boolean {
    return this.active >= this.maxconn;
  }
}

/** Every server this worker knows, by backend and key. */
export class ServerTable {
  private readonly byId = new Map<string, ServerRt>();

  constructor(private readonly deadlines: Deadlines) {}

  /** The servers of a backend for a new config: existing objects updated, new ones made, those gone returned (to drop their pools). */
  resolve(backends: readonly ResolvedBackend[], workers: number): { servers: Map<string, ServerRt[]>; gone: ServerRt[] } {
    const seen = new Set<string>();
    const servers = new Map<string, ServerRt[]>();
    for (const b of backends) {
      servers.set(
        b.name,
        b.servers.map((def) => {
          const id = `${b.name}\n${def.key}`;
          seen.add(id);
          const maxconn = def.maxconn === undefined ? Infinity : Math.max(1, Math.ceil(def.maxconn / workers));
          let s = this.byId.get(id);
          if (s) {
            if (s.def.weight !== def.weight) s.weight = def.weight;
            s.def = def;
            s.maxconn = maxconn;
          } else {
            s = new ServerRt(b.name, def, maxconn, this.deadlines);
            this.byId.set(id, s);
          }
          return s;
        }),
      );
    }
    const gone = [...this.byId].filter(([id]) => !seen.has(id)).map(([id, s]) => (this.byId.delete(id), s));
    return { servers, gone };
  }

  apply(states: readonly ServerState[]): ServerRt[] {
    const changed: ServerRt[] = [];
    for (const st of states) {
      const s = this.byId.get(`${st.backend}\n${st.key}`);
      if (!s) continue;
      s.up = st.up;
      s.admin = st.admin;
      s.weight = st.weight;
      changed.push(s);
    }
    return changed;
  }

  all(): IterableIterator<ServerRt> {
    return this.byId.values();
  }
}
