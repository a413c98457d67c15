import { STOP_MARGIN } from "../../../core/cluster.ts";
import { THREE_NODES, configProblems } from "../../config-fixtures.ts";
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../core/config/load.ts";
import { formatProblem } from "../../../core/config/problems.ts";
import { INFINITY } from "../../../modules/resources/model.ts";
import { clusterConfigOf } from "../../../modules/resources/config.ts";
import { MODULES } from "../../../modules/index.ts";

const BASE = THREE_NODES;

const GOOD = `${BASE}
[resources]
stickiness = 10

[[resources.group]]
name = "web"
members = ["vip", "httpd"]
preferred = "alpha"
auto_failback = false

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "198.18.1.50/24", interface = "eth0" }

[[resources.resource]]
name = "httpd"
agent = "ocf:heartbeat:apache"
params = { configfile = "/etc/apache2/apache2.conf", port = 80 }
monitor_interval = "30s"
on_fail = "move"
failure_timeout = "10m"
symmetrical = false

[[resources.resource]]
name = "mail"
agent = "exec"
params = { start = ["/usr/sbin/postfix", "start"], stop = ["/usr/sbin/postfix", "stop"], monitor = ["/usr/sbin/postfix", "status"] }
migration_threshold = 2

[[resources.location]]
group = "mail"
node = "bravo"
score = "-INFINITY"

[[resources.colocation]]
group = "mail"
with = "web"

[[resources.order]]
first = "web"
then = "mail"
`;

const problems = (text: string) => configProblems(text, "tandem.toml");

describe("[resources]", () => {
  test("a full section is accepted and becomes the policy's model, an ungrouped resource a group of its own", () => {
    const r = parseConfig(GOOD, "tandem.toml", MODULES);
    if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("tandem.toml", p)).join("\n"));
    const c = clusterConfigOf(r.config.raw.resources!);
    expect(c.groups).toEqual([
      { name: "web", members: ["vip", "httpd"], preferredNode: "alpha", stickiness: INFINITY },
      { name: "mail", members: ["mail"], preferredNode: null, stickiness: 10 },
    ]);
    const httpd = c.resources.find((x) => x.name === "httpd")!;
    expect(httpd).toMatchObject({ monitorIntervalMs: 30_000, monitorTimeoutMs: 20_000, onFail: "move", failureTimeoutMs: 600_000, migrationThreshold: null, exclusive: true, symmetrical: false });
    expect(c.resources.find((x) => x.name === "vip")!.symmetrical).toBeUndefined();
    expect(c.resources.find((x) => x.name === "mail")!.migrationThreshold).toBe(2);
    expect(c.locations).toEqual([{ group: "mail", node: "bravo", score: -INFINITY }]);
    expect(c.colocations).toEqual([{ group: "mail", withGroup: "web", score: INFINITY }]);
    expect(c.orders).toEqual([{ first: "web", then: "mail" }]);
    expect(c.fencing).toBe(false);
  });

  test("unknown members, a member in two groups, names reused, constraints on unknown groups and nodes: each named with its line", () => {
    const text = `${BASE}
[resources]
[[resources.group]]
name = "web"
members = ["vip", "htpd"]
preferred = "charlie"

[[resources.group]]
name = "other"
members = ["vip"]

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "198.18.1.50/24", interface = "eth0" }

[[resources.resource]]
name = "httpd"
agent = "lsb:apache2"

[[resources.location]]
group = "wbe"
node = "witness"
score = 10

[[resources.order]]
first = "web"
then = "web"
`;
    const out = problems(text);
    expect(out).toContain('tandem.toml:20: resources.group[0].members[1]: no resource named "htpd"; expected a resource of [[resources.resource]] (did you mean "httpd"?)');
    expect(out.some((p) => p.includes('resources.group[0].preferred: no member node named "charlie"'))).toBe(true);
    expect(out.some((p) => p.includes('resources.group[1].members[0]: resource "vip" is already a member of group "web"'))).toBe(true);
    expect(out.some((p) => p.includes('resources.location[0].group: no group named "wbe"') && p.includes('did you mean "web"?'))).toBe(true);
    expect(out.some((p) => p.includes('resources.location[0].node: no member node named "witness"'))).toBe(true);
    expect(out.some((p) => p.includes('resources.order[0]: group "web" is ordered after itself'))).toBe(true);
  });

  test("clones and all_or_nothing: on a group, or on a resource in no group for its own; each mistake named by its key path", () => {
    const good = `${BASE}
[resources]
[[resources.group]]
name = "web"
members = ["vip", "httpd"]
all_or_nothing = true

[[resources.group]]
name = "proxies"
members = ["haproxy"]
clone = true
clone_max = 2
interleave = true

[[resources.resource]]
name = "vip"
agent = "lsb:vip"

[[resources.resource]]
name = "httpd"
agent = "lsb:apache2"

[[resources.resource]]
name = "haproxy"
agent = "lsb:haproxy"

[[resources.resource]]
name = "ping"
agent = "lsb:ping"
clone = true
`;
    const r = parseConfig(good, "tandem.toml", MODULES);
    if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("tandem.toml", p)).join("\n"));
    expect(clusterConfigOf(r.config.raw.resources!).groups).toEqual([
      { name: "web", members: ["vip", "httpd"], preferredNode: null, stickiness: 0, allOrNothing: true },
      { name: "proxies", members: ["haproxy"], preferredNode: null, stickiness: 0, clone: { max: 2, interleave: true } },
      { name: "ping", members: ["ping"], preferredNode: null, stickiness: 0, clone: { max: null, interleave: false } },
    ]);
    const bad = `${BASE}
[resources]
[[resources.group]]
name = "web"
members = ["vip"]
clone_max = 2

[[resources.group]]
name = "proxies"
members = ["haproxy"]
clone = true
clone_node_max = 2

[[resources.resource]]
name = "vip"
agent = "lsb:vip"
clone = true

[[resources.resource]]
name = "haproxy"
agent = "lsb:haproxy"

[[resources.resource]]
name = "ping"
agent = "lsb:ping"
interleave = true
`;
    const out = problems(bad);
    expect(out).toContain("tandem.toml:21: resources.group[0].clone_max: clone_max applies to clones only; expected clone = true beside it");
    expect(out.some((p) => p.includes("resources.group[1].clone_node_max: a node runs at most one instance of a clone"))).toBe(true);
    expect(out.some((p) => p.includes('resources.resource[0].clone: resource "vip" is a member of group "web": a group is cloned whole'))).toBe(true);
    expect(out.some((p) => p.includes("resources.resource[2].interleave: interleave applies to clones only"))).toBe(true);
    expect(r.warnings.map((p) => formatProblem("tandem.toml", p))).toContain('tandem.toml:28: resources.group[1].interleave: interleave has no effect: "proxies" is ordered after no clone');
    const ordered = parseConfig(`${good}\n[[resources.order]]\nfirst = "ping"\nthen = "proxies"\n`, "tandem.toml", MODULES);
    expect(ordered.ok && ordered.warnings.some((p) => p.path.includes("interleave"))).toBe(false);
    const many = parseConfig(good.replace("clone_max = 2", "clone_max = 3"), "tandem.toml", MODULES);
    expect(many.ok && many.warnings.map((p) => formatProblem("tandem.toml", p))).toContain(
      "tandem.toml:27: resources.group[1].clone_max: clone_max 3 is more than the 2 member nodes: at most 2 instances run, one per node",
    );
  });

  test("promotable clones (promotable, promoted_max), with_role and first_action become the model; each is checked", () => {
    const text = (clone: string, constraints: string) =>
      `${BASE}\n[resources]\n[[resources.resource]]\nname = "drbd"\nagent = "ocf:linbit:drbd"\nexclusive = false\n${clone}\n[[resources.resource]]\nname = "fs"\nagent = "lsb:fs"\n${constraints}`;
    const together = `[[resources.colocation]]\ngroup = "fs"\nwith = "drbd"\nwith_role = "promoted"\n[[resources.order]]\nfirst = "drbd"\nthen = "fs"\nfirst_action = "promote"\n`;
    const r = parseConfig(text(`clone = true\npromotable = true\npromoted_max = 2`, together), "tandem.toml", MODULES);
    if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("tandem.toml", p)).join("\n"));
    const c = clusterConfigOf(r.config.raw.resources!);
    expect(c.groups[0]!.clone).toEqual({ max: null, interleave: false, promotable: { promotedMax: 2 } });
    expect(c.colocations).toEqual([{ group: "fs", withGroup: "drbd", score: INFINITY, withRole: "promoted" }]);
    expect(c.orders).toEqual([{ first: "drbd", then: "fs", firstAction: "promote" }]);
    const defaulted = parseConfig(text(`clone = true\npromotable = true`, ""), "tandem.toml", MODULES);
    expect(defaulted.ok && clusterConfigOf(defaulted.config.raw.resources!).groups[0]!.clone?.promotable).toEqual({ promotedMax: 1 });
    expect(problems(text(`promotable = true`, ""))).toEqual(["tandem.toml:22: resources.resource[0].promotable: promotable applies to clones only; expected clone = true beside it"]);
    expect(problems(text(`clone = true\npromoted_max = 1`, ""))).toEqual(["tandem.toml:23: resources.resource[0].promoted_max: promoted_max applies to promotable clones only; expected promotable = true beside it"]);
    expect(problems(text(`clone = true`, together))).toEqual([
      'tandem.toml:29: resources.colocation[0].with_role: "drbd" is not a promotable clone: with_role names a promotable clone\'s promoted instances; expected promotable = true on it, or no with_role',
      'tandem.toml:33: resources.order[0].first_action: "drbd" is not a promotable clone: first_action names a promotable clone\'s promoted instances; expected promotable = true on it, or no first_action',
    ]);
    const group = `${BASE}\n[resources]\n[[resources.group]]\nname = "pair"\nmembers = ["a", "b"]\nclone = true\npromotable = true\n[[resources.resource]]\nname = "a"\nagent = "lsb:a"\n[[resources.resource]]\nname = "b"\nagent = "lsb:b"\n`;
    expect(problems(group)).toEqual([expect.stringContaining("resources.group[0].promotable: a promotable clone has one member, the resource promoted (this group has 2)")]);
  });

  test("on_fail per operation and no_quorum_policy become the model; a stop failure's default is fence", () => {
    const text = `${BASE}\n[resources]\nno_quorum_policy = "freeze"\n[[resources.resource]]\nname = "a"\nagent = "lsb:x"\non_fail = "standby"\non_fail_start = "stop"\n[[resources.resource]]\nname = "b"\nagent = "lsb:y"\non_fail_stop = "block"\n[[resources.fence_device]]\nname = "ipmi"\nagent = "fence_ipmilan"\n`;
    const r = parseConfig(text, "tandem.toml", MODULES);
    if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("tandem.toml", p)).join("\n"));
    const c = clusterConfigOf(r.config.raw.resources!);
    expect(c.noQuorumPolicy).toBe("freeze");
    expect(c.resources.map((x) => [x.onFail, x.onFailStart, x.onFailStop])).toEqual([
      ["standby", "stop", "fence"],
      ["restart", "restart", "block"],
    ]);
  });

  test("a wrong on_fail_start, on_fail_stop or no_quorum_policy is named by its key path with the values it may take", () => {
    const out = problems(`${BASE}\n[resources]\nno_quorum_policy = "suicide"\n[[resources.resource]]\nname = "a"\nagent = "lsb:x"\non_fail_start = "later"\non_fail_stop = "restart"\n`);
    expect(out.some((p) => p.includes("resources.no_quorum_policy") && p.includes('"suicide"'))).toBe(true);
    expect(out.some((p) => p.includes("resources.resource[0].on_fail_start") && p.includes('"later"'))).toBe(true);
    expect(out.some((p) => p.includes("resources.resource[0].on_fail_stop") && p.includes('"restart"'))).toBe(true);
  });

  test("the dangerous choices are warned about with their key path: ignore for a stop or start, freeze and ignore without fencing or with a watchdog", () => {
    const warnings = (extra: string, section = "") => {
      const r = parseConfig(`${BASE}${section}\n[resources]\n${extra}\n[[resources.resource]]\nname = "a"\nagent = "lsb:x"\non_fail_stop = "ignore"\non_fail_start = "ignore"\n`, "tandem.toml", MODULES);
      if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("tandem.toml", p)).join("\n"));
      return r.warnings.map((w) => formatProblem("tandem.toml", w));
    };
    const plain = warnings("");
    expect(plain.some((w) => w.includes('resources.resource[0].on_fail_stop: on_fail_stop = "ignore" takes a failed stop as done'))).toBe(true);
    expect(plain.some((w) => w.includes('resources.resource[0].on_fail_start: on_fail_start = "ignore"'))).toBe(true);
    expect(plain.some((w) => w.includes("no_quorum_policy"))).toBe(false);
    expect(warnings('no_quorum_policy = "ignore"').some((w) => w.includes('resources.no_quorum_policy: no_quorum_policy = "ignore" without a fence device'))).toBe(true);
    expect(warnings('no_quorum_policy = "freeze"').some((w) => w.includes('resources.no_quorum_policy: no_quorum_policy = "freeze" without a fence device'))).toBe(true);
    expect(warnings('no_quorum_policy = "freeze"', '\n[watchdog]\n').some((w) => w.includes("stops petting its watchdog and is reset"))).toBe(true);
  });

  test("an agent string that is none of the kinds is refused by the schema, naming the kinds", () => {
    const out = problems(`${BASE}\n[resources]\n[[resources.resource]]\nname = "a"\nagent = "systemd-ish:foo"\n`);
    expect(out).toEqual(['tandem.toml:20: resources.resource[0].agent: invalid value; expected address, exec, director (the director module), proxy (the proxy module: its listeners run where the resource is started), volume (a replicated volume, primary where its promotable clone is promoted: params.volume names it), ocf:PROVIDER:TYPE (e.g. ocf:heartbeat:IPaddr2), lsb:SCRIPT or systemd:UNIT; found "systemd-ish:foo"']);
  });

  test("a systemd unit or LSB script beginning with '-' (an option on systemctl's command line) is refused by the schema", () => {
    for (const agent of ["systemd:--host=198.18.0.66", "systemd:-H", "lsb:-x"]) {
      const out = problems(`${BASE}\n[resources]\n[[resources.resource]]\nname = "a"\nagent = "${agent}"\n`);
      expect(out).toEqual([`tandem.toml:20: resources.resource[0].agent: invalid value; expected address, exec, director (the director module), proxy (the proxy module: its listeners run where the resource is started), volume (a replicated volume, primary where its promotable clone is promoted: params.volume names it), ocf:PROVIDER:TYPE (e.g. ocf:heartbeat:IPaddr2), lsb:SCRIPT or systemd:UNIT; found "${agent}"`]);
    }
    const fence = problems(`${BASE}\n[resources]\n[[resources.fence_device]]\nname = "pdu"\nagent = "exec"\nparams = { command = ["/usr/local/sbin/pdu-off"] }\nhost_map = { alpha = "--all" }\n`);
    expect(fence).toEqual([`tandem.toml:18: resources.fence_device[0]: fence device "pdu": host_map.alpha must not begin with '-' (on a command line it would be read as an option); found "--all"`]);
  });

  test("exec without its commands, address without its address, stickiness with auto_failback", () => {
    const text = `${BASE}
[resources]
[[resources.group]]
name = "g"
members = ["a"]
stickiness = 5
auto_failback = true

[[resources.resource]]
name = "a"
agent = "lsb:foo"

[[resources.resource]]
name = "b"
agent = "exec"
params = { start = ["/bin/true"] }

[[resources.resource]]
name = "c"
agent = "address"
params = { interface = "eth0" }
`;
    const out = problems(text).join("\n");
    expect(out).toContain("resources.resource[1].params.stop: an exec resource needs its stop command");
    expect(out).toContain("resources.resource[1].params.monitor: an exec resource needs its monitor command");
    expect(out).toContain("resources.resource[2].params.address: an address resource needs address");
    expect(out).toContain("resources.group[0]: stickiness and auto_failback both given");
  });

  test("what an agent or a fence device refuses is a config problem: a bad address, a fence device without its command", () => {
    const text = `${BASE}
[resources]
[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "198.18.1.300/24", interface = "eth0" }

[[resources.fence_device]]
name = "power"
agent = "exec"
`;
    const out = problems(text).join("\n");
    expect(out).toMatch(/resources\.resource\[0\]\.params: .*198\.18\.1\.300/);
    expect(out).toMatch(/resources\.fence_device\[0\]: .*params\.command/);
  });

  test("a pair with a fence device is not warned about a split; on_fail = fence without one is", () => {
    const pair = BASE.replace(/\n\[\[nodes\]\]\nname = "witness"[\s\S]*$/, "\n");
    const withDevice = parseConfig(`${pair}\n[resources]\n[[resources.resource]]\nname = "a"\nagent = "lsb:x"\n\n[[resources.fence_device]]\nname = "ipmi"\nagent = "fence_ipmilan"\n`, "t.toml", MODULES);
    expect(withDevice.ok).toBe(true);
    expect(withDevice.warnings.some((w) => w.message.includes("no arbiter and no fencing"))).toBe(false);
    const without = parseConfig(`${pair}\n[resources]\n[[resources.resource]]\nname = "a"\nagent = "lsb:x"\non_fail = "fence"\n`, "t.toml", MODULES);
    expect(without.ok).toBe(true);
    expect(without.warnings.some((w) => w.message.includes('on_fail = "fence" without a fence device'))).toBe(true);
    expect(without.warnings.some((w) => w.message.includes("no arbiter and no fencing"))).toBe(true);
  });

  test("without fencing, a group whose stops outlast the stop margin of a deadtime is warned about, naming the slowest group; fast stops or a fence device are not", () => {
    const hb = (deadtime: string) => `\n[heartbeat]\ninterval = "200ms"\ndeadtime = "${deadtime}"\ninitdead = "8s"\n[[heartbeat.links]]\nname = "lan"\nkind = "ucast"\n`;
    const res = (stop: string) =>
      `\n[resources]\n[[resources.group]]\nname = "web"\nmembers = ["vip", "httpd"]\n[[resources.resource]]\nname = "vip"\nagent = "lsb:vip"\nstop_timeout = "${stop}"\n[[resources.resource]]\nname = "httpd"\nagent = "lsb:httpd"\nstop_timeout = "${stop}"\n[[resources.resource]]\nname = "cron"\nagent = "lsb:cron"\nstop_timeout = "100ms"\n`;
    const warned = (text: string) => parseConfig(text, "t.toml", MODULES).warnings.filter((w) => w.message.includes("without fencing"));
    const slow = warned(`${BASE}${hb("4s")}${res("20s")}`);
    expect(slow).toHaveLength(1);
    expect(slow[0]!.message).toContain('group "web" may take up to 40s to stop');
    expect(slow[0]!.message).toContain(`has 1s (the stop margin, ${STOP_MARGIN} × deadtime 4s)`);
    // Two stops of 400 ms fit in a quarter of 4 s; the same stops do not in a quarter of 2 s.
    expect(warned(`${BASE}${hb("4s")}${res("400ms")}`)).toEqual([]);
    expect(warned(`${BASE}${hb("2s")}${res("400ms")}`)).toHaveLength(1);
    expect(warned(`${BASE}${hb("4s")}${res("20s")}\n[[resources.fence_device]]\nname = "dog"\nagent = "watchdog"\n`)).toEqual([]);
  });
});
