/**
 * A tcp-mode connection: the backend by the frontend's source rules, a
 * server by the balancer (maybe after a wait in the queue), a connection to
 * it (retries, redispatch), then a Tunnel: bytes both ways, backpressure,
 * half-close, tunnel_timeout. Until the server's connection is open the
 * client is not read (what it sent is held, one chunk at most per read).
 */
import type { Server } from "../balance/balancer.ts";
import type { Waiter } from "./backends.ts";
import type { Timed } from "./clock.ts";
import type { Conn, ConnOwner } from "./conn.ts";
import { Connector } from "./connector.ts";
import type { Peer, Session, SessionHost } from "./session.ts";
import type { BackendRt, FrontendRt, Generation } from "./generation.ts";
import { Tunnel } from "./tunnel.ts";

export class TcpSession implements ConnOwner, Timed, Waiter, Session {
  deadline = 0;
  private connector: Connector | null = null;
  private backend: BackendRt | null = null;
  private queued = false;
  /** What the client sent before the server's connection was open. */
  private early: Buffer[] = [];

  constructor(
    private readonly dp: SessionHost,
    private readonly gen: Generation,
    private readonly fe: FrontendRt,
    private readonly client: Conn,
    private readonly peer: Peer,
  ) {}

  start(early: Buffer | null): void {
    if (early) this.data(this.client, early);
    const backend = (this.backend = this.gen.backendFor(this.fe, { source: this.peer.address, method: null, target: null, host: null, header: () => undefined }));
    this.deadline = this.dp.deadlines.after(this.fe.ms.client);
    this.dp.deadlines.add(this);
    const r = this.dp.acquire(backend, { source: this.peer.address }, this);
    if (r === "queued") this.queued = true;
    else this.granted(typeof r === "object" ? r : null);
  }

  granted(server: Server | null): void {
    this.queued = false;
    const backend = this.backend!;
    if (!server) return this.client.close();
    if (this.client.closed) return this.dp.release(backend, server);
    this.connector = new Connector(this.dp, backend, server, { connected: (conn, s) => this.connected(backend, conn, s), failed: () => this.failed() });
    this.connector.start();
  }

  private connected(backend: BackendRt, conn: Conn, server: Server): void {
    this.dp.deadlines.delete(this);
    this.connector = null;
    backend.state.of(server).counters.requests++;
    const header = this.dp.proxyHeader(backend, this.peer);
    if (header) conn.write(header);
    const tunnel = new Tunnel(this.dp, this.client, conn, backend.ms.tunnel, () => {
      this.dp.release(backend, server);
      this.dp.clientClosed(this.fe, this);
    });
    for (const chunk of this.early) tunnel.forward(this.client, chunk);
    this.early = [];
    if (this.client.readEnded) tunnel.end(this.client);
  }

  private failed(): void {
    const server = this.connector!.server;
    this.connector = null;
    this.dp.release(this.backend!, server);
    this.dp.deadlines.delete(this);
    this.client.close();
  }

  expire(): void {
    this.client.abort();
  }

  wind(): void {}

  abort(): void {
    this.client.abort();
  }

  data(_c: Conn, chunk: Buffer): void {
    this.early.push(chunk);
    this.client.pause();
  }
  end(): void {}
  drained(): void {}
  closed(): void {
    this.dp.deadlines.delete(this);
    if (this.queued) this.dp.cancel(this.backend!, this);
    if (this.connector) {
      this.connector.cancel();
      this.dp.release(this.backend!, this.connector.server);
      this.connector = null;
    }
    this.dp.clientClosed(this.fe, this);
  }
}
