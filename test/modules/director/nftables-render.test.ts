import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { serviceKey, type RealServer, type Scheduler, type VirtualService } from "../../../modules/director/dataplane/model.ts";
import { effective, JHASH_SEED, parseListing, render, renderChanges, renderReplace, renderService, type RuleDef } from "../../../modules/director/dataplane/nftables-render.ts";
import { MH_TABLE_SIZE, maglev, select, wrrSequence, WRR_SEQUENCE_MAX } from "../../../modules/director/dataplane/schedule.ts";
import { NftTable } from "./nft-table.ts";

const rs = (address: string, weight: number, port = 80, forwarding: RealServer["forwarding"] = "nat"): RealServer => ({ address, port, weight, forwarding });

function vs(fields: Partial<VirtualService> & { reals: RealServer[] }): VirtualService {
  const s: VirtualService = { key: "", protocol: "tcp", address: "198.18.0.10", port: 80, scheduler: "wrr", forwarding: "nat", ...fields };
  return { ...s, key: serviceKey(s) };
}

const one = (s: VirtualService) => effective([s]).services[0]!;
const lastRule = (s: VirtualService): RuleDef => renderService(one(s)).rules.at(-1)!;
const weighted = (...weights: number[]) => weights.map((weight, i) => ({ id: `198.18.1.${i + 2}:80`, weight }));

describe("director nftables: schedulers as lookups", () => {
  test("wrr follows IPVS's cycle: the current weight steps down by the gcd", () => {
    expect(wrrSequence([3, 1])).toEqual([0, 0, 0, 1]);
    expect(wrrSequence([2, 2, 1])).toEqual([0, 1, 0, 1, 2]);
    expect(wrrSequence([4, 2])).toEqual([0, 0, 1]);
    expect(select("wrr", weighted(3, 1))).toEqual({ kind: "map", by: "counter", modulus: 4, slots: [{ from: 0, to: 2, real: 0 }, { from: 3, to: 3, real: 1 }] });
  });

  test("wrr past WRR_SEQUENCE_MAX: one run per server, exact shares", () => {
    expect(select("wrr", weighted(65_535, 65_534))).toEqual({
      kind: "map",
      by: "counter",
      modulus: 131_069,
      slots: [{ from: 0, to: 65_534, real: 0 }, { from: 65_535, to: 131_068, real: 1 }],
    });
    expect(select("wrr", weighted(WRR_SEQUENCE_MAX - 1, 1))).toMatchObject({ modulus: WRR_SEQUENCE_MAX });
  });

  test("rr ignores weights, sh hashes the client by weight, dh the destination, fo takes the heaviest, none drops", () => {
    expect(select("rr", weighted(5, 1, 1))).toEqual({ kind: "map", by: "counter", modulus: 3, slots: [0, 1, 2].map((i) => ({ from: i, to: i, real: i })) });
    expect(select("sh", weighted(4, 2))).toEqual({ kind: "map", by: "source-hash", modulus: 3, slots: [{ from: 0, to: 1, real: 0 }, { from: 2, to: 2, real: 1 }] });
    expect(select("dh", weighted(5, 1))).toMatchObject({ by: "destination-hash", modulus: 2 });
    expect(select("fo", weighted(5, 9, 9))).toEqual({ kind: "one", real: 1 });
    expect(select("wrr", [])).toEqual({ kind: "none" });
  });

  test("mh: a Maglev table of MH_TABLE_SIZE slots, shares by weight, every server at least one slot", () => {
    const table = maglev(weighted(3, 1));
    expect(table.length).toBe(MH_TABLE_SIZE);
    expect(table.filter((r) => r === 0).length).toBe(188);
    expect(table.filter((r) => r === 1).length).toBe(63);
    expect(maglev(weighted(65_535, 1)).filter((r) => r === 1).length).toBe(1);
  });

  test("mh: removing one of five servers moves the clients of that one and few others", () => {
    const five = weighted(1, 1, 1, 1, 1);
    const before = maglev(five).map((i) => five[i]!.id);
    const four = five.filter((_, i) => i !== 2);
    const after = maglev(four).map((i) => four[i]!.id);
    const moved = before.filter((id, slot) => id !== five[2]!.id && after[slot] !== id).length;
    expect(moved).toBeLessThan(MH_TABLE_SIZE * 0.1);
  });
});

describe("director nftables: what it holds, refuses and maps", () => {
  test("refusals name the service and the dataplane that has it", () => {
    expect(() => effective([vs({ reals: [rs("198.18.1.2", 1, 80, "dr")] })])).toThrow('virtual service tcp:198.18.0.10:80: forwarding "dr" needs the ipvs dataplane');
    expect(() => effective([vs({ forwarding: "tun", reals: [] })])).toThrow('forwarding "tun" needs the ipvs dataplane');
    expect(() => effective([vs({ address: "fd00::10", reals: [] })])).toThrow("virtual service tcp:[fd00::10]:80: IPv6 services are not on the nftables dataplane yet (IPv4 only); the ipvs dataplane has them");
    expect(() => effective([vs({ reals: [rs("198.18.1.2", 1, 0), rs("198.18.1.3", 1)] })])).toThrow("real servers on port 0 (keep the client's port) and on a port cannot be mixed");
    const many = Array.from({ length: MH_TABLE_SIZE + 1 }, (_, i) => rs(`198.18.${1 + (i >> 8)}.${i & 255}`, 1));
    expect(() => effective([vs({ scheduler: "mh", reals: many })])).toThrow(`mh on nftables has ${MH_TABLE_SIZE} slots, fewer than its ${MH_TABLE_SIZE + 1} active real servers`);
    expect(() => effective([vs({ reals: [] }), vs({ reals: [] })])).toThrow("defined twice");
  });

  test("schedulers that count connections map to the nearest lookup, with a warning naming the ones it has", () => {
    const cases: Array<[Scheduler, Scheduler]> = [["lc", "rr"], ["wlc", "wrr"], ["sed", "wrr"], ["nq", "wrr"], ["lblc", "dh"], ["lblcr", "dh"], ["ovf", "fo"]];
    for (const [from, to] of cases) {
      const { services, warnings } = effective([vs({ scheduler: from, reals: [] })]);
      expect(services[0]!.scheduler).toBe(to);
      expect(warnings).toEqual([`virtual service tcp:198.18.0.10:80: scheduler "${from}" counts active connections, which the nftables dataplane cannot; it uses "${to}" (the same weights, without the counts). It has rr, wrr, sh, mh, dh, fo`]);
    }
    expect(effective([vs({ scheduler: "mh", reals: [] })]).warnings).toEqual([]);
  });

  test("held as: persistence in whole seconds, a /32 netmask as none, services by key, servers by address", () => {
    const [a, b] = effective([
      vs({ port: 81, persistence: { timeoutMs: 1_500, netmask: "255.255.255.255" }, reals: [rs("198.18.1.10", 1), rs("198.18.1.9", 1)] }),
      vs({ port: 443, reals: [] }),
    ]).services;
    expect(a!.key).toBe("tcp:198.18.0.10:443");
    expect(b!.persistence).toEqual({ timeoutMs: 2_000 });
    expect(b!.reals.map((r) => r.address)).toEqual(["198.18.1.9", "198.18.1.10"]);
  });
});

describe("director nftables: rendering", () => {
  const saddr = { payload: { protocol: "ip", field: "saddr" } };
  const tcp = { match: { op: "==", left: { meta: { key: "l4proto" } }, right: "tcp" } };

  test("wrr 3:1 with a drained server: numgen over IPVS's cycle, the drained one left out; the descriptor in the comment", () => {
    expect(lastRule(vs({ reals: [rs("198.18.1.2", 3), rs("198.18.1.3", 1), rs("198.18.1.4", 0)] }))).toEqual({
      chain: "vs-tcp-198.18.0.10-80",
      comment: "tandem-lb/1 tcp:198.18.0.10:80 tcp wrr",
      expr: [
        tcp,
        {
          dnat: {
            family: "ip",
            addr: {
              map: {
                key: { numgen: { mode: "inc", mod: 4, offset: 0 } },
                data: { set: [[{ range: [0, 2] }, { concat: ["198.18.1.2", 80] }], [3, { concat: ["198.18.1.3", 80] }]] },
              },
            },
          },
        },
      ],
    });
  });

  test("sh: jhash of the client's address with a fixed seed; udp", () => {
    const rule = lastRule(vs({ protocol: "udp", port: 53, scheduler: "sh", reals: [rs("198.18.1.2", 2, 53), rs("198.18.1.3", 1, 53)] }));
    expect(rule.comment).toBe("tandem-lb/1 udp:198.18.0.10:53 udp sh");
    expect(rule.expr[0]).toEqual({ match: { op: "==", left: { meta: { key: "l4proto" } }, right: "udp" } });
    expect((rule.expr[1] as { dnat: { addr: { map: { key: unknown } } } }).dnat.addr.map.key).toEqual({ jhash: { mod: 3, seed: JHASH_SEED, expr: saddr } });
  });

  test("port 0 servers keep the client's port: the map holds addresses only; a port-0 service is looked up by address and protocol", () => {
    const objects = renderService(one(vs({ port: 0, scheduler: "rr", reals: [rs("198.18.1.2", 1, 0), rs("198.18.1.3", 1, 0)] })));
    expect(objects.rules.at(-1)!.expr[1]).toEqual({ dnat: { addr: { map: { key: { numgen: { mode: "inc", mod: 2, offset: 0 } }, data: { set: [[0, "198.18.1.2"], [1, "198.18.1.3"]] } } } } });
    expect(objects.elements).toEqual([["services_anyport", [{ concat: ["198.18.0.10", "tcp"] }, { jump: { target: "vs-tcp-198.18.0.10-0" } }]]]);
  });

  test("a fwmark service: looked up by mark, tcp and udp", () => {
    const objects = renderService(one(vs({ address: "0.0.0.0", port: 0, fwmark: 7, scheduler: "fo", reals: [rs("198.18.1.2", 1, 8080)] })));
    expect(objects.rules.at(-1)!.expr).toEqual([{ match: { op: "==", left: { meta: { key: "l4proto" } }, right: { set: ["tcp", "udp"] } } }, { dnat: { addr: "198.18.1.2", port: 8080 } }]);
    expect(objects.elements).toEqual([["fwmarks", [7, { jump: { target: "vs-fwmark-7" } }]]]);
  });

  test("no server takes new connections: the service drops them", () => {
    expect(lastRule(vs({ reals: [rs("198.18.1.2", 0)] })).expr).toEqual([{ drop: null }]);
  });

  test("persistence: per active server a set of its clients and a chain that remembers or renews the client; known clients first", () => {
    const objects = renderService(one(vs({ scheduler: "rr", persistence: { timeoutMs: 300_000, netmask: "255.255.255.0" }, reals: [rs("198.18.1.2", 1), rs("198.18.1.3", 1), rs("198.18.1.4", 0)] })));
    const client = { "&": [saddr, "255.255.255.0"] };
    expect(objects.sets.map((s) => s.name)).toEqual(["reals-tcp-198.18.0.10-80", "persist-tcp-198.18.0.10-80-198.18.1.2-80", "persist-tcp-198.18.0.10-80-198.18.1.3-80"]);
    expect(objects.sets[1]).toEqual({ kind: "set", name: "persist-tcp-198.18.0.10-80-198.18.1.2-80", type: "ipv4_addr", flags: ["timeout"], timeout: 300, size: 65_536 });
    expect(objects.rules.map((r) => r.chain)).toEqual(["pick-tcp-198.18.0.10-80-198.18.1.2-80", "pick-tcp-198.18.0.10-80-198.18.1.3-80", "vs-tcp-198.18.0.10-80", "vs-tcp-198.18.0.10-80", "vs-tcp-198.18.0.10-80"]);
    expect(objects.rules[0]!.expr).toEqual([{ set: { op: "update", elem: client, set: "@persist-tcp-198.18.0.10-80-198.18.1.2-80" } }, tcp, { dnat: { addr: "198.18.1.2", port: 80 } }]);
    expect(objects.rules[2]!.expr).toEqual([{ match: { op: "==", left: client, right: "@persist-tcp-198.18.0.10-80-198.18.1.2-80" } }, { jump: { target: "pick-tcp-198.18.0.10-80-198.18.1.2-80" } }]);
    expect(objects.rules[4]).toEqual({
      chain: "vs-tcp-198.18.0.10-80",
      comment: "tandem-lb/1 tcp:198.18.0.10:80 tcp rr persist=300/255.255.255.0",
      expr: [{ vmap: { key: { numgen: { mode: "inc", mod: 2, offset: 0 } }, data: { set: [[0, { jump: { target: "pick-tcp-198.18.0.10-80-198.18.1.2-80" } }], [1, { jump: { target: "pick-tcp-198.18.0.10-80-198.18.1.3-80" } }]] } } }],
    });
  });

  test("the record map lists every server with its weight, drained ones too", () => {
    expect(renderService(one(vs({ reals: [rs("198.18.1.2", 3), rs("198.18.1.3", 0)] }))).sets[0]).toEqual({
      kind: "map",
      name: "reals-tcp-198.18.0.10-80",
      type: ["ipv4_addr", "inet_service"],
      map: "mark",
      elem: [[{ concat: ["198.18.1.2", 80] }, 3], [{ concat: ["198.18.1.3", 80] }, 0]],
    });
  });
});

const SCHEDULERS = ["rr", "wrr", "sh", "mh", "dh", "fo"] as const;
const nftService: fc.Arbitrary<VirtualService> = fc
  .record({
    kind: fc.constantFrom("port", "anyport", "fwmark"),
    port: fc.constantFrom(80, 443),
    protocol: fc.constantFrom("tcp" as const, "udp" as const),
    scheduler: fc.constantFrom(...SCHEDULERS),
    persistence: fc.option(fc.record({ timeoutMs: fc.constantFrom(60_000, 300_000), netmask: fc.option(fc.constantFrom("255.255.255.0", "255.255.0.0"), { nil: undefined }) }), { nil: undefined }),
    reals: fc.uniqueArray(fc.record({ host: fc.integer({ min: 2, max: 6 }), weight: fc.integer({ min: 0, max: 4 }) }), { selector: (r) => r.host, maxLength: 4 }),
    fwmark: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ kind, port, protocol, scheduler, persistence, reals, fwmark }) =>
    vs({
      protocol,
      scheduler,
      ...(kind === "fwmark" ? { address: "0.0.0.0", port: 0, fwmark } : { port: kind === "anyport" ? 0 : port }),
      ...(persistence ? { persistence: persistence.netmask ? persistence : { timeoutMs: persistence.timeoutMs } } : {}),
      reals: reals.map((r) => rs(`198.18.1.${r.host}`, r.weight, kind === "port" ? 8080 : 0)),
    }),
  );
const nftState = fc.uniqueArray(nftService, { selector: (s) => s.key, maxLength: 5 }).map((s) => effective(s).services);

describe("director nftables: reading back and changing", () => {
  test("property: a rendered table reads back as the services it was rendered from, and is consistent", () => {
    fc.assert(
      fc.property(nftState, (services) => {
        const t = new NftTable();
        t.run(render(services));
        expect(parseListing(t.listing())).toEqual({ exists: true, services, consistent: true });
      }),
      { numRuns: 300 },
    );
  });

  test("property: renderChanges turns one state's table into exactly the other's, deleting nothing still referenced", () => {
    fc.assert(
      fc.property(nftState, nftState, (before, after) => {
        const t = new NftTable();
        t.run(render(before));
        const keys = new Set([...before, ...after].map((s) => s.key));
        t.run(renderChanges(new Map(before.map((s) => [s.key, s])), new Map(after.map((s) => [s.key, s])), keys));
        expect(parseListing(t.listing())).toEqual({ exists: true, services: after, consistent: true });
      }),
      { numRuns: 300 },
    );
  });

  test("a drain touches only its own service's chain and record; persistence sets keep their clients", () => {
    const a = vs({ scheduler: "rr", persistence: { timeoutMs: 60_000 }, reals: [rs("198.18.1.2", 1), rs("198.18.1.3", 1)] });
    const b = vs({ port: 443, reals: [rs("198.18.1.2", 1, 443)] });
    const before = new Map(effective([a, b]).services.map((s) => [s.key, s]));
    const drained = effective([{ ...a, reals: [rs("198.18.1.2", 0), rs("198.18.1.3", 1)] }, b]).services;
    const commands = renderChanges(before, new Map(drained.map((s) => [s.key, s])), [a.key]);
    const text = JSON.stringify(commands);
    expect(text).not.toContain("443");
    expect(commands.filter((c) => "delete" in c)).toEqual([
      { delete: { chain: { family: "ip", table: "tandem_lb", name: "pick-tcp-198.18.0.10-80-198.18.1.2-80" } } },
      { delete: { set: { family: "ip", table: "tandem_lb", name: "persist-tcp-198.18.0.10-80-198.18.1.2-80" } } },
    ]);
    expect(text).not.toContain('"add":{"set"');
    expect(commands.filter((c) => "flush" in c).map((c) => Object.values((c as { flush: Record<string, { name: string }> }).flush)[0]!.name)).toEqual([
      "pick-tcp-198.18.0.10-80-198.18.1.2-80",
      "pick-tcp-198.18.0.10-80-198.18.1.3-80",
      "vs-tcp-198.18.0.10-80",
      "reals-tcp-198.18.0.10-80",
    ]);
    expect(renderChanges(before, before, [])).toEqual([]);
  });

  test("a table that is not what its records render to is not consistent: a rule edited, another layout, half a service", () => {
    const services = effective([vs({ reals: [rs("198.18.1.2", 3), rs("198.18.1.3", 1)] })]).services;
    const listed = () => {
      const t = new NftTable();
      t.run(render(services));
      return t.listing() as { nftables: Array<Record<string, Record<string, unknown>>> };
    };
    const edited = listed();
    const rule = edited.nftables.find((o) => o.rule?.chain === "vs-tcp-198.18.0.10-80")!.rule!;
    (rule.expr as unknown[]).splice(0, 1);
    expect(parseListing(edited)).toMatchObject({ exists: true, consistent: false });
    const old = listed();
    for (const o of old.nftables) if (o.rule?.chain === "prerouting") o.rule.comment = "tandem-lb layout 0";
    expect(parseListing(old)).toMatchObject({ consistent: false });
    const half = listed();
    half.nftables = half.nftables.filter((o) => o.chain?.name !== "vs-tcp-198.18.0.10-80" && o.rule?.chain !== "vs-tcp-198.18.0.10-80");
    expect(parseListing(half)).toEqual({ exists: true, services: [], consistent: false });
    expect(parseListing({ nftables: [] })).toEqual({ exists: false, services: [], consistent: false });
    const t = new NftTable();
    t.run(render([]));
    t.run(renderReplace(services, true));
    expect(parseListing(t.listing())).toEqual({ exists: true, services, consistent: true });
  });
});
