/**
 * A tcp-mode connection: the backend by the frontend's source rules, a
 * server by the balancer, then bytes both ways as they come. Backpressure:
 * while one side's writes are queued, the other side is not read. Half-close
 * goes through (a FIN one way is passed on, the other way keeps flowing);
 * the pair ends when both ways ended or either side closed. Idle longer than
 * the backend's tunnel_timeout: both are closed.
 */
import type { ServerRt } from "./backends.ts";
import type { Timed } from "./clock.ts";
import type { Conn, ConnOwner } from "./conn.ts";
import { Connector } from "./connector.ts";
import type { DataPath } from "./datapath.ts";
import type { BackendRt, FrontendRt, Generation } from "./generation.ts";
import { Tunnel } from "./tunnel.ts";

export class TcpSession implements ConnOwner, Timed {
  deadline = 0;
  private connector: Connector | null = null;
  /** What the client sent before the server's connection was open. */
  private early: Buffer[] = [];

  constructor(
    private readonly dp: DataPath,
    private readonly gen: Generation,
    private readonly fe: FrontendRt,
    private readonly client: Conn,
    private readonly source: string,
  ) {}

  start(): void {
    const backend = this.gen.backendFor(this.fe, { source: this.source, method: null, target: null, host: null, header: () => null });
    this.dp.acquire(backend, { source: this.source, cookie: null, hash: null }, (server) => this.assigned(backend, server));
    this.deadline = this.dp.deadlines.after(this.fe.ms.client);
    this.dp.deadlines.add(this);
  }

  private assigned(backend: BackendRt, server: ServerRt | null): void {
    if (this.client.closed) {
      if (server) this.dp.release(server);
      return;
    }
    if (!server) return this.client.close();
    this.connector = new Connector(this.dp, backend, server, {
      connected: (conn, s) => this.connected(backend, conn, s),
      failed: () => this.failed(),
    }, false);
    this.connector.start();
  }

  private connected(backend: BackendRt, conn: Conn, server: ServerRt): void {
    this.dp.deadlines.delete(this);
    this.connector = null;
    server.counters.requests++;
    const proxyHeader = this.dp.proxyHeaderFor(backend, this.client, this.source);
    if (proxyHeader) conn.write(proxyHeader);
    const tunnel = new Tunnel(this.dp, this.client, conn, backend.ms.tunnel, () => {
      this.dp.release(server);
      this.dp.clientClosed(this.fe, this.client);
    });
    for (const chunk of this.early) tunnel.forward(this.client, chunk);
    this.early = [];
    if (this.client.readEnded) tunnel.end(this.client);
  }

  private failed(): void {
    this.connector = null;
    this.dp.deadlines.delete(this);
    this.client.close();
  }

  expire(): void {
    this.client.abort();
  }

  data(_c: Conn, chunk: Buffer): void {
    this.early.push(chunk);
    this.client.pause();
  }
  end(): void {}
  drained(): void {}
  closed(): void {
    this.dp.clientClosed(this.fe, this.client);
    this.dp.deadlines.delete(this);
    if (this.connector) {
      this.connector.cancel();
      this.dp.release(this.connector.server);
      this.connector = null;
    }
  }
}
