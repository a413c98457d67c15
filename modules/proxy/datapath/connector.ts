/**
 * Getting a connection to a server for one request or tcp connection: the
 * server chosen first, then on a failed connect the same again up to
 * `retries` times, the last retry going to another server when `redispatch`
 * is on (HAProxy's `option redispatch`, its default interval). Each failure
 * is observed for passive health and counted. The server's `active` counts
 * this attempt from the first try to `release`.
 */
import type { Conn } from "./conn.ts";
import type { ServerRt } from "./backends.ts";
import type { BackendRt } from "./generation.ts";
import { Dial, type DialResult } from "./upstream.ts";
import type { DataPath } from "./datapath.ts";

export interface ConnectOutcome {
  connected(conn: Conn, server: ServerRt, reused: boolean): void;
  /** No server could be reached within the retries (the client is answered 503). */
  failed(): void;
}

export class Connector {
  /** Retries done. */
  private tries = 0;
  cancelled = false;

  constructor(
    private readonly dp: DataPath,
    private readonly backend: BackendRt,
    /** The server now (its `active` counts this attempt); null after release. */
    public server: ServerRt,
    private readonly outcome: ConnectOutcome,
    /** May an idle pooled connection be used (false with send_proxy or a tunnel to come)? */
    private readonly pooled: boolean,
  ) {}

  start(): void {
    if (this.pooled) {
      const c = this.server.pool.take();
      if (c) return this.outcome.connected(c, this.server, true);
    }
    const s = this.server;
    new Dial(this.dp.deadlines, s.def.address, s.def.port, this.backend.ms.connect, (r) => this.dialed(r, s));
  }

  /** A reused connection failed before the answer began: try again on a fresh one (an idempotent request), counted as a retry. */
  retryFresh(): boolean {
    if (this.tries >= this.backend.def.retries) return false;
    this.tries++;
    this.backend.counters.retries++;
    const s = this.server;
    new Dial(this.dp.deadlines, s.def.address, s.def.port, this.backend.ms.connect, (r) => this.dialed(r, s));
    return true;
  }

  cancel(): void {
    this.cancelled = true;
  }

  private dialed(r: DialResult, s: ServerRt): void {
    if (this.cancelled) {
      if (r.ok) r.conn.abort();
      return;
    }
    if (r.ok) return this.outcome.connected(r.conn, s, false);
    s.counters.errors++;
    this.dp.observe(this.backend, s, r.reason);
    if (this.tries >= this.backend.def.retries) return this.outcome.failed();
    this.tries++;
    this.backend.counters.retries++;
    if (this.backend.def.redispatch && this.tries === this.backend.def.retries) {
      const other = this.dp.redispatch(this.backend, s);
      if (other) {
        this.backend.counters.redispatches++;
        this.server = other;
      }
    }
    this.start();
  }
}
