/**
 * The checks module as the runtime runs it, its checker in its worker
 * thread, against a real HTTP server on loopback that counts the probes it
 * receives: one checker for the server however many consumers subscribe,
 * from the first subscription to the last.
 */
import { describe, expect, test } from "bun:test";
import { Services } from "../../../core/cluster.ts";
import type { ServerChange } from "../../../modules/checks/engine.ts";
import { checksModule } from "../../../modules/checks/index.ts";
import { memberConfig, testContext } from "../context.ts";
import { waitFor } from "../../helpers.ts";

const INTERVAL_MS = 100;
const WINDOW_MS = 1500;

const config = (port: number) =>
  memberConfig(
    "probes",
    `[[services]]
name = "web"
servers = [{ address = "127.0.0.1", port = ${port} }]
check = { kind = "http", path = "/health", interval = "${INTERVAL_MS}ms", timeout = "500ms", rise = 1, fall = 1 }
`,
  );

describe("the checks module", () => {
  test("a real server receives the same probes with two consumers as with one; none before the first subscribes or after the last leaves", async () => {
    let probes = 0;
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (probes++, new Response("ok")) });
    const cfg = config(server.port!);
    const services = new Services();
    const checks = checksModule.create(testContext(cfg, "alpha", services));
    await checks.start(cfg);
    const counted = async (ms: number) => {
      probes = 0;
      await Bun.sleep(ms);
      return probes;
    };
    try {
      const service = services.get("checks")!;
      expect(await counted(3 * INTERVAL_MS)).toBe(0);

      const first: ServerChange[] = [];
      const one = service.subscribe({ services: ["web"], concurrency: 4, initial: "up" }, (c) => first.push(c));
      await waitFor("the first judgement", () => first.find((c) => c.state === "up"), 3000);
      const key = `web/127.0.0.1:${server.port}`;
      expect(service.health(key)).toMatchObject({ key, healthy: true, state: "up", weight: 1 });
      const withOne = await counted(WINDOW_MS);

      const second: ServerChange[] = [];
      const two = service.subscribe({ services: ["web"], concurrency: 4, initial: "up" }, (c) => second.push(c));
      const withTwo = await counted(WINDOW_MS);
      const expected = WINDOW_MS / INTERVAL_MS;
      // One checker probes once an interval at most (a second would double it); a loaded machine may delay a few.
      expect(withOne).toBeGreaterThanOrEqual(expected / 2);
      expect(withOne).toBeLessThanOrEqual(expected + 1);
      expect(withTwo).toBeLessThanOrEqual(expected + 1);
      expect(Math.abs(withTwo - withOne)).toBeLessThanOrEqual(2);

      one.close();
      expect(await counted(5 * INTERVAL_MS)).toBeGreaterThan(2);
      two.close();
      await Bun.sleep(2 * INTERVAL_MS);
      expect(await counted(5 * INTERVAL_MS)).toBe(0);
      expect(second).toEqual([]);
      expect((checks.status() as { consumers: number }).consumers).toBe(0);
    } finally {
      await checks.stop();
      server.stop(true);
    }
  });

  test("a consumer's reload reaches the checker in its thread: a higher concurrency holds more servers in check at once, alpha makes unchecked servers count as down", async () => {
    // Six silent servers: each accepts and never answers, so every check holds its connection to its timeout.
    let open = 0;
    const silent = Array.from({ length: 6 }, () => Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void open++, close: () => void open--, data() {} } }));
    const cfg = memberConfig(
      "reload",
      `[[services]]
name = "slow"
servers = [${silent.map((l) => `{ address = "127.0.0.1", port = ${l.port} }`).join(", ")}]
check = { kind = "http", interval = "${INTERVAL_MS}ms", timeout = "400ms", rise = 1, fall = 100 }
`,
    );
    const services = new Services();
    const checks = checksModule.create(testContext(cfg, "alpha", services));
    await checks.start(cfg);
    const mostOpen = async (ms: number) => {
      let most = 0;
      for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(10)) most = Math.max(most, open);
      return most;
    };
    try {
      const service = services.get("checks")!;
      const heard: ServerChange[] = [];
      const want = { services: ["slow"], concurrency: 1, initial: "up" as const };
      const sub = service.subscribe(want, (c) => heard.push(c));
      const key = `slow/127.0.0.1:${silent[0]!.port}`;
      await waitFor("the first health", () => service.health(key), 3000);
      expect(service.health(key)).toMatchObject({ state: "unknown", healthy: true });
      expect(await mostOpen(1000)).toBe(1);

      sub.update({ ...want, concurrency: 6 });
      expect(await mostOpen(1000)).toBe(6);

      sub.update({ ...want, concurrency: 6, initial: "down" });
      await waitFor("unknown servers count as down", () => (heard.filter((c) => !c.healthy).length === 6 ? true : undefined), 3000);
      expect(heard.map((c) => [c.state, c.healthy, c.reason])).toEqual(Array(6).fill(["unknown", false, "unknown servers count as down until checked"]));
      expect(service.health(key)).toMatchObject({ state: "unknown", healthy: false });
      sub.close();
    } finally {
      await checks.stop();
      for (const l of silent) l.stop(true);
    }
  });
});
