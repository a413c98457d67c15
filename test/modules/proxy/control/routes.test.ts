/**
 * The proxy's API as a client reaches it, through the API module with a
 * token (mutating calls without it are refused): drain, maint, weight and
 * ready of a server reach every worker, are kept in the state dir and are in
 * force again after a restart, until `ready` clears them; a server the
 * config no longer has is dropped from what was kept. And the pure rules of
 * those changes.
 */
import { afterAll, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiModule } from "../../../../core/api/server.ts";
import type { Config } from "../../../../core/config/load.ts";
import type { ModuleContext } from "../../../../core/module.ts";
import { StateStore } from "../../../../core/state.ts";
import { applyAdmin, restoreAdmin, serverStates } from "../../../../modules/proxy/admin.ts";
import { resolveBackends } from "../../../../modules/proxy/resolve.ts";
import { freePort, waitFor, writeSecret } from "../../../helpers.ts";
import { runCommand } from "../../../../cmd/cli.ts";
import { proxy } from "../../../../cmd/proxy.ts";
import { formatKeyFile, newKey } from "../../../../core/crypto/keyfile.ts";
import { testContext } from "../../context.ts";
import { Doubles } from "./double.ts";
import { Node, proxyConfig, proxyText, sections } from "./harness.ts";

const doubles = new Doubles();
const dir = mkdtempSync(join(tmpdir(), "proxy-control-routes-"));
afterAll(() => {
  doubles.close();
  rmSync(dir, { recursive: true, force: true });
});

interface ProxyStatus {
  backends: Array<{ servers: Array<Record<string, unknown>> }>;
}

const TOKEN = "proxy-routes-token-0123456789";
const SERVER = "web/127.0.0.1:8080";

/** alpha with its state in `dir`, and the API serving its proxy's routes on loopback with TOKEN. */
async function started(cfg: Config, stateDir = dir): Promise<{ node: Node; base: string; stop: () => Promise<void> }> {
  const base = testContext(cfg, "alpha");
  const ctx: ModuleContext = { ...base, state: new StateStore({ dir: stateDir, cluster: cfg.cluster, node: "alpha", log: base.log, clock: base.clock, events: base.events, metrics: base.metrics }) };
  const node = new Node("alpha", cfg, { ctx });
  await node.start(cfg);
  const apiCtx: ModuleContext = { ...ctx, runtime: { ...ctx.runtime, routes: () => node.proxy.routes().map((r) => ({ ...r, path: `/v1/proxy${r.path}` })) } };
  const api = apiModule("test", { hostname: "127.0.0.1", port: 0 }, []).create(apiCtx);
  await api.start({ ...cfg, api: { ...cfg.api, token: TOKEN } });
  return {
    node,
    base: String(api.status().url).replace(/\/$/, ""),
    stop: async () => {
      await api.stop();
      await node.stop();
      ctx.state.close();
    },
  };
}

/** The web server's state in the last `servers` message of each thread configured since `before`. */
const webState = (before: ReadonlySet<number>) =>
  doubles
    .threads("configure")
    .filter((t) => !before.has(t))
    .map((t) => doubles.of(t, "servers").at(-1)?.states.find((s) => s.key === SERVER));

describe("the proxy's routes", () => {
  test("drain, weight, maint and ready need the token, reach every worker, and are kept across a restart until ready clears them", async () => {
    const apiPort = await freePort();
    const cfg = proxyConfig(sections({ apiPort }));
    let before = new Set(doubles.received.keys());
    let run = await started(cfg);
    const post = (path: string, token: string | null = TOKEN) => fetch(`${run.base}/v1/proxy/servers/${path}`, { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} });
    try {
      expect((await post("web/127.0.0.1:8080/drain", null)).status).toBe(401);
      expect((await post("web/127.0.0.1:8080/drain", "wrong-token-0123456789")).status).toBe(401);
      const drained = await post("web/127.0.0.1:8080/drain");
      expect(drained.status).toBe(200);
      expect(await drained.json()).toEqual({ server: SERVER, change: { admin: "drain" } });
      expect(await (await post("web/127.0.0.1:8080/weight/5")).json()).toEqual({ server: SERVER, change: { admin: "drain", weight: 5 } });
      await waitFor("drained at weight 5 on both workers", () => (webState(before).every((s) => s?.admin === "drain" && s.weight === 5) ? true : undefined), 2000);
      expect((await post("web/127.0.0.1:9999/drain")).status).toBe(404);
      expect((await post("web/127.0.0.1:8080/weight/100000")).status).toBe(400);
      expect((await post("web/127.0.0.1:8080/weight/-1")).status).toBe(400);
      const status = (await (await fetch(`${run.base}/v1/proxy/`)).json()) as ProxyStatus;
      expect(status.backends[0]!.servers[0]).toMatchObject({ key: SERVER, admin: "drain", weight: 5, change: { admin: "drain", weight: 5 } });

      // A restart: the change is in force from the first message the new workers get.
      await run.stop();
      before = new Set(doubles.received.keys());
      run = await started(cfg);
      await waitFor("the workers' states", () => (webState(before).length === 2 && webState(before).every((s) => s) ? true : undefined), 2000);
      expect(webState(before)).toEqual([0, 1].map(() => ({ backend: "web", key: SERVER, up: true, admin: "drain", weight: 5 })));

      expect(await (await post(`web/${encodeURIComponent("[::1]:8081")}/maint`)).json()).toEqual({ server: "web/[::1]:8081", change: { admin: "maint" } });
      expect(await (await post("web/127.0.0.1:8080/ready")).json()).toEqual({ server: SERVER, change: null });
      await waitFor("ready again on both workers", () => (webState(before).every((s) => s?.admin === "ready" && s.weight === 1) ? true : undefined), 2000);

      // Restarted with a config without [::1]:8081: its kept maint is dropped, nothing else is kept.
      await run.stop();
      run = await started(proxyConfig(sections({ apiPort }).replace(`, { address = "::1", port = 8081, weight = 3, backup = true, maxconn = 10 }`, "")));
      expect(((await (await fetch(`${run.base}/v1/proxy/`)).json()) as ProxyStatus).backends[0]!.servers).toMatchObject([{ key: SERVER, admin: "ready", change: null }]);
    } finally {
      await run.stop();
    }
  });
});

describe("tandem proxy", () => {
  test("drains a server and prints the status through the node's API, with the config's token", async () => {
    const apiPort = await freePort();
    const file = join(dir, "cli.toml");
    writeSecret(join(dir, "cluster.key"), formatKeyFile({ active: 1, keys: new Map([[1, await newKey()]]) }));
    writeSecret(join(dir, "api.token"), `${TOKEN}\n`);
    writeFileSync(file, proxyText(`[api]\ntoken_file = "api.token"\n\n${sections({ apiPort })}`));
    const run = await started(proxyConfig(sections({ apiPort })), mkdtempSync(join(dir, "state-")));
    await waitFor("the api server checked down", () => (JSON.stringify(run.node.proxy.status()).includes('"up":false') ? true : undefined), 3000);
    const printed: string[] = [];
    const log = spyOn(console, "log").mockImplementation((line: string) => void printed.push(line));
    try {
      expect(await runCommand(proxy, ["-c", file, "--api", run.base, "drain", "web", "127.0.0.1:8080"])).toBe(0);
      expect(await runCommand(proxy, ["-c", file, "--api", run.base, "weight", "web", "127.0.0.1:8080", "x"])).toBe(2);
      expect(await runCommand(proxy, ["-c", file, "--api", run.base])).toBe(0);
      expect(printed[0]).toBe("web/127.0.0.1:8080: drained: no new requests");
      expect(printed[1]!.split("\n")).toEqual([
        "listening, 2 workers, config generation 1",
        "frontend www (http) on 127.0.0.1:18080: 0 open, 0 requests",
        "backend web (service web, roundrobin): 0 queued, 0 stick entries",
        "  web/127.0.0.1:8080               UP, drain, weight 1: 0 active, 0 requests, 0 errors",
        "  web/[::1]:8081                   UP, ready, weight 3, backup: 0 active, 0 requests, 0 errors",
        "backend api (service api, roundrobin): 0 queued, 0 stick entries",
        `  api/127.0.0.1:${apiPort}`.padEnd(34) + " DOWN, ready, weight 1: 0 active, 0 requests, 0 errors",
      ]);
    } finally {
      log.mockRestore();
      await run.stop();
    }
  });
});

describe("runtime changes", () => {
  test("ready clears both the admin state and the weight; the others add to what the server has", () => {
    let c = applyAdmin({}, "a", { verb: "weight", weight: 0 });
    c = applyAdmin(c, "a", { verb: "maint" });
    c = applyAdmin(c, "b", { verb: "drain" });
    expect(c).toEqual({ a: { weight: 0, admin: "maint" }, b: { admin: "drain" } });
    expect(applyAdmin(c, "a", { verb: "ready" })).toEqual({ b: { admin: "drain" } });
    expect(c.a).toEqual({ weight: 0, admin: "maint" });
  });

  test("what was kept is taken for the servers there are, or refused whole when it is not valid", () => {
    const servers = new Set(["web/a:1", "web/b:1"]);
    expect(restoreAdmin({ "web/a:1": { admin: "drain", weight: 2 }, "gone/c:1": { admin: "maint" } }, servers)).toEqual({ changes: { "web/a:1": { admin: "drain", weight: 2 } }, dropped: ["gone/c:1"] });
    for (const bad of [[], { "web/a:1": { admin: "off" } }, { "web/a:1": { weight: -1 } }, { "web/a:1": { weight: 1.5 } }, { "web/a:1": { admin: "drain", extra: 1 } }, "x"]) expect(restoreAdmin(bad, servers)).toHaveProperty("problem");
  });

  test("a server's state: its check's health and weight, down while observed, the operator's admin state and weight over them", async () => {
    const cfg = proxyConfig(sections({ apiPort: 9000 }));
    const backends = resolveBackends(cfg.raw);
    const health = new Map([["web/127.0.0.1:8080", { healthy: true, weight: 7 }], ["api/127.0.0.1:9000", { healthy: false, weight: 1 }]]);
    const states = serverStates(backends, (k) => health.get(k), { "web/[::1]:8081": { admin: "drain", weight: 2 } }, new Set(["web\nweb/127.0.0.1:8080"]));
    expect(states).toEqual([
      { backend: "web", key: "web/127.0.0.1:8080", up: false, admin: "ready", weight: 7 },
      { backend: "web", key: "web/[::1]:8081", up: true, admin: "drain", weight: 2 },
      { backend: "api", key: "api/127.0.0.1:9000", up: false, admin: "ready", weight: 1 },
    ]);
  });
});
