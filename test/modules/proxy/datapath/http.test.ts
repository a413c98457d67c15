/** http mode end to end: real clients, the data path in this thread, HTTP backends on 127.0.0.1 that count their connections. */
import { afterEach, describe, expect, test } from "bun:test";
import { blackHole, httpBackend, httpProxy, ports, rawClient, rawExchange } from "./harness.ts";
import { waitFor } from "../../../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backends(...names: string[]) {
  const ps = await ports(names.length);
  return names.map((n, i) => {
    const b = httpBackend(n, ps[i]!);
    cleanups.push(b.stop);
    return { ...b, port: ps[i]! };
  });
}

async function proxy(...args: Parameters<typeof httpProxy>) {
  const p = await httpProxy(...args);
  cleanups.push(() => p.dp.stop(200));
  return p;
}

describe("http mode", () => {
  test("served: the first answer a server gave a client, said once a thread with its frontend, backend, server, client, status and time", async () => {
    const [a] = await backends("a");
    const { url, posted } = await proxy([{ name: "be", servers: [{ port: a!.port }] }]);
    expect(posted.filter((m) => m.type === "served")).toEqual([]);
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/n/${i}`)).status).toBe(200);
    const served = posted.filter((m) => m.type === "served");
    expect(served).toEqual([{ type: "served", frontend: "fe", backend: "be", server: `svc/127.0.0.1:${a!.port}`, client: expect.stringMatching(/^127\.0\.0\.1:\d+$/), status: 200, at: expect.any(Number) }]);
    expect((served[0] as { at: number }).at).toBeGreaterThanOrEqual(t0);
  });

  test("keep-alive on both sides: 50 requests over one client connection use one server connection; X-Forwarded-For is added", async () => {
    const [a] = await backends("a");
    const { url } = await proxy([{ name: "be", servers: [{ port: a!.port }] }]);
    for (let i = 0; i < 50; i++) {
      const r = await fetch(`${url}/n/${i}`);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ server: "a", target: `/n/${i}` });
    }
    expect(a!.connections()).toBe(1);
    expect(a!.seen).toHaveLength(50);
    expect(a!.seen[0]!.headers).toContainEqual(["X-Forwarded-For", "127.0.0.1"]);
    expect(a!.seen[0]!.headers).toContainEqual(["X-Forwarded-Proto", "http"]);
  });

  test("concurrent clients share the pool: 8 clients x 20 requests open at most 8 server connections", async () => {
    const [a] = await backends("a");
    const { url } = await proxy([{ name: "be", servers: [{ port: a!.port }] }]);
    await Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; i < 20; i++) expect((await fetch(`${url}/c${c}/${i}`)).status).toBe(200);
      }),
    );
    expect(a!.seen).toHaveLength(160);
    expect(a!.connections()).toBeLessThanOrEqual(8);
  });

  test("request and response bodies stream through (a 4 MiB POST echoed by length; a chunked answer)", async () => {
    const [port] = await ports(1);
    const srv = Bun.serve({
      hostname: "127.0.0.1",
      port: port!,
      async fetch(req) {
        if (req.method === "POST") return new Response(String((await req.arrayBuffer()).byteLength));
        return new Response(
          new ReadableStream({
            start(c) {
              for (let i = 0; i < 100; i++) c.enqueue(new TextEncoder().encode(`line ${i}\n`));
              c.close();
            },
          }),
        );
      },
    });
    cleanups.push(() => srv.stop(true));
    const { url } = await proxy([{ name: "be", servers: [{ port: port! }] }]);
    const big = new Uint8Array(4 * 1024 * 1024).fill(7);
    expect(await (await fetch(`${url}/up`, { method: "POST", body: big })).text()).toBe(String(big.length));
    const text = await (await fetch(`${url}/stream`)).text();
    expect(text.split("\n")).toHaveLength(101);
    expect(text.startsWith("line 0\nline 1\n")).toBe(true);
  });

  test("pipelined requests are answered in order on one connection", async () => {
    const [a] = await backends("a");
    const { front } = await proxy([{ name: "be", servers: [{ port: a!.port }] }]);
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const text = await rawExchange(front, req("/1") + req("/2") + req("/3"), (t) => (t.match(/HTTP\/1.1 200/g) ?? []).length === 3);
    const targets = [...text.matchAll(/"target":"([^"]+)"/g)].map((m) => m[1]);
    expect(targets).toEqual(["/1", "/2", "/3"]);
  });

  test("a smuggling attempt is refused with 400 and never reaches a server", async () => {
    const [a] = await backends("a");
    const { front } = await proxy([{ name: "be", servers: [{ port: a!.port }] }]);
    const text = await rawExchange(front, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    expect(text).toStartWith("HTTP/1.1 400 ");
    expect(a!.seen).toHaveLength(0);
  });

  test("HTTP/1.0 without keep-alive is answered and closed", async () => {
    const [a] = await backends("a");
    const { front } = await proxy([{ name: "be", servers: [{ port: a!.port }] }]);
    const text = await rawExchange(front, "GET /old HTTP/1.0\r\n\r\n");
    expect(text).toStartWith("HTTP/1.1 200 ");
    expect(text.toLowerCase()).toContain("connection: close");
    expect(text).toContain('"target":"/old"');
  });
});

describe("routing rules", () => {
  test("host, path prefix, path regex, header, method and source pick the backend; the default takes the rest", async () => {
    const bs = await backends("d", "h", "p", "r", "hd", "m", "s");
    const be = (name: string, i: number) => ({ name, servers: [{ port: bs[i]!.port }] });
    const { url } = await proxy([be("dflt", 0), be("byhost", 1), be("bypath", 2), be("byregex", 3), be("byheader", 4), be("bymethod", 5), be("bysource", 6)], {
      rule: [
        { backend: "byhost", host: ["*.example.com"] },
        { backend: "bypath", path_prefix: ["/api/"] },
        { backend: "byregex", path_regex: "\\.png$" },
        { backend: "byheader", header: { name: "X-Tier", value_regex: "^gold" } },
        { backend: "bymethod", method: ["DELETE"] },
        { backend: "bysource", source: ["10.0.0.0/8"] },
      ],
    });
    const who = async (path: string, init: RequestInit = {}) => ((await (await fetch(`${url}${path}`, init)).json()) as { server: string }).server;
    expect(await who("/", { headers: { Host: "www.example.com:8080" } })).toBe("h");
    expect(await who("/", { headers: { Host: "example.com" } })).toBe("d");
    expect(await who("/api/v1")).toBe("p");
    expect(await who("/img/a.png")).toBe("r");
    expect(await who("/", { headers: { "X-Tier": "golden" } })).toBe("hd");
    expect(await who("/", { headers: { "X-Tier": "silver" } })).toBe("d");
    expect(await who("/x", { method: "DELETE" })).toBe("m");
    expect(await who("/x")).toBe("d");
  });
});

describe("timeouts and failures", () => {
  test("request_timeout: a head that trickles is answered 408 and closed", async () => {
    const [a] = await backends("a");
    const { front } = await proxy([{ name: "be", servers: [{ port: a!.port }] }], { request_timeout: "300ms" });
    const c = await rawClient(front);
    const t0 = performance.now();
    c.socket.write("GET / HTTP/1.1\r\n");
    const iv = setInterval(() => c.socket.write("X-A: b\r\n"), 50);
    await c.closed;
    clearInterval(iv);
    expect(c.text()).toStartWith("HTTP/1.1 408 ");
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(a!.seen).toHaveLength(0);
  });

  test("keepalive_timeout: an idle client connection is closed", async () => {
    const [a] = await backends("a");
    const { front } = await proxy([{ name: "be", servers: [{ port: a!.port }] }], { keepalive_timeout: "200ms" });
    const c = await rawClient(front);
    // Timed from the request: the idle time starts after the answer, which comes after it (a poll of the answer would lag).
    const t0 = performance.now();
    c.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor("the answer", () => (c.text().includes('"server":"a"') ? true : undefined));
    await c.closed;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  test("client_timeout: a client that stops sending its request body is closed, and the server's connection with it", async () => {
    const [a] = await backends("a");
    const { front } = await proxy([{ name: "be", servers: [{ port: a!.port }] }], { client_timeout: "250ms" });
    const c = await rawClient(front);
    const t0 = performance.now();
    c.socket.write("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    await c.closed;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(200);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(a!.seen).toHaveLength(0);
  });

  test("server_timeout: a server that does not answer gives 504", async () => {
    const [port] = await ports(1);
    const slow = httpBackend("slow", port!, { answer: () => ({ delayMs: 2000 }) });
    cleanups.push(slow.stop);
    const { url } = await proxy([{ name: "be", servers: [{ port: port! }], server_timeout: "200ms" }]);
    const t0 = performance.now();
    const r = await fetch(`${url}/`);
    expect(r.status).toBe(504);
    expect(await r.text()).toContain("504");
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  test("no server usable: 503; a refused connect after the retries: 503, counted", async () => {
    const [dead] = await ports(1);
    const { url, dp } = await proxy([{ name: "be", servers: [{ port: dead! }], retries: 1 }, { name: "empty", servers: [] }], { rule: [{ backend: "empty", path_prefix: ["/empty"] }] });
    expect((await fetch(`${url}/empty`)).status).toBe(503);
    expect((await fetch(`${url}/x`)).status).toBe(503);
    const be = dp.stats().backends.be!;
    expect(be.retries).toBe(1);
    expect(be.servers[`svc/127.0.0.1:${dead}`]!.errors).toBe(2);
    expect(dp.stats().frontends.fe!.status["5xx"]).toBe(2);
  });

  test("connect_timeout: a server that never accepts is given up after the timeout, then redispatched", async () => {
    const [a] = await backends("a");
    const [hole] = await ports(1);
    const h = await blackHole(hole!);
    cleanups.push(h.stop);
    const { url, dp } = await proxy([{ name: "be", servers: [{ port: hole! }, { port: a!.port }], retries: 1, connect_timeout: "200ms", balance: "first" }]);
    const t0 = performance.now();
    const r = await fetch(`${url}/`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { server: string }).server).toBe("a");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(dp.stats().backends.be!.redispatches).toBe(1);
  });

  test("a pooled connection the server closed is retried on a fresh one for a GET, without the client seeing it", async () => {
    const [port] = await ports(1);
    let n = 0;
    // Every second request: the server closes the connection without answering (as after its idle timeout).
    const flaky = httpBackend("flaky", port!, { answer: () => (++n % 2 === 0 ? null : {}) });
    cleanups.push(flaky.stop);
    const { url, dp } = await proxy([{ name: "be", servers: [{ port: port! }] }]);
    for (let i = 0; i < 6; i++) expect((await fetch(`${url}/r${i}`)).status).toBe(200);
    expect(dp.stats().backends.be!.retries).toBeGreaterThanOrEqual(2);
  });
});
