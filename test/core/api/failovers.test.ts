/**
 * GET /v1/failovers: the API worker runs the flight recorder on the events
 * the control thread sends it (those of its init history and those after)
 * and answers with the takeovers in the shape the dashboard reads.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { TandemEvent } from "../../../core/events.ts";
import { SETTLE_MS } from "../../../core/recorder.ts";
import { type RunningWorker, startWorker } from "./api-worker.ts";

const TOKEN = "failovers-read-token-0123";
let w: RunningWorker;
/** Long enough ago that the takeover has settled when the test asks. */
const T0 = Date.now() - 10 * SETTLE_MS;
const ev = (id: number, ms: number, type: string, data: Record<string, unknown>): TandemEvent => ({ id, at: T0 + ms, type, node: "bravo", data });

beforeAll(async () => {
  w = await startWorker({
    access: { readToken: TOKEN },
    history: [ev(1, 0, "heartbeat.quorum", { quorate: true, reason: "2 of 2 votes" }), ev(2, 300, "heartbeat.late", { peer: "alpha", silentMs: 300 })],
  });
});
afterAll(() => w.stop());

const get = () => fetch(`${w.base}/v1/failovers`, { headers: { authorization: `Bearer ${TOKEN}` } });

interface Body {
  failovers: Array<{ id: string; node: string; started: number; ended: number | null; steps: Array<{ at: number; kind: string; text: string; duration_ms?: number }> }>;
}

test("no takeover yet: an empty list; the read token is needed", async () => {
  expect((await fetch(`${w.base}/v1/failovers`)).status).toBe(401);
  const r = await get();
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("application/json");
  expect(await r.json()).toEqual({ failovers: [] });
});

test("a takeover from the events sent after init, with the late heartbeat from the init history; closed once settled", async () => {
  w.post({
    type: "events",
    events: [
      ev(3, 600, "heartbeat.peer", { peer: "alpha", status: "down", reason: "silent", silentMs: 600 }),
      ev(4, 610, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 5, message: "added 198.18.7.50/24 on eth0; announced (1 of 5)" }),
    ],
  });
  let body: Body = { failovers: [] };
  for (let i = 0; i < 100 && !body.failovers.length; i++) body = (await (await get()).json()) as Body;
  expect(body.failovers.length).toBe(1);
  const [f] = body.failovers;
  expect(f).toMatchObject({ id: "bravo-3", node: "bravo", started: T0, ended: T0 + 610 });
  expect(f!.steps.map((s) => s.kind)).toEqual(["peer-silent", "heartbeat-late", "peer-dead", "quorum", "resource-start", "address"]);
  expect(f!.steps[2]).toEqual({ at: T0 + 600, kind: "peer-dead", text: "alpha is dead: silent past deadtime", duration_ms: 600 });
});

test("the OpenAPI document describes the route and its shape", async () => {
  const doc = (await (await fetch(`${w.base}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, any>> };
  const schema = doc.paths["/v1/failovers"]!.get.responses["200"].content["application/json"].schema;
  expect(schema.required).toEqual(["failovers"]);
  expect(schema.properties.failovers.items.required).toEqual(["id", "node", "started", "ended", "steps"]);
  expect(schema.properties.failovers.items.properties.steps.items.properties.kind.enum).toContain("peer-dead");
});
