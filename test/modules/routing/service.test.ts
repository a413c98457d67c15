/**
 * The routing module's config and shell: [routing] and `announce` checked
 * with the config; the shell on virtual time with a recording BIRD, the
 * director's, heartbeat's and resource manager's services given by the
 * test: what BIRD is told at each change of the node's view, the sessions
 * read back into status, events and metrics, and a clean stop that
 * withdraws before it returns.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../../core/config/load.ts";
import { MODULES } from "../../../modules/index.ts";
import { memberConfig, testContext } from "../context.ts";
import { SimClock } from "../../sim/clock.ts";
import { realAdapters } from "../../../core/adapters.ts";
import type { ClusterBus } from "../../../core/cluster.ts";
import { RoutingService } from "../../../modules/routing/service.ts";
import type { Bird, ProtocolState } from "../../../modules/routing/bird.ts";
import type { DirectorView } from "../../../modules/director/service.ts";
import type { VipHost } from "../../../modules/routing/hosting.ts";

const DIRECTOR = `[[services]]
name = "web"
port = 80
servers = [{ address = "198.18.41.101" }]
check = { kind = "none" }

[director]
[[director.virtual_service]]
name = "web-vip"
address = "198.18.41.10"
port = 80
service = "web"
announce = true

[[director.virtual_service]]
name = "quiet"
address = "198.18.41.20"
port = 80
service = "web"
`;

const ROUTING = `[routing]
poll = "500ms"
[[routing.session]]
name = "edge"
peer = "198.18.41.1"
asn = 65000
local_asn = 65001
bfd = { interval = "100ms" }
`;

function problems(text: string): string[] {
  const r = parseConfig(`cluster = "c"\nkey_file = "k"\n[[nodes]]\nname = "alpha"\naddress = "198.18.41.2"\n${text}`, "c.toml", MODULES);
  return r.ok ? [] : r.problems.map((p) => `${p.path.join(".")}: ${p.message}`);
}

describe("[routing] and announce in the config", () => {
  test("a full section is accepted, with its defaults", () => {
    const c = memberConfig("routing", DIRECTOR + ROUTING);
    expect(c.raw.routing).toMatchObject({ bird_config: "/etc/bird/bird.conf", include: "/etc/bird/tandem.conf", socket: "/run/bird/bird.ctl" });
    expect(c.raw.routing!.session[0]).toMatchObject({ hold_time: "9s", bfd: { interval: "100ms", multiplier: 3 } });
  });

  test("announce without [routing], and on a fwmark service, are refused", () => {
    expect(problems(DIRECTOR)).toEqual(['director.virtual_service.0.announce: virtual service "web-vip" is announced, but there is no [routing] section with its BGP sessions']);
    const fw = DIRECTOR.replace('address = "198.18.41.20"\nport = 80', "fwmark = 3").replace(/service = "web"\n$/, 'service = "web"\nannounce = true\n');
    expect(problems(fw + ROUTING)).toEqual(['director.virtual_service.1.announce: virtual service "quiet" has no address to announce (a fwmark service)']);
  });

  test("sessions: a name once, a peer address, known nodes, one password, BFD not below 10 ms", () => {
    const bad = `[routing]
[[routing.session]]
name = "edge"
peer = "router"
asn = 65000
local_asn = 65001
nodes = ["bravo"]
password = "a"
password_file = "b"
bfd = { interval = "5ms" }
[[routing.session]]
name = "edge"
peer = "198.18.41.1"
asn = 65000
local_asn = 65001
`;
    expect(problems(bad)).toEqual([
      'routing.session.0.peer: "router" is not an IPv4 or IPv6 address',
      'routing.session.0.nodes.0: no node named "bravo"',
      "routing.session.0.password: a password or a password_file, not both",
      "routing.session.0.bfd.interval: BFD faster than every 10 ms is refused",
      'routing.session.1.name: session name "edge" is used twice',
    ]);
  });
});

function harness(sections = DIRECTOR + ROUTING, vipHost?: VipHost) {
  const config = memberConfig("routing", sections);
  const clock = new SimClock();
  const applied: string[] = [];
  const protocols: ProtocolState[] = [{ name: "tandem_edge", proto: "BGP", state: "start", since: "", session: "Active", info: "Socket: Connection refused" }];
  let release: (() => void) | null = null;
  const bird: Bird = {
    apply: (text) => {
      applied.push(text);
      return new Promise<void>((r) => (release = r));
    },
    protocols: async () => protocols.map((p) => ({ ...p })),
  };
  const ctx = { ...testContext(config, "alpha"), clock, adapters: { ...realAdapters, bird: () => bird, ...(vipHost ? { vipHost } : {}) } };
  const events: Array<{ type: string; data: unknown }> = [];
  ctx.events.subscribe((e) => void events.push({ type: e.type, data: e.data }));
  const director: DirectorView = { active: true, up: { "web-vip": true, quiet: true }, dataplane: config.raw.director?.dataplane === "ipvs" ? "ipvs" : "nftables" };
  const watchers = new Set<() => void>();
  ctx.services.provide("director", { view: () => ({ ...director, up: { ...director.up } }), watch: (f) => (watchers.add(f), () => watchers.delete(f)) });
  const cluster = { quorate: true };
  ctx.services.provide("cluster", { snapshot: () => ({ self: "alpha", peers: [], quorate: cluster.quorate, majority: cluster.quorate }), watch: (f: () => void) => (watchers.add(f), () => watchers.delete(f)) } as unknown as ClusterBus);
  const admin = { standby: false };
  ctx.services.provide("resources", { holdsExclusive: () => false, standby: () => admin.standby });
  const module = new RoutingService(ctx);
  /** BIRD takes the include under way; resolves once the shell has seen it. */
  const take = async () => {
    release?.();
    release = null;
    await Bun.sleep(0);
  };
  const changed = () => {
    for (const w of watchers) w();
  };
  const routes = () => [...(applied.at(-1) ?? "").matchAll(/route (\S+) blackhole/g)].map((m) => m[1]);
  return { config, clock, applied, protocols, module, events, director, cluster, admin, take, changed, routes, ctx };
}

describe("the routing shell", () => {
  test("announces the announced services' addresses, only those, and withdraws at each rule's change", async () => {
    const h = harness();
    const started = h.module.start(h.config);
    await h.take();
    await started;
    expect(h.routes()).toEqual(["198.18.41.10/32"]);
    expect(h.applied.at(-1)).toContain("protocol bgp tandem_edge {");

    h.director.up["web-vip"] = false;
    h.changed();
    await h.take();
    expect(h.routes()).toEqual([]);
    h.director.up["web-vip"] = true;
    h.changed();
    await h.take();
    expect(h.routes()).toEqual(["198.18.41.10/32"]);

    h.cluster.quorate = false;
    h.changed();
    await h.take();
    expect(h.routes()).toEqual([]);
    h.cluster.quorate = true;
    h.changed();
    await h.take();

    h.admin.standby = true; // no watch: read at the next poll
    h.clock.runUntil(500);
    await h.take();
    expect(h.routes()).toEqual([]);
    expect(h.events.filter((e) => e.type === "routing.withdraw").map((e) => (e.data as { reason: string }).reason)).toEqual(["service-down", "no-quorum", "standby"]);
    const stopped = h.module.stop();
    await h.take();
    await stopped;
  });

  test("while an apply is under way, changes wait and only the newest is applied after it", async () => {
    const h = harness();
    const started = h.module.start(h.config);
    await h.take();
    await started;
    h.director.active = false;
    h.changed();
    h.director.active = true;
    h.changed();
    h.director.active = false;
    h.changed();
    expect(h.applied.length).toBe(2);
    await h.take();
    expect(h.applied.length).toBe(3);
    expect(h.routes()).toEqual([]);
    await h.take();
    expect(h.applied.length).toBe(3);
  });

  test("the sessions read back: status, a routing.session event per change, the metric", async () => {
    const h = harness();
    const started = h.module.start(h.config);
    await h.take();
    await started;
    h.clock.runUntil(500);
    await Bun.sleep(0);
    expect(h.module.status().sessions).toEqual([{ name: "tandem_edge", state: "start", session: "Active", since: "", info: "Socket: Connection refused" }]);
    h.protocols[0] = { ...h.protocols[0]!, state: "up", session: "Established", info: "" };
    h.clock.runUntil(1000);
    await Bun.sleep(0);
    expect(h.events.filter((e) => e.type === "routing.session").map((e) => (e.data as { state: string }).state)).toEqual(["Active", "Established"]);
    const metrics = h.ctx.metrics.render();
    expect(metrics).toContain('tandem_routing_session_up{session="tandem_edge"} 1');
    expect(metrics).toContain('tandem_routing_announced{prefix="198.18.41.10/32"} 1');
    const stopped = h.module.stop();
    await h.take();
    await stopped;
  });

  test("a clean stop withdraws everything and returns only once BIRD has taken it", async () => {
    const h = harness();
    const started = h.module.start(h.config);
    await h.take();
    await started;
    let done = false;
    const stopped = h.module.stop().then(() => (done = true));
    await Bun.sleep(0);
    expect(done).toBe(false);
    expect(h.routes()).toEqual([]);
    await h.take();
    await stopped;
    expect(done).toBe(true);
    expect(h.events.at(-1)).toMatchObject({ type: "routing.withdraw", data: { reason: "stopping" } });
  });
});

describe("the operator's BIRD config", () => {
  test("that does not include Tandem's file (a commented-out line is not one) refuses the start, naming the line to add", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-routing-"));
    try {
      writeFileSync(join(dir, "bird.conf"), `router id 198.18.41.2;\nprotocol device {}\n# include "${dir}/tandem.conf";\n`);
      const section = (file: string) => ROUTING.replace('poll = "500ms"', `poll = "500ms"\nbird_config = "${join(dir, file)}"\ninclude = "${dir}/{node}.conf"`);
      const config = memberConfig("routing", DIRECTOR + section("bird.conf"));
      const module = new RoutingService(testContext(config, "alpha"));
      expect(module.start(config)).rejects.toThrow(`${join(dir, "bird.conf")} does not include Tandem's file: add the line  include "${dir}/alpha.conf";`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

});

describe("active/active on IPVS, in the shell", () => {
  test("the announced addresses on the loopback and the settings before the first announcement; not held, not announced until a poll holds them; released after the withdrawal", async () => {
    const sections = DIRECTOR.replace("[director]\n", '[director]\ndataplane = "ipvs"\nmode = "active-active"\n').replaceAll('service = "web"\n', 'service = "web"\nscheduler = "mh"\n') + ROUTING;
    const done: string[] = [];
    let refuse: string | null = "EPERM";
    const host: VipHost = {
      hold: (device, cidr) => {
        if (refuse) throw new Error(refuse);
        done.push(`hold ${cidr} ${device}`);
      },
      release: (device, cidr) => void done.push(`release ${cidr} ${device}`),
      sysctl: (s) => void done.push(`${s.key}=${s.value}`),
    };
    const h = harness(sections, host);
    await h.module.start(h.config);
    // Not held: not announced (IPVS would never see its flows).
    expect(h.applied).toHaveLength(0);
    expect(h.events.filter((e) => e.type === "routing.error").map((e) => (e.data as { message: string }).message)).toEqual(["active/active on IPVS: EPERM"]);
    expect(h.module.status().hosting).toMatchObject({ device: "lo", addresses: ["198.18.41.10/32"], error: "active/active on IPVS: EPERM" });
    expect(h.module.status().addresses).toEqual([{ prefix: "198.18.41.10/32", services: ["web-vip"], announced: false, reason: "not-hosted", service: "web-vip" }]);
    refuse = null;
    h.clock.runUntil(500);
    expect(h.applied).toHaveLength(1); // the settings and the address were held before this include
    await h.take();
    expect(h.routes()).toEqual(["198.18.41.10/32"]);
    expect(done).toEqual([
      "net.ipv4.conf.all.arp_ignore=1",
      "net.ipv4.conf.all.arp_announce=2",
      "net.ipv4.vs.sloppy_tcp=1",
      "net.ipv4.conf.all.arp_ignore=1",
      "net.ipv4.conf.all.arp_announce=2",
      "net.ipv4.vs.sloppy_tcp=1",
      "hold 198.18.41.10/32 lo",
    ]);
    expect(h.module.status().hosting).toMatchObject({ addresses: ["198.18.41.10/32"], error: null });
    done.length = 0;
    const stopped = h.module.stop();
    await h.take();
    await stopped;
    expect(h.routes()).toEqual([]);
    expect(done).toEqual(["release 198.18.41.10/32 lo"]);
  });
});
