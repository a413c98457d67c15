/** Reload under load with zero failed requests, removed binds, and a stop that lets in-flight requests finish. */
import { afterEach, expect, test } from "bun:test";
import { httpBackend, httpProxy, ports, rawClient } from "./harness.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test("10 reloads under a bounded load loop (new and keep-alive connections): zero failed requests; new requests follow the new config", async () => {
  const [pa, pb] = await ports(2);
  const a = httpBackend("a", pa!, { answer: () => ({ delayMs: 2 }) });
  const b = httpBackend("b", pb!, { answer: () => ({ delayMs: 2 }) });
  cleanups.push(a.stop, b.stop);
  const p = await httpProxy([{ name: "be", servers: [{ port: pa! }] }]);
  cleanups.push(() => p.dp.stop(200));
  let ok = 0;
  let failed = 0;
  let running = true;
  const errors: string[] = [];
  const loop = async (keepAlive: boolean) => {
    while (running) {
      try {
        const r = await fetch(`${p.url}/`, { keepalive: keepAlive, headers: keepAlive ? {} : { Connection: "close" } });
        await r.text();
        if (r.status === 200) ok++;
        else (failed++, errors.push(String(r.status)));
      } catch (e) {
        failed++;
        errors.push((e as Error).message);
      }
    }
  };
  const loops = [loop(true), loop(true), loop(false), loop(false)];
  for (let i = 0; i < 10; i++) {
    await Bun.sleep(60);
    const target = i % 2 === 0 ? pb! : pa!;
    p.dp.configure(p.config([{ name: "be", servers: [{ port: target }] }]));
  }
  await Bun.sleep(60);
  running = false;
  await Promise.all(loops);
  expect(errors).toEqual([]);
  expect(failed).toBe(0);
  expect(ok).toBeGreaterThan(50);
  // The last config sends everything to a.
  expect(((await (await fetch(`${p.url}/`)).json()) as { server: string }).server).toBe("a");
});

test("a bind removed by a reload stops accepting; the others go on", async () => {
  const [pa, second] = await ports(2);
  const a = httpBackend("a", pa!);
  cleanups.push(a.stop);
  const p = await httpProxy([{ name: "be", servers: [{ port: pa! }] }]);
  cleanups.push(() => p.dp.stop(200));
  p.dp.configure(p.config(undefined, { bind: [`127.0.0.1:${p.front}`, `127.0.0.1:${second}`] }));
  expect((await fetch(`http://127.0.0.1:${second}/`)).status).toBe(200);
  p.dp.configure(p.config(undefined, { bind: [`127.0.0.1:${second}`] }));
  expect((await fetch(`http://127.0.0.1:${second}/`)).status).toBe(200);
  expect(await rawClient(p.front).then(() => "connected", () => "refused")).toBe("refused");
});

test("stop: new connections are refused, the request in flight is answered, then the stop resolves", async () => {
  const [pa] = await ports(1);
  const a = httpBackend("a", pa!, { answer: () => ({ delayMs: 300 }) });
  cleanups.push(a.stop);
  const p = await httpProxy([{ name: "be", servers: [{ port: pa! }] }]);
  const inFlight = fetch(`${p.url}/slow`);
  await Bun.sleep(50);
  const t0 = performance.now();
  const stopped = p.dp.stop(5000);
  expect(await rawClient(p.front).then(() => "connected", () => "refused")).toBe("refused");
  const r = await inFlight;
  expect(r.status).toBe(200);
  expect(r.headers.get("connection")).toBe("close");
  await stopped;
  expect(performance.now() - t0).toBeLessThan(2000);
});
