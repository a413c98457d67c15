import { describe, expect, test } from "bun:test";
import { decide, type DirectorInput, type Health } from "../../../modules/director/engine.ts";
import { parseHostPort } from "../../../core/os/ip.ts";
import type { VirtualServiceRaw } from "../../../modules/director/config.ts";
import type { ServiceRaw } from "../../../modules/checks/config.ts";

const service: ServiceRaw = {
  name: "web",
  port: 80,
  servers: [
    { address: "198.18.9.101", weight: 3 },
    { address: "198.18.9.102", weight: 1 },
    { address: "198.18.9.103", port: 8080, weight: 2 },
  ],
  check: { kind: "tcp", interval: "5s", timeout: "3s", rise: 2, fall: 3, path: "/", status: "200-399", verify_tls: false, dynamic_weight: false, query_type: "A" },
};

const vs = (over: Partial<VirtualServiceRaw> = {}): VirtualServiceRaw => ({
  name: "web-vip",
  address: "198.18.9.50",
  port: 80,
  protocol: "tcp",
  service: "web",
  scheduler: "wrr",
  forwarding: "nat",
  quorum: 0,
  hysteresis: 0,
  inhibit_on_failure: false,
  alpha: false,
  ...over,
});

const K = (n: number) => `web/198.18.9.10${n}:${n === 3 ? 8080 : 80}`;

function input(over: Partial<DirectorInput> = {}, health: Record<number, Health> = {}): DirectorInput {
  return {
    virtualServices: [vs()],
    services: [service],
    health: new Map(Object.entries(health).map(([n, h]) => [K(Number(n)), h])),
    overrides: {},
    wasUp: {},
    active: true,
    ...over,
  };
}

const reals = (o: ReturnType<typeof decide>) => o.desired[0]!.reals.map((r) => `${r.address}:${r.port}=${r.weight}`);

describe("the director's decision", () => {
  test("healthy servers take their weights, at their own port or the service's; a failed one is removed", () => {
    const o = decide(input({}, { 1: { healthy: true, weight: 3 }, 2: { healthy: false, weight: 1 }, 3: { healthy: true, weight: 2 } }), true);
    expect(o.desired[0]).toMatchObject({ key: "tcp:198.18.9.50:80", address: "198.18.9.50", port: 80, scheduler: "wrr", forwarding: "nat" });
    expect(reals(o)).toEqual(["198.18.9.101:80=3", "198.18.9.103:8080=2"]);
    expect(o.views[0]).toMatchObject({ up: true, healthyWeight: 5, sorry: false });
  });

  test("inhibit_on_failure keeps a failed server at weight 0 (drained); the admin's weight and drain override the checks' and the dynamic weight", () => {
    const o = decide(input({ virtualServices: [vs({ inhibit_on_failure: true })], overrides: { [K(1)]: 0, [K(3)]: 7 } }, { 1: { healthy: true, weight: 3 }, 2: { healthy: false, weight: 1 }, 3: { healthy: true, weight: 9 } }), true);
    expect(reals(o)).toEqual(["198.18.9.101:80=0", "198.18.9.102:80=0", "198.18.9.103:8080=7"]);
    expect(o.views[0]!.servers.map((s) => s.override)).toEqual([0, null, 7]);
  });

  test("servers not checked yet count as the initial state: up, or down with alpha", () => {
    expect(reals(decide(input(), true))).toEqual(["198.18.9.101:80=3", "198.18.9.102:80=1", "198.18.9.103:8080=2"]);
    expect(decide(input(), false).desired[0]!.reals).toEqual([]);
  });

  test("quorum with hysteresis: lost below quorum - hysteresis, regained only at quorum + hysteresis; the sorry server serves meanwhile", () => {
    const v = vs({ quorum: 4, hysteresis: 1, sorry_server: "198.18.9.200:80" });
    const at = (healthy: number[], wasUp: boolean) =>
      decide(input({ virtualServices: [v], wasUp: { "web-vip": wasUp } }, Object.fromEntries([1, 2, 3].map((n) => [n, { healthy: healthy.includes(n), weight: service.servers[n - 1]!.weight }]))), true);
    expect(at([1], true).up["web-vip"]).toBe(true);
    expect(at([2, 3], true).up["web-vip"]).toBe(true);
    expect(at([2], true).up["web-vip"]).toBe(false);
    const down = at([2], true);
    expect(reals(down)).toEqual(["198.18.9.200:80=1"]);
    expect(down.views[0]!.sorry).toBe(true);
    expect(at([1], false).up["web-vip"]).toBe(false);
    expect(at([1, 2], false).up["web-vip"]).toBe(false);
    expect(at([1, 3], false).up["web-vip"]).toBe(true);
  });

  test("quorum 0: up while any server is healthy; without a sorry server a service that is down keeps what it has", () => {
    const none = decide(input({}, { 1: { healthy: false, weight: 3 }, 2: { healthy: false, weight: 1 }, 3: { healthy: false, weight: 2 } }), true);
    expect(none.up["web-vip"]).toBe(false);
    expect(none.desired[0]!.reals).toEqual([]);
  });

  test("a node that is not the active director programs nothing, and still knows each server's health", () => {
    const o = decide(input({ active: false }, { 1: { healthy: false, weight: 3 } }), true);
    expect(o.desired).toEqual([]);
    expect(o.views[0]!.servers.map((s) => s.healthy)).toEqual([false, true, true]);
  });

  test("a fwmark service, and persistence with its netmask", () => {
    const o = decide(input({ virtualServices: [vs({ address: undefined, port: undefined, fwmark: 7, persistence: "5m", persistence_netmask: "255.255.255.0", forwarding: "dr" })] }), true);
    expect(o.desired[0]).toMatchObject({ key: "fwmark:7", fwmark: 7, address: "0.0.0.0", port: 0, forwarding: "dr", persistence: { timeoutMs: 300_000, netmask: "255.255.255.0" } });
    expect(o.desired[0]!.reals.every((r) => r.forwarding === "dr")).toBe(true);
  });

  test("ADDRESS:PORT, [V6]:PORT; anything else is not one", () => {
    expect(parseHostPort("198.18.9.200:80")).toEqual({ address: "198.18.9.200", port: 80 });
    expect(parseHostPort("[fd00::1]:443")).toEqual({ address: "fd00::1", port: 443 });
    for (const bad of ["198.18.9.200", "198.18.9.300:80", "host:80", "198.18.9.1:0", "[fd00::1]", "fd00::1:80"]) expect(parseHostPort(bad)).toBeUndefined();
  });
});
