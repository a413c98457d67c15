/** The checks shell on the real clock: real tcp checks, and stand-in checkers to watch concurrency and aborts. */
import { describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { ServiceSchema, type ServiceRaw } from "../../../modules/checks/config.ts";
import { CHECKERS } from "../../../modules/checks/checkers.ts";
import type { CheckFn } from "../../../modules/checks/target.ts";
import type { ServerChange } from "../../../modules/checks/engine.ts";
import { Checker } from "../../../modules/checks/service.ts";
import { seededRandom } from "../../../core/random.ts";
import { realClock } from "../../../core/time.ts";
import { freePort, waitFor } from "../../helpers.ts";

function service(name: string, ports: number[], check: object = {}): ServiceRaw {
  return Value.Default(ServiceSchema, { name, servers: ports.map((port) => ({ address: "127.0.0.1", port })), check: { kind: "tcp", interval: "100ms", timeout: "500ms", rise: 1, fall: 1, ...check } }) as ServiceRaw;
}

describe("Checker", () => {
  test("tcp checks find a listener up and a closed port down, follow a change, and stop", async () => {
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const closed = await freePort();
    const changes: ServerChange[] = [];
    const checker = new Checker({ services: [service("web", [listener.port, closed])], concurrency: 4, initial: "up", clock: realClock, random: seededRandom(1), onChange: (c) => changes.push(c) });
    try {
      checker.start();
      await waitFor("both servers judged", () => (changes.length >= 2 ? true : undefined), 3000);
      const [open, refused] = checker.status()[0]!.servers;
      expect(open).toMatchObject({ key: `web/127.0.0.1:${listener.port}`, state: "up", healthy: true, weight: 1, last: { ok: true, message: "connected" } });
      expect(refused).toMatchObject({ state: "down", healthy: false, last: { ok: false, message: "connect: ECONNREFUSED" } });
      expect(Math.abs(refused!.lastChange! - Date.now())).toBeLessThan(2000);
      listener.stop(true);
      await waitFor("the listener down", () => changes.find((c) => c.server === `127.0.0.1:${listener.port}` && c.state === "down"), 3000);
      checker.stop();
      const seen = changes.length;
      await Bun.sleep(300);
      expect(changes).toHaveLength(seen);
    } finally {
      checker.stop();
      listener.stop(true);
    }
  });

  test("reload keeps the state of servers that stay and aborts the checks that no longer count; stop aborts the rest", async () => {
    const aborted: number[] = [];
    const hang: CheckFn = (target, _check, signal) =>
      new Promise((resolve) => {
        if (target.port === 1) return resolve({ ok: false, message: "refused" });
        signal.addEventListener("abort", () => {
          aborted.push(target.port!);
          resolve({ ok: false, message: "cancelled" });
        });
      });
    const checker = new Checker({ services: [service("web", [1, 2, 3])], concurrency: 8, initial: "up", clock: realClock, random: seededRandom(2), checkers: { ...CHECKERS, tcp: hang } });
    try {
      checker.start();
      await waitFor("port 1 down", () => (checker.status()[0]!.servers[0]!.state === "down" ? true : undefined), 3000);
      await waitFor("ports 2 and 3 in flight", () => (checker.status()[0]!.servers.filter((s) => s.checking).length >= 2 ? true : undefined), 3000);
      checker.reload([service("web", [1, 3, 4])]);
      expect(aborted).toEqual([2]);
      const after = checker.status()[0]!.servers;
      expect(after.map((s) => [s.port, s.state])).toEqual([
        [1, "down"],
        [3, "unknown"],
        [4, "unknown"],
      ]);
      await waitFor("port 4 in flight", () => (checker.status()[0]!.servers[2]!.checking ? true : undefined), 3000);
      checker.stop();
      expect(aborted.sort()).toEqual([2, 3, 4]);
    } finally {
      checker.stop();
    }
  });

  test("never more checks in flight than the concurrency", async () => {
    let inFlight = 0;
    let most = 0;
    let done = 0;
    const slow: CheckFn = async () => {
      most = Math.max(most, ++inFlight);
      await Bun.sleep(30);
      inFlight--;
      done++;
      return { ok: true, message: "ok" };
    };
    const ports = Array.from({ length: 20 }, (_, i) => 1000 + i);
    const checker = new Checker({ services: [service("web", ports)], concurrency: 3, initial: "up", clock: realClock, random: seededRandom(3), checkers: { ...CHECKERS, tcp: slow } });
    try {
      checker.start();
      await waitFor("40 checks", () => (done >= 40 ? true : undefined), 5000);
      expect(most).toBe(3);
    } finally {
      checker.stop();
    }
  });
});
