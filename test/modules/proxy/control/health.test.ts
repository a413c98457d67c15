/**
 * Server states reach every worker: the shared checks' verdict on a real
 * port on loopback (nothing listening: down; a listener: up again), and a
 * worker's passive observation (down on every worker, in the status, an
 * event and a metric, until its hold passes).
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { TandemEvent } from "../../../../core/events.ts";
import type { ServerState } from "../../../../modules/proxy/messages.ts";
import { freePort, waitFor } from "../../../helpers.ts";
import { Doubles } from "./double.ts";
import { Node, proxyConfig, sections } from "./harness.ts";

const doubles = new Doubles();
afterAll(() => doubles.close());

/** The state of `key` in the last `servers` message each of `threads` received. */
const lastState = (threads: readonly number[], backend: string, key: string): (ServerState | undefined)[] => threads.map((t) => doubles.of(t, "servers").at(-1)?.states.find((s) => s.backend === backend && s.key === key));

describe("the proxy's server states", () => {
  test("follow the shared active check: a port nobody listens on is down on every worker, with an event; a listener brings it up", async () => {
    const apiPort = await freePort();
    const cfg = proxyConfig(sections({ apiPort }));
    const before = new Set(doubles.received.keys());
    const node = new Node("alpha", cfg);
    const events: TandemEvent[] = [];
    node.ctx.events.subscribe((e) => void (e.type === "proxy.server" && events.push(e)));
    await node.start(cfg);
    let listener: { stop(closeActive?: boolean): void } | null = null;
    try {
      const threads = doubles.threads("configure").filter((t) => !before.has(t));
      const key = `api/127.0.0.1:${apiPort}`;
      await waitFor("down on both workers", () => (lastState(threads, "api", key).every((s) => s?.up === false) ? true : undefined), 5000);
      expect(events.find((e) => e.data.server === key)?.data).toMatchObject({ backend: "api", server: key, up: false, was: { up: true } });
      expect(String(events.find((e) => e.data.server === key)?.data.reason)).toStartWith("check: ");
      expect(node.ctx.metrics.render()).toContain(`tandem_proxy_server_up{backend="api",server="${key}"} 0`);

      listener = Bun.listen({ hostname: "127.0.0.1", port: apiPort, socket: { data() {} } });
      await waitFor("up again on both workers", () => (lastState(threads, "api", key).every((s) => s?.up === true) ? true : undefined), 5000);
      // The web servers were never touched.
      expect(lastState(threads, "web", "web/127.0.0.1:8080")).toEqual([0, 1].map(() => ({ backend: "web", key: "web/127.0.0.1:8080", up: true, admin: "ready", weight: 1 })));
    } finally {
      listener?.stop(true);
      await node.stop();
    }
  });

  test("a server a worker observed failing is down on every worker, in the status, an event and a metric, until its check's rise time passes", async () => {
    const cfg = proxyConfig(sections({ apiPort: await freePort(), webCheck: `{ kind = "none", interval = "500ms", rise = 3 }` }));
    const before = new Set(doubles.received.keys());
    const node = new Node("alpha", cfg);
    const events: TandemEvent[] = [];
    node.ctx.events.subscribe((e) => void (e.type.startsWith("proxy.") && events.push(e)));
    await node.start(cfg);
    try {
      const threads = doubles.threads("configure").filter((t) => !before.has(t));
      const key = "web/[::1]:8081";
      const observedAt = Date.now();
      doubles.order({ thread: threads[0]!, type: "say", message: { type: "observed", backend: "web", server: key, reason: "10 consecutive connect errors" } });
      await waitFor("down on both workers", () => (lastState(threads, "web", key).every((s) => s?.up === false) ? true : undefined), 2000);
      expect(lastState(threads, "web", key)[0]).toEqual({ backend: "web", key, up: false, admin: "ready", weight: 3 });
      expect(events.filter((e) => e.data.server === key).map((e) => [e.type, e.data.server, e.data.reason])).toEqual([
        ["proxy.observed", key, "10 consecutive connect errors"],
        ["proxy.server", key, "passive health: 10 consecutive connect errors"],
      ]);
      const server = () => (node.proxy.status().backends as Array<{ name: string; servers: Array<{ key: string; up: boolean; checked: boolean | null; observed: string | null }> }>)[0]!.servers.find((s) => s.key === key)!;
      // The active check passes (its first result may come after the observation, on a loaded machine); the observation holds it down.
      await waitFor("the active check's first result", () => (server().checked === null ? undefined : true), 2000);
      expect(server()).toMatchObject({ up: false, checked: true, observed: "10 consecutive connect errors" });
      expect(node.ctx.metrics.render()).toContain(`tandem_proxy_server_observed_down_total{backend="web",server="${key}"} 1`);
      // An observation of a server the backend does not have is no news.
      doubles.order({ thread: threads[0]!, type: "say", message: { type: "observed", backend: "api", server: key, reason: "x" } });

      // interval × rise = 1.5 s.
      await waitFor("up again on both workers", () => (lastState(threads, "web", key).every((s) => s?.up === true) ? true : undefined), 4000);
      expect(Date.now() - observedAt).toBeGreaterThanOrEqual(1400);
      expect(server()).toMatchObject({ up: true, observed: null });
      expect(events.filter((e) => e.type === "proxy.observed").length).toBe(1);
      expect(events.filter((e) => e.data.server === key).at(-1)?.data).toMatchObject({ up: true, reason: "passive health: the hold ended" });
    } finally {
      await node.stop();
    }
  });
});
