import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { tandem, tempDir } from "../helpers.ts";
import { formatFinding } from "../../import/findings.ts";
import { importKeepalived, type IncludeReader } from "../../import/keepalived/index.ts";
import { LIMITS } from "../../import/keepalived/parse.ts";
import { MAX_VIRTUALS } from "../../import/lvs.ts";
import { lvsDoc, lvsProblems } from "./import-lvs.ts";

const FIXTURES = join(import.meta.dir, "import", "keepalived");
const tmp = tempDir("import-keepalived");
afterAll(tmp.cleanup);

/** Files in memory: name -> text; a pattern matches as keepalived's glob would. */
function memory(files: Record<string, string>): IncludeReader {
  return {
    expand: (pattern) => Object.keys(files).filter((f) => new Bun.Glob(pattern).match(f)).sort(),
    read: (f) => (Object.hasOwn(files, f) ? { text: files[f]!, id: f } : { error: "ENOENT: no such file or directory" }),
  };
}

/** The fixtures' directory as keepalived reads it, names relative to it. */
const fixtures: IncludeReader = {
  expand: (pattern) => [...new Bun.Glob(pattern).scanSync({ cwd: FIXTURES })].sort(),
  read: (f) => (existsSync(join(FIXTURES, f)) ? { text: readFileSync(join(FIXTURES, f), "utf8"), id: f } : { error: "ENOENT" }),
};

function imported(file: string, reader: IncludeReader, peers: string[] = []) {
  const r = importKeepalived({ file, peers, reader });
  const findings = r.findings.map(formatFinding);
  if (r.toml === undefined) throw new Error(`nothing imported:\n${findings.join("\n")}`);
  return { toml: r.toml, doc: lvsDoc(r.toml), findings, summary: r.summary };
}

const errors = (file: string, files: Record<string, string>) => importKeepalived({ file, peers: [], reader: memory(files) }).findings.filter((f) => f.level === "error").map(formatFinding);

const vrrp = (router: string, priority: number, self: string, peer: string) => `global_defs {
    router_id ${router}
}
vrrp_instance VI_1 {
    interface eth0
    priority ${priority}
    unicast_src_ip ${self}
    unicast_peer {
        ${peer}
    }
    virtual_ipaddress {
        198.18.5.10/24
    }
}
`;

const WEB = `virtual_server 198.18.5.10 80 {
    delay_loop 5
    lvs_sched wrr
    lvs_method DR
    protocol TCP
    real_server 198.18.5.21 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
`;

describe("tandem import keepalived: the config", () => {
  test("a small pair (a node's file and its peer's), exactly", () => {
    const { toml, findings, summary } = imported("alpha.conf", memory({ "alpha.conf": vrrp("alpha", 150, "198.18.5.1", "198.18.5.2") + WEB, "bravo.conf": vrrp("bravo", 100, "198.18.5.2", "198.18.5.1") + WEB }), ["bravo.conf"]);
    expect(findings).toEqual([
      "note: VRRP is replaced by Tandem's heartbeat between the nodes ([heartbeat]), and each vrrp_instance by a group of address resources that runs on one node at a time",
    ]);
    expect(summary).toBe("2 nodes, 1 virtual service, 1 service, 1 group, 1 resource");
    expect(toml).toBe(`# A Tandem config imported from keepalived by \`tandem import keepalived\`, from:
#   alpha.conf
#   bravo.conf (a peer's)
#
# Write the cluster key (tandem keygen -o cluster.key), check the config
# (tandem check -c FILE) and copy both files to every node.
#
# What was not imported, or changed meaning:
#   note: VRRP is replaced by Tandem's heartbeat between the nodes ([heartbeat]), and each vrrp_instance by a group of address resources that runs on one node at a time

cluster = "keepalived"  # keepalived names no cluster: any name, the same on every node
key_file = "cluster.key"  # tandem keygen -o cluster.key

[[nodes]]
name = "alpha"  # router_id alpha
address = "198.18.5.1"  # alpha.conf: unicast_src_ip

[[nodes]]
name = "bravo"  # router_id bravo
address = "198.18.5.2"  # peer bravo.conf: unicast_src_ip

[heartbeat]  # in place of VRRP; interval 200ms and deadtime 1s by default

[[heartbeat.links]]  # unicast to each node's address
name = "lan"
kind = "ucast"

# alpha.conf:15: virtual_server 198.18.5.10 80
[[services]]
name = "vs-198-18-5-10-80"
port = 80
servers = [
  { address = "198.18.5.21", weight = 2 },  # real_server 198.18.5.21 80
]

[services.check]
kind = "tcp"  # TCP_CHECK
interval = "5s"  # delay_loop 5
timeout = "2s"  # connect_timeout 2
rise = 1  # keepalived took a server up at its first success
fall = 2  # keepalived's default retry for TCP_CHECK, 1: down after retry + 1 failures in a row

[[director.virtual_service]]
name = "vs-198-18-5-10-80"
address = "198.18.5.10"
port = 80
service = "vs-198-18-5-10-80"
scheduler = "wrr"  # lvs_sched wrr
forwarding = "dr"  # lvs_method DR

# alpha.conf:4: vrrp_instance VI_1
[[resources.group]]
name = "vi-1"
members = ["ip-198-18-5-10"]
preferred = "alpha"  # the highest priority (alpha 150, bravo 100)
auto_failback = true  # keepalived preempts: the highest priority takes the addresses back

# alpha.conf:12: 198.18.5.10/24
[[resources.resource]]
name = "ip-198-18-5-10"
agent = "address"
params = { address = "198.18.5.10/24", interface = "eth0" }
`);
    expect(lvsProblems(toml, { rest: true })).toEqual([]);
  });

  test("a NAT web farm: HTTP_GET with digests and a sorry server, SSL_GET with a virtual host, two addresses; what has no counterpart is said", () => {
    const { toml, doc, findings } = imported("web-nat.conf", fixtures);
    const [web, tls] = doc.services;
    expect(web).toEqual({
      name: "vs-192-168-10-100-80",
      port: 80,
      servers: [
        { address: "10.20.0.11", weight: 3 },
        { address: "10.20.0.12", weight: 3 },
        { address: "10.20.0.13", port: 8080, check: { digest: "0123456789abcdef0123456789abcdef" } },
      ],
      check: { kind: "http", interval: "6s", timeout: "3s", rise: 1, fall: 3, path: "/health?full=1", status: "200", digest: "9b3a0c85a887a256d6939da88aabd8cd", host: "www.example.com" },
    });
    expect(tls!.check).toEqual({ kind: "https", interval: "10s", timeout: "4s", rise: 1, fall: 2, path: "/", status: "200-299,301,302", host: "www.example.com" });
    expect(doc.director.virtual_service).toEqual([
      { name: "vs-192-168-10-100-80", address: "192.168.10.100", port: 80, service: web!.name, scheduler: "wrr", forwarding: "nat", sorry_server: "10.20.0.250:8080", quorum: 2, hysteresis: 1 },
      { name: "vs-192-168-10-100-443", address: "192.168.10.100", port: 443, service: tls!.name, scheduler: "wlc", forwarding: "nat", persistence: "10m", persistence_netmask: "255.255.255.0", inhibit_on_failure: true },
    ]);
    expect(doc.rest.resources).toEqual({
      group: [{ name: "vi-web", members: ["ip-192-168-10-100", "ip-10-20-0-1"], preferred: "TODO: the node that holds vi-web", auto_failback: true }],
      resource: [
        { name: "ip-192-168-10-100", agent: "address", params: { address: "192.168.10.100/24", interface: "eth0", label: "eth0:web" } },
        { name: "ip-10-20-0-1", agent: "address", params: { address: "10.20.0.1/24", interface: "eth1" } },
      ],
    });
    expect(doc.rest.nodes).toEqual([
      { name: "lb1", address: "192.168.10.11" },
      { name: "TODO: node 2's name", address: "192.168.10.12" },
    ]);
    expect(findings).toEqual([
      "note: web-nat.conf:5: notification_email is not imported: Tandem sends no email; its events stream from /v1/events and are logged",
      "note: web-nat.conf:8: notification_email_from keepalived@lb1.example.com is not imported: Tandem sends no email; its events stream from /v1/events and are logged",
      "note: web-nat.conf:9: smtp_server 192.168.10.25 is not imported: Tandem sends no email; its events stream from /v1/events and are logged",
      "note: web-nat.conf:10: smtp_connect_timeout 30 is not imported: Tandem sends no email; its events stream from /v1/events and are logged",
      "note: web-nat.conf:12: enable_script_security is not imported: Tandem runs agents and checks as its own user",
      "note: web-nat.conf:13: script_user keepalived_script is not imported: Tandem runs agents and checks as its own user",
      "note: web-nat.conf:16: vrrp_script chk_haproxy is not imported: what it defines is tracked by vrrp_instance's track_* keywords, each a warning where it is used",
      "note: web-nat.conf:23: state MASTER is not imported: no node starts as the holder; the group goes to its preferred node",
      "note: web-nat.conf:25: virtual_router_id 51 is not imported: Tandem's frames carry the cluster's name instead",
      "note: web-nat.conf:27: advert_int 1 is not imported: VRRP's adverts are replaced by the heartbeat: [heartbeat] interval and deadtime say how soon a dead node's groups move (VRRP took about three adverts)",
      "note: web-nat.conf:28: authentication is not imported: VRRP's password is not carried over: Tandem seals its frames with the cluster key (tandem keygen)",
      "warning: web-nat.conf:40: track_script is not imported: a VRRP instance failed over on it: Tandem moves a group when a member's monitor fails or the node loses quorum; [heartbeat.ping] tells a node cut off from its network",
      'warning: web-nat.conf:43: notify_master "/etc/keepalived/notify.sh master" is not imported: a script run on a VRRP state change: Tandem runs none; what it started or stopped belongs in the group as a resource (an exec resource runs commands to start, stop and monitor)',
      'warning: web-nat.conf:44: notify_backup "/etc/keepalived/notify.sh backup" is not imported: a script run on a VRRP state change: Tandem runs none; what it started or stopped belongs in the group as a resource (an exec resource runs commands to start, stop and monitor)',
      "note: web-nat.conf:45: smtp_alert is not imported: Tandem sends no email; its events stream from /v1/events and are logged",
      "note: web-nat.conf:68: delay_before_retry 2 is not imported: Tandem checks every interval, after a failure too, so a server is down after fall × interval (also at web-nat.conf:82)",
      'warning: web-nat.conf:70: notify_down "/etc/keepalived/rs-down.sh 10.20.0.11" is not imported: a script run when a real server\'s state changes: Tandem runs none; its checks.server events say it',
      "todo: resources: group vi-web: set preferred: the node of highest priority held its addresses, and the files give only lb1 150 (state MASTER); --peer FILE reads another node's keepalived.conf",
      "todo: nodes: set the name of node 2 (192.168.10.12): the files do not say it",
      "note: VRRP is replaced by Tandem's heartbeat between the nodes ([heartbeat]), and each vrrp_instance by a group of address resources that runs on one node at a time",
    ]);
    for (const f of findings.filter((f) => !f.startsWith("todo:"))) expect(toml).toContain(`#   ${f}`);
    expect(toml).not.toContain("s3cr3tpw");
    expect(findings.join("\n")).not.toContain("s3cr3tpw");
    // Only the placeholders fail the checks; filled in, the config passes.
    expect(lvsProblems(toml, { rest: true })).toEqual(["nodes[1].name: invalid value", "resources.group[0].preferred: invalid value"]);
    expect(lvsProblems(toml.replace("TODO: node 2's name", "lb2").replace("TODO: the node that holds vi-web", "lb1"), { rest: true })).toEqual([]);
  });

  test("direct routing: a fwmark with persistence, MISC_CHECK dynamic, DNS_CHECK, a virtual_server_group, an included file, a sync group, the connection sync with its instance", () => {
    const { toml, doc, findings, summary } = imported("dr-fwmark.conf", fixtures);
    expect(summary).toBe("2 nodes, 6 virtual services, 3 services, 2 groups, 5 resources");
    expect(toml).toStartWith("# A Tandem config imported from keepalived by `tandem import keepalived`, from:\n#   dr-fwmark.conf\n#   dr-services.inc\n");
    const [fwmark, dns, mail] = doc.services;
    // The misc_path named each server's address: one command for all, the address from Tandem's environment.
    expect(fwmark).toEqual({
      name: "fwmark-1",
      servers: [
        { address: "198.51.100.21", weight: 10 },
        { address: "198.51.100.22", weight: 10 },
      ],
      check: { kind: "misc", interval: "5s", timeout: "4s", rise: 1, fall: 1, command: ["/bin/sh", "-c", 'exec /usr/local/lib/lb/load-check "$TANDEM_CHECK_ADDRESS" --max 250'], dynamic_weight: true },
    });
    expect(dns).toMatchObject({ name: "vs-203-0-113-53-53-udp", port: 53, check: { kind: "dns", interval: "3s", timeout: "5s", fall: 4, query: "ns-check.example.com", query_type: "A" } });
    expect(mail).toMatchObject({ name: "mail", servers: [{ address: "198.51.100.41", port: 25 }, { address: "198.51.100.42", port: 25 }], check: { kind: "tcp", interval: "15s", fall: 4, port: 25 } });
    expect(doc.director.virtual_service.map((v) => [v.name, v.service, v.address ?? v.fwmark, v.port, v.protocol, v.scheduler, v.forwarding, v.persistence, v.alpha])).toEqual([
      ["fwmark-1", "fwmark-1", 1, undefined, undefined, "sh", "dr", "6m", true],
      ["vs-203-0-113-53-53-udp", "vs-203-0-113-53-53-udp", "203.0.113.53", 53, "udp", "rr", "dr", undefined, undefined],
      ["vs-203-0-113-25-25", "mail", "203.0.113.25", 25, undefined, "lc", "dr", "2m", undefined],
      ["vs-203-0-113-26-587", "mail", "203.0.113.26", 587, undefined, "lc", "dr", "2m", undefined],
      ["vs-203-0-113-27-587", "mail", "203.0.113.27", 587, undefined, "lc", "dr", "2m", undefined],
      ["fwmark-25", "mail", 25, undefined, undefined, "lc", "dr", "2m", undefined],
    ]);
    expect(toml).toContain("[[director.virtual_service]]  # dr-services.inc:25: 203.0.113.26-27 587\n");
    const resources = doc.rest.resources as { group: unknown[]; resource: Array<{ params: unknown }>; colocation: unknown[] };
    expect(resources.group).toEqual([
      { name: "vi-dr", members: ["ip-203-0-113-10", "ip-203-0-113-11", "ip-2001-db8-0-10-10", "director"], preferred: "TODO: the node that holds vi-dr", auto_failback: false },
      { name: "vi-dns", members: ["ip-203-0-113-53"], preferred: "TODO: the node that holds vi-dns", auto_failback: true },
    ]);
    // keepalived's default prefix is the whole address; an excluded address is held too.
    expect(resources.resource.map((r) => r.params)).toEqual([
      { address: "203.0.113.10/32", interface: "eth1" },
      { address: "203.0.113.11/32", interface: "eth1" },
      { address: "2001:db8:0:10::10/64", interface: "eth1" },
      undefined,
      { address: "203.0.113.53/32", interface: "eth1" },
    ]);
    expect(doc.director.sync).toEqual({ interface: "eth1" });
    expect(resources.colocation).toEqual([{ group: "vi-dns", with: "vi-dr" }]);
    expect(findings).toContain("note: dr-fwmark.conf:7: enable_snmp_checker is not imported: Tandem has no SNMP agent; its metrics are at /metrics (Prometheus)");
    expect(findings).toContain(
      "note: dr-fwmark.conf:53: misc_path names its real server's address: the command is written as /bin/sh -c 'exec /usr/local/lib/lb/load-check \"$TANDEM_CHECK_ADDRESS\" --max 250', the same for every server, since Tandem sets TANDEM_CHECK_ADDRESS for each (also at dr-fwmark.conf:61)",
    );
    expect(findings.filter((f) => f.startsWith("todo:"))).toEqual([
      "todo: resources: group vi-dr: set preferred: the node of highest priority held its addresses, and the files give only director-a 100 (state BACKUP); --peer FILE reads another node's keepalived.conf",
      "todo: resources: group vi-dns: set preferred: the node of highest priority held its addresses, and the files give only director-a 100; --peer FILE reads another node's keepalived.conf",
      "todo: nodes: set the address of director-a: the files do not say it",
      "todo: nodes: set the name of node 2: keepalived's file names no peer (VRRP multicast); add every other node",
      "todo: nodes: set the address of node 2: the files do not say it",
    ]);
    expect(lvsProblems(toml, { rest: false })).toEqual([]);
  });

  test("conditional lines (@ID) name the nodes; the highest priority is the preferred node", () => {
    const { toml, doc, findings } = imported("pair.conf", fixtures);
    expect(doc.rest.nodes).toEqual([
      { name: "lb1", address: "10.0.0.1" },
      { name: "lb2", address: "10.0.0.2" },
    ]);
    expect((doc.rest.resources as { group: unknown[] }).group).toEqual([{ name: "vi-1", members: ["ip-10-0-0-100"], preferred: "lb1", auto_failback: true }]);
    expect(toml).toContain('preferred = "lb1"  # the highest priority (lb1 200, lb2 100)');
    expect(findings.filter((f) => !f.startsWith("note"))).toEqual([]);
    expect(lvsProblems(toml, { rest: true })).toEqual([]);
  });

  test("nodes that disagree: a tie in priority is a TODO, other addresses or virtual servers a warning", () => {
    const main = vrrp("alpha", 100, "198.18.5.1", "198.18.5.2") + WEB;
    const peer = vrrp("bravo", 100, "198.18.5.2", "198.18.5.1").replace("198.18.5.10/24", "198.18.5.10/24 dev eth1");
    const { findings } = imported("a.conf", memory({ "a.conf": main, "b.conf": peer }), ["b.conf"]);
    expect(findings).toContain("todo: resources: group vi-1: set preferred: two nodes share the highest priority (alpha 100, bravo 100)");
    expect(findings).toContain(
      "warning: a.conf:4: vrrp_instance VI_1: the addresses or interfaces of peer b.conf differ; Tandem gives one address the same interface on every node, and takes a.conf's",
    );
    expect(findings).toContain("warning: the virtual servers of peer b.conf differ from a.conf's: the import takes a.conf's");
    const same = importKeepalived({ file: "a.conf", peers: ["b.conf"], reader: memory({ "a.conf": main, "b.conf": main }) });
    expect(same.findings.map(formatFinding)).toEqual(['error: peer b.conf names node "alpha" again']);
  });

  test("checkers and settings with no exact counterpart: each imported as near as it goes, and said", () => {
    const text = `virtual_server 198.18.5.10 25 {
    lvs_sched twos
    real_server 198.18.5.21 25 {
        SMTP_CHECK {
            helo_name lb.example.com
        }
    }
    real_server 198.18.5.22 25 {
        PING_CHECK {
        }
        TCP_CHECK {
        }
    }
    real_server 198.18.5.23 25 {
        UDP_CHECK {
            payload 0a
        }
    }
}
virtual_server 198.18.5.10 8080 {
    sorry_server 198.18.5.99
    real_server 198.18.5.21 8080 {
        lvs_method DR
        MISC_CHECK {
            misc_path "/usr/bin/curl -sf http://localhost:8080/ | grep -q ok"
            user nobody
        }
    }
}
virtual_server 198.18.5.10 443 {
    protocol SCTP
    real_server 198.18.5.21 443 {
    }
}
virtual_server 198.18.5.11 80 {
    real_server 198.18.5.21 80 {
        HTTP_GET {
            url {
                path /a
                regex "^ok"
                regex_no_match
            }
            url {
                path /b
            }
        }
    }
}
`;
    const { toml, doc, findings } = imported("k.conf", memory({ "k.conf": text }));
    // SMTP_CHECK is a tcp connect; beside TCP_CHECK, PING_CHECK is left out; alone, UDP_CHECK has no counterpart.
    expect(doc.services[0]!.check).toEqual({ kind: "tcp", interval: "1m", timeout: "5s", rise: 1, fall: 2 });
    expect(doc.director.virtual_service[0]).toMatchObject({ scheduler: "wlc" });
    expect(doc.services[1]!.check).toMatchObject({ kind: "misc", timeout: "1m", command: ["/bin/sh", "-c", "/usr/bin/curl -sf http://localhost:8080/ | grep -q ok"] });
    expect(doc.director.virtual_service[1]).toMatchObject({ forwarding: "nat", sorry_server: "198.18.5.99:8080" });
    expect(doc.services[2]!.check).toMatchObject({ kind: "http", path: "/a", status: "200-299" });
    expect(doc.services[2]!.check.body).toBeUndefined();
    expect(doc.services.map((s) => s.name)).toEqual(["vs-198-18-5-10-25", "vs-198-18-5-10-8080", "vs-198-18-5-11-80"]);
    const noProtocol = (line: number, vs: string) =>
      `note: k.conf:${line}: virtual_server ${vs} names no protocol: TCP is written; keepalived 2.2.7 took UDP here (it logs "no protocol set - defaulting to UDP"), so write protocol UDP where UDP is meant`;
    expect(findings).toEqual([
      noProtocol(1, "198.18.5.10 25"),
      "warning: k.conf:2: lvs_sched twos: Tandem has no twos scheduler; wlc is written",
      "warning: k.conf:4: SMTP_CHECK: a tcp check is written: it connects, but does not wait for the SMTP greeting",
      "note: k.conf:5: helo_name lb.example.com is not imported: Tandem's tcp check sends nothing",
      "warning: k.conf:9: PING_CHECK is not imported: Tandem runs one check a server, and TCP_CHECK is the one",
      "warning: k.conf:15: UDP_CHECK: Tandem has no UDP check: the server is written with no check (kind none, always healthy)",
      noProtocol(20, "198.18.5.10 8080"),
      "warning: k.conf:23: lvs_method DR differs from the virtual server's NAT: Tandem forwards to every server of a virtual service alike",
      'note: k.conf:25: misc_path "/usr/bin/curl -sf http://localhost:8080/ | grep -q ok" needs a shell (|): it is written as /bin/sh -c, since Tandem runs a command without one',
      "note: k.conf:26: user nobody is not imported: Tandem runs a check as its own user",
      "warning: k.conf:30: virtual_server 198.18.5.10 443 is not imported: Tandem's virtual services are TCP or UDP, not SCTP",
      noProtocol(35, "198.18.5.11 80"),
      'warning: k.conf:38: regex_no_match is not imported, nor its regex "^ok": Tandem\'s body must match',
      "warning: k.conf:43: HTTP_GET: only the first url is imported: Tandem checks one path a service",
      "todo: nodes: set the name of node 1: k.conf has no router_id (keepalived took the host name)",
      "todo: nodes: set the address of node 1: the files do not say it",
    ]);
    expect(doc.rest.heartbeat).toBeUndefined();
    expect(lvsProblems(toml, { rest: false })).toEqual([]);
  });
});

describe("tandem import keepalived: reading the files", () => {
  test("keepalived's syntax: comments outside quotes, quoted words, braces on a line of their own or with a block inline", () => {
    const text = [
      "! a comment",
      'global_defs { router_id "lb one" }   # the node',
      "virtual_server 198.18.5.10 80",
      "{",
      '    real_server 198.18.5.21 80 { HTTP_GET { url { path "/a#b" } } }',
      "    real_server 198.18.5.22 80 { HTTP_GET { url { path /a\\#b } } }",
      "}",
    ].join("\r\n");
    const { doc, findings } = imported("k.conf", memory({ "k.conf": text }));
    expect(doc.rest.nodes).toEqual([{ name: "lb-one", address: "TODO: lb-one's address" }]);
    expect(doc.services[0]!.check.path).toBe("/a#b");
    expect(findings.filter((f) => f.includes("its check differs"))).toEqual([]);
    expect(findings).toContain('note: node "lb one" (router_id \"lb one\") is named "lb-one": Tandem names are lower case letters, digits and \'-\' (31 at most); where the host name differs, run tandem with --node lb-one');
  });

  test("broken structure is an error with FILE:LINE, and nothing is written; what keepalived skips (unknown keywords, bad values, unknown schedulers and options) is a warning", () => {
    const text = [
      "global_defs {",
      "    router_idd lb1",
      "}",
      "vrrp_instance VI_1 {",
      "    interface eth0",
      "    priority 300",
      "    state LEADER",
      "    virtual_ipaddress {",
      "        198.18.5.300/24",
      "        198.18.5.10/24 dev eth0 colour blue",
      "    }",
      "}",
      "virtual_server 198.18.5.10 80 {",
      "    lvs_sched fastest",
      "    lvs_method NAT",
      '    real_server 198.18.5.21 80 { HTTP_GET { url { path /x digest xyz } } TCP_CHECK { connect_port 0 } }',
      "    real_server 198.18.5.22 { weight heavy }",
      "    persistance_timeout 50",
      "}",
      "}",
      'virtual_server 198.18.5.11 80 { real_server 198.18.5.21 80 { MISC_CHECK { misc_path "/bin/x } } }',
      "virtual_server group NOPE {",
    ].join("\n");
    const r = importKeepalived({ file: "k.conf", peers: [], reader: memory({ "k.conf": text }) });
    expect(r.toml).toBeUndefined();
    expect(r.findings.map(formatFinding)).toEqual([
      'warning: k.conf:2: unknown keyword "router_idd" in global_defs (did you mean "router_id"?): keepalived skipped it, and so does the import',
      'warning: k.conf:6: priority "300" is not a whole number from 1 to 255: keepalived skipped it, and so does the import',
      'warning: k.conf:7: state "LEADER" is not MASTER or BACKUP: keepalived skipped it, and so does the import',
      'warning: k.conf:9: "198.18.5.300/24" is not an address (ADDRESS[/PREFIX] [dev IF] [label LABEL] ...): keepalived skipped it, and so does the import',
      'warning: k.conf:10: unknown option "colour" of a virtual address (dev, label, brd, scope, peer, ...): keepalived skipped the option, and so does the import',
      'warning: k.conf:10: unknown option "blue" of a virtual address (dev, label, brd, scope, peer, ...): keepalived skipped the option, and so does the import',
      "warning: k.conf:14: lvs_sched fastest is not imported: not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos; keepalived took its default, wlc, and so does the import",
      "warning: k.conf:16: TCP_CHECK is not imported: Tandem runs one check a server, and HTTP_GET is the one",
      'warning: k.conf:16: path takes 1 value (path /health): keepalived read the first and skipped "digest xyz", and so does the import',
      'warning: k.conf:17: weight "heavy" is not a whole number from 0 to 65535: keepalived skipped it, and so does the import',
      'warning: k.conf:18: unknown keyword "persistance_timeout" in virtual_server 198.18.5.10 80 (did you mean "persistence_timeout"?): keepalived skipped it, and so does the import',
      "error: k.conf:20: a } that closes no block",
      "error: k.conf:21: a quote is not closed",
      "error: k.conf:22: the block of virtual_server is not closed",
      'warning: k.conf:22: no virtual_server_group named "NOPE": keepalived skipped it, and so does the import',
    ]);
    const noPath = importKeepalived({ file: "k.conf", peers: [], reader: memory({ "k.conf": "virtual_server 10.0.0.1 80 { real_server 10.0.0.2 80 { HTTP_GET { url { status_code 200 } } } }\n" }) });
    expect(noPath.findings.map(formatFinding)[0]).toBe("warning: k.conf:1: url has no path: the server is written with no check (kind none, always healthy): keepalived skipped it, and so does the import");
    expect(lvsDoc(noPath.toml!).services[0]!.check).toEqual({ kind: "none" });
  });

  test("includes: relative to the including file, by glob, in order; a file that includes itself, or no match, is said", () => {
    const files = {
      "etc/keepalived.conf": "include conf.d/*.conf\ninclude missing/*.conf\n",
      "etc/conf.d/20-web.conf": WEB,
      "etc/conf.d/10-ids.conf": "global_defs {\n    router_id lb1\n}\n",
    };
    const { findings, doc } = imported("etc/keepalived.conf", memory(files));
    expect(doc.rest.nodes).toEqual([{ name: "lb1", address: "TODO: lb1's address" }]);
    expect(doc.services).toHaveLength(1);
    expect(findings).toContain("note: etc/keepalived.conf:2: include missing/*.conf names no file (keepalived skipped it too)");
    expect(errors("a.conf", { "a.conf": "include b.conf\n", "b.conf": "include a.conf\n" })).toEqual(["error: b.conf:1: a.conf includes itself (through 2 files)"]);
    const chain = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}.conf`, `include f${i + 1}.conf\n`]));
    expect(errors("f0.conf", chain)).toEqual([`error: f${LIMITS.includeDepth}.conf:1: includes nested more than ${LIMITS.includeDepth} deep`]);
    expect(errors("a.conf", { "a.conf": `include b.conf\n${WEB}` })).toEqual([]);
    expect(errors("nope.conf", {})).toEqual(["error: nope.conf: cannot read it: ENOENT: no such file or directory"]);
  });

  test("DR cannot change a port: a real server's other port is reset to the virtual port, as keepalived does; NAT keeps it", () => {
    const conf = (kind: string) => `virtual_server 198.18.5.10 80 {\n    lb_kind ${kind}\n    protocol TCP\n    real_server 198.18.5.21 8080 {\n    }\n}\n`;
    const dr = imported("k.conf", memory({ "k.conf": conf("DR") }));
    expect(dr.doc.services[0]!.servers).toEqual([{ address: "198.18.5.21" }]);
    expect(dr.findings).toContain("warning: k.conf:4: real_server 198.18.5.21 8080: port 8080 is not the virtual port 80: DR cannot change a port, and keepalived reset it to 80, as the import does");
    expect(imported("k.conf", memory({ "k.conf": conf("NAT") })).doc.services[0]!.servers).toEqual([{ address: "198.18.5.21", port: 8080 }]);
  });

  test("parameters and sequences as keepalived's manual has them: substituted at use, recursive, nested multi-line definitions holding definitions and conditions, ~SEQ with one or two numbers, ~SEQx, ~LST of one or several variables, predefined names", () => {
    const text = readFileSync(join(FIXTURES, "field", "manual.conf"), "utf8");
    const r = importKeepalived({ file: "k.conf", peers: [], reader: memory({ "k.conf": text }) });
    expect(r.findings.filter((f) => f.level === "error").map(formatFinding)).toEqual([]);
    const doc = lvsDoc(r.toml!);
    expect(doc.director.virtual_service.map((v) => v.address)).toEqual(["198.18.90.10", "198.18.91.10", "198.18.92.10", "198.18.93.10", "2001:db8:94::10"]);
    expect(doc.services.map((s) => s.servers.map((x) => `${x.address}${x.port ? `:${x.port}` : ""}${x.weight ? `=${x.weight}` : ""}`))).toEqual([
      ["198.18.90.11=3", "198.18.90.12=3"],
      ["198.18.91.11=3", "198.18.91.12=3"],
      ["198.18.92.1", "198.18.92.2", "198.18.92.3", "198.18.92.20", "198.18.92.19", "198.18.92.18"],
      ["198.18.93.5", "198.18.93.7", "198.18.93.8:8080", "198.18.93.9:8081"],
      ["2001:db8:94::a", "2001:db8:94::b"],
    ]);
    // The instance is there for config ID lb1 only, and the node is named by ${_INSTANCE}.
    expect((doc.rest.nodes as Array<{ name: string }>)[0]!.name).toBe("lb1");
    expect((doc.rest.resources as { resource: Array<{ params: { address: string } }> }).resource.map((x) => x.params.address)).toEqual(["198.18.90.10/24"]);
  });

  test("an @ with no ID, a sequence that never ends, is too long or is no ~SEQ(...): errors; ~SEQ only counts at a line's start", () => {
    expect(errors("k.conf", { "k.conf": "$VIP=10.0.0.1\n@ global_defs {\n}\nvirtual_server ~SEQ(n,1,3) 80 {\n}\n~SEQ(n,1,-1,3) real_server 10.0.0.$n 80 {\n}\n~SEQ(n,1,100000) x\n~SEQ(n 1 2) x\n" })).toEqual([
      "error: k.conf:2: a conditional line needs its config ID right after the @ (@ID or @^ID)",
      "error: k.conf:3: a } that closes no block",
      "error: k.conf:6: ~SEQ(n,1,-1,3) counts from 1 by -1 and never reaches 3",
      "error: k.conf:7: a } that closes no block",
      `error: k.conf:8: ~SEQ(n,1,100000) stands for more than ${LIMITS.sequence} lines`,
      "error: k.conf:9: a sequence is ~SEQ(VAR, [START,] [STEP,] END) or ~LST(VAR, VALUE, ...) before the line it repeats",
    ]);
  });

  test("blocks nested past the bound, more virtual services than the director holds, and any garbage give errors, never an exception", () => {
    expect(errors("k.conf", { "k.conf": `${"a {\n".repeat(LIMITS.depth + 2)}` })).toContain(`error: k.conf:${LIMITS.depth + 1}: blocks nested more than ${LIMITS.depth} deep`);
    const ranges = Array.from({ length: 40 }, (_, i) => `    10.${i}.0.0/24 80`).join("\n");
    const many = `virtual_server_group MANY {\n${ranges}\n}\nvirtual_server group MANY {\n    real_server 10.99.0.1 80 {\n    }\n}\n`;
    expect(errors("k.conf", { "k.conf": many })).toEqual([`error: k.conf:43: more than ${MAX_VIRTUALS} virtual services: the director holds no more`]);
    // Fuzzing found it: a prefix longer than two digits passed the range test and then no range pattern.
    const wide = importKeepalived({ file: "k.conf", peers: [], reader: memory({ "k.conf": "virtual_server_group G {\n    10.0.0.100/240 80\n}\n" }) });
    expect(wide.findings.map(formatFinding)).toContain('warning: k.conf:2: 10.0.0.100/240 80 is not imported: "10.0.0.100/240" is not an IPv4 range; list its addresses as entries of their own');
    fc.assert(
      fc.property(fc.array(fc.constantFrom("{", "}", '"', "!", "#", "\\", "@x", "virtual_server", "real_server", "1.2.3.4", "80", "\n", " ", "TCP_CHECK", "include k.conf", "vrrp_instance", "url", "$A=1"), { maxLength: 60 }), (parts) => {
        const r = importKeepalived({ file: "k.conf", peers: [], reader: memory({ "k.conf": parts.join(" ") }) });
        expect(r.toml === undefined).toBe(r.findings.some((f) => f.level === "error"));
      }),
      { numRuns: 300 },
    );
  });
});

describe("tandem import keepalived (the command)", () => {
  test("the web farm end to end: written to OUT, findings and a count on stderr; an existing OUT is kept without --force", async () => {
    const out = join(tmp.dir, "web.toml");
    const r = await tandem(["import", "keepalived", join(FIXTURES, "web-nat.conf"), "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`warning: ${join(FIXTURES, "web-nat.conf")}:40: track_script is not imported`);
    expect(r.stderr).toEndWith(`imported 2 nodes, 2 virtual services, 2 services, 1 group, 2 resources to ${out}; 4 warnings, 14 notes, 2 TODOs: fill them in, then run tandem check\n`);
    expect(lvsProblems(readFileSync(out, "utf8"), { rest: false })).toEqual([]);
    writeFileSync(out, "mine\n");
    const kept = await tandem(["import", "keepalived", join(FIXTURES, "web-nat.conf"), "-o", out]);
    expect(kept.code).toBe(1);
    expect(readFileSync(out, "utf8")).toBe("mine\n");
  });

  test("includes from the file's own directory, and --peer", async () => {
    const dir = join(tmp.dir, "dr");
    Bun.spawnSync(["mkdir", "-p", dir]);
    for (const f of ["dr-fwmark.conf", "dr-services.inc", "pair.conf"]) copyFileSync(join(FIXTURES, f), join(dir, f));
    const r = await tandem(["import", "keepalived", join(dir, "dr-fwmark.conf")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`#   ${join(dir, "dr-services.inc")}\n`);
    expect(r.stdout).toContain('name = "mail"');
    const peer = await tandem(["import", "keepalived", join(dir, "dr-fwmark.conf"), "--peer", join(dir, "pair.conf")]);
    expect(peer.code).toBe(2);
    expect(peer.stderr).toContain(`error: ${join(dir, "pair.conf")}: a --peer file with conditional lines (@ID): give the file with them as the main one, alone`);
  });

  test("a bad file: exit 2, FILE:LINE, nothing written; help and usage", async () => {
    const bad = join(tmp.dir, "bad.conf");
    writeFileSync(bad, "virtual_server 10.0.0.1 80 {\n    real_server 10.0.0.2 80 {\n");
    const out = join(tmp.dir, "bad.toml");
    const r = await tandem(["import", "keepalived", bad, "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${bad}:1: the block of virtual_server is not closed`);
    expect(r.stderr).toContain("tandem import keepalived: nothing written: 2 errors");
    expect(existsSync(out)).toBe(false);
    const dir = await tandem(["import", "keepalived", tmp.dir]);
    expect(dir.stderr).toContain(`error: ${tmp.dir}: cannot read it: not a regular file`);
    const help = await tandem(["import", "keepalived", "--help"]);
    expect(help.stdout).toStartWith("Usage: tandem import keepalived FILE [--peer FILE]... [-o OUT [--force]]");
    const usage = await tandem(["import", "keepalived"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("tandem import keepalived: missing the keepalived.conf FILE");
  });
});

test("the imported configs go through `tandem check` as a whole: a pair named by conditional lines is valid; elsewhere only the TODOs are refused", async () => {
  await tandem(["keygen", "-o", join(tmp.dir, "cluster.key")]);
  const check = async (fixture: string) => {
    const out = join(tmp.dir, `${fixture}.toml`);
    expect((await tandem(["import", "keepalived", join(FIXTURES, fixture), "-o", out, "--force"])).code).toBe(0);
    return tandem(["check", "-c", out]);
  };
  const pair = await check("pair.conf");
  expect(pair.code).toBe(0);
  for (const fixture of ["web-nat.conf", "dr-fwmark.conf"]) {
    const r = await check(fixture);
    expect(r.code).toBe(2);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e).toContain("TODO");
  }
});
