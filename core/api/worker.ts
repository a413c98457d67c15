/**
 * The API worker: a Bun Worker that owns the HTTP side of the API, so that no
 * client, however many or however slow, runs on the control thread's event
 * loop. It serves /healthz, the dashboard, /v1/openapi.json and the SSE
 * stream from what it holds (the routes' descriptions, its own copy of the
 * event history), checks the token, and asks the control thread, by message,
 * only for what lives there: the status and the metrics (one request in
 * flight each, shared by every caller waiting) and the routes whose handlers
 * are there (at most MAX_ROUTES_IN_FLIGHT; past it 503 here, without a word to
 * the control thread). See messages.ts for the contract and its bounds.
 *
 * Clients reach Bun.serve through a gate: a TCP listener on the API's
 * address that closes any connection past the limit at once and pipes the
 * others, bytes unchanged (TLS included), to the server on a unix socket in
 * the abstract namespace (a name and no file: the kernel frees it when the
 * process ends, even by SIGKILL, so nothing is left in /tmp). Bun.serve has
 * no connection limit of its own. The peer's
 * address is lost on the unix socket, so the gate sorts connections by it: a
 * loopback peer's go to one server, the others' to a second one on the same
 * app, which tells each request which of the two it came through (Peer).
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import { connect, createServer, isIPv4, type Server as Gate } from "node:net";
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Server } from "bun";
import { EventHistory } from "../events.ts";
import { failovers, initialRecorder, MAX_FAILOVERS, STEP_KINDS, step as record } from "../recorder.ts";
import { Metrics } from "../metrics.ts";
import { problem } from "./problem.ts";
import { matchPath, type RouteInfo, type RouteSpec } from "./routes.ts";
import { openapi } from "./openapi.ts";
import { type Access, BODY_TIMEOUT_MS, CONTROL_TIMEOUT_MS, type ListenSpec, MAX_BODY_BYTES, MAX_ROUTES_IN_FLIGHT, MAX_WAITERS, RETRY_AFTER_S, type ForwardedResponse, type FromWorker, type ToWorker } from "./messages.ts";

/** SSE: a comment line this often keeps proxies and the idle timeout from closing the stream. */
export const SSE_KEEPALIVE_MS = 15_000;
/** SSE: events queued for one slow client before it is disconnected. */
export const SSE_CLIENT_QUEUE = 1000;
/** SSE: events written to one client between two turns of the event loop (a replay of the whole history yields). */
export const SSE_WRITE_BATCH = 64;
/** Paths open without the read token: liveness, the page, the API's description. */
const OPEN_PATHS = new Set(["/healthz", "/", "/v1/openapi.json"]);
/** Bun.serve idle timeout for a connection (seconds). */
const IDLE_TIMEOUT_S = 60;

declare const self: Worker;

const post = (m: FromWorker) => self.postMessage(m);

const history = new EventHistory();
/** The flight recorder (core/recorder.ts), fed every event this worker hears of. */
let recorder = initialRecorder();
history.subscribe((event) => (recorder = record(recorder, { type: "event", event })));
const metrics = new Metrics();
const requests = metrics.counter("tandem_api_requests_total", "API requests by method and status code");
const refused = metrics.counter("tandem_api_refused_total", "API requests answered by the worker without the control thread, by reason (busy: a queue at its bound; timeout: no answer in time)");
let sseClients = 0;
metrics.collect("tandem_api_sse_clients", "open /v1/events streams", () => [{ labels: {}, value: sseClients }]);

let version = "";
/** The dashboard page, made on the control thread from the modules' panels. */
let dashboard = "";
let access: Access = { token: null, readToken: null, hosts: [], insecureHttp: false };
let maxSseClients = 0;
/** Routes whose handlers run on the control thread (the reload, the modules'). */
let remote: RouteInfo[] = [];
interface Listener {
  gate: Gate;
  /** The server of loopback peers' connections and that of the others'. */
  servers: Server<undefined>[];
}
let listener: Listener | null = null;

/** What a request's connection was, as the gate saw it (hono's env of the request). */
interface Peer {
  /** Plain HTTP from a peer off loopback: a token in it crossed a network in clear. */
  cleartext: boolean;
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a gate on :: sees IPv4 peers so). */
function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.toLowerCase().replace(/^::ffff:/, "");
  return address === "::1" || (isIPv4(v4) && v4.startsWith("127."));
}

const busy = (what: string) => {
  refused.inc({ reason: "busy" });
  return problem(503, `the node is busy: too many ${what} requests waiting; retry`, {}, { "retry-after": String(RETRY_AFTER_S) });
};
const late = () => {
  refused.inc({ reason: "timeout" });
  return problem(504, `the node's control plane did not answer within ${CONTROL_TIMEOUT_MS} ms`);
};

/** A value of the control thread's, asked for once however many callers wait; callers that come while a request is out wait for the next one, so none gets an answer older than its request. */
class Coalesced<T> {
  private out = false;
  private current: Array<(v: T | null) => void> = [];
  private next: Array<(v: T | null) => void> = [];

  constructor(private readonly ask: () => void) {}

  /** The value, or null when the control thread did not answer in time. Throws nothing; undefined when too many wait. */
  get(): Promise<T | null> | undefined {
    if (this.current.length + this.next.length >= MAX_WAITERS) return undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(null), CONTROL_TIMEOUT_MS);
      let done = false;
      const settle = (v: T | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(v);
      };
      if (this.out) this.next.push(settle);
      else {
        this.current.push(settle);
        this.send();
      }
    });
  }

  answer(v: T): void {
    for (const settle of this.current) settle(v);
    [this.current, this.next] = [this.next, []];
    this.out = false;
    if (this.current.length) this.send();
  }

  private send(): void {
    this.out = true;
    this.ask();
  }
}

const status = new Coalesced<Record<string, unknown>>(() => post({ type: "status-request" }));
const controlMetrics = new Coalesced<string>(() => post({ type: "metrics-request" }));

let nextId = 1;
const inFlight = new Map<number, (r: ForwardedResponse) => void>();

async function forward(c: Context): Promise<Response> {
  if (inFlight.size >= MAX_ROUTES_IN_FLIGHT) return busy("module");
  const body = c.req.method === "GET" || c.req.method === "HEAD" ? "" : await readBody(c);
  if (body === null) return problem(408, `the request body did not arrive within ${BODY_TIMEOUT_MS} ms`, {}, { connection: "close" });
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) return problem(413, `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  const url = new URL(c.req.url);
  const headers: Record<string, string> = {};
  for (const name of ["content-type", "accept"]) {
    const v = c.req.header(name);
    if (v !== undefined) headers[name] = v;
  }
  const id = nextId++;
  // The slot is held until the control thread answers, even after the caller was told 504: the bound is on the control thread's queue.
  const answered = new Promise<ForwardedResponse>((resolve) => inFlight.set(id, resolve));
  post({ type: "request", id, request: { method: c.req.method === "HEAD" ? "GET" : c.req.method, url: url.pathname + url.search, headers, body } });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), CONTROL_TIMEOUT_MS)));
  const r = await Promise.race([answered, timeout]);
  clearTimeout(timer);
  return r ? new Response(r.body === "" ? null : r.body, { status: r.status, headers: r.headers }) : late();
}

/** The body, or null when it did not arrive within BODY_TIMEOUT_MS (a client sending it a byte at a time). */
async function readBody(c: Context): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), BODY_TIMEOUT_MS)));
  try {
    return await Promise.race([c.req.text(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function bearerOk(c: Context, want: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const expected = Buffer.from(want);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function events(c: Context): Response {
  // HEAD: the stream's headers and nothing else; a stream opened for it would hold the connection for nothing.
  if (c.req.method === "HEAD") return new Response(null, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  if (sseClients >= maxSseClients) return busy("event stream");
  // Last-Event-ID (a reconnecting client) or ?since=ID replays the history after ID; neither: only new events.
  const after = c.req.header("last-event-id") ?? c.req.query("since");
  const lastId = after === undefined ? NaN : Number(after);
  return streamSSE(c, async (stream) => {
    const queue = Number.isInteger(lastId) && lastId >= 0 ? history.since(lastId) : [];
    let wake: () => void = () => {};
    let closed = false;
    const unsubscribe = history.subscribe((e) => {
      queue.push(e);
      // A client that cannot keep up is cut off rather than queued without bound.
      if (queue.length > SSE_CLIENT_QUEUE) closed = true;
      wake();
    });
    stream.onAbort(() => {
      closed = true;
      wake();
    });
    sseClients++;
    try {
      await stream.write(": tandem events\n\n");
      let written = 0;
      while (!closed) {
        const e = queue.shift();
        if (e) {
          await stream.writeSSE({ id: String(e.id), data: JSON.stringify(e) });
          if (++written % SSE_WRITE_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        const woken = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), SSE_KEEPALIVE_MS);
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        wake = () => {};
        if (!woken) await stream.write(": keepalive\n\n");
      }
    } finally {
      sseClients--;
      unsubscribe();
    }
  });
}

/** The routes this worker answers itself. */
const local: RouteSpec[] = [
  {
    method: "get",
    path: "/healthz",
    summary: "liveness: 200 while the node's runtime is up",
    produces: "text/plain",
    responses: { 200: "the node is up" },
    handler: (c) => c.text("ok\n"),
  },
  {
    method: "get",
    path: "/v1/status",
    summary: "the node, its cluster, config hash and every module's status",
    produces: "application/json",
    responses: { 200: "status", 503: "too many callers waiting", 504: "the control plane did not answer in time" },
    schema: {
      type: "object",
      required: ["node", "cluster", "version", "phase", "config", "modules"],
      properties: {
        node: { type: "string" },
        cluster: { type: "string" },
        version: { type: "string" },
        phase: { type: "string", enum: ["idle", "starting", "running", "stopping", "stopped"] },
        config: { type: "object", properties: { hash: { type: "string" }, file: { type: "string" } } },
        modules: { type: "object", additionalProperties: { type: "object", properties: { state: { type: "string" } } } },
      },
    },
    handler: async (c) => {
      const waiting = status.get();
      if (!waiting) return busy("status");
      const body = await waiting;
      return body ? c.json(body) : late();
    },
  },
  {
    method: "get",
    path: "/v1/events",
    summary: "server-sent events: every state change as a message whose data is the event (id, at, type, node, data); Last-Event-ID or ?since=ID replays the history after that id",
    produces: "text/event-stream",
    responses: { 200: "an endless stream of events" },
    handler: (c) => events(c),
  },
  {
    method: "get",
    path: "/v1/failovers",
    summary: `the flight recorder: this node's takeovers (at most ${MAX_FAILOVERS}, newest first), each the chain of steps that made it with their times: heartbeats late, the peer declared dead, quorum, DC, fencing, each resource stopped and started, addresses announced, the director active, the first client the proxy served`,
    produces: "application/json",
    responses: { 200: "the takeovers" },
    schema: {
      type: "object",
      required: ["failovers"],
      properties: {
        failovers: {
          type: "array",
          maxItems: MAX_FAILOVERS,
          items: {
            type: "object",
            required: ["id", "node", "started", "ended", "steps"],
            properties: {
              id: { type: "string" },
              node: { type: "string", description: "the node that took over" },
              started: { type: "number", description: "epoch ms of the first step" },
              ended: { type: ["number", "null"], description: "epoch ms of the last step once settled; null while it runs" },
              dropped: { type: "integer", description: "steps past the bound, not kept" },
              steps: {
                type: "array",
                items: {
                  type: "object",
                  required: ["at", "kind", "text"],
                  properties: {
                    at: { type: "number", description: "epoch ms" },
                    kind: { type: "string", enum: [...STEP_KINDS] },
                    text: { type: "string" },
                    duration_ms: { type: "number" },
                  },
                },
              },
            },
          },
        },
      },
    },
    handler: (c) => {
      recorder = record(recorder, { type: "tick", at: Date.now() });
      return c.json({ failovers: failovers(recorder) });
    },
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (text exposition format 0.0.4)",
    produces: "text/plain",
    responses: { 200: "metrics", 503: "too many callers waiting", 504: "the control plane did not answer in time" },
    handler: async () => {
      const waiting = controlMetrics.get();
      if (!waiting) return busy("metrics");
      const text = await waiting;
      return text === null ? late() : new Response(text + metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
    },
  },
  {
    method: "get",
    path: "/v1/openapi.json",
    summary: "this document",
    produces: "application/json",
    responses: { 200: "the OpenAPI 3.1 description of this API" },
    handler: (c) => c.json(openapi([...local, ...remote], version)),
  },
  {
    method: "get",
    path: "/",
    summary: "the dashboard",
    produces: "text/html",
    responses: { 200: "the dashboard page" },
    handler: (c) => c.html(dashboard),
  },
];

const app = new Hono<{ Bindings: Peer }>();
app.use(async (c, next) => {
  await next();
  requests.inc({ method: c.req.method, code: String(c.res.status) });
});
app.onError((err) => {
  post({ type: "log", level: "error", msg: "API handler failed", data: { err: err.message } });
  return problem(500, "the request failed inside the node; see its log");
});
/** True when every percent-escape of the path and query decodes. */
function escapesOk(url: string): boolean {
  const at = url.indexOf("?");
  const parts = [at < 0 ? url : url.slice(0, at), ...(at < 0 ? [] : url.slice(at + 1).split("&"))];
  try {
    for (const p of parts) decodeURIComponent(p);
    return true;
  } catch {
    return false;
  }
}

/** The Host header's name without its port; undefined when there is none (HTTP/1.0). */
function hostName(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const h = host.toLowerCase();
  return h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.replace(/:\d*$/, "");
}

app.use(async (c, next) => {
  const raw = c.req.url.slice(c.req.url.indexOf("/", c.req.url.indexOf("//") + 2));
  if (!escapesOk(raw)) return problem(400, "the path or query holds a malformed percent-escape");
  const host = hostName(c.req.header("host"));
  if (host !== undefined && !access.hosts.includes(host)) return problem(421, `this node does not answer to the name ${host}; use its address or a name in api.hosts`);
  await next();
});
app.all("*", async (c) => {
  const method = c.req.method === "HEAD" ? "get" : c.req.method.toLowerCase();
  const path = c.req.path;
  const matching = [...local, ...remote].flatMap((r) => {
    const params = matchPath(r.path, path);
    return params ? [{ r, params }] : [];
  });
  const hit = matching.find(({ r }) => r.method === method);
  if (!hit) {
    if (matching.length) return problem(405, `${c.req.method} is not allowed on ${path}`, {}, { allow: matching.map(({ r }) => r.method.toUpperCase()).join(", ") });
    return problem(404, `no such endpoint: ${path}; see /v1/openapi.json`);
  }
  const token = access.token;
  if (hit.r.mutating) {
    if (c.env.cleartext && !access.insecureHttp) return problem(403, "mutating calls over plain HTTP are refused off loopback: the token would cross the network in clear; use HTTPS (api.cert_file and api.key_file) or set api.insecure_http = true on an isolated network");
    if (!token) return problem(403, "mutating endpoints are disabled: the config names no api.token_file");
    if (!bearerOk(c, token)) return problem(401, "a valid bearer token is required (Authorization: Bearer TOKEN)", {}, { "www-authenticate": 'Bearer realm="tandem"' });
    const length = Number(c.req.header("content-length") ?? "0");
    if (length > MAX_BODY_BYTES) return problem(413, `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  } else if (access.readToken && !OPEN_PATHS.has(hit.r.path) && !bearerOk(c, access.readToken) && !(token && bearerOk(c, token))) {
    return problem(401, "this endpoint needs the read token (Authorization: Bearer TOKEN, api.read_token_file)", {}, { "www-authenticate": 'Bearer realm="tandem"' });
  }
  return "handler" in hit.r ? (hit.r as RouteSpec).handler(c, hit.params) : forward(c);
});

/** The servers on abstract unix sockets, and the gate on the API's address in front of them. */
async function open(spec: ListenSpec): Promise<Listener> {
  const prefix = `\0tandem-api-${process.pid}-${randomUUID()}`;
  const servers: Server<undefined>[] = [];
  const serve = (name: string, peer: Peer) => {
    const unix = `${prefix}-${name}`;
    // Bun's types leave idleTimeout out of the unix socket's options, but Bun applies it there (a keep-alive connection is closed after it).
    const options = { unix, fetch: (req: Request) => app.fetch(req, peer), idleTimeout: IDLE_TIMEOUT_S, maxRequestBodySize: MAX_BODY_BYTES, ...(spec.tls ? { tls: spec.tls } : {}) };
    servers.push(Bun.serve(options as unknown as Parameters<typeof Bun.serve>[0]) as Server<undefined>);
    return unix;
  };
  try {
    const near = serve("loopback", { cleartext: false });
    const far = serve("network", { cleartext: spec.tls === null });
    const gate = createServer((client) => {
      const inner = connect(isLoopback(client.remoteAddress) ? near : far);
      const end = () => {
        client.destroy();
        inner.destroy();
      };
      for (const s of [client, inner]) s.on("error", end).on("close", end);
      client.pipe(inner).pipe(client);
    });
    gate.maxConnections = spec.maxConnections;
    await new Promise<void>((resolve, reject) => {
      gate.once("error", reject);
      gate.listen(spec.port, spec.hostname, () => {
        gate.off("error", reject);
        resolve();
      });
    });
    return { gate, servers };
  } catch (e) {
    for (const server of servers) server.stop(true);
    throw e;
  }
}

function close(l: Listener | null): void {
  if (!l) return;
  l.gate.close();
  for (const server of l.servers) server.stop(true);
}

/** A new address is bound before the old one is closed, so a failed bind leaves the API where it was. */
async function listen(id: number, spec: ListenSpec): Promise<void> {
  let next: Listener;
  try {
    next = await open(spec);
  } catch (e) {
    return post({ type: "listen-failed", id, error: (e as Error).message });
  }
  close(listener);
  listener = next;
  maxSseClients = spec.maxSseClients;
  const at = next.gate.address();
  post({ type: "listening", id, port: typeof at === "object" && at ? at.port : spec.port });
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "init":
      [version, dashboard, access, remote] = [m.version, m.dashboard, m.access, m.routes];
      for (const ev of m.history) history.publish(ev);
      return;
    case "listen":
      return void listen(m.id, m.spec);
    case "access":
      access = m.access;
      return;
    case "routes":
      remote = m.routes;
      return;
    case "events":
      for (const ev of m.events) history.publish(ev);
      post({ type: "events-ack" });
      return;
    case "status":
      return status.answer(m.body);
    case "metrics":
      return controlMetrics.answer(m.text);
    case "response":
      inFlight.get(m.id)?.(m.response);
      inFlight.delete(m.id);
      return;
    case "stop":
      close(listener);
      listener = null;
      return post({ type: "stopped" });
  }
};
