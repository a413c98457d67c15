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

/** Idle keep-alive connections to one server. */
export class Pool {
  private readonly idle: PooledConn[] = [];

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
    const p = new PooledConn(this, conn, this.deadlines.at(now, idleMs));
    conn.owner = p;
    conn.resume();
    this.idle.push(p);
    this.deadlines.add(p);
  }

  /** The most recently used idle connection, or null. Its owner must be set by the caller. */
  take(): Conn | null {
    const p = this.idle.pop();
    if (!p) return null;
    this.deadlines.delete(p);
    return p.conn;
  }

  drop(p: PooledConn): void {
    const i = this.idle.indexOf(p);
    if (i >= 0) this.idle.splice(i, 1);
    this.deadlines.delete(p);
    p.conn.abort();
  }

  /** Close every idle connection (a stop, or the server left the config). */
  clear(): void {
    for (const p of this.idle.splice(0)) {
      this.deadlines.delete(p);
      p.conn.close();
    }
  }
}

class PooledConn implements ConnOwner, Timed {
  constructor(
    private readonly pool: Pool,
    readonly conn: Conn,
    public deadline: number,
  ) {}

  expire(): void {
    this.pool.drop(this);
  }
  data(): void {
    this.pool.drop(this);
  }
  end(): void {
    this.pool.drop(this);
  }
  drained(): void {}
  closed(): void {
    this.pool.drop(this);
  }
}
