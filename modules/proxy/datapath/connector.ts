/**
 * Getting a connection to a server for one request or tcp connection: the
 * server the balancer chose first, then on a failed connect the same again
 * up to `retries` times, the last retry going to another server when
 * `redispatch` is on (HAProxy's `option redispatch`, its default interval).
 * Each failure is observed for passive health and counted. The balancer's
 * slot on the server is held from the pick until the caller releases it
 * (a redispatch moves it).
 */
import type { Server } from "../balance/balancer.ts";
import type { Conn } from "./conn.ts";
import type { DataPath } from "./datapath.ts";
import type { BackendRt } from "./generation.ts";
import { Dial, type DialResult } from "./upstream.ts";

export interface ConnectOutcome {
  /** `reused`: an idle pooled connection (it may turn out closed by the server). */
  connected(conn: Conn, server: Server, reused: boolean): void;
  /** No server could be reached within the retries (the client is answered 503). */
  failed(): void;
}

export class Connector {
  /** Retries done. */
  private tries = 0;
  private cancelled = false;

  constructor(
    private readonly dp: DataPath,
    private readonly backend: BackendRt,
    /** The server now: its slot is this request's. */
    public server: Server,
    private readonly outcome: ConnectOutcome,
    /** May an idle pooled connection be used (false with send_proxy, and in tcp mode)? */
    private readonly pooled: boolean,
  ) {}

  start(): void {
    if (this.pooled) {
      const c = this.backend.state.of(this.server).pool.take();
      if (c) return this.outcome.connected(c, this.server, true);
    }
    this.dial();
  }

  /** A reused connection failed before the answer began: dial a fresh one (an idempotent request), counted as a retry; false when the retries are spent. */
  retryFresh(): boolean {
    if (this.tries >= this.backend.def.retries) return false;
    this.tries++;
    this.backend.state.counters.retries++;
    this.dial();
    return true;
  }

  cancel(): void {
    this.cancelled = true;
  }

  private dial(): void {
    const s = this.server;
    new Dial(this.dp.deadlines, s.address, s.port, this.backend.ms.connect, (r) => this.dialed(r, s));
  }

  private dialed(r: DialResult, s: Server): void {
    if (this.cancelled) {
      if (r.ok) r.conn.abort();
      return;
    }
    if (r.ok) return this.outcome.connected(r.conn, s, false);
    const state = this.backend.state;
    state.of(s).counters.errors++;
    this.dp.observe(this.backend, s, r.reason === "connect timeout" ? "timeout" : "connect_error");
    if (this.tries >= this.backend.def.retries) return this.outcome.failed();
    this.tries++;
    state.counters.retries++;
    if (this.backend.def.redispatch && this.tries === this.backend.def.retries) {
      const other = this.dp.redispatch(this.backend, s);
      if (other) {
        state.counters.redispatches++;
        this.server = other;
      }
    }
    this.start();
  }
}
