/**
 * An http-mode client connection: requests one after another (keep-alive),
 * each routed by the frontend's rules to a backend, given a server by its
 * balancer (cookie and stick table first, maybe after a wait in the queue),
 * sent on an idle pooled connection to that server or a new one, and its
 * answer streamed back. Bodies are never held whole: bytes go on as they
 * come, with backpressure both ways (a side is not read while the other's
 * writes are queued). The server's connection goes back to the pool when
 * both messages ended cleanly and it stays open.
 *
 * Timeouts (one deadline at a time): the request head must arrive within
 * request_timeout of its first byte; an idle keep-alive connection waits
 * keepalive_timeout for the next; while the request body flows the client
 * may be silent client_timeout, and the server server_timeout while the
 * answer is awaited or flows. After a 101 the connection is a Tunnel.
 */
import type { Server } from "../balance/balancer.ts";
import type { Termination } from "./access.ts";
import { BodyFramer, parseRequestHead, parseResponseHead, writeHead, writeRequestHead, writeRequestHeadInto, writeResponseHead, writeResponseHeadInPlace, type ForwardEdits, type Header, type HeadLimits, type ReplyEdits, type RequestHead, type ResponseHead } from "../http/index.ts";
import type { ServerExtras, Waiter } from "./backends.ts";
import type { Timed } from "./clock.ts";
import type { Conn, ConnOwner } from "./conn.ts";
import { Connector } from "./connector.ts";
import type { Peer, Session, SessionHost } from "./session.ts";
import type { BackendRt, FrontendRt, Generation } from "./generation.ts";
import { countLatency, countStatus } from "./stats.ts";
import { Tunnel } from "./tunnel.ts";

/** Request bytes kept to send again when a reused connection turns out closed; a longer request is not retried. */
export const RETRY_KEEP_BYTES = 64 * 1024;
/** A response's first body bytes up to this go out in one write with its head (a copy) when the edited head does not fit where the server's was; more go in a second write. */
export const JOIN_HEAD_BYTES = 8 * 1024;
/**
 * Where each request head toward a server is written (this thread's; the head is written to the socket right
 * after, and a Conn queues a copy of what the kernel did not take): a request allocates no head of its own. A
 * larger head gets a Buffer.
 */
const HEAD_SCRATCH = Buffer.allocUnsafe(32 * 1024);
/** Methods a request may be sent twice with (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);

const REASONS: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported" };

/** The proxy's own answer: a small text body, and the connection closed after it. */
export function errorAnswer(status: number): Buffer {
  const reason = REASONS[status] ?? "Error";
  const body = `${status} ${reason}\n`;
  return Buffer.concat([writeHead(status, reason, [["Content-Type", "text/plain"], ["Content-Length", String(body.length)], ["Cache-Control", "no-cache"], ["Connection", "close"]]), Buffer.from(body, "latin1")]);
}

/** One value of a Cookie header by name, or undefined. */
export function cookieValue(headers: readonly Header[], name: string): string | undefined {
  for (const [n, v] of headers) {
    if (n.length !== 6 || n.toLowerCase() !== "cookie") continue;
    for (const part of v.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

/** Why the proxy answered `status` itself (x: the exchange, when the request was read). */
function proxyAnswered(status: number, x: Exchange | null): Termination {
  switch (status) {
    case 408:
      return "request_timeout";
    case 502:
      return x?.conn ? "bad_response" : "server_closed";
    case 503:
      return x?.server ? "connect_failed" : "no_server";
    case 504:
      return "server_timeout";
  }
  return "bad_request";
}

/** A request header's value by lower-case name (the first), or undefined. */
function headerOf(head: RequestHead, name: string): string | undefined {
  for (const [n, v] of head.headers) if (n.length === name.length && n.toLowerCase() === name) return v;
  return undefined;
}

const enum Phase {
  /** Waiting for (or reading) a request head. */
  Head,
  /** A request is on its way: waiting for a server, connecting, or exchanging. */
  Exchange,
  /** Upgraded: a Tunnel owns both connections. */
  Tunnel,
  Done,
}

/** One request and its answer. */
interface Exchange {
  backend: BackendRt;
  req: RequestHead;
  /** How its head is edited toward the server (the head is written when the connection is there, and again for a retry). */
  forward: ForwardEdits;
  /** The body bytes read before the server's connection was open. */
  pending: Uint8Array[];
  reqBody: BodyFramer;
  /** The cookie value the client sent for the backend's stickiness cookie. */
  cookie: string | undefined;
  idempotent: boolean;
  /** The body bytes sent on a reused connection (the head is written anew), for a retry; null when not retriable. */
  sent: Uint8Array[] | null;
  /** What was sent on a reused connection, the head too (at most RETRY_KEEP_BYTES are kept for a retry). */
  sentBytes: number;
  server: Server | null;
  /** The server's pool and counters, from when its connection is there. */
  extras: ServerExtras | null;
  queued: boolean;
  connector: Connector | null;
  conn: Conn | null;
  reused: boolean;
  /** Response head bytes so far. */
  resBuf: Buffer | null;
  res: ResponseHead | null;
  resBody: BodyFramer | null;
  /** The server sent bytes after its answer's end, or the answer ends at close: the connection cannot be reused. */
  tainted: boolean;
  startedAt: number;
  /** The client connection stays open after this answer. */
  keepClient: boolean;
  /** The access log has a line for it. */
  logged: boolean;
  /** Bytes sent to the client (the access log's). */
  bytesOut: number;
}

export class HttpSession implements ConnOwner, Timed, Waiter, Session {
  deadline = 0;
  private phase = Phase.Head;
  /** Client bytes not consumed yet: a head in progress, or the next request (pipelined). */
  private inbuf: Buffer | null = null;
  private x: Exchange | null = null;
  /** Close after the current exchange (stop). */
  private winding = false;
  private readonly limits: HeadLimits;
  /** The request being routed and balanced: what `header` reads. */
  private req: RequestHead | null = null;
  /** Rules and hdr balancing read the request's headers through this (one function a session, not one a request). */
  private readonly header = (name: string) => (this.req ? headerOf(this.req, name) : undefined);
  /** The client's address as the request head's edits take it. */
  private readonly forwardedClient: { address: string; port: number };

  constructor(
    private readonly dp: SessionHost,
    private gen: Generation,
    private readonly fe: FrontendRt,
    private readonly client: Conn,
    private readonly peer: Peer,
  ) {
    const c = gen.config;
    this.limits = { maxHeaderBytes: c.max_header_bytes, maxHeaders: c.max_headers };
    this.forwardedClient = { address: peer.address, port: peer.port };
  }

  start(early: Buffer | null): void {
    const now = performance.now();
    this.deadline = this.dp.deadlines.at(now, this.fe.ms.request);
    this.dp.deadlines.add(this);
    if (early) this.clientData(early, now);
  }

  // ---- client side ----

  // `now` below: the clock (performance.now()) read once by the event that leads there, for every deadline it sets.

  data(c: Conn, chunk: Buffer): void {
    const now = performance.now();
    if (c === this.client) this.clientData(chunk, now);
    else this.serverData(c, chunk, now);
  }

  private clientData(chunk: Buffer, now: number): void {
    if (this.phase === Phase.Head) {
      if (!this.inbuf) this.deadline = this.dp.deadlines.at(now, this.fe.ms.request);
      this.inbuf = this.inbuf ? Buffer.concat([this.inbuf, chunk]) : chunk;
      return this.readHead(now);
    }
    const x = this.x;
    if (this.phase !== Phase.Exchange || !x) return;
    if (x.reqBody.done) return this.stash(chunk);
    this.deadline = this.dp.deadlines.at(now, this.fe.ms.client);
    const n = x.reqBody.feed(chunk);
    if (x.reqBody.error !== undefined) return this.fail(400);
    this.sendBody(x, n === chunk.length ? chunk : chunk.subarray(0, n));
    if (n < chunk.length) this.stash(chunk.subarray(n));
    if (x.reqBody.done) this.requestSent(x, now);
  }

  /** Bytes of the next request while this one runs (pipelining): held, and past a head's worth the client is not read until this one ends. */
  private stash(b: Buffer): void {
    this.inbuf = this.inbuf ? Buffer.concat([this.inbuf, b]) : b;
    if (this.inbuf.length > this.limits.maxHeaderBytes) this.client.pause();
  }

  private readHead(now: number): void {
    const buf = this.inbuf;
    if (!buf) return;
    const r = parseRequestHead(buf, this.limits);
    if (r.kind === "incomplete") return;
    if (r.kind === "error") return this.fail(r.status);
    this.begin(r.head, buf, now);
  }

  private begin(req: RequestHead, buf: Buffer, now: number): void {
    // A new request takes the newest config that still has this frontend.
    if (this.dp.current.frontends.has(this.fe.def.name)) this.gen = this.dp.current;
    const gen = this.gen;
    const fe = gen.frontends.get(this.fe.def.name) ?? this.fe;
    fe.counters.requests++;
    this.req = req;
    const header = this.header;
    const backend = fe.rules.length === 0 ? gen.backends.get(fe.def.default_backend)! : gen.backendFor(fe, { source: this.peer.address, method: req.method, target: req.target, host: req.host ?? null, header });
    const cookie = backend.def.cookie !== undefined ? cookieValue(req.headers, backend.def.cookie) : undefined;
    const proto = fe.def.certificates.length ? "https" : "http";
    const forward: ForwardEdits = { client: this.forwardedClient, proto, forwardedFor: fe.def.forwarded_for, forwarded: fe.def.forwarded, dropCookie: backend.def.cookie };
    const reqBody = new BodyFramer(req.body, this.limits.maxHeaderBytes);
    const rest = buf.length > req.headBytes ? buf.subarray(req.headBytes) : null;
    this.inbuf = null;
    const x: Exchange = { backend, req, forward, pending: [], reqBody, cookie, idempotent: IDEMPOTENT.has(req.method), sent: null, sentBytes: 0, server: null, extras: null, queued: false, connector: null, conn: null, reused: false, resBuf: null, res: null, resBody: null, tainted: false, startedAt: now, keepClient: false, logged: this.dp.accessLog.sampled(), bytesOut: 0 };
    this.x = x;
    this.phase = Phase.Exchange;
    this.deadline = this.dp.deadlines.at(now, this.fe.ms.client);
    if (rest) {
      const n = reqBody.feed(rest);
      if (reqBody.error !== undefined) return this.fail(400);
      if (n > 0) x.pending.push(rest.subarray(0, n));
      if (n < rest.length) this.stash(rest.subarray(n));
    }
    const r = this.dp.acquire(backend, { source: this.peer.address, uri: req.target, header, cookie }, this);
    if (r === "queued") {
      x.queued = true;
      this.deadline = 0;
    } else this.grant(typeof r === "object" ? r : null, now);
  }

  /** The balancer's answer after the queue (null: no server, or the queue timed out). */
  granted(server: Server | null): void {
    this.grant(server, performance.now());
  }

  /** The balancer's answer (null: no server). */
  private grant(server: Server | null, now: number): void {
    const x = this.x;
    // A queued exchange that ends is cancelled in the queue, so this is always the current one.
    if (!x) return;
    x.queued = false;
    if (!server) return this.fail(503);
    x.server = server;
    // An idle pooled connection first (never with send_proxy: its header names one client), else a new one.
    const idle = x.backend.def.send_proxy === undefined ? x.backend.state.of(server).pool.take() : null;
    if (idle) return this.connected(x, idle, server, true, now);
    this.dial(x, server, 0);
  }

  private dial(x: Exchange, server: Server, tries: number): void {
    x.connector = new Connector(this.dp, x.backend, server, { connected: (conn, s) => this.connected(x, conn, s, false, performance.now()), failed: () => this.fail(503) }, tries);
    x.connector.start();
  }

  private connected(x: Exchange, conn: Conn, server: Server, reused: boolean, now: number): void {
    if (this.x !== x) return conn.abort();
    x.server = server;
    x.conn = conn;
    x.reused = reused;
    conn.owner = this;
    x.extras = x.backend.state.of(server);
    x.extras.counters.requests++;
    if (!reused) {
      const header = this.dp.proxyHeader(x.backend, this.peer);
      if (header) conn.write(header);
    }
    x.sent = reused && x.idempotent ? [] : null;
    x.sentBytes = 0;
    this.sendHead(x, conn);
    for (const b of x.pending) this.toServer(x, b);
    this.deadline = this.dp.deadlines.at(now, x.reqBody.done ? x.backend.ms.server : this.fe.ms.client);
    if (x.reqBody.done) this.requestSent(x, now);
    else if (!conn.blocked) this.client.resume();
  }

  /** The request head, edited, to the server (from HEAD_SCRATCH: nothing allocated). */
  private sendHead(x: Exchange, conn: Conn): void {
    let size = writeRequestHeadInto(HEAD_SCRATCH, x.req, x.forward);
    let written: boolean;
    if (size >= 0) written = conn.write(HEAD_SCRATCH, 0, size, true);
    else {
      const head = writeRequestHead(x.req, x.forward);
      size = head.length;
      written = conn.write(head);
    }
    if (x.sent) {
      x.sentBytes += size;
      if (x.sentBytes > RETRY_KEEP_BYTES) x.sent = null;
    }
    if (!written) this.client.pause();
  }

  private sendBody(x: Exchange, b: Uint8Array): void {
    if (b.length === 0) return;
    if (!x.conn) {
      x.pending.push(b);
      this.client.pause();
      return;
    }
    this.toServer(x, b);
  }

  private toServer(x: Exchange, b: Uint8Array): void {
    if (x.sent) {
      if (x.sentBytes + b.length > RETRY_KEEP_BYTES) x.sent = null;
      else {
        x.sent.push(b);
        x.sentBytes += b.length;
      }
    }
    if (!x.conn!.write(b)) this.client.pause();
  }

  /** The whole request is on its way: the server has server_timeout to answer. */
  private requestSent(x: Exchange, now: number): void {
    if (x.conn) this.deadline = this.dp.deadlines.at(now, x.backend.ms.server);
    if (x.resBody?.done) this.finish(x, now);
  }

  // ---- server side ----

  private serverData(c: Conn, chunk: Buffer, now: number): void {
    const x = this.x;
    if (!x || c !== x.conn) return c.abort();
    this.deadline = this.dp.deadlines.at(now, x.backend.ms.server);
    x.sent = null;
    if (!x.res) {
      x.resBuf = x.resBuf ? Buffer.concat([x.resBuf, chunk]) : chunk;
      return this.readResponseHead(x, now);
    }
    this.responseBody(x, chunk, now);
  }

  private readResponseHead(x: Exchange, now: number): void {
    for (;;) {
      const buf = x.resBuf!;
      const r = parseResponseHead(buf, this.limits, x.req.method);
      if (r.kind === "incomplete") return;
      if (r.kind === "error") {
        this.dp.observe(x.backend, x.server!, "http_5xx");
        return this.fail(502);
      }
      const res = r.head;
      if (res.status >= 100 && res.status < 200 && res.status !== 101) {
        // An interim answer (100 Continue, 103 Early Hints): passed on, the final one follows.
        this.toClient(x, writeResponseHead(res, { keepAlive: true, clientVersion: x.req.version }));
        x.resBuf = buf.length > res.headBytes ? buf.subarray(res.headBytes) : null;
        if (!x.resBuf) return;
        continue;
      }
      x.resBuf = null;
      return this.responseHead(x, res, buf, now);
    }
  }

  /** The answer's head came, parsed from `buf` (this exchange's to write over), which may hold body bytes after it. */
  private responseHead(x: Exchange, res: ResponseHead, buf: Buffer, now: number): void {
    const server = x.server!;
    countLatency(x.extras!.counters, now - x.startedAt);
    countStatus(this.fe.counters, res.status);
    this.dp.served(this.fe, x.backend, server, this.peer, res.status);
    this.dp.observe(x.backend, server, res.status >= 500 ? "http_5xx" : "success");
    x.res = res;
    const end = res.headBytes;
    if (res.status === 101 && res.upgrade !== undefined && x.req.upgrade !== undefined) return this.upgrade(x, res, buf.length > end ? buf.subarray(end) : null);
    x.keepClient = x.req.keepAlive && res.body.kind !== "close" && !this.winding;
    const cookieName = x.backend.def.cookie;
    const insert = cookieName !== undefined && x.cookie !== server.cookie;
    x.resBody = new BodyFramer(res.body, this.limits.maxHeaderBytes);
    const edits: ReplyEdits = { keepAlive: x.keepClient, clientVersion: x.req.version, dropSetCookie: cookieName };
    if (insert) {
      edits.add = [["Set-Cookie", `${cookieName}=${server.cookie}; Path=/`]];
      edits.uncacheable = true;
    }
    const n = buf.length > end ? x.resBody.feed(buf, end) : 0;
    // The edited head written where the server's was (the usual case: it only lost hop-by-hop fields): head and body go
    // out in one write, and neither is copied.
    const at = writeResponseHeadInPlace(res, edits);
    if (at >= 0) this.toClient(x, res.raw, at, end + n);
    else {
      const head = writeResponseHead(res, edits);
      if (n > 0 && n <= JOIN_HEAD_BYTES) this.toClient(x, Buffer.concat([head, buf.subarray(end, end + n)]));
      else {
        this.toClient(x, head);
        if (n > 0) this.toClient(x, buf, end, end + n);
      }
    }
    if (end + n < buf.length) x.tainted = true;
    if (x.resBody.error !== undefined) return this.abort("bad_response");
    if (x.resBody.done) this.responseDone(x, now);
  }

  private responseBody(x: Exchange, chunk: Buffer, now: number): void {
    const body = x.resBody!;
    if (body.done) {
      x.tainted = true;
      return;
    }
    const n = body.feed(chunk);
    if (n > 0) this.toClient(x, chunk, 0, n);
    if (n < chunk.length) x.tainted = true;
    if (body.error !== undefined) return this.abort("bad_response");
    if (body.done) this.responseDone(x, now);
  }

  /** b[from, to) to the client (all of b by default). */
  private toClient(x: Exchange, b: Uint8Array, from = 0, to = b.length): void {
    x.bytesOut += to - from;
    if (!this.client.write(b, from, to)) x.conn?.pause();
  }

  private responseDone(x: Exchange, now: number): void {
    if (x.reqBody.done) return this.finish(x, now);
    // The server answered before the request's body ended: the connection cannot go on.
    x.keepClient = false;
    x.tainted = true;
    this.finish(x, now);
  }

  /** Both messages ended: the server's connection to the pool (or closed), the client to its next request (or closed). */
  private finish(x: Exchange, now: number): void {
    this.x = null;
    if (x.logged) this.dp.accessLog.add(this.fe.def.name, this.peer, x, x.res!.status, x.bytesOut);
    const conn = x.conn!;
    const server = x.server!;
    const reusable = !x.tainted && x.res!.keepAlive && x.req.upgrade === undefined && x.backend.def.send_proxy === undefined && x.reqBody.done;
    if (reusable) x.extras!.pool.put(conn, x.backend.def.pool_idle, x.backend.ms.server, now);
    else conn.close();
    this.dp.release(x.backend, server);
    if (!x.keepClient || this.winding) return this.close();
    this.phase = Phase.Head;
    this.deadline = this.dp.deadlines.at(now, this.inbuf ? this.fe.ms.request : this.fe.ms.keepalive);
    this.client.resume();
    if (this.inbuf) this.readHead(now);
  }

  private upgrade(x: Exchange, res: ResponseHead, rest: Buffer | null): void {
    this.phase = Phase.Tunnel;
    this.x = null;
    this.dp.deadlines.delete(this);
    const conn = x.conn!;
    const server = x.server!;
    if (x.logged) this.dp.accessLog.add(this.fe.def.name, this.peer, x, res.status, x.bytesOut);
    this.client.write(writeResponseHead(res, { keepAlive: true, clientVersion: x.req.version }));
    if (rest) this.client.write(rest);
    const early = this.inbuf;
    this.inbuf = null;
    const tunnel = new Tunnel(this.dp, this.client, conn, x.backend.ms.tunnel, () => {
      this.dp.release(x.backend, server);
      this.dp.clientClosed(this.fe, this);
    });
    if (early) tunnel.forward(this.client, early);
  }

  // ---- both ----

  drained(c: Conn): void {
    const x = this.x;
    if (c === this.client) {
      if (x?.conn && !this.client.blocked) x.conn.resume();
      return;
    }
    if (x && c === x.conn && !x.reqBody.done) this.client.resume();
  }

  end(c: Conn): void {
    if (c === this.client) {
      // The client will send nothing more: an idle connection closes; a request in flight gets its answer, then the connection closes.
      if (this.phase === Phase.Head) return this.close();
      if (this.x && !this.x.reqBody.done) return this.abort("client_abort");
      if (this.x) this.x.keepClient = false;
      this.winding = true;
      return;
    }
    this.serverGone(c);
  }

  closed(c: Conn): void {
    if (c === this.client) return this.clientGone();
    this.serverGone(c);
  }

  /** The server's connection ended (FIN or close) during an exchange. */
  private serverGone(c: Conn): void {
    const x = this.x;
    if (!x || c !== x.conn) return;
    if (x.res && x.resBody) {
      if (x.res.body.kind === "close" && !x.resBody.done) {
        x.resBody.done = true;
        x.tainted = true;
        x.keepClient = false;
        return this.responseDone(x, performance.now());
      }
      return this.abort("server_abort");
    }
    if (x.res) return this.abort("server_abort");
    c.abort();
    x.conn = null;
    const nothingYet = x.resBuf === null;
    if (nothingYet && x.reused && x.sent && x.reqBody.done && x.backend.def.retries > 0) {
      // An idle pooled connection the server had closed: the request goes again on a new one, counted as a retry.
      x.backend.state.counters.retries++;
      x.pending = x.sent;
      x.sent = null;
      return this.dial(x, x.server!, 1);
    }
    if (!x.reused) this.dp.observe(x.backend, x.server!, "connect_error");
    this.fail(502);
  }

  private clientGone(): void {
    this.phase = Phase.Done;
    this.dp.deadlines.delete(this);
    const x = this.x;
    this.x = null;
    if (x) this.dropExchange(x, x.res?.status ?? null, "client_abort");
    this.dp.clientClosed(this.fe, this);
  }

  /** An exchange that did not end normally: its access log line says why, then its server's slot and connection go. */
  private dropExchange(x: Exchange, status: number | null, why: Termination): void {
    if (x.logged) this.dp.accessLog.add(this.fe.def.name, this.peer, x, status, x.bytesOut, why);
    if (x.queued) this.dp.cancel(x.backend, this);
    x.connector?.cancel();
    x.conn?.abort();
    if (x.server && !x.queued) this.dp.release(x.backend, x.server);
  }

  expire(): void {
    const x = this.x;
    if (this.phase === Phase.Head) {
      // A head that did not come whole in time: 408; an idle keep-alive connection: closed quietly.
      if (this.inbuf) return this.fail(408);
      return this.close();
    }
    if (x && x.conn && x.reqBody.done && !x.res) {
      this.dp.observe(x.backend, x.server!, "timeout");
      return this.fail(504);
    }
    if (x && !x.conn && !x.queued) return this.fail(503);
    this.abort(x?.res ? "server_timeout" : "client_timeout");
  }

  /** Answer with the proxy's own error page (unless an answer began) and close. */
  private fail(status: number): void {
    const x = this.x;
    this.x = null;
    const answer = x?.res ? null : errorAnswer(status);
    if (x) {
      if (answer) x.bytesOut += answer.length;
      this.dropExchange(x, x.res?.status ?? status, proxyAnswered(status, x));
    } else if (this.dp.accessLog.sampled()) this.dp.accessLog.add(this.fe.def.name, this.peer, null, status, answer!.length, proxyAnswered(status, null));
    if (answer) {
      countStatus(this.fe.counters, status);
      this.client.write(answer);
    }
    this.close();
  }

  private close(): void {
    this.phase = Phase.Done;
    this.deadline = 0;
    this.client.close();
  }

  wind(): void {
    this.winding = true;
    if (this.phase === Phase.Head && !this.inbuf) this.close();
  }

  /** Cut the client's connection (why: for the access log; a stop's grace ended when not said). */
  abort(why: Termination = "stopped"): void {
    const x = this.x;
    this.x = null;
    if (x) this.dropExchange(x, x.res?.status ?? null, why);
    this.phase = Phase.Done;
    this.client.abort();
  }
}
