/**
 * The embedded HTTP API, itself a module every node runs. Its HTTP side (hono
 * on Bun.serve, the token check, the SSE streams, the dashboard) runs in a Bun
 * Worker (worker.ts) so that clients never share an event loop with the
 * heartbeat; this side, on the control thread, answers the worker's messages
 * (messages.ts): it forwards the events of each turn of its loop as one
 * message (at most EVENT_BATCHES_IN_FLIGHT unacknowledged), answers status and metrics requests, and runs the handlers
 * of the routes that live here (the reload, the modules' routes under
 * /v1/<module>/) on the requests the worker forwards.
 */
import { Hono } from "hono";
import type { Config, NodeConfig } from "../config/load.ts";
import type { ModuleContext, ModuleDef, ModuleInstance } from "../module.ts";
import { problem } from "./problem.ts";
import { matchPath, type RouteInfo, type RouteSpec } from "./routes.ts";
import { workerEntry } from "../threads.ts";
import { dashboardHtml } from "./dashboard.ts";
import { LAB_CONTROL_ENV, labRoutes } from "./lab.ts";
import { type Access, EVENT_BATCHES_IN_FLIGHT, type ListenSpec, type ForwardedRequest, type ForwardedResponse, type FromWorker, type ToWorker } from "./messages.ts";

/** After a stop request, how long the worker has to close its listener before it is terminated. */
const WORKER_STOP_MS = 1000;

/** Where the API listens: --api override, then api.bind, then the node's own address. */
export interface Listen {
  hostname: string;
  port: number;
}

export function listenAddress(config: Config, node: NodeConfig, override?: Listen): Listen {
  return override ?? { hostname: config.api.bind ?? node.address, port: config.api.port };
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** The tokens, and the names a Host header may give: every node's address, where the API listens, loopback and api.hosts. */
export function apiAccess(config: Config, at: Listen): Access {
  const hosts = [...config.nodes.map((n) => n.address), at.hostname.includes(":") ? `[${at.hostname}]` : at.hostname, ...LOOPBACK_NAMES, ...config.api.hosts];
  return { token: config.api.token ?? null, readToken: config.api.readToken ?? null, hosts: [...new Set(hosts.map((h) => h.toLowerCase()))], insecureHttp: config.api.insecureHttp };
}

function listenSpec(config: Config, at: Listen): ListenSpec {
  return { ...at, tls: config.api.tls ?? null, maxConnections: config.api.maxConnections, maxSseClients: config.api.maxSseClients };
}

function reloadRoute(ctx: ModuleContext): RouteSpec {
  return {
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
  };
}

const describe = ({ handler: _, ...info }: RouteSpec): RouteInfo => info;

class ApiServer implements ModuleInstance {
  private worker: Worker | null = null;
  private listen: ListenSpec | null = null;
  private port = 0;
  private config: Config | null = null;
  private readonly reloadSpec: RouteSpec;
  /** The lab's faults, when this node runs in a `tandem lab` (lab.ts). */
  private readonly labSpecs: RouteSpec[];
  /** The routes whose handlers run here, as the worker last heard of them. */
  private told = "";
  private unsubscribe: (() => void) | null = null;
  /** Events: the last id sent to the worker, the batches it has not acknowledged, and whether a flush is due. */
  private sent = 0;
  private unacked = 0;
  private flushing = false;
  private nextListen = 1;
  private readonly waiting = new Map<number, { resolve: (port: number) => void; reject: (e: Error) => void }>();
  private stopped: (() => void) | null = null;
  /** Runs the handlers of forwarded requests: a hono app with no server. */
  private readonly dispatch = new Hono();

  constructor(
    private readonly ctx: ModuleContext,
    private readonly override: Listen | undefined,
    private readonly version: string,
    /** The dashboard page, its panels those of the modules (dashboard.ts); served by the worker. */
    private readonly dashboard: string,
  ) {
    this.reloadSpec = reloadRoute(ctx);
    const labControl = process.env[LAB_CONTROL_ENV];
    this.labSpecs = labControl ? labRoutes(labControl) : [];
    this.dispatch.onError((err) => {
      ctx.log.error({ err: err.message }, "API handler failed");
      return problem(500, "the request failed inside the node; see its log");
    });
    this.dispatch.all("*", (c) => {
      const method = c.req.method.toLowerCase();
      for (const r of this.controlRoutes()) {
        const params = matchPath(r.path, c.req.path);
        if (params && r.method === method) return r.handler(c, params);
      }
      return problem(404, `no such endpoint: ${c.req.path} (its module stopped); see /v1/openapi.json`);
    });
  }

  private controlRoutes(): RouteSpec[] {
    return [this.reloadSpec, ...this.labSpecs, ...this.ctx.runtime.routes()];
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  async start(config: Config): Promise<void> {
    this.config = config;
    const worker = new Worker(workerEntry("core/api/worker.ts"));
    this.worker = worker;
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
    worker.onerror = (e) => {
      this.ctx.log.error({ err: e.message }, "API worker failed");
      for (const w of this.waiting.values()) w.reject(new Error(`the API worker failed: ${e.message}`));
      this.waiting.clear();
    };
    const history = this.ctx.events.since(0);
    this.sent = history.at(-1)?.id ?? 0;
    const routes = this.controlRoutes().map(describe);
    this.told = JSON.stringify(routes);
    const at = listenAddress(config, this.ctx.node, this.override);
    this.post({ type: "init", version: this.version, dashboard: this.dashboard, access: apiAccess(config, at), routes, history });
    this.unsubscribe = this.ctx.events.subscribe(() => {
      if (this.flushing) return;
      this.flushing = true;
      queueMicrotask(() => this.forward());
    });
    await this.bind(listenSpec(config, at));
    this.ctx.log.info({ url: this.url() }, "API listening");
  }

  /** The worker binds a new address before it closes the old one, so a failed bind leaves the API where it was. */
  async reload(config: Config): Promise<void> {
    const at = listenAddress(config, this.ctx.node, this.override);
    const spec = listenSpec(config, at);
    if (JSON.stringify(spec) !== JSON.stringify(this.listen)) {
      await this.bind(spec);
      this.ctx.log.info({ url: this.url() }, "API moved");
    }
    this.config = config;
    this.post({ type: "access", access: apiAccess(config, at) });
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, WORKER_STOP_MS);
      this.stopped = () => {
        clearTimeout(timer);
        resolve();
      };
      this.post({ type: "stop" });
    });
    worker.terminate();
    this.worker = null;
    this.listen = null;
  }

  url(): string {
    return this.worker && this.listen ? `${this.listen.tls ? "https" : "http"}://${this.listen.hostname}:${this.port}/` : "";
  }

  status(): Record<string, unknown> {
    return { url: this.url(), auth: this.config?.api.token ? "token" : "read-only", read: this.config?.api.readToken ? "token" : "open" };
  }

  private bind(at: ListenSpec): Promise<void> {
    const id = this.nextListen++;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.post({ type: "listen", id, spec: at });
    }).then((port) => {
      [this.listen, this.port] = [at, port];
    });
  }

  /** Sends, as one message, the events the worker has not had (those still in the bus's ring), unless too many messages wait for its ack. */
  private forward(): void {
    this.flushing = false;
    if (this.unacked >= EVENT_BATCHES_IN_FLIGHT) return;
    const batch = this.ctx.events.since(this.sent);
    if (!batch.length) return;
    this.sent = batch.at(-1)!.id;
    this.unacked++;
    this.post({ type: "events", events: batch });
    // A module that started or stopped changes the routes; the worker must know them before a client asks.
    const routes = this.controlRoutes().map(describe);
    const key = JSON.stringify(routes);
    if (key !== this.told) {
      this.told = key;
      this.post({ type: "routes", routes });
    }
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case "listening":
      case "listen-failed": {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.type === "listening") w?.resolve(m.port);
        else w?.reject(new Error(m.error));
        return;
      }
      case "events-ack":
        this.unacked--;
        return this.forward();
      case "status-request":
        return this.post({ type: "status", body: this.ctx.runtime.status() });
      case "metrics-request":
        return this.post({ type: "metrics", text: this.ctx.metrics.render() });
      case "request":
        return void this.handle(m.request).then((response) => this.post({ type: "response", id: m.id, response }));
      case "stopped":
        return this.stopped?.();
      case "log":
        return this.ctx.log[m.level](m.data, m.msg);
    }
  }

  private async handle(r: ForwardedRequest): Promise<ForwardedResponse> {
    const res = await this.dispatch.fetch(new Request(`http://api${r.url}`, { method: r.method, headers: r.headers, body: r.body === "" ? undefined : r.body }));
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  }
}

/** The API of a node running these modules (the dashboard shows their panels). */
export function apiModule(version: string, override: Listen | undefined, modules: readonly ModuleDef[]): ModuleDef {
  const dashboard = dashboardHtml(modules);
  return {
    name: "api",
    after: [],
    selected: () => true,
    section: (config, node) => ({ ...listenSpec(config, listenAddress(config, node, override)), tokenFile: config.api.tokenFile ?? null, readTokenFile: config.api.readTokenFile ?? null, hosts: config.api.hosts }),
    create: (ctx) => new ApiServer(ctx, override, version, dashboard),
  };
}
