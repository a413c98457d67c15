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
      expect(withOne).toBeGreaterThanOrEqual(expected - 3);
      expect(withOne).toBeLessThanOrEqual(expected + 1);
      expect(Math.abs(withTwo - withOne)).toBeLessThanOrEqual(1);

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
});
