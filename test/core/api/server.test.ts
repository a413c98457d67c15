/**
 * The API module on the control thread with its real worker: events reach
 * the worker's history in order even when many come at once (past the
 * forwarding window), a module's route runs on this thread, its handler's
 * answer reaches the client, and a stopped module's route is gone.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Context } from "hono";
import { apiModule } from "../../../core/api/server.ts";
import { EVENT_HISTORY, EventBus } from "../../../core/events.ts";
import { Metrics } from "../../../core/metrics.ts";
import { createLogger } from "../../../core/log.ts";
import { Services } from "../../../core/cluster.ts";
import type { Config } from "../../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../../core/module.ts";
import type { RouteSpec } from "../../../core/api/routes.ts";
import { realClock } from "../../../core/time.ts";
import { cryptoRandom } from "../../../core/random.ts";

const events = new EventBus("solo", Date.now);
let moduleRunning = true;
const moduleRoute: RouteSpec = {
  method: "get",
  path: "/v1/mod/echo/{word}",
  summary: "echo",
  produces: "application/json",
  responses: { 200: "the word" },
  handler: (c: Context, p) => c.json({ word: p.word, for: c.req.query("for") ?? null, thread: Bun.isMainThread }),
};
const ctx = {
  node: { name: "solo", address: "127.0.0.1", roles: ["member"] },
  clock: realClock,
  random: cryptoRandom(),
  log: createLogger({ level: "silent" }),
  events,
  metrics: new Metrics(),
  runtime: { status: () => ({ node: "solo", phase: "running" }), reload: async () => ({ result: "unchanged", config: "x" }), routes: () => (moduleRunning ? [moduleRoute] : []) },
  services: new Services(),
  state: {},
} as unknown as ModuleContext;
const config = { nodes: [ctx.node], api: { port: 0, insecureHttp: false, hosts: [], maxConnections: 128, maxSseClients: 32 } } as unknown as Config;
let api: ModuleInstance;
let base = "";

beforeAll(async () => {
  events.emit("test.before", { n: 0 });
  api = apiModule("test", undefined, []).create(ctx);
  await api.start(config);
  base = String(api.status().url).replace(/\/$/, "");
});
afterAll(() => api.stop());

/** The ids /v1/events?since=SINCE sends, up to and with `last`. */
async function replayed(since: number, last: number): Promise<number[]> {
  const ctl = new AbortController();
  const res = await fetch(`${base}/v1/events?since=${since}`, { signal: ctl.signal });
  const reader = res.body!.getReader();
  let text = "";
  while (!text.includes(`\nid: ${last}\n`)) text += new TextDecoder().decode((await reader.read()).value);
  ctl.abort();
  return [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
}

test(`${EVENT_HISTORY * 3} events in one turn and then one at a time reach the worker in order: the last ${EVENT_HISTORY} replayed with ?since=0, no gap`, async () => {
  for (let n = 1; n <= EVENT_HISTORY * 3; n++) events.emit("test.burst", { n });
  // One at a time, each in a turn of its own: more messages than EVENT_BATCHES_IN_FLIGHT, so acks must release them.
  for (let n = 1; n <= 20; n++) {
    events.emit("test.trickle", { n });
    await Promise.resolve();
  }
  const last = 1 + EVENT_HISTORY * 3 + 20;
  await replayed(last - 1, last);
  expect(await replayed(0, last)).toEqual(Array.from({ length: EVENT_HISTORY }, (_, i) => last - EVENT_HISTORY + 1 + i));
});

test("a module's route runs on the control thread with its path parameters and query; status comes from the runtime", async () => {
  expect(await (await fetch(`${base}/v1/mod/echo/hello?for=5s`)).json()).toEqual({ word: "hello", for: "5s", thread: true });
  expect(await (await fetch(`${base}/v1/status`)).json()).toEqual({ node: "solo", phase: "running" });
});

test("once its module stops (an event tells the worker), the route answers 404", async () => {
  moduleRunning = false;
  events.emit("runtime.module", { module: "mod", state: "stopped" });
  const r = await fetch(`${base}/v1/mod/echo/hello`);
  expect(r.status).toBe(404);
  expect(r.headers.get("content-type")).toBe("application/problem+json");
});
