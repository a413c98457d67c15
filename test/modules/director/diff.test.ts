import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { applyDiff, diff, touched } from "../../../modules/director/dataplane/diff.ts";
import { modelProblems, realKey, serviceKey, settingsOf, type Change, type RealServer, type VirtualService } from "../../../modules/director/dataplane/model.ts";

const VIPS = ["198.18.0.10", "198.18.0.11"];
const RIPS = ["198.18.1.2", "198.18.1.3", "198.18.1.4"];

const real: fc.Arbitrary<RealServer> = fc.record({
  address: fc.constantFrom(...RIPS),
  port: fc.constantFrom(80, 8080),
  weight: fc.integer({ min: 0, max: 3 }),
  forwarding: fc.constantFrom("nat" as const, "dr" as const),
});

const service: fc.Arbitrary<VirtualService> = fc
  .record({
    protocol: fc.constantFrom("tcp" as const, "udp" as const),
    address: fc.constantFrom(...VIPS),
    port: fc.constantFrom(80, 443),
    scheduler: fc.constantFrom("rr" as const, "wrr" as const, "sh" as const),
    forwarding: fc.constantFrom("nat" as const, "dr" as const),
    persistence: fc.option(fc.record({ timeoutMs: fc.constantFrom(60_000, 300_000) }), { nil: undefined }),
    reals: fc.uniqueArray(real, { selector: realKey, maxLength: 4 }),
  })
  .map(({ persistence, ...s }) => ({ ...s, key: serviceKey(s), ...(persistence ? { persistence } : {}) }));

const state = fc.uniqueArray(service, { selector: (s) => s.key, maxLength: 6 });

/** A state in a form that compares whatever the order of services and reals. */
function canonical(services: VirtualService[]): unknown {
  return [...services]
    .sort((a, b) => a.key.localeCompare(b.key))
    .map((s) => ({ ...s, reals: [...s.reals].sort((a, b) => realKey(a).localeCompare(realKey(b))) }));
}

/** Whether a change names something that is the same in both states. */
function touchesUnchanged(change: Change, current: VirtualService[], desired: VirtualService[]): boolean {
  const key = change.kind === "add-service" || change.kind === "update-service" ? change.service.key : change.key;
  const c = current.find((s) => s.key === key);
  const d = desired.find((s) => s.key === key);
  if (change.kind === "update-service") return JSON.stringify(canonical([{ ...settingsOf(c!), reals: [] }])) === JSON.stringify(canonical([{ ...settingsOf(d!), reals: [] }]));
  if (change.kind === "add-service" || change.kind === "remove-service") return c !== undefined && d !== undefined;
  const rk = change.kind === "remove-real" ? realKey(change) : realKey(change.real);
  const before = c?.reals.find((r) => realKey(r) === rk);
  const after = d?.reals.find((r) => realKey(r) === rk);
  return before !== undefined && after !== undefined && JSON.stringify(before) === JSON.stringify(after);
}

describe("director dataplane diff", () => {
  test("property: applying diff(current, desired) to current gives desired", () => {
    fc.assert(
      fc.property(state, state, (current, desired) => {
        expect(canonical(applyDiff(current, diff(current, desired)))).toEqual(canonical(desired));
      }),
      { numRuns: 500 },
    );
  });

  test("property: diff(x, x) is empty", () => {
    fc.assert(fc.property(state, (x) => diff(x, structuredClone(x)).length === 0));
  });

  test("property: unchanged services and real servers never appear; nothing appears twice", () => {
    fc.assert(
      fc.property(state, state, (current, desired) => {
        const changes = diff(current, desired);
        for (const change of changes) expect(touchesUnchanged(change, current, desired)).toBe(false);
        const ids = changes.map((c) => `${c.kind.endsWith("service") ? "s" : "r"} ${JSON.stringify(c.kind === "add-service" || c.kind === "update-service" ? c.service.key : c.key)} ${c.kind === "remove-real" ? realKey(c) : c.kind.endsWith("real") ? realKey((c as { real: RealServer }).real) : ""}`);
        expect(new Set(ids).size).toBe(ids.length);
      }),
      { numRuns: 500 },
    );
  });

  test("property: a service added or removed whole is one change, its real servers with it", () => {
    fc.assert(
      fc.property(state, state, (current, desired) => {
        const changes = diff(current, desired);
        const whole = new Set(changes.filter((c) => c.kind === "add-service" || c.kind === "remove-service").map((c) => (c.kind === "add-service" ? c.service.key : (c as { key: string }).key)));
        for (const c of changes) if (c.kind.endsWith("real")) expect(whole.has((c as { key: string }).key)).toBe(false);
      }),
    );
  });

  const vs = (port: number, reals: RealServer[]): VirtualService => ({ key: `tcp:198.18.0.10:${port}`, protocol: "tcp", address: "198.18.0.10", port, scheduler: "wrr", forwarding: "nat", reals });
  const rs = (address: string, weight: number): RealServer => ({ address, port: 80, weight, forwarding: "nat" });

  test("a drain is one update of one real server; removals come first, then updates, then additions", () => {
    const current = [vs(80, [rs("198.18.1.2", 3), rs("198.18.1.3", 1)]), vs(81, [rs("198.18.1.2", 1)])];
    expect(diff(current, [vs(80, [rs("198.18.1.2", 0), rs("198.18.1.3", 1)]), vs(81, [rs("198.18.1.2", 1)])])).toEqual([{ kind: "update-real", key: "tcp:198.18.0.10:80", real: rs("198.18.1.2", 0) }]);
    const changes = diff(current, [{ ...vs(80, [rs("198.18.1.3", 2), rs("198.18.1.4", 1)]), scheduler: "rr" }, vs(82, [])]);
    expect(changes.map((c) => c.kind)).toEqual(["remove-service", "remove-real", "update-service", "update-real", "add-real", "add-service"]);
    expect(touched(changes)).toEqual(new Set(["tcp:198.18.0.10:81", "tcp:198.18.0.10:80", "tcp:198.18.0.10:82"]));
  });

  test("a diff that does not fit the state it is applied to is refused", () => {
    const current = [vs(80, [rs("198.18.1.2", 1)])];
    expect(() => applyDiff(current, [{ kind: "remove-service", key: "tcp:198.18.0.10:99" }])).toThrow("virtual service tcp:198.18.0.10:99, which is not there");
    expect(() => applyDiff(current, [{ kind: "add-service", service: current[0]! }])).toThrow("already there");
    expect(() => applyDiff(current, [{ kind: "add-real", key: current[0]!.key, real: rs("198.18.1.2", 2) }])).toThrow("adds real server 198.18.1.2:80 of tcp:198.18.0.10:80, which is already there");
    expect(() => applyDiff(current, [{ kind: "update-real", key: current[0]!.key, real: rs("198.18.1.9", 2) }])).toThrow("which is not there");
    expect(() => applyDiff(current, [{ kind: "remove-real", key: current[0]!.key, address: "198.18.1.9", port: 80 }])).toThrow("removes real server 198.18.1.9:80");
  });

  test("model problems name the service, the server and what is wrong", () => {
    expect(modelProblems([vs(80, [rs("198.18.1.2", 1)])])).toEqual([]);
    expect(modelProblems([{ ...vs(80, []), key: "tcp:x:80" }])).toEqual(["virtual service tcp:x:80: its key should be tcp:198.18.0.10:80"]);
    expect(modelProblems([vs(80, []), vs(80, [])])).toEqual(["virtual service tcp:198.18.0.10:80: defined twice"]);
    expect(modelProblems([vs(80, [rs("198.18.1.2", 1), rs("198.18.1.2", 70_000), rs("fd00::1", 1)])])).toEqual([
      "virtual service tcp:198.18.0.10:80, real server 198.18.1.2:80: listed twice",
      "virtual service tcp:198.18.0.10:80, real server 198.18.1.2:80: weight 70000 is not from 0 to 65535",
      "virtual service tcp:198.18.0.10:80, real server [fd00::1]:80: an IPv6 server in an IPv4 service",
    ]);
    const fw = { ...vs(0, []), fwmark: 7, key: "fwmark:7" };
    expect(modelProblems([fw])).toEqual(["virtual service fwmark:7: a fwmark service has port 0 and the unspecified address (0.0.0.0 or ::)"]);
    expect(modelProblems([{ ...fw, address: "0.0.0.0" }])).toEqual([]);
    expect(modelProblems([{ ...vs(80, []), persistence: { timeoutMs: 0, netmask: "255.0.255.0" } }])).toEqual([
      "virtual service tcp:198.18.0.10:80: persistence timeout 0 ms is not a positive whole number",
      'virtual service tcp:198.18.0.10:80: persistence netmask "255.0.255.0" is not an IPv4 netmask such as 255.255.255.0',
    ]);
    expect(serviceKey({ protocol: "udp", address: "fd00::1", port: 53 })).toBe("udp:[fd00::1]:53");
  });
});
