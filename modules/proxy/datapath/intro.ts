/**
 * A client of a frontend with accept_proxy: its first bytes must be a PROXY
 * header (v1 or v2), whose source then stands for the client (rules, stick
 * on source, X-Forwarded-For, a PROXY header sent on). The header must come
 * whole within the frontend's request_timeout; anything else closes the
 * connection.
 */
import { decodeProxy } from "../http/index.ts";
import type { Timed } from "./clock.ts";
import type { Conn, ConnOwner } from "./conn.ts";
import type { Peer, SessionHost } from "./session.ts";
import type { FrontendRt } from "./generation.ts";

export class ProxyIntro implements ConnOwner, Timed {
  deadline: number;
  private got: Buffer | null = null;
  /** The client's connection, once made. */
  conn: Conn | null = null;
  private begun = false;

  constructor(
    private readonly dp: SessionHost,
    private readonly fe: FrontendRt,
    private readonly peer: Peer,
    private readonly begin: (c: Conn, peer: Peer, rest: Buffer | null) => void,
  ) {
    this.deadline = dp.deadlines.after(fe.ms.request);
    dp.deadlines.add(this);
  }

  data(c: Conn, chunk: Buffer): void {
    const got = (this.got = this.got ? Buffer.concat([this.got, chunk]) : chunk);
    const r = decodeProxy(got);
    if (r.kind === "incomplete") return;
    this.dp.deadlines.delete(this);
    if (r.kind === "error") return c.abort();
    this.begun = true;
    const { source, destination } = r.header;
    const peer = r.header.command === "PROXY" && source && destination ? { address: source.address, port: source.port, localAddress: destination.address, localPort: destination.port } : this.peer;
    this.begin(c, peer, got.length > r.bytes ? got.subarray(r.bytes) : null);
  }

  expire(): void {
    this.dp.deadlines.delete(this);
    this.conn?.abort();
  }

  end(c: Conn): void {
    c.abort();
  }
  drained(): void {}
  closed(): void {
    this.dp.deadlines.delete(this);
    if (!this.begun) this.dp.clientClosed(this.fe, null);
  }
}
