import { describe, expect, test } from "bun:test";
import {
  IFNAME_MAX,
  buildCommands,
  defaultLabName,
  labNameProblem,
  namespacesOf,
  overlaps,
  planLab,
  type LabConfig,
  type LabPlan,
} from "../../lab/topology.ts";

const SELF = ["/usr/bin/tandem"];

function config(nodes: { name: string; address: string; roles?: ("member" | "arbiter")[] }[], cluster = "demo"): LabConfig {
  return {
    file: "/etc/tandem/demo.toml",
    cluster,
    nodes: nodes.map((n) => ({ name: n.name, address: n.address, roles: n.roles ?? ["member"] })),
    api: { port: 9480 },
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
      { name: "lan", bridge: "br-lan", subnet: "198.18.7.0/24", prefixLength: 24, hostLink: { name: "tdl-demo", peer: "lan-host", address: "198.18.7.1" } },
    ]);
    expect(p.switchNamespace).toBe("tdl-demo-switch");
    expect(namespacesOf(p)).toEqual([...p.hosts.map((h) => h.namespace), "tdl-demo-switch"]);
  });

  test("nodes run `tandem run` for themselves, real servers answer on port 80, the client runs nothing", () => {
    const p = plan(PAIR);
    const byName = new Map(p.hosts.map((h) => [h.name, h]));
    expect(byName.get("alpha")!.process).toEqual(["/usr/bin/tandem", "run", "-c", "/etc/tandem/demo.toml", "--node", "alpha"]);
    expect(byName.get("alpha")!.api).toBe("http://198.18.7.11:9480/");
    expect(byName.get("rs2")!.process).toEqual(["/usr/bin/tandem", "lab", "realserver", "--name", "rs2", "--listen", "198.18.7.102:80"]);
    expect(byName.get("rs2")!.api).toBeUndefined();
    expect(byName.get("client")!.process).toBeUndefined();
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
    const names = [...ports, ...p.networks.flatMap((n) => [n.bridge, n.hostLink.name, n.hostLink.peer])];
    for (const n of names) expect(n.length).toBeLessThanOrEqual(IFNAME_MAX);
    expect(new Set(names).size).toBe(names.length);
    expect(p.networks[0]!.hostLink.name).toBe("tdl-abcdefghijk");
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
    const names = (p: LabPlan) => [...namespacesOf(p), ...p.networks.map((n) => n.hostLink.name)];
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
