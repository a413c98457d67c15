import { describe, expect, test } from "bun:test";
import { decide, step, type DirectorInput, type DirectorState, type DirectorStep, type Health } from "../../../modules/director/engine.ts";
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

  test("a server's own inhibit_on_failure overrides its virtual service's, either way", () => {
    const own = (inhibit: boolean) => ({ ...service, servers: service.servers.map((s, i) => (i === 1 ? { ...s, inhibit_on_failure: inhibit } : s)) });
    const failed = { 1: { healthy: false, weight: 3 }, 2: { healthy: false, weight: 1 }, 3: { healthy: true, weight: 2 } };
    expect(reals(decide(input({ services: [own(true)] }, failed), true))).toEqual(["198.18.9.102:80=0", "198.18.9.103:8080=2"]);
    expect(reals(decide(input({ services: [own(false)], virtualServices: [vs({ inhibit_on_failure: true })] }, failed), true))).toEqual(["198.18.9.101:80=0", "198.18.9.103:8080=2"]);
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

describe("the active/up/down machine, a reload as one of its inputs", () => {
  /** Feeds the inputs in turn; each decide's output and events are kept. */
  class Machine {
    state = {} as DirectorState;
    readonly programs: ReturnType<typeof decide>[] = [];
    readonly events: Array<{ name: string; up: boolean }> = [];
    readonly roles: string[] = [];
    feed(...inputs: DirectorStep[]): this {
      for (const input of inputs) {
        const r = step(this.state, input);
        this.state = r.state;
        for (const e of r.effects) {
          if (e.type === "program") this.programs.push(e.output);
          else if (e.type === "sync") this.roles.push(e.role);
          else this.events.push({ name: e.data.name, up: e.data.up });
        }
      }
      return this;
    }
    decide(health: Record<number, Health> = {}, overrides: Record<string, number> = {}): ReturnType<typeof decide> {
      this.feed({ type: "decide", services: [service], health: new Map(Object.entries(health).map(([n, h]) => [K(Number(n)), h])), overrides });
      return this.programs.at(-1)!;
    }
  }
  const reals = (o: ReturnType<typeof decide>) => o.desired[0]?.reals.map((r) => [r.address, r.weight]) ?? null;

  test("managed, it is active once the resource starts it and until it stops it, and the standby programs the same dataplane; unmanaged by a reload, it is active at once", () => {
    const m = new Machine().feed({ type: "start", virtualServices: [vs()], managed: true });
    expect(m.state.active).toBe(false);
    const standby = m.decide();
    expect(reals(standby)).toHaveLength(3);
    m.feed({ type: "agent", action: "start" });
    expect(m.state.active).toBe(true);
    expect(m.decide().desired).toEqual(standby.desired);
    m.feed({ type: "agent", action: "stop" });
    expect(m.decide().desired).toEqual(standby.desired);
    m.feed({ type: "reload", virtualServices: [vs()], managed: false });
    expect(m.state.active).toBe(true);
    expect(m.roles).toEqual(["backup", "primary", "backup", "primary"]);
  });

  test("the sync's role follows activity, once per change: made managed by a reload it stays primary until the resource manager stops it; a repeated start or stop says nothing", () => {
    const m = new Machine().feed({ type: "start", virtualServices: [vs()], managed: false }, { type: "reload", virtualServices: [vs()], managed: true });
    expect(m.state.active).toBe(true);
    expect(m.roles).toEqual(["primary"]);
    m.feed({ type: "agent", action: "stop" }, { type: "agent", action: "stop" });
    expect(m.state.active).toBe(false);
    m.feed({ type: "agent", action: "start" }, { type: "agent", action: "start" }, { type: "reload", virtualServices: [vs()], managed: true });
    expect(m.roles).toEqual(["primary", "backup", "primary"]);
  });

  test("alpha given by a reload: the servers the checks have not judged leave the dataplane; taken away, they come back", () => {
    const m = new Machine().feed({ type: "start", virtualServices: [vs()], managed: false });
    const judged = { 1: { healthy: true, weight: 3 } };
    expect(reals(m.decide(judged))).toEqual([
      ["198.18.9.101", 3],
      ["198.18.9.102", 1],
      ["198.18.9.103", 2],
    ]);
    m.feed({ type: "reload", virtualServices: [vs({ alpha: true })], managed: false });
    expect(reals(m.decide(judged))).toEqual([["198.18.9.101", 3]]);
    m.feed({ type: "reload", virtualServices: [vs()], managed: false });
    expect(reals(m.decide(judged))).toHaveLength(3);
  });

  test("a new quorum from a reload applies with hysteresis from the kept up/down; a virtual service gone and back starts up", () => {
    const m = new Machine().feed({ type: "start", virtualServices: [vs({ quorum: 4, hysteresis: 1 })], managed: false });
    const some = { 1: { healthy: true, weight: 3 }, 2: { healthy: false, weight: 1 }, 3: { healthy: false, weight: 2 } };
    expect(m.decide(some).views[0]!.up).toBe(true); // 3 >= 4 - 1
    m.feed({ type: "reload", virtualServices: [vs({ quorum: 5, hysteresis: 1 })], managed: false });
    expect(m.decide(some).views[0]!.up).toBe(false); // 3 < 5 - 1
    m.feed({ type: "reload", virtualServices: [vs({ quorum: 3, hysteresis: 1 })], managed: false });
    expect(m.decide(some).views[0]!.up).toBe(false); // down: up again only at 3 + 1
    expect(m.events).toEqual([{ name: "web-vip", up: false }]);
    m.feed({ type: "reload", virtualServices: [], managed: false }, { type: "reload", virtualServices: [vs({ quorum: 3, hysteresis: 1 })], managed: false });
    expect(m.state.wasUp).toEqual({});
    expect(m.decide(some).views[0]!.up).toBe(true); // 3 >= 3 - 1, as a new one
  });
});
