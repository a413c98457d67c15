/**
 * The API worker under hostile clients, on loopback: a connection flood is
 * held to the limit and the worker answers a fresh client after it; a client
 * sending its headers or body a byte at a time is cut off; malformed
 * percent-escapes get 400 with no log line; event streams are bounded in
 * number and a stream that does not read is dropped; a Host header naming
 * another name is refused (DNS rebinding); the read token guards reading
 * routes; HTTPS from certificate files.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { BODY_TIMEOUT_MS, HEADER_TIMEOUT_S } from "../../../core/api/messages.ts";
import { SSE_CLIENT_QUEUE } from "../../../core/api/worker.ts";
import { event, selfSigned, startWorker, type RunningWorker } from "./api-worker.ts";

const TOKEN = "limits-token-0123456789";
const READ = "limits-read-token-0123456789";
const CONNECTIONS = 20;
const SSE = 3;
let w: RunningWorker;

beforeAll(async () => {
  const routes = [{ method: "post" as const, path: "/v1/mod/act", summary: "a module's action", mutating: true, produces: "application/json" as const, responses: { 202: "accepted" } }];
  w = await startWorker({ access: { token: TOKEN, readToken: READ }, listen: { maxConnections: CONNECTIONS, maxSseClients: SSE }, routes });
});
afterAll(() => w.stop());

const auth = (t: string) => ({ authorization: `Bearer ${t}` });

/** A raw connection and a promise of the ms until the server closed it (null: still open at `within`). */
function raw(port: number, within: number): { sock: Socket; closed: Promise<number | null> } {
  const sock = connect(port, "127.0.0.1");
  const t0 = performance.now();
  sock.on("error", () => {});
  const closed = new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), within);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
  });
  return { sock, closed };
}

test("a connection flood is held to max_connections, and the worker answers a fresh client after it", async () => {
  const flood = Array.from({ length: 300 }, () => raw(w.port, 1500));
  const open = (await Promise.all(flood.map((f) => f.closed))).filter((t) => t === null).length;
  expect(open).toBeLessThanOrEqual(CONNECTIONS);
  expect(open).toBeGreaterThan(0);
  for (const f of flood) f.sock.destroy();
  await Bun.sleep(100);
  const res = await fetch(`${w.base}/healthz`);
  expect(res.status).toBe(200);
  expect(w.received.filter((m) => m.type === "log")).toEqual([]);
});

test("a client sending its headers, or its body, a byte at a time is cut off", async () => {
  const head = raw(w.port, (HEADER_TIMEOUT_S + 5) * 1000);
  const body = raw(w.port, BODY_TIMEOUT_MS + 5000);
  body.sock.write(`POST /v1/mod/act HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 1000\r\n\r\n`);
  const headers = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${"a".repeat(100)}`;
  const drip = setInterval(() => {
    head.sock.write(headers[Math.floor(performance.now() / 500) % headers.length]!);
    body.sock.write("a");
  }, 500);
  const [headMs, bodyMs] = await Promise.all([head.closed, body.closed]);
  clearInterval(drip);
  expect(headMs).not.toBeNull();
  expect(headMs!).toBeLessThan((HEADER_TIMEOUT_S + 5) * 1000);
  expect(bodyMs).not.toBeNull();
  expect(bodyMs!).toBeLessThan(BODY_TIMEOUT_MS + 5000);
  expect(w.received.filter((m) => m.type === "request")).toEqual([]);
}, 30_000);

test("malformed percent-escapes in the path or the query get 400 problem+json and no log line", async () => {
  for (const path of ["/v1/%E0%A4%A", "/v1/status/%zz", "/healthz?x=%", "/v1/events?since=%ff%fe", "/v1/mod/%C0%AF"]) {
    const res = await fetch(`${w.base}${path}`, { headers: auth(READ) });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(((await res.json()) as { status: number }).status).toBe(400);
  }
  expect(w.received.filter((m) => m.type === "log")).toEqual([]);
});

test("event streams are bounded in number, and a stream whose client does not read is dropped", async () => {
  const ctl = new AbortController();
  const streams = await Promise.all(Array.from({ length: SSE }, () => fetch(`${w.base}/v1/events`, { headers: auth(READ), signal: ctl.signal })));
  expect(streams.map((r) => r.status)).toEqual(Array(SSE).fill(200));
  const over = await fetch(`${w.base}/v1/events`, { headers: auth(READ) });
  expect(over.status).toBe(503);
  expect(over.headers.get("content-type")).toBe("application/problem+json");
  ctl.abort();
  await Bun.sleep(100);

  const stalled = raw(w.port, 10_000);
  stalled.sock.write(`GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${READ}\r\nConnection: close\r\n\r\n`);
  stalled.sock.pause();
  await Bun.sleep(100);
  for (let i = 0; i < 4; i++) w.post({ type: "events", events: Array.from({ length: SSE_CLIENT_QUEUE }, (_, j) => event(10_000 + i * SSE_CLIENT_QUEUE + j, 4096)) });
  await Bun.sleep(1000);
  let bytes = 0;
  stalled.sock.on("data", (d: Buffer) => (bytes += d.length));
  stalled.sock.resume();
  expect(await stalled.closed).not.toBeNull();
  expect(bytes).toBeLessThan(4 * SSE_CLIENT_QUEUE * 4096);
  // The stream's place is free again.
  const again = await fetch(`${w.base}/v1/events`, { method: "HEAD", headers: auth(READ) });
  expect(again.status).toBe(200);
}, 20_000);

test("a Host header naming another name is refused with 421 (DNS rebinding); the node's names are accepted", async () => {
  const ask = (host: string) =>
    new Promise<string>((resolve) => {
      const s = connect(w.port, "127.0.0.1");
      let text = "";
      s.on("data", (d) => (text += d));
      s.on("close", () => resolve(text));
      s.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
  for (const evil of ["evil.example", "evil.example:9480", "127.0.0.1.evil.example"]) {
    const text = await ask(evil);
    expect(text).toStartWith("HTTP/1.1 421");
    expect(text).toContain("application/problem+json");
  }
  for (const good of ["127.0.0.1", `127.0.0.1:${w.port}`, "localhost", "LOCALHOST:1"]) expect(await ask(good)).toStartWith("HTTP/1.1 200");
});

test("the read token guards status, events and metrics; /healthz stays open; the write token reads too", async () => {
  for (const path of ["/v1/status", "/v1/events", "/metrics"]) {
    const res = await fetch(`${w.base}${path}`, { method: path === "/v1/events" ? "HEAD" : "GET" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
  }
  expect((await fetch(`${w.base}/v1/events`, { method: "HEAD", headers: auth("wrong-token-0123456789") })).status).toBe(401);
  expect((await fetch(`${w.base}/v1/events`, { method: "HEAD", headers: auth(READ) })).status).toBe(200);
  expect((await fetch(`${w.base}/v1/events`, { method: "HEAD", headers: auth(TOKEN) })).status).toBe(200);
  expect((await fetch(`${w.base}/healthz`)).status).toBe(200);
  expect((await fetch(`${w.base}/v1/openapi.json`)).status).toBe(200);
});

test("HTTPS from certificate files: a client with the CA gets answers, one without is refused", async () => {
  const cert = selfSigned();
  const tls = await startWorker({ listen: { tls: cert } });
  try {
    expect(tls.base).toStartWith("https://");
    const ok = await fetch(`${tls.base}/healthz`, { tls: { ca: cert.cert } });
    expect(await ok.text()).toBe("ok\n");
    expect(fetch(`${tls.base}/healthz`)).rejects.toThrow();
  } finally {
    tls.stop();
  }
});
