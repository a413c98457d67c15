/**
 * The API worker driven as the control thread drives it, by messages: what
 * reaches the control thread under many callers is bounded.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { MAX_CONNECTIONS, MAX_ROUTES_IN_FLIGHT, MAX_SSE_CLIENTS, RETRY_AFTER_S, type FromWorker, type ToWorker } from "../../../core/api/messages.ts";
import type { TandemEvent } from "../../../core/events.ts";

const TOKEN = "worker-token-0123456789";
const worker = new Worker(new URL("../../../core/api/worker.ts", import.meta.url).href);
const received: FromWorker[] = [];
const post = (m: ToWorker) => worker.postMessage(m);
let base = "";

const event = (id: number): TandemEvent => ({ id, at: 0, type: "test.event", node: "solo", data: { n: id } });

beforeAll(async () => {
  const listening = new Promise<number>((resolve) => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      received.push(e.data);
      if (e.data.type === "listening") resolve(e.data.port);
    };
  });
  const routes = [{ method: "post" as const, path: "/v1/mod/act/{name}", summary: "a module's action", mutating: true, produces: "application/json" as const, responses: { 202: "accepted" } }];
  post({ type: "init", version: "test", dashboard: "<!doctype html><title>test</title>", access: { token: TOKEN, readToken: null, hosts: ["127.0.0.1"], insecureHttp: false }, routes, history: [event(1), event(2)] });
  post({ type: "listen", id: 1, spec: { hostname: "127.0.0.1", port: 0, tls: null, maxConnections: MAX_CONNECTIONS, maxSseClients: MAX_SSE_CLIENTS } });
  base = `http://127.0.0.1:${await listening}`;
});
afterAll(() => worker.terminate());

const count = (type: FromWorker["type"]) => received.filter((m) => m.type === type).length;
const until = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 500 && !ok(); i++) await Bun.sleep(5);
  if (!ok()) throw new Error(`${what} did not happen`);
};

test("module requests past MAX_ROUTES_IN_FLIGHT are answered 503 by the worker, the others reach the control thread once each", async () => {
  const callers = MAX_ROUTES_IN_FLIGHT + 8;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const answers = Array.from({ length: callers }, (_, i) => fetch(`${base}/v1/mod/act/x${i}?for=1s`, { method: "POST", headers: auth, body: "{}" }));
  await until("the forwarded requests", () => count("request") === MAX_ROUTES_IN_FLIGHT);
  const busy = (await Promise.all(answers.map((a) => Promise.race([a, Bun.sleep(300).then(() => null)])))).filter((r) => r !== null) as Response[];
  expect(busy.length).toBe(callers - MAX_ROUTES_IN_FLIGHT);
  for (const r of busy) {
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe(String(RETRY_AFTER_S));
    expect(r.headers.get("content-type")).toBe("application/problem+json");
  }
  expect(count("request")).toBe(MAX_ROUTES_IN_FLIGHT);
  for (const m of received) {
    if (m.type !== "request") continue;
    expect(m.request).toMatchObject({ method: "POST", body: "{}" });
    expect(m.request.url).toMatch(/^\/v1\/mod\/act\/x\d+\?for=1s$/);
    post({ type: "response", id: m.id, response: { status: 202, headers: { "content-type": "application/json" }, body: '{"ok":true}' } });
  }
  const done = (await Promise.all(answers)).filter((r) => r.status === 202);
  expect(done.length).toBe(MAX_ROUTES_IN_FLIGHT);
  expect(await done[0]!.json()).toEqual({ ok: true });
  // A wrong token never reaches the control thread.
  expect((await fetch(`${base}/v1/mod/act/y`, { method: "POST" })).status).toBe(401);
  expect(count("request")).toBe(MAX_ROUTES_IN_FLIGHT);
});

test("many status callers share the control thread's answers: one request in flight, the callers that came meanwhile wait for the next", async () => {
  const before = count("status-request");
  const answers = Array.from({ length: MAX_CONNECTIONS / 2 }, () => fetch(`${base}/v1/status`));
  await until("the first status request", () => count("status-request") === before + 1);
  await Bun.sleep(50);
  expect(count("status-request")).toBe(before + 1);
  post({ type: "status", body: { node: "solo", n: 1 } });
  await until("the second status request", () => count("status-request") === before + 2);
  post({ type: "status", body: { node: "solo", n: 2 } });
  const bodies = (await Promise.all(answers.map(async (a) => (await a).json()))) as Array<{ n: number }>;
  expect(bodies.every((b) => b.n === 1 || b.n === 2)).toBe(true);
  await Bun.sleep(50);
  expect(count("status-request")).toBe(before + 2);
});

test("events are acknowledged per message and replayed from the worker's own history with ?since", async () => {
  post({ type: "events", events: [event(3)] });
  post({ type: "events", events: [event(4)] });
  await until("the acks", () => count("events-ack") === 2);
  const ctl = new AbortController();
  const res = await fetch(`${base}/v1/events?since=1`, { signal: ctl.signal });
  const reader = res.body!.getReader();
  let text = "";
  while (!text.includes('"id":4')) text += new TextDecoder().decode((await reader.read()).value);
  ctl.abort();
  expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([2, 3, 4]);
});
