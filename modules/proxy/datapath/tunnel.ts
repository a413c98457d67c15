/**
 * Two connections joined byte for byte: tcp mode, and an HTTP connection
 * after a 101 (WebSocket and other upgrades). Reads of one side stop while
 * the other's writes are queued (backpressure); a FIN is passed on
 * (half-close) and the pair closes when both ways ended or either side
 * closed; idle for `idleMs` (tunnel_timeout): both close.
 */
import type { Timed } from "./clock.ts";
import type { Conn, ConnOwner } from "./conn.ts";
import type { SessionHost } from "./session.ts";

export class Tunnel implements ConnOwner, Timed {
  deadline: number;
  private done = false;

  constructor(
    private readonly dp: SessionHost,
    private readonly a: Conn,
    private readonly b: Conn,
    private readonly idleMs: number,
    /** Called once when the pair is closed. */
    private readonly ended: () => void,
  ) {
    a.owner = this;
    b.owner = this;
    this.deadline = dp.deadlines.after(idleMs);
    dp.deadlines.add(this);
    a.resume();
    b.resume();
  }

  private other(c: Conn): Conn {
    return c === this.a ? this.b : this.a;
  }

  /** Bytes read from `from`, to the other side. */
  forward(from: Conn, chunk: Uint8Array): void {
    if (!this.other(from).write(chunk)) from.pause();
  }

  data(c: Conn, chunk: Buffer): void {
    this.deadline = this.dp.deadlines.after(this.idleMs);
    this.forward(c, chunk);
  }

  end(c: Conn): void {
    const o = this.other(c);
    o.shutdown();
    if (o.readEnded) this.finish();
  }

  drained(c: Conn): void {
    this.other(c).resume();
  }

  closed(c: Conn): void {
    this.other(c).close();
    this.finish();
  }

  expire(): void {
    this.a.abort();
    this.b.abort();
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.dp.deadlines.delete(this);
    this.a.close();
    this.b.close();
    this.ended();
  }
}
