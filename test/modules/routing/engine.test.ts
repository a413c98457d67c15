import { describe, expect, test } from "bun:test";
import { initialRouting, prefixOf, step, type NodeView, type RoutingEffect, type RoutingInput, type RoutingState } from "../../../modules/routing/engine.ts";

const WEB = { name: "web", address: "198.18.20.10" };
const TLS = { name: "tls", address: "198.18.20.10" };
const DNS = { name: "dns", address: "2001:db8::53" };

/** A node that may serve every service it names. */
const serving = (over: Partial<NodeView> = {}, up: Record<string, boolean> = { web: true, tls: true, dns: true }): NodeView => ({
  director: { active: true, up },
  standby: false,
  quorate: true,
  ...over,
});

function run(inputs: RoutingInput[]): { state: RoutingState; effects: RoutingEffect[][] } {
  let state = initialRouting();
  const effects: RoutingEffect[][] = [];
  for (const i of inputs) {
    const r = step(state, i);
    state = r.state;
    effects.push(r.effects);
  }
  return { state, effects };
}

const announced = (effects: RoutingEffect[] | undefined) => (effects ?? []).find((e) => e.type === "announce");
const withdrawn = (effects: RoutingEffect[] | undefined) => (effects ?? []).flatMap((e) => (e.type === "event" && e.event === "routing.withdraw" ? [e.data] : []));

describe("routing engine: when an address is announced", () => {
  test("a host prefix per address family", () => {
    expect(prefixOf("198.18.20.10")).toBe("198.18.20.10/32");
    expect(prefixOf("2001:db8::53")).toBe("2001:db8::53/128");
  });

  test("nothing before the node's first view, then its services that may be served", () => {
    const { state, effects } = run([{ type: "start", services: [WEB, DNS] }, { type: "observe", view: serving() }]);
    expect(effects[0]).toEqual([]);
    expect(announced(effects[1])).toEqual({ type: "announce", prefixes: ["198.18.20.10/32", "2001:db8::53/128"] });
    expect(effects[1]!.filter((e) => e.type === "event").map((e) => (e as { event: string }).event)).toEqual(["routing.announce", "routing.announce"]);
    expect(state.announced).toEqual(["198.18.20.10/32", "2001:db8::53/128"]);
  });

  test("the same view again changes nothing", () => {
    const { effects } = run([{ type: "start", services: [WEB] }, { type: "observe", view: serving() }, { type: "observe", view: serving() }]);
    expect(effects[2]).toEqual([]);
  });
});

describe("routing engine: each rule withdraws at once", () => {
  const withdrawBy = (view: NodeView) => run([{ type: "start", services: [WEB, DNS] }, { type: "observe", view: serving() }, { type: "observe", view }]).effects[2];

  test("the director not running here", () => {
    const e = withdrawBy(serving({ director: null }));
    expect(announced(e)).toEqual({ type: "announce", prefixes: [] });
    expect(withdrawn(e).map((w) => w.reason)).toEqual(["no-director", "no-director"]);
  });

  test("the director not active here (the resource manager stopped it, or its clone instance)", () => {
    const e = withdrawBy(serving({ director: { active: false, up: { web: true, dns: true } } }));
    expect(announced(e)!.prefixes).toEqual([]);
    expect(withdrawn(e).map((w) => w.reason)).toEqual(["director-inactive", "director-inactive"]);
  });

  test("the service down (below its quorum of healthy servers): only its address", () => {
    const e = withdrawBy(serving({}, { web: false, dns: true }));
    expect(announced(e)!.prefixes).toEqual(["2001:db8::53/128"]);
    expect(withdrawn(e)).toEqual([{ prefix: "198.18.20.10/32", services: ["web"], reason: "service-down", service: "web" }]);
  });

  test("a service the director does not know is down", () => {
    const e = withdrawBy(serving({}, { dns: true }));
    expect(withdrawn(e)).toEqual([{ prefix: "198.18.20.10/32", services: ["web"], reason: "service-down", service: "web" }]);
  });

  test("the node in standby", () => {
    const e = withdrawBy(serving({ standby: true }));
    expect(announced(e)!.prefixes).toEqual([]);
    expect(withdrawn(e).map((w) => w.reason)).toEqual(["standby", "standby"]);
  });

  test("the node without quorum", () => {
    const e = withdrawBy(serving({ quorate: false }));
    expect(announced(e)!.prefixes).toEqual([]);
    expect(withdrawn(e).map((w) => w.reason)).toEqual(["no-quorum", "no-quorum"]);
  });

  test("a clean stop withdraws everything, and nothing is announced after it", () => {
    const { effects, state } = run([{ type: "start", services: [WEB] }, { type: "observe", view: serving() }, { type: "stop" }, { type: "observe", view: serving() }]);
    expect(announced(effects[2])!.prefixes).toEqual([]);
    expect(withdrawn(effects[2]).map((w) => w.reason)).toEqual(["stopping"]);
    expect(effects[3]).toEqual([]);
    expect(state.announced).toEqual([]);
  });

  test("the first rule that fails is the reason given", () => {
    const e = withdrawBy(serving({ standby: true, quorate: false }, { web: false, dns: false }));
    expect(withdrawn(e).map((w) => w.reason)).toEqual(["service-down", "service-down"]);
  });

  test("announced again once every rule holds again", () => {
    const { effects } = run([{ type: "start", services: [WEB] }, { type: "observe", view: serving() }, { type: "observe", view: serving({ quorate: false }) }, { type: "observe", view: serving() }]);
    expect(announced(effects[3])).toEqual({ type: "announce", prefixes: ["198.18.20.10/32"] });
  });

  test("active/active on IPVS: an address the node failed to hold is withdrawn (not-hosted), the others stay; held again, it is announced", () => {
    const { effects } = run([
      { type: "start", services: [WEB, TLS, DNS] },
      { type: "observe", view: serving() },
      { type: "observe", view: serving({ unhosted: ["198.18.20.10/32"] }) },
      { type: "observe", view: serving() },
    ]);
    expect(announced(effects[2])).toEqual({ type: "announce", prefixes: ["2001:db8::53/128"] });
    expect(withdrawn(effects[2])).toEqual([{ prefix: "198.18.20.10/32", services: ["web", "tls"], reason: "not-hosted", service: "web" }]);
    expect(announced(effects[3])).toEqual({ type: "announce", prefixes: ["198.18.20.10/32", "2001:db8::53/128"] });
  });
});

describe("routing engine: services sharing an address", () => {
  test("the address is announced only while every service on it may be served", () => {
    const { effects } = run([
      { type: "start", services: [WEB, TLS] },
      { type: "observe", view: serving() },
      { type: "observe", view: serving({}, { web: true, tls: false }) },
    ]);
    expect(announced(effects[1])!.prefixes).toEqual(["198.18.20.10/32"]);
    expect(announced(effects[2])!.prefixes).toEqual([]);
    expect(withdrawn(effects[2])).toEqual([{ prefix: "198.18.20.10/32", services: ["web", "tls"], reason: "service-down", service: "tls" }]);
  });
});

describe("routing engine: reload", () => {
  test("a service no longer announced is withdrawn; one added is judged at once", () => {
    const { effects, state } = run([{ type: "start", services: [WEB] }, { type: "observe", view: serving() }, { type: "reload", services: [DNS] }]);
    expect(announced(effects[2])!.prefixes).toEqual(["2001:db8::53/128"]);
    expect(withdrawn(effects[2])).toEqual([{ prefix: "198.18.20.10/32", services: [], reason: "removed" }]);
    expect(state.services).toEqual([DNS]);
  });
});
