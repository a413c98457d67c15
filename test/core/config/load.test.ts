import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, findSelf, loadConfig } from "../../../core/config/load.ts";
import { formatKeyFile } from "../../../core/crypto/keyfile.ts";
import { tempDir, writeSecret } from "../../helpers.ts";
import { formatPath, formatProblem, didYouMean } from "../../../core/config/problems.ts";
import { parseDuration, formatDuration, MAX_DURATION_MS } from "../../../core/duration.ts";
import { MODULES } from "../../../modules/index.ts";
import { MAX_RESOURCES } from "../../../modules/resources/config.ts";

const GOOD = `cluster = "lab"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "198.18.1.11"

[[nodes]]
name = "bravo"
address = "198.18.1.12"
roles = ["member"]

[[nodes]]
name = "witness"
address = "198.18.1.13"
roles = ["arbiter"]

[runtime]
stop_timeout = "1500ms"
`;

function problems(text: string) {
  const r = parseConfig(text, "/etc/tandem/tandem.toml", MODULES);
  if (r.ok) throw new Error("expected problems, the config was accepted");
  return r.problems.map((p) => formatProblem("tandem.toml", p));
}

describe("durations", () => {
  test("units as in ha.cf", () => {
    expect(parseDuration("150ms")).toBe(150);
    expect(parseDuration("2s")).toBe(2000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("1m")).toBe(60_000);
    expect(parseDuration("1h")).toBe(3_600_000);
  });
  test("a bare number or an unknown unit is not a duration", () => {
    for (const bad of ["2", "2 seconds", "ms", "-1s", "1d", ""]) expect(parseDuration(bad)).toBeUndefined();
  });
  test("never Infinity, NaN or past the longest timer (2^31-1 ms): such a text is not a duration", () => {
    expect(parseDuration(`${"9".repeat(400)}h`)).toBeUndefined();
    expect(parseDuration(`1${"0".repeat(309)}ms`)).toBeUndefined();
    expect(parseDuration("597h")).toBeUndefined();
    expect(parseDuration(`${MAX_DURATION_MS + 1}ms`)).toBeUndefined();
    expect(parseDuration(`${MAX_DURATION_MS}ms`)).toBe(MAX_DURATION_MS);
    expect(parseDuration("596h")).toBe(596 * 3_600_000);
  });
  test("a huge duration in a config is a clear problem with its line, not an endless timer", () => {
    expect(problems(GOOD.replace('stop_timeout = "1500ms"', `stop_timeout = "${"9".repeat(40)}h"`))).toEqual([
      `tandem.toml:19: runtime.stop_timeout: invalid value; expected a duration: 150ms, 2s, 1m; at most 596h; found "${"9".repeat(40)}h"`,
    ]);
    expect(problems(GOOD.replace('stop_timeout = "1500ms"', 'stop_timeout = "600h"'))[0]).toContain("at most 596h");
  });
  test("format round-trips", () => {
    for (const ms of [1, 150, 1000, 1500, 60_000, 3_600_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});

describe("a valid config", () => {
  test("fills defaults and resolves paths against the file's folder", () => {
    const r = parseConfig(GOOD, "/etc/tandem/tandem.toml", MODULES);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.keyFile).toBe("/etc/tandem/cluster.key");
    expect(r.config.nodes[0]!.roles).toEqual(["member"]);
    expect(r.config.api.port).toBe(9480);
    expect(r.config.runtime.stopTimeoutMs).toBe(1500);
    expect(r.config.runtime.moduleTimeoutMs).toBe(30_000);
    expect(r.config.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.warnings.map((w) => w.message)).toEqual(["no [heartbeat] section: the nodes will not know whether the others are alive"]);
    expect(r.config.stateDir).toBeUndefined();
  });

  test("state_dir is resolved against the file's folder, as key_file is; an absolute one is kept; an empty one is refused", () => {
    const withDir = (dir: string) => GOOD.replace('key_file = "cluster.key"\n', `key_file = "cluster.key"\nstate_dir = "${dir}"\n`);
    const relative = parseConfig(withDir("state"), "/etc/tandem/tandem.toml", MODULES);
    const absolute = parseConfig(withDir("/var/lib/tandem"), "/etc/tandem/tandem.toml", MODULES);
    expect([relative.ok && relative.config.stateDir, absolute.ok && absolute.config.stateDir]).toEqual(["/etc/tandem/state", "/var/lib/tandem"]);
    const [empty] = problems(withDir(""));
    expect(empty).toStartWith("tandem.toml:3: state_dir: invalid value; expected where this node keeps what must survive a restart");
    expect(empty).toEndWith('found ""');
  });

  test("the same text gives the same hash; another text another", () => {
    const a = parseConfig(GOOD, "/a/x.toml", MODULES);
    const b = parseConfig(GOOD, "/b/y.toml", MODULES);
    const c = parseConfig(GOOD + "\n# changed\n", "/a/x.toml", MODULES);
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (a.ok && b.ok && c.ok) {
      expect(a.config.hash).toBe(b.config.hash);
      expect(c.config.hash).not.toBe(a.config.hash);
    }
  });

  test("a pair without arbiter is valid but warned about", () => {
    const pair = GOOD.replace(/\[\[nodes\]\]\nname = "witness"[\s\S]*?roles = \["arbiter"\]\n/, "");
    const r = parseConfig(pair, "x.toml", MODULES);
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.message).join()).toContain("no arbiter and no fencing");
  });

  test("every example in examples/ is valid", () => {
    for (const f of ["pair.toml", "pair-arbiter.toml", "demo.toml", "proxy.toml"]) {
      const r = parseConfig(readFileSync(`examples/${f}`, "utf8"), `examples/${f}`, MODULES);
      expect(r.ok ? [] : r.problems).toEqual([]);
    }
  });
});

describe("problems name the key path, the line, what was expected and what was found", () => {
  test("a misspelt key gets a did-you-mean and its line", () => {
    const out = problems(GOOD.replace('address = "198.18.1.12"', 'adress = "198.18.1.12"'));
    expect(out).toContain('tandem.toml:10: nodes[1].adress: unknown key "adress"; expected one of name, address, roles, attributes, capacity (did you mean "address"?)');
    expect(out).toContain("tandem.toml:8: nodes[1].address: missing; expected an IPv4 address like 198.18.0.10");
  });

  test("an unknown section", () => {
    const out = problems(GOOD + "\n[heartbeet]\ninterval = \"1s\"\n");
    expect(out.some((l) => l.startsWith("tandem.toml:21: heartbeet: unknown key") && l.includes("expected one of"))).toBe(true);
  });

  test("wrong types and values", () => {
    const out = problems(GOOD.replace('stop_timeout = "1500ms"', 'stop_timeout = 5\nmodule_timeout = "5 min"') + '[api]\nport = 70000\n');
    expect(out).toContain("tandem.toml:19: runtime.stop_timeout: invalid value; expected a duration: 150ms, 2s, 1m; at most 596h; found 5");
    expect(out).toContain('tandem.toml:20: runtime.module_timeout: invalid value; expected a duration: 150ms, 2s, 1m; at most 596h; found "5 min"');
    expect(out).toContain("tandem.toml:22: api.port: invalid value; expected a whole number from 1 to 65535; found 70000");
  });

  test("an array past its bound says the bound, not just that it is an array", () => {
    const resources = Array.from({ length: MAX_RESOURCES + 1 }, (_, i) => `[[resources.resource]]\nname = "r${i}"\nagent = "exec"\n`).join("");
    const out = problems(`${GOOD}\n${resources}`);
    expect(out.find((l) => l.includes("resources.resource:"))).toMatch(new RegExp(`: resources\\.resource: too many: Tandem holds at most ${MAX_RESOURCES}; expected an array of at most ${MAX_RESOURCES}; found an array of ${MAX_RESOURCES + 1}$`));
  });

  test("a bad role and a bad address", () => {
    const out = problems(GOOD.replace('roles = ["arbiter"]', 'roles = ["witness"]').replace('"198.18.1.11"', '"198.18.1.311"'));
    expect(out).toContain('tandem.toml:16: nodes[2].roles[0]: invalid value; expected one of "member", "arbiter"; found "witness"');
    expect(out).toContain('tandem.toml:6: nodes[0].address: invalid value; expected an IPv4 address like 198.18.0.10; found "198.18.1.311"');
  });

  test("duplicate names and addresses, two arbiters, a member-arbiter", () => {
    const text = GOOD.replace('name = "bravo"', 'name = "alpha"').replace('"198.18.1.13"', '"198.18.1.11"').replace('roles = ["member"]', 'roles = ["member", "arbiter"]');
    const out = problems(text);
    expect(out).toContain('tandem.toml:9: nodes[1].name: node name "alpha" is already used by nodes[0]; expected a unique name');
    expect(out).toContain("tandem.toml:15: nodes[2].address: address 198.18.1.11 is already used by nodes[0]; expected a unique address");
    expect(out.some((l) => l.includes("nodes[1].roles: a node cannot be both member and arbiter"))).toBe(true);
  });

  test("TOML syntax errors carry the parser's line", () => {
    const out = problems(GOOD.replace('cluster = "lab"', 'cluster = "lab'));
    expect(out[0]).toMatch(/^tandem\.toml:1: \(top level\): not valid TOML/);
  });

  test("missing top-level keys", () => {
    const out = problems('[[nodes]]\nname = "a"\naddress = "198.18.0.1"\n');
    expect(out).toContain('tandem.toml: cluster: missing; expected lower case letters, digits and \'-\', starting with a letter, at most 31');
    expect(out.some((l) => l.startsWith("tandem.toml: key_file: missing"))).toBe(true);
  });
});

describe("finding this node", () => {
  const r = parseConfig(GOOD, "x.toml", MODULES);
  if (!r.ok) throw new Error("fixture invalid");
  test("by --node, else by host name", () => {
    expect(findSelf(r.config, "bravo", "somehost")).toEqual({ node: r.config.nodes[1]! });
    expect(findSelf(r.config, undefined, "witness")).toEqual({ node: r.config.nodes[2]! });
  });
  test("an unknown name is a problem with a suggestion", () => {
    const out = findSelf(r.config, "bravp", "x");
    expect("problem" in out && out.problem.hint).toBe('did you mean "bravo"?');
  });
});

test("helpers", () => {
  expect(formatPath(["nodes", 2, "roles", 0])).toBe("nodes[2].roles[0]");
  expect(didYouMean("deadtim", ["deadtime", "warntime"])).toBe("deadtime");
  expect(didYouMean("zzzzzz", ["deadtime", "warntime"])).toBeUndefined();
});

describe("the [heartbeat] section", () => {
  const base = GOOD.replace(/\[runtime\][\s\S]*$/, "");
  const hb = (body: string) => `${base}[heartbeat]\n${body}`;
  const ucast = '[[heartbeat.links]]\nname = "lan"\nkind = "ucast"\n';

  test("defaults as in ha.cf and the ha-cluster port", () => {
    const r = parseConfig(hb(ucast), "x.toml", MODULES);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.raw.heartbeat).toMatchObject({ interval: "200ms", warntime: "500ms", deadtime: "1s", initdead: "2s", port: 694, encrypt: true });
    expect(r.warnings.map((w) => w.message).join()).toContain("one heartbeat link");
  });

  test("timers out of order are refused", () => {
    const out = problems(hb(`interval = "500ms"\nwarntime = "400ms"\ndeadtime = "800ms"\ninitdead = "500ms"\n${ucast}`));
    expect(out.some((l) => l.includes("heartbeat.deadtime: deadtime 800ms is under two intervals (500ms)"))).toBe(true);
    expect(out.some((l) => l.includes("heartbeat.warntime: warntime 400ms must lie between interval 500ms and deadtime 800ms"))).toBe(true);
    expect(out.some((l) => l.includes("heartbeat.initdead: initdead 500ms is under deadtime 800ms"))).toBe(true);
  });

  test("each link kind gets what it needs, and every node an address", () => {
    const out = problems(
      hb(
        '[[heartbeat.links]]\nname = "m"\nkind = "mcast"\n' +
          '[[heartbeat.links]]\nname = "b"\nkind = "bcast"\ninterface = "eth1"\ngroup = "10.0.0.1"\n' +
          '[[heartbeat.links]]\nname = "u"\nkind = "ucast"\naddresses = { alpha = "198.18.5.1", bravo = "198.18.5.1", charlie = "198.18.5.3" }\n',
      ),
    );
    expect(out.some((l) => l.includes("heartbeat.links[0].interface: a mcast link needs its interface"))).toBe(true);
    expect(out.some((l) => l.includes("heartbeat.links[0].group: an mcast link needs its group"))).toBe(true);
    expect(out.some((l) => l.includes("heartbeat.links[1].group: 10.0.0.1 is not a multicast address"))).toBe(true);
    expect(out.some((l) => l.includes('heartbeat.links[2].addresses.charlie: no node named "charlie"'))).toBe(true);
    expect(out.some((l) => l.includes('node "witness" has no address on link "u"'))).toBe(true);
    expect(out.some((l) => l.includes("address 198.18.5.1 is also alpha's on this link"))).toBe(true);
  });

  test("two links that would receive on the same address of a node are refused; distinct ones are accepted", () => {
    const link = (name: string, rest: string) => `[[heartbeat.links]]\nname = "${name}"\n${rest}\n`;
    const out = problems(
      hb(
        link("lan", 'kind = "ucast"') +
          link("again", 'kind = "ucast"\naddresses = { alpha = "198.18.1.11", bravo = "198.18.9.12", witness = "198.18.9.13" }') +
          link("m1", 'kind = "mcast"\ninterface = "eth1"\ngroup = "239.192.0.1"') +
          link("m2", 'kind = "mcast"\ninterface = "eth2"\ngroup = "239.192.0.1"') +
          link("b1", 'kind = "bcast"\ninterface = "eth1"') +
          link("b2", 'kind = "bcast"\ninterface = "eth1"'),
      ),
    );
    expect(out.filter((l) => l.includes("could not be told apart"))).toEqual([
      'tandem.toml:22: heartbeat.links[1]: links "lan" and "again" would both receive on 198.18.1.11 on node "alpha", so their datagrams could not be told apart; expected each link on its own address, group or interface',
      'tandem.toml:31: heartbeat.links[3]: links "m1" and "m2" would both receive on group 239.192.0.1 on node "alpha", so their datagrams could not be told apart; expected each link on its own address, group or interface',
      'tandem.toml:40: heartbeat.links[5]: links "b1" and "b2" would both receive on the broadcast address of eth1 on node "alpha", so their datagrams could not be told apart; expected each link on its own address, group or interface',
    ]);
    const fine = parseConfig(
      hb(
        link("lan", 'kind = "ucast"') +
          link("hb", 'kind = "ucast"\naddresses = { alpha = "198.18.9.11", bravo = "198.18.9.12", witness = "198.18.9.13" }') +
          link("m", 'kind = "mcast"\ninterface = "eth1"\ngroup = "239.192.0.1"') +
          link("b", 'kind = "bcast"\ninterface = "eth1"'),
      ),
      "x.toml",
      MODULES,
    );
    expect(fine.ok).toBe(true);
  });
});

describe("secret files: the key and the token", () => {
  const tmp = tempDir("secrets");
  afterAll(tmp.cleanup);
  let n = 0;
  /** GOOD in a dir of its own with a key file and a token file; `bend` changes them before the load. */
  async function load(bend: (key: string, token: string) => void) {
    const dir = join(tmp.dir, `c${n++}`);
    mkdirSync(dir);
    const key = join(dir, "cluster.key");
    const token = join(dir, "api.token");
    writeSecret(key, formatKeyFile({ active: 1, keys: new Map([[1, new Uint8Array(32).fill(7)]]) }));
    writeSecret(token, "0123456789abcdef0123456789abcdef\n");
    writeFileSync(join(dir, "tandem.toml"), GOOD.replace("[runtime]", '[api]\ntoken_file = "api.token"\n\n[runtime]'));
    bend(key, token);
    const r = await loadConfig(join(dir, "tandem.toml"), MODULES);
    return { r, key, token, messages: r.ok ? [] : r.problems.map((p) => formatProblem("tandem.toml", p)) };
  }

  test("good files are read", async () => {
    const { r } = await load(() => {});
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.keys!.active).toBe(1);
    expect(r.config.api.token).toBe("0123456789abcdef0123456789abcdef");
  });

  test("a symbolic link is refused, even to a good file (opened with O_NOFOLLOW)", async () => {
    const { messages, key } = await load((key, token) => {
      renameSync(key, `${key}.real`);
      symlinkSync(`${key}.real`, key);
      renameSync(token, `${token}.real`);
      symlinkSync(`${token}.real`, token);
    });
    expect(messages).toEqual([
      `tandem.toml:2: key_file: ${key} is a symbolic link; expected the file itself, owned by this user or root`,
      expect.stringMatching(/^tandem\.toml:\d+: api\.token_file: .*api\.token is a symbolic link; expected the file itself/),
    ]);
  });

  test("a file owned by another user is refused, whatever its mode", async () => {
    const { messages, key } = await load((key) => chownSync(key, 4242, 4242));
    const me = process.getuid!();
    expect(messages).toEqual([`tandem.toml:2: key_file: ${key} is owned by another user; expected owned by this user (uid ${me}) or root; found uid 4242`]);
  });

  test("a file readable by others, a dir, and a FIFO (which must not hang the open) are refused", async () => {
    expect((await load((key) => chmodSync(key, 0o640))).messages[0]).toContain("is readable by others; expected mode 0600; found mode 0640");
    expect((await load((key) => (rmSync(key), mkdirSync(key)))).messages[0]).toContain("is not a regular file");
    expect((await load((key) => (rmSync(key), execFileSync("mkfifo", ["-m", "600", key])))).messages[0]).toContain("is not a regular file");
  });
});

describe("secrets the modules name: a fence device's password_file, a password in the config", () => {
  const tmp = tempDir("module-secrets");
  afterAll(tmp.cleanup);
  let n = 0;
  /** GOOD with a fence device given `device` (TOML lines), written with mode `mode`; its key file good. */
  async function load(device: string, mode = 0o600) {
    const dir = join(tmp.dir, `c${n++}`);
    mkdirSync(dir);
    writeSecret(join(dir, "cluster.key"), formatKeyFile({ active: 1, keys: new Map([[1, new Uint8Array(32).fill(7)]]) }));
    const file = join(dir, "tandem.toml");
    const text = `${GOOD}\n[resources]\n[[resources.fence_device]]\nname = "bmc"\nagent = "fence_ipmilan"\n${device.replaceAll("DIR", dir)}\n`;
    writeFileSync(file, text);
    chmodSync(file, mode);
    const r = await loadConfig(file, MODULES);
    return { r, dir, problems: r.ok ? [] : r.problems.map((p) => formatProblem("tandem.toml", p)), warnings: r.warnings.map((p) => formatProblem("tandem.toml", p)) };
  }

  test("a password_file is checked as the key file is: missing, or readable by others, is a problem at its line", async () => {
    const missing = await load('password_file = "DIR/bmc.password"');
    expect(missing.problems).toEqual([`tandem.toml:25: resources.fence_device[0].password_file: cannot read ${missing.dir}/bmc.password; expected an existing file; found ENOENT`]);
    const dir = join(tmp.dir, "loose");
    mkdirSync(dir);
    writeFileSync(join(dir, "bmc.password"), "x\n", { mode: 0o644 });
    chmodSync(join(dir, "bmc.password"), 0o644);
    const loose = await load(`password_file = "${dir}/bmc.password"`);
    expect(loose.problems).toEqual([`tandem.toml:25: resources.fence_device[0].password_file: ${dir}/bmc.password is readable by others; expected mode 0600; found mode 0644 (chmod 600 ${dir}/bmc.password)`]);
    writeSecret(join(dir, "bmc.password"), "x\n");
    expect((await load(`password_file = "${dir}/bmc.password"`)).r.ok).toBe(true);
  });

  test("a config holding a password and readable by others is warned about; the same config mode 0600 is not", async () => {
    const open = await load('params = { ipaddr = "198.18.0.9", passwd = "s3cret" }', 0o644);
    expect(open.r.ok).toBe(true);
    expect(open.warnings).toContain(
      `tandem.toml:25: resources.fence_device[0].params.passwd: a secret in a config file readable by others; expected the config mode 0600, or the secret in a file of its own (password_file); found mode 0644`,
    );
    const closed = await load('params = { ipaddr = "198.18.0.9", passwd = "s3cret" }', 0o600);
    expect(closed.warnings.filter((w) => w.includes("secret"))).toEqual([]);
    const none = await load('params = { ipaddr = "198.18.0.9" }', 0o644);
    expect(none.warnings.filter((w) => w.includes("secret"))).toEqual([]);
  });
});

