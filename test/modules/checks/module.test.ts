/**
 * The checks module as the runtime runs it, its checker in its worker
 * thread, against a real HTTP server on loopback that counts the probes it
 * receives: one checker for the server however many consumers subscribe,
 * from the first subscription to the last.
 */
import { describe, expect, test } from "bun:test";
import { Services } from "../../../core/cluster.ts";
import { realClock, type Clock } from "../../../core/time.ts";
import type { ServerChange } from "../../../modules/checks/engine.ts";
import { checksModule } from "../../../modules/checks/index.ts";
import { ChecksModule } from "../../../modules/checks/control.ts";
import { WORKER_RESTART_MS } from "../../../modules/checks/messages.ts";
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

  test("its thread runs only while someone subscribes: none at start, one from the first subscription, closed after the last leaves, one again for a new first", async () => {
    // Every Worker made while this test runs is counted from its construction to its close.
    const live = new Set<Worker>();
    let made = 0;
    const Real = globalThis.Worker;
    globalThis.Worker = class extends Real {
      constructor(...args: ConstructorParameters<typeof Worker>) {
        super(...args);
        made++;
        live.add(this);
        this.addEventListener("close", () => live.delete(this));
      }
    };
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
    const cfg = config(server.port!);
    const services = new Services();
    const checks = checksModule.create(testContext(cfg, "alpha", services));
    const thread = () => (checks.status() as { thread: string }).thread;
    try {
      await checks.start(cfg);
      await Bun.sleep(3 * INTERVAL_MS);
      expect([made, live.size, thread()]).toEqual([0, 0, "idle"]);

      const service = services.get("checks")!;
      const want = { services: ["web"], concurrency: 4, initial: "up" as const };
      const one = service.subscribe(want, () => undefined);
      const two = service.subscribe(want, () => undefined);
      await waitFor("the first health", () => service.health(`web/127.0.0.1:${server.port}`), 3000);
      expect([made, live.size, thread()]).toEqual([1, 1, "running"]);

      one.close();
      await Bun.sleep(3 * INTERVAL_MS);
      expect([made, live.size, thread()]).toEqual([1, 1, "running"]);
      two.close();
      await waitFor("the thread's close", () => (live.size === 0 ? true : undefined), 3000);
      expect([made, thread()]).toEqual([1, "idle"]);
      expect(service.health(`web/127.0.0.1:${server.port}`)).toBeUndefined();

      // A subscription and its close in one turn start no thread.
      service.subscribe(want, () => undefined).close();
      await Bun.sleep(3 * INTERVAL_MS);
      expect(made).toBe(1);

      const three = service.subscribe(want, () => undefined);
      await waitFor("the new first health", () => service.health(`web/127.0.0.1:${server.port}`), 3000);
      expect([made, live.size]).toEqual([2, 1]);
      three.close();
    } finally {
      await checks.stop();
      globalThis.Worker = Real;
      server.stop(true);
    }
    await waitFor("the last thread's close after the stop", () => (live.size === 0 ? true : undefined), 3000);
  });

  for (const death of ["throws", "exits"] as const) {
    test(`a thread that dies (${death}) is replaced WORKER_RESTART_MS later on the runtime's clock: probes resume, and consumers hear the health that changed across the restart`, async () => {
      let probes = 0;
      const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (probes++, new Response("ok")) });
      const cfg = config(server.port!);
      const services = new Services();
      // The runtime's clock, but its restart timer waits for the test.
      const restarts: Array<() => void> = [];
      const clock: Clock = { ...realClock, after: (ms, fn) => (ms === WORKER_RESTART_MS ? (restarts.push(fn), () => undefined) : realClock.after(ms, fn)) };
      const ctx = { ...testContext(cfg, "alpha", services), clock };
      const errors: unknown[] = [];
      ctx.events.subscribe((e) => void (e.type === "checks.error" && errors.push(e.data.message)));
      const checks = new ChecksModule(ctx, new URL(`./threads/${death}.ts`, import.meta.url).pathname);
      await checks.start(cfg);
      try {
        const heard: ServerChange[] = [];
        // "down" (alpha): unchecked servers count as down, so a new thread's first health differs from an up server's.
        service(services).subscribe({ services: ["web"], concurrency: 4, initial: "down" }, (c) => heard.push(c));
        await waitFor("the first judgement", () => heard.find((c) => c.state === "up"), 3000);
        heard.length = 0;

        checks.status(); // the thread dies of the request
        await waitFor("checks.error", () => errors[0], 3000);
        expect(String(errors[0])).toContain(death === "throws" ? "the test killed the checks' thread" : "the thread exited with code 7");
        expect((checks.status() as { thread: string }).thread).toBe("restarting");
        expect(restarts.length).toBe(1);
        await Bun.sleep(2 * INTERVAL_MS);
        probes = 0;
        await Bun.sleep(5 * INTERVAL_MS);
        expect(probes).toBe(0);
        expect(heard).toEqual([]);

        restarts[0]!();
        await waitFor("up again", () => heard.find((c) => c.state === "up"), 3000);
        const key = `web/127.0.0.1:${server.port}`;
        expect(heard.map((c) => [c.key, c.previous, c.state, c.healthy, c.reason])).toEqual([
          [key, "up", "unknown", false, "the checks' thread started again"],
          [key, "unknown", "up", true, expect.any(String)],
        ]);
        expect(probes).toBeGreaterThan(0);
        expect(service(services).health(key)).toMatchObject({ state: "up", healthy: true });
        expect(errors.length).toBe(1);
      } finally {
        await checks.stop();
        server.stop(true);
      }
    });
  }
});

const service = (services: Services) => services.get("checks")!;

