/**
 * The lab's router, planned: with [routing] sessions, `tandem lab` puts BIRD
 * in a router namespace between an edge network with the client and the lan
 * of the directors; the members route the edge through it, active/active NAT
 * directors masquerade toward the real servers, each member's BIRD config is
 * written at its {node} path. Every router config is BIRD's to accept.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCommands, planLab, type LabConfig } from "../../lab/topology.ts";

const ROUTING = {
  bird_config: "/run/x/{node}/bird.conf",
  include: "/run/x/{node}/tandem.conf",
  socket: "/run/x/{node}/bird.ctl",
  session: [{ name: "edge", peer: "198.18.7.254", asn: 65000, local_asn: 65001, bfd: { interval: "100ms", multiplier: 3 } }],
};

function config(routing: LabConfig["raw"]["routing"], mode = "active-active"): LabConfig {
  return {
    file: "/etc/tandem/bgp.toml",
    cluster: "bgp",
    nodes: [
      { name: "alpha", address: "198.18.7.11", roles: ["member"] },
      { name: "bravo", address: "198.18.7.12", roles: ["member"] },
    ],
    api: { port: 9480, insecureHttp: true, hosts: [], maxConnections: 128, maxSseClients: 32 },
    raw: {
      routing,
      director: { mode, virtual_service: [{ name: "web-vip", address: "198.18.7.50", port: 80, protocol: "tcp", service: "web", forwarding: "nat" }] },
      services: [{ name: "web", port: 80, servers: [{ address: "198.18.7.101" }, { address: "198.18.7.102" }] }],
    },
  };
}

describe("the lab's router", () => {
  test("between the client on the edge and the directors on the lan, BIRD with ECMP on an L4 hash", () => {
    const r = planLab(config(ROUTING), "bgp", ["/usr/bin/tandem"]);
    if (!r.ok) throw new Error(r.problems.join("; "));
    const { plan } = r;
    expect(plan.networks.map((n) => [n.name, n.subnet])).toEqual([
      ["lan", "198.18.7.0/24"],
      ["edge", "198.18.8.0/24"],
    ]);
    const host = (name: string) => plan.hosts.find((h) => h.name === name)!;
    expect(host("router").interfaces.map((i) => [i.network, i.address])).toEqual([
      ["lan", "198.18.7.254"],
      ["edge", "198.18.8.1"],
    ]);
    expect(host("router").sysctls).toContain("net.ipv4.fib_multipath_hash_policy=1");
    expect(host("router").process!.slice(0, 2)).toEqual(["bird", "-f"]);
    expect(host("client").interfaces.map((i) => [i.network, i.address])).toEqual([["edge", "198.18.8.100"]]);
    expect(host("client").routes).toEqual([{ to: "default", via: "198.18.8.1" }]);
    for (const m of ["alpha", "bravo"]) {
      expect(host(m).routes).toEqual([{ to: "198.18.8.0/24", via: "198.18.7.254" }]);
      expect(host(m).masquerade).toBe("198.18.7.0/24");
    }
    // Active/active: no real server routes replies through one director's address.
    expect(host("rs1").routes).toBeUndefined();
    const files = host("router").files!;
    expect(files.map((f) => f.path).slice(1)).toEqual(["/run/x/alpha/bird.conf", "/run/x/bravo/bird.conf"]);
    expect(files[1]!.text).toContain('include "/run/x/alpha/tandem.conf";');
    expect(files[0]!.text).toContain("merge paths on;");
    expect(files[0]!.text).toContain("neighbor 198.18.7.12 as 65001;");
    const cmds = buildCommands(plan).map((c) => c.join(" "));
    expect(cmds).toContain(`netns exec ${host("alpha").namespace} nft add rule ip tandem_lab_fullnat post ip daddr 198.18.7.0/24 ct status dnat masquerade`);

    const dir = mkdtempSync(join(tmpdir(), "tandem-lab-router-"));
    try {
      for (const [i, f] of files.entries()) {
        const path = join(dir, `${i}.conf`);
        writeFileSync(join(dir, "inc.conf"), "");
        writeFileSync(path, f.text.replace(/include "[^"]+";/, `include "${join(dir, "inc.conf")}";`));
        const p = Bun.spawnSync(["bird", "-p", "-c", path], { stderr: "pipe" });
        expect(p.stderr.toString()).toBe("");
        expect(p.exitCode).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("three directors: the router peers with each", () => {
    const c = config(ROUTING);
    const r = planLab({ ...c, nodes: [...c.nodes, { name: "charlie", address: "198.18.7.13", roles: ["member"] }] }, "bgp", ["/usr/bin/tandem"]);
    if (!r.ok) throw new Error(r.problems.join("; "));
    const router = r.plan.hosts.find((h) => h.name === "router")!;
    expect([...router.files![0]!.text.matchAll(/neighbor (\S+) as 65001;/g)].map((m) => m[1])).toEqual(["198.18.7.11", "198.18.7.12", "198.18.7.13"]);
    expect(router.files!.map((f) => f.path).slice(1)).toEqual(["/run/x/alpha/bird.conf", "/run/x/bravo/bird.conf", "/run/x/charlie/bird.conf"]);
  });

  test("active-passive keeps the real servers' route through the virtual address, to the client on the edge", () => {
    const r = planLab(config(ROUTING, "active-passive"), "bgp", ["/usr/bin/tandem"]);
    if (!r.ok) throw new Error(r.problems.join("; "));
    const rs1 = r.plan.hosts.find((h) => h.name === "rs1")!;
    expect(rs1.routes).toEqual([{ to: "198.18.8.100/32", via: "198.18.7.50" }]);
    expect(r.plan.hosts.find((h) => h.name === "alpha")!.masquerade).toBeUndefined();
  });

  test("refused: shared BIRD paths, a peer outside the lan or on a lab address, a password file", () => {
    const r = planLab(
      config({ ...ROUTING, include: "/etc/bird/tandem.conf", session: [{ ...ROUTING.session[0]!, peer: "198.18.7.100", password_file: "/x" }] }),
      "bgp",
      ["/usr/bin/tandem"],
    );
    expect(r.ok ? [] : r.problems).toEqual([
      '[routing] include "/etc/bird/tandem.conf" must hold {node}: the lab\'s hosts share one file system, so each node needs BIRD files of its own',
      "the session's peer 198.18.7.100 is what the lab keeps for the lab's client; use another address of the lan for the router",
      'session "edge": the lab\'s router is given the password itself: use password, not password_file, in a lab',
    ]);
    const outside = planLab(config({ ...ROUTING, session: [{ ...ROUTING.session[0]!, peer: "198.18.9.1" }] }), "bgp", ["/usr/bin/tandem"]);
    expect(outside.ok ? [] : outside.problems).toEqual(["the lab's router is on the lan 198.18.7.0/24: the session's peer 198.18.9.1 must be an address in it"]);
  });
});
