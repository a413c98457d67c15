/**
 * The proxy's workers as the control side runs them (double-worker.ts keeps
 * the data path's side of messages.ts): a configure of a new generation at
 * start and at each reload, as many threads as `workers`, a thread that dies
 * replaced WORKER_RESTART_MS later with what it needs, counters summed over
 * threads and never going back, a stop that stops every thread, a refused
 * bind failing the start, and the "proxy" resource deciding when the
 * listeners run.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { WORKER_RESTART_MS, type WorkerStats } from "../../../../modules/proxy/messages.ts";
import { STATS_EVERY_MS } from "../../../../modules/proxy/service.ts";
import type { TandemEvent } from "../../../../core/events.ts";
import { freePort, waitFor } from "../../../helpers.ts";
import { Doubles, REFUSED_ADDRESS } from "./double.ts";
import { Node, proxyConfig, sections } from "./harness.ts";

const doubles = new Doubles();
afterAll(() => doubles.close());

/** The threads configured with `generation` since `before` (threads heard before are left out). */
const configured = (generation: number, before: ReadonlySet<number> = new Set()) => doubles.threads("configure", (m) => m.config.generation === generation).filter((t) => !before.has(t));
/** Resolves once every thread of `threads` reported a stop. */
const stopped = (threads: readonly number[]) => waitFor("the threads stopped", () => (threads.every((t) => doubles.of(t, "stop").length > 0) ? true : undefined), 2000);

const counters = (requests: number): WorkerStats => ({
  frontends: { www: { connections: requests, active: 1, requests, status: { "1xx": 0, "2xx": requests, "3xx": 0, "4xx": 0, "5xx": 0 }, refused: 0 } },
  backends: { web: { queued: 0, queueFull: 0, queueTimeouts: 0, retries: 1, redispatches: 0, servers: { "web/127.0.0.1:8080": { requests, active: 1, errors: 0, latencyMs: [requests] } } } },
  accessLogDropped: requests,
});

/** A resource of agent "proxy": the listeners run while the resource manager runs it here. */
const MANAGED = `[resources]
[[resources.resource]]
name = "lb"
agent = "proxy"
`;

/** alpha's node with MANAGED, `watch` called before it starts; the threads heard before it. */
async function managedNode(watch: (n: Node) => void = () => {}): Promise<{ node: Node; before: Set<number> }> {
  const cfg = proxyConfig(sections({ apiPort: await freePort(), extra: MANAGED }));
  const before = new Set(doubles.received.keys());
  const node = new Node("alpha", cfg);
  watch(node);
  await node.start(cfg);
  return { node, before };
}

describe("the proxy's workers", () => {
  test("start configures `workers` threads with generation 1 and every server's state; reloads send the next generation to each, grow and shrink the threads; stop stops them all", async () => {
    const apiPort = await freePort();
    const cfg = proxyConfig(sections({ apiPort }));
    const before = new Set(doubles.received.keys());
    const node = new Node("alpha", cfg);
    await node.start(cfg);
    try {
      const first = configured(1, before);
      expect(first.length).toBe(2);
      expect(first.map((t) => doubles.of(t, "configure")[0]!.worker).sort((a, b) => a!.index - b!.index)).toEqual([{ index: 0, count: 2 }, { index: 1, count: 2 }]);
      expect(first.map((t) => doubles.of(t, "configure")[0]!.node)).toEqual(["alpha", "alpha"]);
      const config = doubles.of(first[0]!, "configure")[0]!.config;
      expect(config.frontends.map((f) => [f.name, f.bind, f.certificates])).toEqual([["www", ["127.0.0.1:18080"], []]]);
      expect(config.backends.map((b) => [b.name, b.servers])).toEqual([
        [
          "web",
          [
            { key: "web/127.0.0.1:8080", address: "127.0.0.1", port: 8080, weight: 1, backup: false },
            { key: "web/[::1]:8081", address: "::1", port: 8081, weight: 3, maxconn: 10, backup: true },
          ],
        ],
        ["api", [{ key: `api/127.0.0.1:${apiPort}`, address: "127.0.0.1", port: apiPort, weight: 1, backup: false }]],
      ]);
      await waitFor("the servers' states", () => (first.every((t) => doubles.of(t, "servers").length) ? true : undefined), 2000);
      for (const t of first) expect(doubles.of(t, "servers")[0]!.states.filter((s) => s.backend === "web")).toEqual([
        { backend: "web", key: "web/127.0.0.1:8080", up: true, admin: "ready", weight: 1 },
        { backend: "web", key: "web/[::1]:8081", up: true, admin: "ready", weight: 3 },
      ]);
      expect(node.proxy.status()).toMatchObject({ active: true, managed: false, generation: 1, workers: [{ state: "running", generation: 1 }, { state: "running", generation: 1 }] });

      await node.checks.reload(proxyConfig(sections({ apiPort, workers: 3 })));
      await node.proxy.reload(proxyConfig(sections({ apiPort, workers: 3 })));
      await waitFor("three threads with generation 2", () => (configured(2, before).length === 3 ? true : undefined), 2000);
      expect(configured(2, before).filter((t) => first.includes(t)).length).toBe(2);
      const third = configured(2, before).filter((t) => !first.includes(t));
      await Bun.sleep(100);
      expect(doubles.of(third[0]!, "configure").map((m) => [m.config.generation, m.worker])).toEqual([[2, { index: 2, count: 3 }]]);
      expect(first.map((t) => doubles.of(t, "configure")[1]!.worker!.count)).toEqual([3, 3]);

      await node.proxy.reload(proxyConfig(sections({ apiPort, workers: 1 })));
      const three = [...first, ...third];
      await waitFor("one thread with generation 3", () => (configured(3, before).length === 1 ? true : undefined), 2000);
      await waitFor("two threads stopped", () => (three.filter((t) => doubles.of(t, "stop").length).length === 2 ? true : undefined), 2000);
      expect((node.proxy.status().workers as unknown[]).length).toBe(1);

      await node.stop();
      await stopped(three);
      expect(node.proxy.status()).toMatchObject({ active: false, workers: [] });
    } finally {
      await node.stop();
    }
  });

  test("a thread that exits is replaced WORKER_RESTART_MS later with the config, the servers' states and the stick entries; the counters of the dead one are kept", async () => {
    const cfg = proxyConfig(sections({ apiPort: await freePort() }));
    const before = new Set(doubles.received.keys());
    const node = new Node("alpha", cfg);
    const errors: TandemEvent[] = [];
    node.ctx.events.subscribe((e) => void (e.type === "proxy.error" && errors.push(e)));
    await node.start(cfg);
    try {
      const [a, b] = configured(1, before) as [number, number];
      doubles.order({ thread: a, type: "stats", stats: counters(5) });
      doubles.order({ thread: b, type: "stats", stats: counters(7) });
      const frontend = () => (node.proxy.status().frontends as Array<{ requests: number; active: number }>)[0]!;
      await waitFor("both threads' counters", () => (frontend().requests === 12 ? true : undefined), 4 * STATS_EVERY_MS);
      expect(frontend().active).toBe(2);
      const metrics = node.ctx.metrics.render();
      expect(metrics).toContain('tandem_proxy_frontend_requests_total{frontend="www"} 12');
      expect(metrics).toContain('tandem_proxy_frontend_responses_total{frontend="www",class="2xx"} 12');
      expect(metrics).toContain('tandem_proxy_backend_retries_total{backend="web"} 2');
      expect(metrics).toContain('tandem_proxy_server_response_ms_bucket{backend="web",server="web/127.0.0.1:8080",le="1"} 12');
      expect(metrics).toContain('tandem_proxy_server_response_ms_bucket{backend="web",server="web/127.0.0.1:8080",le="+Inf"} 12');
      expect(metrics).toContain('tandem_proxy_frontend_active{frontend="www"} 2');
      expect(metrics).toContain("tandem_proxy_access_log_dropped_total 12");

      const entry = { backend: "web", key: "198.18.5.1", server: "web/127.0.0.1:8080", seenAt: Date.now() };
      doubles.order({ thread: a, type: "say", message: { type: "stick", entries: [entry] } });
      await waitFor("the entry relayed to the other thread", () => (doubles.of(b, "stick").length ? true : undefined), 2000);
      expect(doubles.of(b, "stick")[0]!.entries).toEqual([entry]);
      expect(doubles.of(a, "stick")).toEqual([]);

      const exited = Date.now();
      doubles.order({ thread: a, type: "exit" });
      const [c] = await waitFor("a new thread", () => (configured(1, before).length === 3 ? configured(1, before).filter((t) => t !== a && t !== b) : undefined), 3 * WORKER_RESTART_MS + 2000);
      expect(Date.now() - exited).toBeGreaterThanOrEqual(WORKER_RESTART_MS - 50);
      expect(errors.map((e) => e.data.message)).toEqual(["the thread exited with code 3"]);
      await waitFor("the new thread's stick entries", () => (doubles.of(c!, "stick").length ? true : undefined), 2000);
      expect(doubles.of(c!, "servers").length).toBeGreaterThan(0);
      expect(doubles.of(c!, "stick").flatMap((m) => m.entries)).toEqual([entry]);
      const workers = () => node.proxy.status().workers as Array<{ state: string; restarts: number }>;
      await waitFor("the new thread running", () => (workers().every((w) => w.state === "running") ? true : undefined), 2000);
      expect(workers().map((w) => w.restarts).sort()).toEqual([0, 1]);
      // The new thread has counted nothing yet: the dead one's requests stay in the sum, its open connection does not.
      await waitFor("the new thread's counters", () => (doubles.of(c!, "stats").length ? true : undefined), 4 * STATS_EVERY_MS);
      await Bun.sleep(100);
      expect(frontend()).toMatchObject({ requests: 12, active: 1 });
    } finally {
      await node.stop();
    }
  });

  test("a frontend a worker cannot bind fails the start with the worker's words", async () => {
    const cfg = proxyConfig(sections({ apiPort: await freePort(), bind: `${REFUSED_ADDRESS}:80` }));
    const before = new Set(doubles.received.keys());
    const node = new Node("alpha", cfg);
    let failure: Error | null = null;
    await node.start(cfg).catch((e: Error) => (failure = e));
    expect(failure!.message).toBe(`the proxy cannot listen: worker 0: bind ${REFUSED_ADDRESS}: EADDRNOTAVAIL; worker 1: bind ${REFUSED_ADDRESS}: EADDRNOTAVAIL`);
    await node.stop();
    await stopped(configured(1, before));
  });

  test("with a resource of agent \"proxy\", the listeners run only between the resource's start and stop here", async () => {
    const { node, before } = await managedNode();
    try {
      const agent = node.services.agent("proxy")!;
      const run = async (action: "start" | "stop" | "monitor") => (await agent.run(action, { timeoutMs: 5000 })).status;
      expect(node.proxy.status()).toMatchObject({ active: false, managed: true, workers: [] });
      expect(await run("monitor")).toBe("not-running");
      expect(configured(1, before)).toEqual([]);

      expect(await run("start")).toBe("ok");
      const threads = configured(1, before);
      expect(threads.length).toBe(2);
      expect(await run("monitor")).toBe("ok");

      expect(await run("stop")).toBe("ok");
      await stopped(threads);
      expect(await run("monitor")).toBe("not-running");
      // A reload while stopped here starts nothing.
      await node.proxy.reload(proxyConfig(sections({ apiPort: 1, extra: MANAGED })));
      expect(configured(2, before)).toEqual([]);
    } finally {
      await node.stop();
    }
  });

  test("proxy.served: the first client served since the listeners started here, once a start, with the worker's time", async () => {
    const served: TandemEvent[] = [];
    const { node, before } = await managedNode((n) => n.ctx.events.subscribe((e) => void (e.type === "proxy.served" && served.push(e))));
    try {
      const agent = node.services.agent("proxy")!;
      const say = (thread: number, client: string, at: number) =>
        doubles.order({ thread, type: "say", message: { type: "served", frontend: "www", backend: "web", server: "web/127.0.0.1:8080", client, status: 200, at } });
      expect((await agent.run("start", { timeoutMs: 5000 })).status).toBe("ok");
      const [one, two] = configured(1, before);
      say(one!, "198.18.0.7:40000", 1000);
      await waitFor("proxy.served", () => (served.length ? true : undefined), 2000);
      // The other worker's first, and the first worker's next: no second event (two threads' messages come in any order, so each waits for the last).
      say(two!, "198.18.0.8:40001", 1001);
      say(one!, "198.18.0.7:40002", 1002);
      await Bun.sleep(200);
      expect(served.map((e) => e.data)).toEqual([{ frontend: "www", backend: "web", server: "web/127.0.0.1:8080", client: "198.18.0.7:40000", status: 200, servedAt: 1000 }]);

      expect((await agent.run("stop", { timeoutMs: 5000 })).status).toBe("ok");
      const seen = new Set(doubles.received.keys());
      expect((await agent.run("start", { timeoutMs: 5000 })).status).toBe("ok");
      const [three] = configured(1, seen);
      say(three!, "198.18.0.9:40003", 2000);
      await waitFor("proxy.served after the next start", () => (served.length === 2 ? true : undefined), 2000);
      expect(served[1]!.data).toMatchObject({ client: "198.18.0.9:40003", servedAt: 2000 });
    } finally {
      await node.stop();
    }
  });
});
