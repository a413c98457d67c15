import { configProblems } from "../../config-fixtures.ts";
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../core/config/load.ts";
import { MODULES } from "../../../modules/index.ts";

const BASE = `cluster = "lab"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "198.18.1.11"
`;

const problems = (text: string) => configProblems(text);

describe("[[services]] and [director]", () => {
  test("a service with its check, and a virtual service on it, are accepted", () => {
    const r = parseConfig(
      `${BASE}
[[services]]
name = "web"
port = 80
servers = [{ address = "198.18.1.101" }, { address = "198.18.1.102", weight = 2 }]
check = { kind = "http", path = "/health", status = "200", host = "www.example.com" }

[director]
[[director.virtual_service]]
name = "web-vip"
address = "198.18.1.50"
port = 80
service = "web"
scheduler = "wrr"
sorry_server = "198.18.1.200:80"
quorum = 2
hysteresis = 1
`,
      "t.toml",
      MODULES,
    );
    expect(r.ok).toBe(true);
  });

  test("a server's own check and inhibit_on_failure: accepted; checked as the server runs it (the service's keys under its own), at the server's path", () => {
    const head = `${BASE}
[[services]]
name = "web"
port = 80
check = { kind = "http", path = "/health" }
`;
    const r = parseConfig(`${head}servers = [{ address = "198.18.1.101", inhibit_on_failure = true }, { address = "198.18.1.102", check = { kind = "tcp", port = 8080, fall = 1 } }]\n`, "t.toml", MODULES);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.raw.services![0]!.servers[1]!.check).toEqual({ kind: "tcp", port: 8080, fall: 1 });
    expect(problems(`${head}servers = [{ address = "198.18.1.101", check = { kind = "misc" } }, { address = "198.18.1.102", check = { interval = "10ms", body = "([" } }]\n`)).toEqual([
      "t.toml:12: services[0].servers[0].check.command: a misc check needs its command; expected an argv array like [\"/usr/local/bin/check-web\"]",
      "t.toml:12: services[0].servers[1].check.body: not a regular expression: Invalid regular expression: missing terminating ] for character class",
      "t.toml:12: services[0].servers[1].check.interval: checks more often than every 100 ms are refused",
    ]);
    expect(problems(`${head}servers = [{ address = "198.18.1.101", check = { kinde = "tcp" } }]\n`)[0]).toContain('services[0].servers[0].check.kinde: unknown key "kinde"');
  });

  test("an unknown service, address with fwmark, no port, a bad sorry server, hysteresis over quorum; a misc check without command, a dns one without query, a bad body regex, a server twice", () => {
    const out = problems(`${BASE}
[[services]]
name = "web"
port = 80
servers = [{ address = "198.18.1.101" }, { address = "198.18.1.101" }]
check = { kind = "http", body = "([a-z" }

[[services]]
name = "cmd"
servers = [{ address = "198.18.1.103", port = 22 }]
check = { kind = "misc" }

[[services]]
name = "ns"
servers = [{ address = "198.18.1.104", port = 53 }]
check = { kind = "dns" }

[director]
[[director.virtual_service]]
name = "a"
address = "198.18.1.50"
fwmark = 3
service = "wbe"

[[director.virtual_service]]
name = "b"
address = "198.18.1.50"
service = "web"
sorry_server = "somewhere:80"
quorum = 1
hysteresis = 2
`).join("\n");
    expect(out).toContain('director.virtual_service[0].service: no service named "wbe"');
    expect(out).toContain("director.virtual_service[0]: a virtual service has a fwmark or an address and port, not both");
    expect(out).toContain("director.virtual_service[1]: a virtual service needs an address and a port, or a fwmark");
    expect(out).toContain('director.virtual_service[1].sorry_server: "somewhere:80" is not ADDRESS:PORT');
    expect(out).toContain("director.virtual_service[1].hysteresis: hysteresis 2 is over quorum 1");
    expect(out).toContain("services[1].check.command: a misc check needs its command");
    expect(out).toContain("services[2].check.query: a dns check needs the name to query");
    expect(out).toContain("services[0].check.body: not a regular expression");
    expect(out).toContain("services[0].servers[1]: server 198.18.1.101:80 is listed twice");
  });
});

describe("[director.sync]", () => {
  const THREE = `${BASE}
[[nodes]]
name = "bravo"
address = "198.18.1.12"

[[nodes]]
name = "charlie"
address = "198.18.1.13"
`;

  test("three directors with a group are accepted, two members and an arbiter without one; without one, an unknown node, a bad mode: explained by key path", () => {
    expect(problems(`${THREE}[director]\nsync = { interface = "eth1", group = "225.0.0.50" }\n`)).toEqual([]);
    expect(problems(`${THREE.replace('address = "198.18.1.13"', 'address = "198.18.1.13"\nroles = ["arbiter"]')}[director]\nsync = { interface = "eth1" }\n`)).toEqual([]);
    expect(problems(`${THREE}[director]\nsync = { interface = "eth1", group = "225.0.0.50", mode = "fast" }\n`).join("\n")).toContain("director.sync.mode");
    const out = problems(`${THREE}[director]\nsync = { interface = "eth1", addresses = { delta = "198.18.1.14" } }\n`).join("\n");
    expect(out).toContain('director.sync.addresses.delta: no node named "delta"');
    expect(out).toContain("director.sync.group: 3 directors: unicast synchronisation is between a pair; more directors need a multicast group");
  });
});
