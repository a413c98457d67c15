/**
 * The access log: sampled by the worker's random, one pino-shaped JSON line a
 * request, batched into writes of whole lines of at most WRITE_BYTES, at most
 * HOLD_BYTES held while the sink is slow (the rest dropped and counted). The
 * data path runs in this thread with a sink that keeps what it is given; the
 * real worker's stdout is test/cmd/proxy-access-log.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { seededRandom } from "../../../../core/random.ts";
import { DataPath } from "../../../../modules/proxy/datapath/datapath.ts";
import { AccessLog, HOLD_BYTES, WRITE_BYTES } from "../../../../modules/proxy/datapath/access.ts";
import { BATCH_MS, type FromWorker } from "../../../../modules/proxy/messages.ts";
import { errorAnswer } from "../../../../modules/proxy/datapath/http.ts";
import { httpBackend, ports, rawClient, rawExchange, workerConfig, type BackendSpec, type FrontendSpec } from "./harness.ts";
import { waitFor } from "../../../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A data path on 127.0.0.1 with `access_log = share`, its random seeded, its lines kept (and each write's text). */
async function logged(share: number, backends: BackendSpec[], fe: Partial<FrontendSpec> = {}) {
  const [front] = await ports(1);
  const writes: string[] = [];
  const posted: FromWorker[] = [];
  const dp = new DataPath((m) => posted.push(m), seededRandom(13), (text, done) => {
    writes.push(text);
    done();
  });
  cleanups.push(() => dp.stop(200));
  dp.configure(workerConfig([{ name: "fe", bind: [`127.0.0.1:${front}`], default_backend: backends[0]!.name, ...fe }], backends, { access_log: share }), { index: 0, count: 1 }, "alpha");
  const lines = () => writes.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { dp, front: front!, url: `http://127.0.0.1:${front}`, writes, lines };
}

async function backend(name: string, opts: Parameters<typeof httpBackend>[2] = {}) {
  const [port] = await ports(1);
  const b = httpBackend(name, port!, opts);
  cleanups.push(b.stop);
  return { ...b, port: port! };
}

describe("access_log", () => {
  test("1: a line a request, in the node's pino shape, with the exchange's fields; written within a batch period", async () => {
    const a = await backend("a", { answer: (seen) => ({ status: seen.target === "/missing" ? 404 : 200, body: "x".repeat(100) }) });
    const { url, lines, writes } = await logged(1, [{ name: "be", servers: [{ port: a.port }] }]);
    const t0 = Date.now();
    for (const path of ["/one?q=1", "/missing"]) expect((await fetch(`${url}${path}`)).status).toBeGreaterThan(0);
    const post = await fetch(`${url}/form`, { method: "POST", body: "abc" });
    expect(post.status).toBe(200);
    await waitFor("three lines", () => (lines().length === 3 ? true : undefined), 10 * BATCH_MS);
    expect(writes.length).toBeLessThanOrEqual(3);
    const [one, missing, form] = lines();
    expect(Object.keys(one!)).toEqual(["level", "time", "node", "event", "frontend", "backend", "server", "client", "method", "target", "version", "status", "bytes", "ms", "msg"]);
    expect(one).toMatchObject({ level: 30, node: "alpha", event: "proxy.access", frontend: "fe", backend: "be", server: `svc/127.0.0.1:${a.port}`, method: "GET", target: "/one?q=1", version: "HTTP/1.1", status: 200, msg: "proxy.access" });
    expect(one!.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(one!.time as number).toBeGreaterThanOrEqual(t0);
    expect(one!.ms as number).toBeGreaterThanOrEqual(0);
    expect(one!.ms as number).toBeLessThan(5000);
    // The head as the client got it and the 100-byte body.
    expect(one!.bytes as number).toBeGreaterThan(100);
    expect(one!.bytes as number).toBeLessThan(300);
    expect(missing).toMatchObject({ status: 404, target: "/missing" });
    expect(form).toMatchObject({ method: "POST", status: 200 });
    expect(one!.termination).toBeUndefined();
  });

  test("the proxy's own answers say why: 503 connect_failed, 502 bad_response, 504 server_timeout, 408 request_timeout, 400 bad_request; a client that leaves: client_abort", async () => {
    const [dead] = await ports(1);
    const slow = await backend("slow", { answer: () => ({ delayMs: 1000 }) });
    const garbage = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s) => void s.write("NOT HTTP\r\n\r\n") } });
    cleanups.push(() => garbage.stop(true));
    const names = ["dead", "garbage", "slow", "hold"];
    const { front, lines } = await logged(
      1,
      [
        { name: "dead", servers: [{ port: dead! }], retries: 0 },
        { name: "garbage", servers: [{ port: garbage.port }] },
        { name: "slow", servers: [{ port: slow.port }], server_timeout: "200ms" },
        { name: "hold", servers: [{ port: slow.port }] },
      ],
      { request_timeout: "200ms", rule: names.map((n) => ({ backend: n, host: [n] })) },
    );
    const ask = (host: string) => rawExchange(front, `GET /${host} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    expect(await ask("dead")).toStartWith("HTTP/1.1 503");
    expect(await ask("garbage")).toStartWith("HTTP/1.1 502");
    expect(await ask("slow")).toStartWith("HTTP/1.1 504");
    expect(await rawExchange(front, "GET / HTTP/1.1\r\nHo")).toStartWith("HTTP/1.1 408");
    expect(await rawExchange(front, "GET / HTTP/1.1\r\n\r\n")).toStartWith("HTTP/1.1 400");
    const leaving = await rawClient(front);
    leaving.socket.write("GET /hold HTTP/1.1\r\nHost: hold\r\n\r\n");
    await waitFor("the request at the server", () => (slow.seen.some((s) => s.target === "/hold") ? true : undefined));
    leaving.socket.terminate();
    await waitFor("six lines", () => (lines().length === 6 ? true : undefined));
    const pick = (l: Record<string, unknown>) => ({ backend: l.backend, target: l.target, status: l.status, termination: l.termination });
    expect(lines().map(pick)).toEqual([
      { backend: "dead", target: "/dead", status: 503, termination: "connect_failed" },
      { backend: "garbage", target: "/garbage", status: 502, termination: "bad_response" },
      { backend: "slow", target: "/slow", status: 504, termination: "server_timeout" },
      { backend: null, target: null, status: 408, termination: "request_timeout" },
      { backend: null, target: null, status: 400, termination: "bad_request" },
      { backend: "hold", target: "/hold", status: null, termination: "client_abort" },
    ]);
    const answered = lines()[0]!;
    expect(answered.bytes).toBe(errorAnswer(503).length);
  });
});

describe("sampling", () => {
  test("0: no line at all", async () => {
    const a = await backend("a");
    const { url, lines, writes } = await logged(0, [{ name: "be", servers: [{ port: a.port }] }]);
    for (let i = 0; i < 20; i++) expect((await fetch(`${url}/${i}`)).status).toBe(200);
    await Bun.sleep(3 * BATCH_MS);
    expect(a.seen).toHaveLength(20);
    expect(lines()).toEqual([]);
    expect(writes).toEqual([]);
  });

  test("0.5 over 400 requests: 200 ± 40 lines (four standard deviations of Binomial(400, 0.5)), each request logged at most once", async () => {
    const a = await backend("a");
    const { url, lines } = await logged(0.5, [{ name: "be", servers: [{ port: a.port }] }]);
    for (let i = 0; i < 400; i++) expect((await fetch(`${url}/${i}`)).status).toBe(200);
    await Bun.sleep(3 * BATCH_MS);
    const targets = lines().map((l) => l.target);
    expect(new Set(targets).size).toBe(targets.length);
    expect(targets.length).toBeGreaterThanOrEqual(160);
    expect(targets.length).toBeLessThanOrEqual(240);
  });
});

describe("batching and the bound", () => {
  const exchange = { backend: { def: { name: "be" } }, server: { key: "svc/198.18.0.1:80" }, req: { method: "GET", target: "/x", version: "1.1" }, startedAt: performance.now(), bytesOut: 10 };
  const peer = { address: "::ffff:198.18.0.7", port: 40000, localAddress: "198.18.0.1", localPort: 80 };

  test("writes are whole lines of at most WRITE_BYTES, one in flight at a time; a slow sink holds at most HOLD_BYTES and the rest are dropped and counted", () => {
    const pending: { text: string; done: () => void }[] = [];
    const log = new AccessLog(seededRandom(1), (text, done) => void pending.push({ text, done }));
    log.configure(1, "alpha");
    const n = Math.ceil((2 * HOLD_BYTES) / 200);
    for (let i = 0; i < n; i++) log.add("fe", peer, exchange, 200, 10);
    // The first WRITE_BYTES went at once; nothing else until it ends.
    expect(pending).toHaveLength(1);
    expect(log.dropped).toBeGreaterThan(0);
    const lineBytes = pending[0]!.text.indexOf("\n") + 1;
    let written = 0;
    let heldBytes = -pending[0]!.text.length;
    // The writes that follow each other while WRITE_BYTES are held, then the housekeeping's flush of the rest.
    for (const flush of [false, true]) {
      if (flush) log.flush();
      while (pending.length) {
        const w = pending.shift()!;
        expect(w.text.length).toBeLessThanOrEqual(WRITE_BYTES);
        expect(w.text.endsWith("\n")).toBe(true);
        for (const l of w.text.trimEnd().split("\n")) expect(JSON.parse(l)).toMatchObject({ client: "198.18.0.7:40000", node: "alpha" });
        written += w.text.split("\n").length - 1;
        heldBytes += w.text.length;
        w.done();
      }
    }
    expect(written + log.dropped).toBe(n);
    // What waited behind the first write: up to the bound, less than a line short of it.
    expect(heldBytes).toBeLessThanOrEqual(HOLD_BYTES);
    expect(heldBytes).toBeGreaterThan(HOLD_BYTES - lineBytes - 8);
  });

  test("below WRITE_BYTES nothing is written until the flush (the worker's housekeeping every BATCH_MS)", () => {
    const texts: string[] = [];
    const log = new AccessLog(seededRandom(1), (text, done) => (texts.push(text), done()));
    log.configure(1, undefined);
    log.add("fe", { ...peer, address: "2001:db8::7" }, exchange, 200, 10);
    log.add("fe", peer, null, 400, 90, "bad_request");
    expect(texts).toEqual([]);
    log.flush();
    expect(texts).toHaveLength(1);
    const [v6, bad] = texts[0]!.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(v6!.client).toBe("[2001:db8::7]:40000");
    expect("node" in v6!).toBe(false);
    expect(bad).toMatchObject({ backend: null, server: null, method: null, target: null, version: null, status: 400, bytes: 90, ms: null, termination: "bad_request" });
  });

  test("the worker's stats carry the dropped count", async () => {
    const { dp } = await logged(1, [{ name: "be", servers: [] }]);
    dp.accessLog.dropped = 3;
    expect(dp.stats().accessLogDropped).toBe(3);
  });
});
