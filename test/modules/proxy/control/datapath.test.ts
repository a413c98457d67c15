/**
 * The proxy module with its real data path (modules/proxy/worker.ts): requests
 * through two workers on loopback reach both servers of a backend, an
 * operator's drain sends the new ones to the other, the counters come back
 * summed, and a server that stops answering is marked down by live traffic
 * (an event) while the requests still succeed on the other.
 */
import { describe, expect, test } from "bun:test";
import type { TandemEvent } from "../../../../core/events.ts";
import { checksModule } from "../../../../modules/checks/index.ts";
import { ProxyService, STATS_EVERY_MS } from "../../../../modules/proxy/service.ts";
import { Services } from "../../../../core/cluster.ts";
import { testContext } from "../../context.ts";
import { freePort, waitFor } from "../../../helpers.ts";
import { proxyConfig } from "./harness.ts";

describe("the proxy with its data path", () => {
  test("balances over both servers, drains one at the operator's word, sums the counters, and marks a dead server down from live traffic", async () => {
    const servers = ["one", "two"].map((name) => Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(name) }));
    const [one, two] = servers.map((s) => s.port!) as [number, number];
    const port = await freePort();
    const cfg = proxyConfig(`[[services]]
name = "web"
servers = [{ address = "127.0.0.1", port = ${one} }, { address = "127.0.0.1", port = ${two} }]
check = { kind = "none" }

[proxy]
workers = 2

[[proxy.frontend]]
name = "www"
bind = ["127.0.0.1:${port}"]
default_backend = "web"

[[proxy.backend]]
name = "web"
service = "web"
observe = "layer4"
error_limit = 1
`);
    const services = new Services();
    const ctx = testContext(cfg, "alpha", services);
    const events: TandemEvent[] = [];
    ctx.events.subscribe((e) => void (e.type === "proxy.observed" && events.push(e)));
    const checks = checksModule.create(ctx);
    await checks.start(cfg);
    const proxy = new ProxyService(ctx);
    await proxy.start(cfg);
    const get = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/`);
      return `${r.status} ${await r.text()}`;
    };
    try {
      const first = await Promise.all(Array.from({ length: 20 }, get));
      expect(new Set(first)).toEqual(new Set(["200 one", "200 two"]));

      const drain = proxy.routes().find((r) => r.path.endsWith("/drain"))!;
      expect((await drain.handler(undefined as never, { service: "web", server: `127.0.0.1:${one}` })).status).toBe(200);
      await Bun.sleep(100);
      expect(new Set(await Promise.all(Array.from({ length: 20 }, get)))).toEqual(new Set(["200 two"]));

      const frontend = () => (proxy.status().frontends as Array<{ requests: number; status: Record<string, number> }>)[0]!;
      await waitFor("the counters of both workers", () => (frontend().requests === 40 ? true : undefined), 4 * STATS_EVERY_MS);
      expect(frontend().status["2xx"]).toBe(40);

      const ready = proxy.routes().find((r) => r.path.endsWith("/ready"))!;
      await ready.handler(undefined as never, { service: "web", server: `127.0.0.1:${one}` });
      servers[1]!.stop(true);
      await Bun.sleep(100);
      expect(new Set(await Promise.all(Array.from({ length: 20 }, get)))).toEqual(new Set(["200 one"]));
      await waitFor("the observation", () => (events.length ? true : undefined), 2000);
      expect(events[0]!.data).toMatchObject({ backend: "web", server: `web/127.0.0.1:${two}` });
    } finally {
      await proxy.stop();
      await checks.stop();
      for (const s of servers) s.stop(true);
    }
  });
});
