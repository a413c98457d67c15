/**
 * Getting a new connection to a server for one request or tcp connection
 * (an idle pooled one is taken by the caller before): the server the
 * balancer chose first, then on a failed connect the same again
 * up to `retries` times, the last retry going to another server when
 * `redispatch` is on (HAProxy's `option redispatch`, its default interval).
 * Each failure is observed for passive health and counted. The balancer's
 * slot on the server is held from the pick until the caller releases it
 * (a redispatch moves it).
 */
import type { Server } from "../balance/balancer.ts";
import type { Conn } from "./conn.ts";
import type { SessionHost } from "./session.ts";
import type { BackendRt } from "./generation.ts";
import { Dial, type DialResult } from "./upstream.ts";

export interface ConnectOutcome {
  connected(conn: Conn, server: Server): void;
  /** No server could be reached within the retries (the client is answered 503). */
  failed(): void;
}

export class Connector {
  private cancelled = false;

  constructor(
    private readonly dp: SessionHost,
    private readonly backend: BackendRt,
    /** The server now: its slot is this request's. */
    public server: Server,
    private readonly outcome: ConnectOutcome,
    /** Retries already spent on this request (a stale pooled connection counts one). */
    private tries = 0,
  ) {}

  start(): void {
    if (this.tries > this.backend.def.retries) return this.outcome.failed();
    this.dial();
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
    if (r.ok) return this.outcome.connected(r.conn, s);
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
    this.dial();
  }
}
