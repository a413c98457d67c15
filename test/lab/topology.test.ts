import { describe, expect, test } from "bun:test";
import { IFNAME_MAX, labNameProblem } from "../../core/lab-name.ts";
import { overlaps } from "../../core/os/ip.ts";
import {
  buildCommands,
  defaultLabName,
  namespacesOf,
  planLab,
  type LabConfig,
  type LabPlan,
} from "../../lab/topology.ts";

const SELF = ["/usr/bin/tandem"];

type Link = NonNullable<LabConfig["raw"]["heartbeat"]>["links"][number];

function config(nodes: { name: string; address: string; roles?: ("member" | "arbiter")[] }[], cluster = "demo", links?: Link[]): LabConfig {
  return {
    file: "/etc/tandem/demo.toml",
    cluster,
    nodes: nodes.map((n) => ({ name: n.name, address: n.address, roles: n.roles ?? ["member"] })),
    api: { port: 9480, insecureHttp: true, hosts: [], maxConnections: 128, maxSseClients: 32 },
    raw: links ? { heartbeat: { links } } : {},
  };
}

const PAIR = config([
  { name: "alpha", address: "198.18.7.11" },
  { name: "bravo", address: "198.18.7.12" },
  { name: "witness", address: "198.18.7.13", roles: ["arbiter"] },
]);

function plan(c: LabConfig, lab = "demo"): LabPlan {
  const r = planLab(c, lab, SELF);
  if (!r.ok) throw new Error(r.problems.join("; "));
  return r.plan;
}

function problems(c: LabConfig, lab = "demo"): string[] {
  const r = planLab(c, lab, SELF);
  if (r.ok) throw new Error("expected the plan to be refused");
  return r.problems;
}

describe("lab topology", () => {
  test("every node is a host with its config address, plus client, rs1 and rs2 at .100, .101, .102", () => {
    const p = plan(PAIR);
    expect(p.hosts.map((h) => [h.name, h.role, h.namespace, h.interfaces.map((i) => `${i.address}/${i.prefixLength}`)])).toEqual([
      ["alpha", "member", "tdl-demo-alpha", ["198.18.7.11/24"]],
      ["bravo", "member", "tdl-demo-bravo", ["198.18.7.12/24"]],
      ["witness", "arbiter", "tdl-demo-witness", ["198.18.7.13/24"]],
      ["client", "client", "tdl-demo-client", ["198.18.7.100/24"]],
      ["rs1", "realserver", "tdl-demo-rs1", ["198.18.7.101/24"]],
      ["rs2", "realserver", "tdl-demo-rs2", ["198.18.7.102/24"]],
    ]);
    expect(p.networks).toEqual([
      { name: "lan", bridge: "br-lan", subnet: "198.18.7.0/24", prefixLength: 24, iface: "eth0", links: [], hostLink: { name: "tdl-demo", peer: "lan-host", address: "198.18.7.1" } },
    ]);
    expect(p.switchNamespace).toBe("tdl-demo-switch");
    expect(namespacesOf(p)).toEqual([...p.hosts.map((h) => h.namespace), "tdl-demo-switch"]);
  });

  test("nodes run `tandem run` for themselves (keeping state, if the config does, in a dir each), real servers answer on port 80, the client runs nothing", () => {
    const p = plan(PAIR);
    const byName = new Map(p.hosts.map((h) => [h.name, h]));
    expect(byName.get("alpha")!.process).toEqual(["/usr/bin/tandem", "run", "-c", "/etc/tandem/demo.toml", "--node", "alpha"]);
    expect(byName.get("alpha")!.api).toBe("http://198.18.7.11:9480/");
    expect(byName.get("rs2")!.process).toEqual(["/usr/bin/tandem", "lab", "realserver", "--name", "rs2", "--listen", "198.18.7.102:80"]);
    expect(byName.get("rs2")!.api).toBeUndefined();
    expect(byName.get("client")!.process).toBeUndefined();
    const keeping = plan({ ...PAIR, stateDir: "/etc/tandem/state" }).hosts.find((h) => h.name === "alpha")!;
    expect(keeping.process).toEqual(["/usr/bin/tandem", "run", "-c", "/etc/tandem/demo.toml", "--node", "alpha", "--state-dir", "/run/tandem/lab/demo/state/alpha"]);
    expect(p.services).toEqual([
      { name: "rs1", kind: "realserver", url: "http://198.18.7.101/" },
      { name: "rs2", kind: "realserver", url: "http://198.18.7.102/" },
    ]);
  });

  test("interface names fit in 15 characters and are unique in the switch namespace, even for long node names", () => {
    const long = config([
      { name: "a-very-long-node-name-number-one", address: "198.18.9.11" },
      { name: "a-very-long-node-name-number-two", address: "198.18.9.12" },
    ]);
    const p = plan(long, "abcdefghijk");
    const ports = p.hosts.flatMap((h) => h.interfaces.map((i) => i.port));
    const names = [...ports, ...p.networks.flatMap((n) => [n.bridge, n.hostLink!.name, n.hostLink!.peer])];
    for (const n of names) expect(n.length).toBeLessThanOrEqual(IFNAME_MAX);
    expect(new Set(names).size).toBe(names.length);
    expect(p.networks[0]!.hostLink!.name).toBe("tdl-abcdefghijk");
  });

  test("the build commands make the switch first, then each host, with nothing but the host veth in the host namespace", () => {
    const p = plan(PAIR);
    const cmds = buildCommands(p);
    expect(cmds[0]).toEqual(["netns", "add", "tdl-demo-switch"]);
    const ups = cmds.flatMap((c, k) => (c.at(-1) === "up" && !c.includes("lo") ? [k] : []));
    expect(ups.length).toBe(1 + 2 * (1 + p.hosts.length));
    for (const k of ups) {
      const link = cmds[k]!.slice(0, cmds[k]!.indexOf("set") + 2);
      expect(cmds[k - 1], `addrgenmode none before ${link.join(" ")} goes up`).toEqual([...link, "addrgenmode", "none"]);
    }
    const inHost = cmds.filter((c) => c[0] !== "-n" && c[0] !== "netns");
    expect(inHost).toEqual([
      ["link", "add", "tdl-demo", "type", "veth", "peer", "name", "lan-host", "netns", "tdl-demo-switch"],
      ["addr", "add", "198.18.7.1/24", "dev", "tdl-demo"],
      ["link", "set", "tdl-demo", "addrgenmode", "none"],
      ["link", "set", "tdl-demo", "up"],
    ]);
    for (const h of p.hosts) {
      const port = h.interfaces[0]!.port;
      const mine = cmds.filter((c) => c.includes(h.namespace) || c.includes(port));
      expect(mine).toEqual([
        ["netns", "add", h.namespace],
        ["-n", h.namespace, "link", "set", "lo", "up"],
        ["-n", "tdl-demo-switch", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.namespace],
        ["-n", "tdl-demo-switch", "link", "set", port, "addrgenmode", "none"],
        ["-n", "tdl-demo-switch", "link", "set", port, "master", "br-lan", "up"],
        ["-n", h.namespace, "addr", "add", `${h.interfaces[0]!.address}/24`, "dev", "eth0"],
        ["-n", h.namespace, "link", "set", "eth0", "addrgenmode", "none"],
        ["-n", h.namespace, "link", "set", "eth0", "up"],
      ]);
      expect(cmds.indexOf(mine[0]!)).toBeGreaterThan(cmds.findIndex((c) => c.includes("br-lan") && c.includes("type")));
    }
  });

  test("two labs of different names share no namespace or interface name", () => {
    const a = plan(PAIR, "one");
    const b = plan(PAIR, "two");
    const names = (p: LabPlan) => [...namespacesOf(p), ...p.networks.map((n) => n.hostLink!.name)];
    expect(names(a).filter((n) => names(b).includes(n))).toEqual([]);
  });

  test("nodes in more than one /24 are refused, naming the subnets", () => {
    const [p] = problems(config([{ name: "alpha", address: "198.18.7.11" }, { name: "bravo", address: "198.18.8.12" }]));
    expect(p).toContain("198.18.7.0/24 (alpha)");
    expect(p).toContain("198.18.8.0/24 (bravo)");
  });

  test("addresses the lab keeps for itself are refused", () => {
    for (const [part, what] of [["1", "host"], ["100", "client"], ["101", "rs1"], ["102", "rs2"], ["0", "network"], ["255", "broadcast"]] as const) {
      const out = problems(config([{ name: "alpha", address: `198.18.7.${part}` }]));
      expect(out.length).toBe(1);
      expect(out[0]).toContain(`198.18.7.${part}`);
      expect(out[0]).toContain(what);
    }
  });

  test("node names that the lab uses for its own hosts are refused", () => {
    for (const name of ["client", "rs1", "rs2", "switch"]) {
      const out = problems(config([{ name, address: "198.18.7.11" }]));
      expect(out.join()).toContain(`node "${name}"`);
    }
  });

  test("a subnet outside 198.18.0.0/15 is refused", () => {
    expect(problems(config([{ name: "alpha", address: "10.1.2.3" }])).join()).toContain("outside 198.18.0.0/15");
    expect(plan(config([{ name: "alpha", address: "198.19.255.11" }])).networks[0]!.subnet).toBe("198.19.255.0/24");
  });

  test("lab names: lower case, digits and '-', at most 11 characters; the default comes from the cluster", () => {
    for (const ok of ["demo", "a", "t12345", "pair-arb", "abcdefghijk"]) expect(labNameProblem(ok)).toBeUndefined();
    for (const bad of ["", "Demo", "a_b", "-a", "a-", "abcdefghijkl", "a.b"]) expect(labNameProblem(bad)).toBeString();
    expect(defaultLabName("demo")).toBe("demo");
    expect(defaultLabName("production-eu-west")).toBe("production");
    expect(defaultLabName("abcdefghij-klm")).toBe("abcdefghij");
    expect(problems(PAIR, "Bad").join()).toContain('lab name "Bad"');
  });

  test("prefix overlap", () => {
    expect(overlaps({ address: "198.18.7.0", prefixLength: 24 }, { address: "198.18.7.200", prefixLength: 32 })).toBe(true);
    expect(overlaps({ address: "198.18.7.0", prefixLength: 24 }, { address: "198.18.0.0", prefixLength: 16 })).toBe(true);
    expect(overlaps({ address: "198.18.7.0", prefixLength: 24 }, { address: "198.18.8.1", prefixLength: 24 })).toBe(false);
    expect(overlaps({ address: "198.18.7.0", prefixLength: 24 }, { address: "10.0.0.1", prefixLength: 8 })).toBe(false);
  });
});

describe("lab topology: the heartbeat links' networks", () => {
  const NODES = [
    { name: "alpha", address: "198.18.7.11" },
    { name: "bravo", address: "198.18.7.12" },
    { name: "witness", address: "198.18.7.13", roles: ["arbiter" as const] },
  ];
  const on = (prefix: string, parts = [11, 12, 13]) => Object.fromEntries(NODES.map((n, i) => [n.name, `${prefix}.${parts[i]}`]));
  const lan: Link = { name: "lan", kind: "ucast" };
  const hb: Link = { name: "hb", kind: "ucast", interface: "eth1", addresses: on("198.18.107") };

  test("two networks: the lan with every host, and the second link's /24 with the nodes only, on eth1, without the host", () => {
    const p = plan(config(NODES, "demo", [lan, hb]));
    expect(p.networks).toEqual([
      { name: "lan", bridge: "br-lan", subnet: "198.18.7.0/24", prefixLength: 24, iface: "eth0", links: ["lan"], hostLink: { name: "tdl-demo", peer: "lan-host", address: "198.18.7.1" } },
      { name: "hb", bridge: "br-hb", subnet: "198.18.107.0/24", prefixLength: 24, iface: "eth1", links: ["hb"] },
    ]);
    expect(p.hosts.map((h) => [h.name, h.interfaces.map((i) => `${i.network} ${i.iface} ${i.port} ${i.address}/${i.prefixLength}`)])).toEqual([
      ["alpha", ["lan eth0 lan0-alpha 198.18.7.11/24", "hb eth1 hb0-alpha 198.18.107.11/24"]],
      ["bravo", ["lan eth0 lan1-bravo 198.18.7.12/24", "hb eth1 hb1-bravo 198.18.107.12/24"]],
      ["witness", ["lan eth0 lan2-witness 198.18.7.13/24", "hb eth1 hb2-witness 198.18.107.13/24"]],
      ["client", ["lan eth0 lan3-client 198.18.7.100/24"]],
      ["rs1", ["lan eth0 lan4-rs1 198.18.7.101/24"]],
      ["rs2", ["lan eth0 lan5-rs2 198.18.7.102/24"]],
    ]);
  });

  test("the second network's bridge and legs are built; nothing of it reaches the host namespace", () => {
    const p = plan(config(NODES, "demo", [lan, hb]));
    const cmds = buildCommands(p);
    const inHost = cmds.filter((c) => c[0] !== "-n" && c[0] !== "netns");
    expect(inHost.map((c) => c.join(" ")).filter((c) => c.includes("198.18.107") || c.includes("hb"))).toEqual([]);
    const bridge = cmds.findIndex((c) => c.join(" ") === "-n tdl-demo-switch link add br-hb type bridge");
    expect(bridge).toBeGreaterThan(0);
    const alpha = cmds.filter((c) => c.includes("hb0-alpha") || (c.includes("tdl-demo-alpha") && c.includes("eth1")));
    expect(alpha).toEqual([
      ["-n", "tdl-demo-switch", "link", "add", "hb0-alpha", "type", "veth", "peer", "name", "eth1", "netns", "tdl-demo-alpha"],
      ["-n", "tdl-demo-switch", "link", "set", "hb0-alpha", "addrgenmode", "none"],
      ["-n", "tdl-demo-switch", "link", "set", "hb0-alpha", "master", "br-hb", "up"],
      ["-n", "tdl-demo-alpha", "addr", "add", "198.18.107.11/24", "dev", "eth1"],
      ["-n", "tdl-demo-alpha", "link", "set", "eth1", "addrgenmode", "none"],
      ["-n", "tdl-demo-alpha", "link", "set", "eth1", "up"],
    ]);
    expect(cmds.indexOf(alpha[0]!)).toBeGreaterThan(bridge);
  });

  test("three networks: links sharing a /24 share its network; each further /24 is the next ethK", () => {
    const mc: Link = { name: "mc", kind: "mcast", interface: "eth2", addresses: on("198.18.108") };
    const bc: Link = { name: "bc", kind: "bcast", interface: "eth1", addresses: on("198.18.107") };
    const p = plan(config(NODES, "demo", [lan, hb, mc, bc]));
    expect(p.networks.map((n) => [n.name, n.subnet, n.iface, n.links, n.hostLink?.name ?? null])).toEqual([
      ["lan", "198.18.7.0/24", "eth0", ["lan"], "tdl-demo"],
      ["hb", "198.18.107.0/24", "eth1", ["hb", "bc"], null],
      ["mc", "198.18.108.0/24", "eth2", ["mc"], null],
    ]);
    expect(p.hosts.find((h) => h.name === "bravo")!.interfaces.map((i) => `${i.iface} ${i.address}`)).toEqual(["eth0 198.18.7.12", "eth1 198.18.107.12", "eth2 198.18.108.12"]);
    const cmds = buildCommands(p);
    for (const br of ["br-lan", "br-hb", "br-mc"]) expect(cmds.some((c) => c.join(" ") === `-n tdl-demo-switch link add ${br} type bridge`)).toBe(true);
  });

  test("a link named lan or too long for a bridge name gives its network the name netK", () => {
    const named = (name: string, prefix: string): Link => ({ name, kind: "ucast", addresses: on(prefix) });
    const p = plan(config(NODES, "demo", [named("lan", "198.18.107"), named("a-very-long-link-name", "198.18.108"), named("net1", "198.18.109")]));
    expect(p.networks.map((n) => [n.name, n.bridge, n.subnet])).toEqual([
      ["lan", "br-lan", "198.18.7.0/24"],
      ["net1", "br-net1", "198.18.107.0/24"],
      ["net2", "br-net2", "198.18.108.0/24"],
      ["net3", "br-net3", "198.18.109.0/24"],
    ]);
    const names = p.hosts.flatMap((h) => h.interfaces.map((i) => i.port));
    expect(new Set(names).size).toBe(names.length);
  });

  test("interface names that would repeat once cut to 15 characters are refused", () => {
    const many = Array.from({ length: 13 }, (_, i) => ({ name: `a-long-node-name-${String.fromCharCode(97 + i)}`, address: `198.18.7.${11 + i}` }));
    const spread = (prefix: string) => Object.fromEntries(many.map((n, i) => [n.name, `${prefix}.${11 + i}`]));
    const out = problems(config(many, "demo", [{ name: "ab", kind: "ucast", addresses: spread("198.18.107") }, { name: "ab1", kind: "ucast", addresses: spread("198.18.108") }]));
    expect(out).toEqual(["interface names in the switch namespace would repeat (ab10-a-long-nod, ab11-a-long-nod, ab12-a-long-nod); rename the heartbeat links or nodes they come from"]);
  });

  test("bad link addresses are refused, each with its reason", () => {
    const refuse = (links: Link[]) => problems(config(NODES, "demo", links)).join("\n");
    expect(refuse([{ name: "x", kind: "ucast", addresses: on("10.1.2") }])).toContain("subnet 10.1.2.0/24 is outside 198.18.0.0/15");
    expect(refuse([{ name: "x", kind: "ucast", addresses: on("198.18.107", [0, 12, 13]) }])).toContain('node "alpha" has address 198.18.107.0 on a heartbeat link, the network address of 198.18.107.0/24');
    expect(refuse([{ name: "x", kind: "ucast", addresses: on("198.18.107", [11, 255, 13]) }])).toContain("the broadcast address of 198.18.107.0/24");
    expect(refuse([hb, { name: "y", kind: "ucast", addresses: on("198.18.107", [21, 22, 23]) }])).toContain('node "alpha" has two addresses in 198.18.107.0/24: 198.18.107.11 and 198.18.107.21 (link "y")');
    expect(refuse([{ name: "x", kind: "ucast", addresses: on("198.18.7", [21, 12, 13]) }])).toContain('node "alpha" has address 198.18.7.21 on link "x", in the lan 198.18.7.0/24, where its address is 198.18.7.11');
    expect(refuse([hb, { name: "y", kind: "ucast", addresses: on("198.18.107", [12, 11, 13]) }])).toContain('node "alpha" has two addresses');
    const x: Link = { name: "x", kind: "ucast", addresses: { alpha: "198.18.107.11", bravo: "198.18.108.12", witness: "198.18.108.13" } };
    const y: Link = { name: "y", kind: "ucast", addresses: { alpha: "198.18.108.12", bravo: "198.18.107.12", witness: "198.18.107.13" } };
    expect(refuse([x, y])).toContain('nodes "bravo" and "alpha" both have address 198.18.108.12 on the heartbeat links');
    expect(refuse([{ name: "m", kind: "mcast", interface: "eth2", addresses: on("198.18.107") }])).toContain('link "m" (mcast) names interface eth2, but the lab puts 198.18.107.0/24 on eth1 of every node; set interface = "eth1"');
    expect(refuse([{ name: "b", kind: "bcast", interface: "eth1" }])).toContain('link "b" (bcast) names interface eth1, but the lab puts 198.18.7.0/24 on eth0');
  });
});

describe("lab topology: the config's virtual services", () => {
  const withDirector = (forwarding: "nat" | "dr", address = "198.18.7.50"): LabConfig => ({
    ...PAIR,
    raw: {
      services: [{ name: "web", port: 80, servers: [{ address: "198.18.7.101" }, { address: "198.18.7.102", port: 8080 }] }],
      director: {
        virtual_service: [
          { name: "web-vip", address, port: 80, protocol: "tcp", service: "web", forwarding },
          { name: "alt", address, port: 8443, protocol: "tcp", service: "web", forwarding },
          { name: "dns", address, port: 53, protocol: "udp", service: "web", forwarding },
          { name: "marked", fwmark: 7, protocol: "tcp", service: "web", forwarding },
        ],
      },
    },
  });

  test("each TCP virtual service is a service with its URL, forwarding and real servers, after the real servers", () => {
    expect(plan(withDirector("nat")).services).toEqual([
      { name: "rs1", kind: "realserver", url: "http://198.18.7.101/" },
      { name: "rs2", kind: "realserver", url: "http://198.18.7.102/" },
      { name: "web-vip", kind: "virtual", url: "http://198.18.7.50/", forwarding: "nat", servers: ["198.18.7.101:80", "198.18.7.102:8080"] },
      { name: "alt", kind: "virtual", url: "http://198.18.7.50:8443/", forwarding: "nat", servers: ["198.18.7.101:80", "198.18.7.102:8080"] },
    ]);
  });

  test("NAT: the real servers reply to the client through the virtual address (not to the host, which checks them before any node holds it), take no redirects; the nodes send none", () => {
    const p = plan(withDirector("nat"));
    const rs1 = p.hosts.find((h) => h.name === "rs1")!;
    expect(rs1.routes).toEqual([{ to: "198.18.7.100/32", via: "198.18.7.50" }]);
    expect(rs1.sysctls).toEqual(["net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.eth0.accept_redirects=0"]);
    expect(p.hosts.filter((h) => h.sysctls?.includes("net.ipv4.conf.all.send_redirects=0")).map((h) => h.name)).toEqual(["alpha", "bravo", "witness"]);
    const cmds = buildCommands(p).map((c) => c.join(" "));
    const up = cmds.indexOf("-n tdl-demo-rs1 link set eth0 up");
    const sysctl = cmds.indexOf("netns exec tdl-demo-rs1 sysctl -qw net.ipv4.conf.eth0.accept_redirects=0");
    const route = cmds.indexOf("-n tdl-demo-rs1 route add 198.18.7.100/32 via 198.18.7.50");
    expect(up).toBeGreaterThan(0);
    expect(sysctl).toBeGreaterThan(up);
    expect(route).toBeGreaterThan(up);
  });

  test("DR, or a NAT address outside the lan: no routes and no sysctls; the services are listed all the same", () => {
    for (const c of [withDirector("dr"), withDirector("nat", "198.18.9.50")]) {
      const p = plan(c);
      expect(p.hosts.filter((h) => h.routes || h.sysctls)).toEqual([]);
      expect(p.services.filter((s) => s.kind === "virtual").map((s) => s.name)).toEqual(["web-vip", "alt"]);
    }
  });
});

describe("lab topology: the config's proxy", () => {
  test("each bind of an http frontend is a service with its URL and its default backend's servers, after the virtual services; tcp frontends are not", () => {
    const c: LabConfig = {
      ...PAIR,
      raw: {
        services: [{ name: "web", port: 80, servers: [{ address: "198.18.7.101" }, { address: "198.18.7.102", port: 8080 }] }],
        director: { virtual_service: [{ name: "web-vip", address: "198.18.7.50", port: 80, protocol: "tcp", service: "web", forwarding: "nat" }] },
        proxy: {
          frontend: [
            { name: "www", mode: "http", bind: ["198.18.7.50:8080", "198.18.7.51:80"], default_backend: "web", certificate: [] },
            { name: "secure", mode: "http", bind: ["198.18.7.50:443"], default_backend: "web", certificate: [{ cert_file: "www.pem", key_file: "www.key" }] },
            { name: "raw", mode: "tcp", bind: ["198.18.7.50:9000"], default_backend: "web", certificate: [] },
          ],
          backend: [{ name: "web", service: "web" }],
        },
      },
    };
    const servers = ["198.18.7.101:80", "198.18.7.102:8080"];
    expect(plan(c).services.slice(2)).toEqual([
      { name: "web-vip", kind: "virtual", url: "http://198.18.7.50/", forwarding: "nat", servers },
      { name: "www", kind: "proxy", url: "http://198.18.7.50:8080/", servers },
      { name: "www", kind: "proxy", url: "http://198.18.7.51/", servers },
      { name: "secure", kind: "proxy", url: "https://198.18.7.50/", servers },
    ]);
  });
});
