/**
 * Connections to servers: a dial bounded by connect_timeout, and the idle
 * keep-alive pool per (worker, server), most recently used first, at most
 * pool_idle. A pooled connection that says anything or closes while idle is
 * dropped; one idle longer than the server timeout is closed.
 */
import type { Socket } from "bun";
import { CONN_HANDLERS, Conn, type ConnOwner } from "./conn.ts";
import type { Deadlines, Timed } from "./clock.ts";

export type DialResult = { ok: true; conn: Conn } | { ok: false; reason: "connect error" | "connect timeout"; message: string };

/** One connect attempt: `done` is called once, with the open connection (whose owner the caller then sets) or why not. */
export class Dial implements ConnOwner, Timed {
  deadline: number;
  readonly conn: Conn;
  private settled = false;

  constructor(
    private readonly deadlines: Deadlines,
    address: string,
    port: number,
    timeoutMs: number,
    private readonly done: (r: DialResult) => void,
  ) {
    this.conn = new Conn(this);
    this.deadline = deadlines.after(timeoutMs);
    deadlines.add(this);
    const conn = this.conn;
    Bun.connect<Conn>({
      hostname: address,
      port,
      allowHalfOpen: true,
      data: conn,
      socket: { ...CONN_HANDLERS, open: (s: Socket<Conn>) => this.opened(s) },
    }).catch(() => undefined);
  }

  private opened(s: Socket<Conn>): void {
    if (this.settled) {
      s.terminate();
      return;
    }
    s.setNoDelay(true);
    this.conn.attach(s);
    this.settle({ ok: true, conn: this.conn });
  }

  private settle(r: DialResult): void {
    if (this.settled) return;
    this.settled = true;
    this.deadlines.delete(this);
    this.done(r);
  }

  expire(): void {
    this.settle({ ok: false, reason: "connect timeout", message: "no connection within connect_timeout" });
    this.conn.abort();
  }

  data(): void {}
  end(): void {}
  drained(): void {}
  closed(_c: Conn, error?: Error): void {
    this.settle({ ok: false, reason: "connect error", message: error?.message ?? "closed while connecting" });
  }
}

/**
 * Idle keep-alive connections to one server. The pool owns each of them
 * while idle (one that says anything, ends or closes is dropped) and is one
 * deadline for all: its earliest idle expiry (maybe earlier than any still
 * kept, after a take: then the tick only looks again). Nothing is allocated
 * or registered a request: a put and a take are an array push and pop.
 */
export class Pool implements ConnOwner, Timed {
  private readonly idle: Conn[] = [];
  /** When each idle connection is closed, by its index in `idle`. */
  private readonly until: number[] = [];
  deadline = 0;
  private registered = false;

  constructor(private readonly deadlines: Deadlines) {}

  get size(): number {
    return this.idle.length;
  }

  /** Keep `conn` for reuse (for at most idleMs after `now`, performance.now()), unless `limit` are kept already: then it is closed. */
  put(conn: Conn, limit: number, idleMs: number, now: number): void {
    if (conn.closed || conn.readEnded || conn.writeEnded || this.idle.length >= limit) {
      conn.close();
      return;
    }
    conn.owner = this;
    conn.resume();
    const until = this.deadlines.at(now, idleMs);
    this.idle.push(conn);
    this.until.push(until);
    if (until !== 0 && (this.deadline === 0 || until < this.deadline)) this.deadline = until;
    if (!this.registered) {
      this.registered = true;
      this.deadlines.add(this);
    }
  }

  /** The most recently used idle connection, or null. Its owner must be set by the caller. */
  take(): Conn | null {
    const conn = this.idle.pop();
    if (!conn) return null;
    this.until.pop();
    return conn;
  }

  /** The idle connections past their time are closed. */
  expire(): void {
    const now = performance.now();
    let next = 0;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const until = this.until[i]!;
      if (until !== 0 && until <= now) this.drop(i);
      else if (until !== 0 && (next === 0 || until < next)) next = until;
    }
    this.deadline = next;
    if (this.idle.length === 0) this.unregister();
  }

  private drop(i: number): void {
    const conn = this.idle[i]!;
    this.idle.splice(i, 1);
    this.until.splice(i, 1);
    conn.abort();
  }

  private unregister(): void {
    if (!this.registered) return;
    this.registered = false;
    this.deadline = 0;
    this.deadlines.delete(this);
  }

  /** An idle connection said something, ended or closed: dropped. */
  private gone(c: Conn): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.drop(i);
    else c.abort();
  }

  data(c: Conn): void {
    this.gone(c);
  }
  end(c: Conn): void {
    this.gone(c);
  }
  drained(): void {}
  closed(c: Conn): void {
    const i = this.idle.indexOf(c);
    if (i < 0) return;
    this.idle.splice(i, 1);
    this.until.splice(i, 1);
  }

  /** Close every idle connection (a stop, or the server left the config). */
  clear(): void {
    const all = this.idle.splice(0);
    this.until.length = 0;
    this.unregister();
    for (const conn of all) conn.close();
  }
}
