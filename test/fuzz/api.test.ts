/**
 * API fuzzing: random methods, paths (with broken percent-escapes), queries,
 * headers and bodies against a running API worker on loopback. Every answer
 * is an HTTP status, every error a problem+json whose status is the
 * response's, and the worker still answers /healthz after. FUZZ_RUNS sets the
 * number of inputs (10^4 by default).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import type { RouteInfo } from "../../core/api/routes.ts";
import { startWorker, type RunningWorker } from "../core/api/api-worker.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const TOKEN = "fuzz-token-0123456789";
let w: RunningWorker;

beforeAll(async () => {
  const routes: RouteInfo[] = [
    { method: "post" as const, path: "/v1/mod/act/{name}", summary: "a module's action", mutating: true, produces: "application/json" as const, responses: { 202: "accepted" } },
    { method: "get" as const, path: "/v1/mod/", summary: "a module's status", produces: "application/json" as const, responses: { 200: "status" } },
  ];
  w = await startWorker({ access: { token: TOKEN }, routes, control: true });
});
afterAll(() => w.stop());

const segment = fc.oneof(
  fc.constantFrom("v1", "status", "events", "metrics", "healthz", "openapi.json", "mod", "act", "reload", "resources", "..", ".", ""),
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{0,12}$/),
  fc.stringMatching(/^(%[0-9A-Fa-f]{0,2}|%[G-Zg-z][0-9]?|[a-z]){1,6}$/),
);
const path = fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join("/")}`);
const query = fc.option(fc.array(fc.tuple(fc.constantFrom("since", "for", "x", "%", "a%2"), fc.stringMatching(/^([A-Za-z0-9]|%[0-9A-Fa-f]{0,2}|%zz){0,6}$/)), { maxLength: 3 }).map((q) => `?${q.map(([k, v]) => `${k}=${v}`).join("&")}`), { nil: "" });
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,40}$/).map((v) => v.trim());
const headers = fc.dictionary(fc.constantFrom("authorization", "content-type", "accept", "last-event-id", "x-fuzz", "host", "content-language"), headerValue, { maxKeys: 4 });
const auth = fc.constantFrom<Record<string, string>>({}, { authorization: `Bearer ${TOKEN}` });
const method = fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS");
const body = fc.option(fc.string({ maxLength: 200 }), { nil: undefined });

test(`random requests (${RUNS}): a valid status, problem+json for every error, no crash`, async () => {
  await fc.assert(
    fc.asyncProperty(method, path, query, headers, auth, body, async (m, p, q, h, a, b) => {
      const res = await fetch(`${w.base}${p}${q}`, { method: m, headers: { ...h, ...a }, body: m === "GET" || m === "HEAD" ? undefined : b, signal: AbortSignal.timeout(6000) });
      expect(res.status).toBeGreaterThanOrEqual(200);
      expect(res.status).toBeLessThan(600);
      if (res.headers.get("content-type") === "text/event-stream") return void (await res.body?.cancel());
      const text = await res.text();
      if (res.status >= 400 && m !== "HEAD") {
        expect(res.headers.get("content-type")).toBe("application/problem+json");
        expect((JSON.parse(text) as { status: number }).status).toBe(res.status);
      }
    }),
    { numRuns: RUNS },
  );
  expect((await fetch(`${w.base}/healthz`)).status).toBe(200);
  expect(w.received.filter((m) => m.type === "log")).toEqual([]);
}, 600_000);
