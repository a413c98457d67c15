/**
 * The embedded HTTP API (hono on Bun.serve), itself a module every node runs.
 * Routes: the runtime's own (health, status, events, metrics, reload, the
 * OpenAPI document, the dashboard) and those of the running modules under
 * /v1/<module>/. Mutating routes need the bearer token; every error is
 * application/problem+json.
 */
import { timingSafeEqual } from "node:crypto";
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Server } from "bun";
import type { Config, NodeConfig } from "../config/load.ts";
import type { ModuleContext, ModuleDef, ModuleInstance } from "../module.ts";
import { problem } from "./problem.ts";
import { matchPath, type RouteSpec } from "./routes.ts";
import { openapi } from "./openapi.ts";
import { dashboardHtml } from "./dashboard.ts";

/** SSE: a comment line this often keeps proxies and the idle timeout from closing the stream. */
export const SSE_KEEPALIVE_MS = 15_000;
/** SSE: events queued for one slow client before it is disconnected. */
export const SSE_CLIENT_QUEUE = 1000;
/** Bun.serve idle timeout for a connection (seconds). */
const IDLE_TIMEOUT_S = 60;
/** Largest request body the API reads. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Where the API listens: --api override, then api.bind, then the node's own address. */
export interface Listen {
  hostname: string;
  port: number;
}

export function listenAddress(config: Config, node: NodeConfig, override?: Listen): Listen {
  return override ?? { hostname: config.api.bind ?? node.address, port: config.api.port };
}

function bearerOk(c: Context, token: string): boolean {
  const header = c.req.header("authorization") ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function coreRoutes(ctx: ModuleContext, version: string, dashboard: string, all: () => RouteSpec[]): RouteSpec[] {
  return [
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
      responses: { 200: "status" },
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
      handler: (c) => c.json(ctx.runtime.status()),
    },
    {
      method: "get",
      path: "/v1/events",
      summary: "server-sent events: every state change as a message whose data is the event (id, at, type, node, data); Last-Event-ID or ?since=ID replays the history after that id",
      produces: "text/event-stream",
      responses: { 200: "an endless stream of events" },
      handler: (c) => events(c, ctx),
    },
    {
      method: "get",
      path: "/metrics",
      summary: "Prometheus metrics (text exposition format 0.0.4)",
      produces: "text/plain",
      responses: { 200: "metrics" },
      handler: () => new Response(ctx.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }),
    },
    {
      method: "post",
      path: "/v1/reload",
      summary: "re-read the config file: a valid one is applied module by module, an invalid one refused and the running config kept",
      mutating: true,
      produces: "application/json",
      responses: { 200: "the file is unchanged", 202: "accepted; being applied", 401: "no or wrong token", 403: "no token file configured", 422: "the new config is invalid; nothing changed" },
      handler: async (c) => {
        const out = await ctx.runtime.reload();
        if (out.result === "rejected") return problem(422, "the new config is invalid; the running config is kept", { problems: out.problems });
        return c.json(out, out.result === "accepted" ? 202 : 200);
      },
    },
    {
      method: "get",
      path: "/v1/openapi.json",
      summary: "this document",
      produces: "application/json",
      responses: { 200: "the OpenAPI 3.1 description of this API" },
      handler: (c) => c.json(openapi(all(), version)),
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
}

function events(c: Context, ctx: ModuleContext): Response {
  // Last-Event-ID (a reconnecting client) or ?since=ID replays the history after ID; neither: only new events.
  const after = c.req.header("last-event-id") ?? c.req.query("since");
  const lastId = after === undefined ? NaN : Number(after);
  return streamSSE(c, async (stream) => {
    const queue = Number.isInteger(lastId) && lastId >= 0 ? ctx.events.since(lastId) : [];
    let wake: () => void = () => {};
    let closed = false;
    const unsubscribe = ctx.events.subscribe((e) => {
      queue.push(e);
      // A client that cannot keep up is cut off rather than queued without bound.
      if (queue.length > SSE_CLIENT_QUEUE) closed = true;
      wake();
    });
    stream.onAbort(() => {
      closed = true;
      wake();
    });
    try {
      await stream.write(": tandem events\n\n");
      while (!closed) {
        const e = queue.shift();
        if (e) {
          await stream.writeSSE({ id: String(e.id), data: JSON.stringify(e) });
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
      unsubscribe();
    }
  });
}

export function buildApp(ctx: ModuleContext, config: () => Config, version: string, dashboard: string): Hono {
  const app = new Hono();
  const requests = ctx.metrics.counter("tandem_api_requests_total", "API requests by method and status code");
  let own: RouteSpec[] = [];
  const all = () => [...own, ...ctx.runtime.routes()];
  own = coreRoutes(ctx, version, dashboard, all);

  app.use(async (c, next) => {
    await next();
    requests.inc({ method: c.req.method, code: String(c.res.status) });
  });
  app.onError((err) => {
    ctx.log.error({ err: err.message }, "API handler failed");
    return problem(500, "the request failed inside the node; see its log");
  });
  app.all("*", async (c) => {
    const method = c.req.method === "HEAD" ? "get" : c.req.method.toLowerCase();
    const path = c.req.path;
    const matching = all().flatMap((r) => {
      const params = matchPath(r.path, path);
      return params ? [{ r, params }] : [];
    });
    const hit = matching.find(({ r }) => r.method === method);
    if (!hit) {
      if (matching.length) return problem(405, `${c.req.method} is not allowed on ${path}`, {}, { allow: matching.map(({ r }) => r.method.toUpperCase()).join(", ") });
      return problem(404, `no such endpoint: ${path}; see /v1/openapi.json`);
    }
    if (hit.r.mutating) {
      const token = config().api.token;
      if (!token) return problem(403, "mutating endpoints are disabled: the config names no api.token_file");
      if (!bearerOk(c, token)) return problem(401, "a valid bearer token is required (Authorization: Bearer TOKEN)", {}, { "www-authenticate": 'Bearer realm="tandem"' });
      const length = Number(c.req.header("content-length") ?? "0");
      if (length > MAX_BODY_BYTES) return problem(413, `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    }
    return hit.r.handler(c, hit.params);
  });
  return app;
}

class ApiServer implements ModuleInstance {
  private server: Server<undefined> | null = null;
  private listen: Listen | null = null;
  private config: Config | null = null;

  constructor(
    private readonly ctx: ModuleContext,
    private readonly override: Listen | undefined,
    private readonly version: string,
    private readonly dashboard: string,
  ) {}

  private serve(at: Listen): Server<undefined> {
    const app = buildApp(this.ctx, () => this.config!, this.version, this.dashboard);
    return Bun.serve({ hostname: at.hostname, port: at.port, fetch: app.fetch, idleTimeout: IDLE_TIMEOUT_S });
  }

  async start(config: Config): Promise<void> {
    const at = listenAddress(config, this.ctx.node, this.override);
    this.server = this.serve(at);
    [this.listen, this.config] = [at, config];
    this.ctx.log.info({ url: this.url() }, "API listening");
  }

  /** A new address is bound before the old one is closed, so a failed bind leaves the API where it was. */
  async reload(config: Config): Promise<void> {
    const at = listenAddress(config, this.ctx.node, this.override);
    if (at.hostname !== this.listen?.hostname || at.port !== this.listen.port) {
      const next = this.serve(at);
      this.server?.stop(true);
      [this.server, this.listen] = [next, at];
      this.ctx.log.info({ url: this.url() }, "API moved");
    }
    this.config = config;
  }

  async stop(): Promise<void> {
    this.server?.stop(true);
    this.server = null;
  }

  url(): string {
    return this.server && this.listen ? `http://${this.listen.hostname}:${this.server.port}/` : "";
  }

  status(): Record<string, unknown> {
    return { url: this.url(), auth: this.config?.api.token ? "token" : "read-only" };
  }
}

/** The API of a node running these modules (the dashboard shows their panels). */
export function apiModule(version: string, override: Listen | undefined, modules: readonly ModuleDef[]): ModuleDef {
  const dashboard = dashboardHtml(modules);
  return {
    name: "api",
    after: [],
    selected: () => true,
    section: (config, node) => ({ ...listenAddress(config, node, override), tokenFile: config.api.tokenFile ?? null }),
    create: (ctx) => new ApiServer(ctx, override, version, dashboard),
  };
}
