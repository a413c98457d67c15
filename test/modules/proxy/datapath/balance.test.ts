/** What the data path does with the balancer: queue and queue timeout, stickiness by cookie and by source, passive health. */
import { afterEach, expect, test } from "bun:test";
import { httpBackend, httpProxy, ports } from "./harness.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(name: string, opts: Parameters<typeof httpBackend>[2] = {}) {
  const [port] = await ports(1);
  const b = httpBackend(name, port!, opts);
  cleanups.push(b.stop);
  return { ...b, port: port! };
}

async function proxy(...args: Parameters<typeof httpProxy>) {
  const p = await httpProxy(...args);
  cleanups.push(() => p.dp.stop(200));
  return p;
}

test("maxconn 1: requests wait in the queue and are served one by one; past queue_timeout they get 503", async () => {
  const slow = await backend("slow", { answer: () => ({ delayMs: 150 }) });
  const { url, dp } = await proxy([{ name: "be", servers: [{ port: slow.port, maxconn: 1 }], queue_timeout: "400ms" }]);
  const t0 = performance.now();
  const statuses = await Promise.all(Array.from({ length: 5 }, (_, i) => fetch(`${url}/q${i}`).then((r) => r.status)));
  // 150 ms each, one at a time: the first three are served within the queue timeout, the last two wait too long.
  expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
  expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(4);
  expect(statuses.filter((s) => s === 503).length).toBe(5 - statuses.filter((s) => s === 200).length);
  expect(performance.now() - t0).toBeLessThan(2000);
  const be = dp.stats().backends.be!;
  expect(be.queued).toBe(0);
  expect(be.queueTimeouts).toBeGreaterThanOrEqual(1);
});

test("a full queue answers 503 at once", async () => {
  const slow = await backend("slow", { answer: () => ({ delayMs: 200 }) });
  const { url, dp } = await proxy([{ name: "be", servers: [{ port: slow.port, maxconn: 1 }], queue: 1 }]);
  const statuses = await Promise.all(Array.from({ length: 3 }, (_, i) => fetch(`${url}/q${i}`).then((r) => r.status)));
  expect(statuses.sort()).toEqual([200, 200, 503]);
  expect(dp.stats().backends.be!.queueFull).toBe(1);
});

test("cookie: the answer sets a cookie naming the server (not its address), and a client that sends it back stays there", async () => {
  const a = await backend("a");
  const b = await backend("b");
  const { url } = await proxy([{ name: "be", servers: [{ port: a.port }, { port: b.port }], cookie: "SRV" }]);
  const first = await fetch(`${url}/`);
  const setCookie = first.headers.get("set-cookie")!;
  expect(setCookie).toMatch(/^SRV=[0-9a-f]+; Path=\//);
  expect(setCookie).not.toContain("127.0.0.1");
  const server = ((await first.json()) as { server: string }).server;
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${url}/`, { headers: { Cookie: `other=1; ${setCookie.split(";")[0]}` } });
    expect(((await r.json()) as { server: string }).server).toBe(server);
    expect(r.headers.get("set-cookie")).toBeNull();
  }
  // Without the cookie roundrobin alternates.
  const free = await Promise.all([0, 1, 2, 3].map(async () => ((await (await fetch(`${url}/`)).json()) as { server: string }).server));
  expect(new Set(free)).toEqual(new Set(["a", "b"]));
});

test("cookie insert indirect nocache: the server never sees the stickiness cookie and sees the others as sent; an inserted cookie comes with Cache-Control: private unless the answer has its own; the server's own SRV cookie is dropped", async () => {
  const cached = (seen: { target: string }) => (seen.target === "/cached" ? [["Cache-Control", "no-store"] as [string, string]] : []);
  const a = await backend("a", { answer: (seen) => ({ headers: [...cached(seen), ["Set-Cookie", "SRV=from-the-server"], ["Set-Cookie", "app=1"]] }) });
  const { url } = await proxy([{ name: "be", servers: [{ port: a.port }], cookie: "SRV" }]);
  const first = await fetch(`${url}/`, { headers: { Cookie: "z=9;  y=\"q r\"" } });
  expect(first.headers.getSetCookie()).toEqual(["app=1", expect.stringMatching(/^SRV=[0-9a-f]+; Path=\/$/)]);
  expect(first.headers.get("cache-control")).toBe("private");
  const sticky = first.headers.getSetCookie()[1]!.split(";")[0]!;
  const again = await fetch(`${url}/`, { headers: { Cookie: `a=1; ${sticky}; b=2` } });
  expect(again.headers.getSetCookie()).toEqual(["app=1"]);
  expect(again.headers.get("cache-control")).toBeNull();
  await fetch(`${url}/`, { headers: { Cookie: sticky } });
  // A client with a stale cookie gets a new one; the server's Cache-Control is left alone.
  const stale = await fetch(`${url}/cached`, { headers: { Cookie: "SRV=0000" } });
  expect(stale.headers.getSetCookie()[1]).toBe(first.headers.getSetCookie()[1]!);
  expect(stale.headers.get("cache-control")).toBe("no-store");
  const cookies = a.seen.map((s) => s.headers.filter(([n]) => n.toLowerCase() === "cookie").map(([, v]) => v));
  expect(cookies).toEqual([['z=9;  y="q r"'], ["a=1; b=2"], [], []]);
});

test("stick on source: one client stays on one server; the entries go to the control side", async () => {
  const a = await backend("a");
  const b = await backend("b");
  const { url, posted } = await proxy([{ name: "be", servers: [{ port: a.port }, { port: b.port }], stick_on_source: true }]);
  const servers = new Set<string>();
  for (let i = 0; i < 6; i++) servers.add(((await (await fetch(`${url}/`)).json()) as { server: string }).server);
  expect(servers.size).toBe(1);
  await Bun.sleep(120);
  const stick = posted.find((m) => m.type === "stick");
  expect(stick).toMatchObject({ type: "stick", entries: [{ backend: "be", key: "127.0.0.1" }] });
});

test("passive health: 5xx answers past error_limit mark the server down (observed), and traffic goes to the other", async () => {
  const bad = await backend("bad", { answer: () => ({ status: 500 }) });
  const good = await backend("good");
  const { url, posted } = await proxy([{ name: "be", servers: [{ port: bad.port }, { port: good.port }], error_limit: 3, observe: "layer7" }]);
  const got: number[] = [];
  for (let i = 0; i < 12; i++) got.push((await fetch(`${url}/`)).status);
  expect(got.filter((s) => s === 500)).toHaveLength(3);
  expect(got.slice(-4)).toEqual([200, 200, 200, 200]);
  expect(posted.find((m) => m.type === "observed")).toMatchObject({ type: "observed", backend: "be", server: `svc/127.0.0.1:${bad.port}` });
});

test("servers message: a server in maint takes no new requests", async () => {
  const a = await backend("a");
  const b = await backend("b");
  const { url, dp } = await proxy([{ name: "be", servers: [{ port: a.port }, { port: b.port }] }]);
  dp.servers([{ backend: "be", key: `svc/127.0.0.1:${a.port}`, up: true, admin: "maint", weight: 1 }]);
  for (let i = 0; i < 4; i++) expect(((await (await fetch(`${url}/`)).json()) as { server: string }).server).toBe("b");
});
