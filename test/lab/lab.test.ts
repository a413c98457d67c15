/**
 * The lab end to end, as a user drives it: `tandem lab` on real network
 * namespaces, checked with curl and `ip`. Needs root; skipped otherwise.
 * Each run names its labs and picks its subnets from its PID, so runs can share
 * the machine; afterAll takes the labs down whatever happened.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tandem, tandemArgv, tempDir, waitFor } from "../helpers.ts";
import { STATE_ROOT, freeSubnets } from "./net.ts";
import { directorGroup, pairConfig, pairSecrets } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/lab.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

/** Whether this kernel has the netem qdisc: tried on lo in a namespace made (and removed) for the purpose. */
function kernelHasNetem(): boolean {
  const ns = `tnm${process.pid}`;
  const run = (argv: string[]) => Bun.spawnSync(argv, { stdout: "ignore", stderr: "ignore", timeout: 5_000 }).exitCode === 0;
  if (!run(["ip", "netns", "add", ns])) return false;
  const has = run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]);
  run(["ip", "netns", "del", ns]);
  return has;
}
const NETEM = ROOT && kernelHasNetem();
if (ROOT && !NETEM) console.log("test/lab/lab.test.ts: the netem delay test is skipped: this kernel has no sch_netem (the refusal is tested instead)");

const STEP_MS = 30_000;
const CURL_MAX_S = 1;

const A = `ta${process.pid}`;
const B = `tb${process.pid}`;
const N = `tn${process.pid}`;

const [NET_A, NET_B, NET_HB] = freeSubnets(3) as [string, string, string];
const tmp = tempDir("lab");

/** A config; with `hb`, a [heartbeat] of two links: "lan" on the nodes' addresses, "hb" on the /24 `hb` (host part as on the lan). */
function writeConfig(file: string, cluster: string, nodes: [string, string, string][], hb?: string): string {
  const path = join(tmp.dir, file);
  const body = nodes.map(([name, address, role]) => `[[nodes]]\nname = "${name}"\naddress = "${address}"\nroles = ["${role}"]\n`).join("\n");
  const addresses = nodes.map(([name, address]) => `${name} = "${hb}${address.split(".")[3]}"`).join(", ");
  const links = hb
    ? `[heartbeat]\n\n[[heartbeat.links]]\nname = "lan"\nkind = "ucast"\n\n[[heartbeat.links]]\nname = "hb"\nkind = "ucast"\ninterface = "eth1"\naddresses = { ${addresses} }\n\n`
    : "";
  writeFileSync(path, `cluster = "${cluster}"\nkey_file = "cluster.key"\n\n${body}\n${links}[api]\nport = 9480\n`);
  return path;
}

const CONFIG_A = writeConfig("a.toml", "lab-a", [
  ["alpha", `${NET_A}11`, "member"],
  ["bravo", `${NET_A}12`, "member"],
  ["witness", `${NET_A}13`, "arbiter"],
], NET_HB);
const CONFIG_B = writeConfig("b.toml", "lab-b", [["solo", `${NET_B}11`, "member"]]);

interface HostStatus {
  name: string;
  role: string;
  namespace: string;
  addresses: { network: string; iface: string; address: string; prefixLength: number }[];
  api: string | null;
  process: { state: string; pid: number } | null;
  faults: string[];
  linksDown: string[];
  netem: Record<string, unknown>;
}
interface LabStatus {
  lab: string;
  networks: { name: string; bridge: string; subnet: string; iface: string; links: string[]; hostLink: { name: string; address: string } | null }[];
  hosts: HostStatus[];
  services: { name: string; kind: string; url: string; forwarding?: string; servers?: string[] }[];
}

/** GET a URL with curl, from the host or inside a namespace. */
async function curl(url: string, ns?: string): Promise<{ code: number; body: string }> {
  const argv = ["curl", "--noproxy", "*", "--silent", "--fail", "--max-time", String(CURL_MAX_S), url];
  const p = Bun.spawn(ns ? ["ip", "netns", "exec", ns, ...argv] : argv, { stdout: "pipe", stderr: "ignore", stdin: "ignore", timeout: 5_000 });
  const [body, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  return { code, body };
}

async function lab(args: string[]) {
  return tandem(["lab", ...args], { timeoutMs: STEP_MS });
}

async function statusOf(name: string): Promise<LabStatus> {
  const r = await lab(["status", "--name", name, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  const { labs } = JSON.parse(r.stdout) as { labs: LabStatus[] };
  expect(labs.length).toBe(1);
  return labs[0]!;
}

async function host(lab: string, name: string): Promise<HostStatus> {
  return (await statusOf(lab)).hosts.find((h) => h.name === name)!;
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function namespacesWithPrefix(prefix: string): string[] {
  return Bun.spawnSync(["ip", "netns", "list"], { timeout: 5_000 })
    .stdout.toString()
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith(prefix));
}

/** The operational state of an interface inside a namespace: UP, DOWN, UNKNOWN... */
function linkState(ns: string, iface: string): string {
  const out = Bun.spawnSync(["ip", "-n", ns, "-j", "link", "show", "dev", iface], { timeout: 5_000 }).stdout.toString();
  return (JSON.parse(out) as { operstate: string }[])[0]!.operstate;
}

/** The loss rules in lab A's switch namespace (empty when there are none). */
function lossRules(): string {
  return Bun.spawnSync(["ip", "netns", "exec", `tdl-${A}-switch`, "nft", "list", "table", "netdev", "tdl_loss"], { stderr: "ignore", timeout: 5_000 }).stdout.toString();
}

function qdisc(ns: string, iface: string): string {
  return Bun.spawnSync(["tc", "-n", ns, "qdisc", "show", "dev", iface], { timeout: 5_000 }).stdout.toString();
}

let hbListener: ReturnType<typeof Bun.spawn> | undefined;

function hostLinkExists(name: string): boolean {
  return Bun.spawnSync(["ip", "link", "show", "dev", name], { stdout: "ignore", stderr: "ignore", timeout: 5_000 }).exitCode === 0;
}

afterAll(async () => {
  hbListener?.kill("SIGKILL");
  if (ROOT) for (const name of [A, B, N]) await lab(["down", "--name", name]);
  tmp.cleanup();
});

describe.skipIf(!ROOT)("tandem lab (root)", () => {
  let pids: number[] = [];

  test("a bad config is refused with its problems and exit 2", async () => {
    const r = await lab(["up", "-c", CONFIG_A, "--name", A]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("key_file");
    expect(existsSync(join(STATE_ROOT, A))).toBe(false);
    const split = writeConfig("split.toml", "split", [["alpha", `${NET_A}11`, "member"], ["bravo", `${NET_B}12`, "member"]]);
    expect((await tandem(["keygen", "-o", join(tmp.dir, "cluster.key")])).code).toBe(0);
    const s = await lab(["up", "-c", split, "--name", A]);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain("one /24");
  });

  test("a lab whose nodes cannot start is removed again", async () => {
    const unbindable = join(tmp.dir, "unbindable.toml");
    writeFileSync(unbindable, `${readFileSync(CONFIG_A, "utf8")}bind = "${NET_A}200"\n`);
    const r = await lab(["up", "-c", unbindable, "--name", A]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/(alpha|bravo|witness) \(exited/);
    expect(namespacesWithPrefix(`tdl-${A}-`)).toEqual([]);
    expect(hostLinkExists(`tdl-${A}`)).toBe(false);
    expect(existsSync(join(STATE_ROOT, A))).toBe(false);
  }, STEP_MS);

  test("lab up builds the lab and prints where to look", async () => {
    const r = await lab(["up", "-c", CONFIG_A, "--name", A]);
    expect(r.code, r.stderr).toBe(0);
    for (const url of [`http://${NET_A}11:9480/`, `http://${NET_A}12:9480/`, `http://${NET_A}13:9480/`, `http://${NET_A}101/`, `http://${NET_A}102/`]) expect(r.stdout).toContain(url);
    expect(r.stdout).toContain(`${STATE_ROOT}/${A}/logs`);
    expect(r.stdout).toContain(`tandem lab down --name ${A}`);
  }, STEP_MS);

  test("status --json lists every host with its namespace, address, role and running process", async () => {
    const s = await statusOf(A);
    expect(s.lab).toBe(A);
    const rows = s.hosts.map((h) => [h.name, h.role, h.namespace, h.addresses.map((a) => `${a.network}:${a.iface}:${a.address}/${a.prefixLength}`).join()]);
    expect(rows).toEqual([
      ["alpha", "member", `tdl-${A}-alpha`, `lan:eth0:${NET_A}11/24,hb:eth1:${NET_HB}11/24`],
      ["bravo", "member", `tdl-${A}-bravo`, `lan:eth0:${NET_A}12/24,hb:eth1:${NET_HB}12/24`],
      ["witness", "arbiter", `tdl-${A}-witness`, `lan:eth0:${NET_A}13/24,hb:eth1:${NET_HB}13/24`],
      ["client", "client", `tdl-${A}-client`, `lan:eth0:${NET_A}100/24`],
      ["rs1", "realserver", `tdl-${A}-rs1`, `lan:eth0:${NET_A}101/24`],
      ["rs2", "realserver", `tdl-${A}-rs2`, `lan:eth0:${NET_A}102/24`],
    ]);
    expect(s.networks).toEqual([
      { name: "lan", bridge: "br-lan", subnet: `${NET_A}0/24`, iface: "eth0", links: ["lan"], hostLink: { name: `tdl-${A}`, address: `${NET_A}1` } },
      { name: "hb", bridge: "br-hb", subnet: `${NET_HB}0/24`, iface: "eth1", links: ["hb"], hostLink: null },
    ]);
    for (const h of s.hosts) expect(h.process?.state ?? "none").toBe(h.role === "client" ? "none" : "running");
    expect(s.services.map((v) => v.url)).toEqual([`http://${NET_A}101/`, `http://${NET_A}102/`]);
    expect(namespacesWithPrefix(`tdl-${A}-`).sort()).toEqual([...s.hosts.map((h) => h.namespace), `tdl-${A}-switch`].sort());
    pids = s.hosts.flatMap((h) => (h.process ? [h.process.pid] : []));
    // Each host its own temp and agent state directories, in the lab's: what a host killed by a fault leaves there goes with the lab.
    for (const h of s.hosts.filter((x) => x.process)) {
      const env = readFileSync(`/proc/${h.process!.pid}/environ`, "utf8").split("\0");
      expect(env).toContain(`TMPDIR=${join(STATE_ROOT, A, "tmp", h.name)}`);
      expect(env).toContain(`HA_RSCTMP=${join(STATE_ROOT, A, "rsctmp", h.name)}`);
    }
    const hostSide = Bun.spawnSync(["ip", "-o", "addr", "show", "dev", `tdl-${A}`], { timeout: 5_000 }).stdout.toString();
    expect(hostSide).toContain(`inet ${NET_A}1/24`);
    expect(hostSide).not.toContain("inet6");
    const bridges = Bun.spawnSync(["ip", "-n", `tdl-${A}-switch`, "-o", "link", "show", "type", "bridge"], { timeout: 5_000 }).stdout.toString();
    expect(bridges).toContain("br-lan");
    expect(bridges).toContain("br-hb");
    const hostAll = Bun.spawnSync(["ip", "-o", "addr", "show"], { timeout: 5_000 }).stdout.toString();
    expect(hostAll).not.toContain(NET_HB);
  });

  test("the nodes reach each other on both networks from inside their namespaces; the client is on the lan only", async () => {
    hbListener = Bun.spawn(["ip", "netns", "exec", `tdl-${A}-bravo`, ...tandemArgv(), "lab", "realserver", "--name", "bravo-hb", "--listen", `${NET_HB}12:8080`], { stdio: ["ignore", "ignore", "ignore"] });
    const fromAlpha = await waitFor("bravo's listener on hb, from alpha", async () => {
      const r = await curl(`http://${NET_HB}12:8080/`, `tdl-${A}-alpha`);
      return r.code === 0 ? r : undefined;
    }, 10_000, 100);
    expect(fromAlpha.body).toBe("bravo-hb\n");
    expect((await curl(`http://${NET_A}12:9480/healthz`, `tdl-${A}-alpha`)).code).toBe(0);
    expect((await curl(`http://${NET_HB}12:8080/`, `tdl-${A}-witness`)).body).toBe("bravo-hb\n");
    expect((await curl(`http://${NET_HB}12:8080/`, `tdl-${A}-client`)).code).not.toBe(0);
  }, STEP_MS);

  test("fault NODE link NETWORK takes only that link down; heal NODE link NETWORK brings it back", async () => {
    const r = await lab(["fault", "alpha", "link", "hb", "--name", A]);
    expect(r.code, r.stderr).toBe(0);
    expect(linkState(`tdl-${A}-alpha`, "eth1")).toBe("DOWN");
    expect(linkState(`tdl-${A}-alpha`, "eth0")).not.toBe("DOWN");
    expect((await curl(`http://${NET_HB}12:8080/`, `tdl-${A}-alpha`)).code).not.toBe(0);
    expect((await curl(`http://${NET_A}12:9480/healthz`, `tdl-${A}-alpha`)).code).toBe(0);
    expect((await curl(`http://${NET_A}11:9480/healthz`)).code).toBe(0);
    expect(await host(A, "alpha")).toMatchObject({ faults: [], linksDown: ["hb"] });
    const none = await lab(["fault", "alpha", "link", "nowhere", "--name", A]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no interface on network "nowhere" (its networks: lan, hb');
    const h = await lab(["heal", "alpha", "link", "hb", "--name", A]);
    expect(h.code, h.stderr).toBe(0);
    expect(linkState(`tdl-${A}-alpha`, "eth1")).not.toBe("DOWN");
    expect((await host(A, "alpha")).linksDown).toEqual([]);
    await waitFor("bravo's listener on hb again, from alpha", async () => ((await curl(`http://${NET_HB}12:8080/`, `tdl-${A}-alpha`)).code === 0 ? true : undefined), 5_000, 100);
  }, STEP_MS);

  test("netem --loss: an nftables rule at the node's bridge port loses what it sends on that network; --clear takes it away", async () => {
    const usage = await lab(["netem", "alpha", "hb", "--jitter", "5", "--name", A]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--jitter needs --delay");
    expect((await lab(["netem", "alpha", "hb", "--name", A])).code).toBe(2);
    expect((await lab(["netem", "alpha", "hb", "--loss", "101", "--name", A])).code).toBe(2);
    const some = await lab(["netem", "alpha", "hb", "--loss", "0.5", "--name", A]);
    expect(some.code, some.stderr).toBe(0);
    expect(lossRules()).toContain("numgen random mod 10000 < 50 counter");
    const r = await lab(["netem", "alpha", "hb", "--loss", "100", "--name", A]);
    expect(r.code, r.stderr).toBe(0);
    expect(lossRules()).not.toContain("numgen");
    expect(lossRules()).toMatch(/chain hb0-alpha \{[^}]*hook ingress device "hb0-alpha"[^}]*counter packets \d+ bytes \d+ drop/);
    expect((await curl(`http://${NET_HB}12:8080/`, `tdl-${A}-alpha`)).code).not.toBe(0);
    expect((await curl(`http://${NET_A}12:9480/healthz`, `tdl-${A}-alpha`)).code).toBe(0);
    expect((await host(A, "alpha")).netem).toEqual({ hb: { lossPct: 100 } });
    const c = await lab(["netem", "alpha", "hb", "--clear", "--name", A]);
    expect(c.code, c.stderr).toBe(0);
    expect(lossRules()).not.toContain("hb0-alpha");
    expect((await host(A, "alpha")).netem).toEqual({});
    expect((await curl(`http://${NET_HB}12:8080/`, `tdl-${A}-alpha`)).body).toBe("bravo-hb\n");
  }, STEP_MS);

  test.skipIf(!NETEM)("netem --delay/--jitter: tc netem on the node's interface in its namespace, beside the loss; --clear takes both away", async () => {
    const r = await lab(["netem", "alpha", "hb", "--loss", "10", "--delay", "50", "--jitter", "5", "--name", A]);
    expect(r.code, r.stderr).toBe(0);
    const shown = qdisc(`tdl-${A}-alpha`, "eth1");
    expect(shown).toContain("netem");
    expect(shown).toContain("delay 50ms  5ms");
    expect(qdisc(`tdl-${A}-alpha`, "eth0")).not.toContain("netem");
    expect(lossRules()).toContain("numgen random mod 10000 < 1000 counter");
    expect((await host(A, "alpha")).netem).toEqual({ hb: { lossPct: 10, delayMs: 50, jitterMs: 5 } });
    const again = await lab(["netem", "alpha", "hb", "--delay", "20", "--name", A]);
    expect(again.code, again.stderr).toBe(0);
    expect(qdisc(`tdl-${A}-alpha`, "eth1")).toContain("delay 20ms");
    expect(lossRules()).not.toContain("hb0-alpha");
    const c = await lab(["netem", "alpha", "hb", "--clear", "--name", A]);
    expect(c.code, c.stderr).toBe(0);
    expect(qdisc(`tdl-${A}-alpha`, "eth1")).not.toContain("netem");
    expect((await host(A, "alpha")).netem).toEqual({});
  }, STEP_MS);

  test.skipIf(NETEM)("netem --delay on a kernel without sch_netem is refused, saying so, and changes nothing", async () => {
    const r = await lab(["netem", "alpha", "hb", "--loss", "10", "--delay", "50", "--name", A]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("this kernel has no netem qdisc");
    expect(lossRules()).not.toContain("hb0-alpha");
    expect((await host(A, "alpha")).netem).toEqual({});
    hbListener?.kill("SIGKILL");
    await hbListener?.exited;
  }, STEP_MS);

  test("each node's API answers /healthz from the host; rs1 and rs2 answer the client with their names", async () => {
    for (const addr of ["11", "12", "13"]) expect((await curl(`http://${NET_A}${addr}:9480/healthz`)).code).toBe(0);
    expect(await curl(`http://${NET_A}101/`, `tdl-${A}-client`)).toEqual({ code: 0, body: "rs1\n" });
    expect(await curl(`http://${NET_A}102/`, `tdl-${A}-client`)).toEqual({ code: 0, body: "rs2\n" });
  });

  test("fault kill: the API stops answering; heal starts the node again", async () => {
    expect((await lab(["fault", "alpha", "kill", "--name", A])).code).toBe(0);
    expect((await curl(`http://${NET_A}11:9480/healthz`)).code).not.toBe(0);
    const killed = await host(A, "alpha");
    expect(killed.process?.state).toBe("stopped");
    expect(killed.faults).toEqual(["kill"]);
    const h = await lab(["heal", "alpha", "--name", A]);
    expect(h.code, h.stderr).toBe(0);
    expect((await curl(`http://${NET_A}11:9480/healthz`)).code).toBe(0);
    const healed = await host(A, "alpha");
    expect(healed.process?.state).toBe("running");
    expect(healed.process?.pid).not.toBe(killed.process?.pid);
    expect(healed.faults).toEqual([]);
    pids.push(healed.process!.pid);
  }, STEP_MS);

  test("fault freeze: requests time out; heal answers again", async () => {
    expect((await lab(["fault", "bravo", "freeze", "--name", A])).code).toBe(0);
    expect((await curl(`http://${NET_A}12:9480/healthz`)).code).toBe(28);
    expect((await host(A, "bravo")).process?.state).toBe("frozen");
    expect((await lab(["heal", "bravo", "--name", A])).code).toBe(0);
    expect((await curl(`http://${NET_A}12:9480/healthz`)).code).toBe(0);
  }, STEP_MS);

  test("fault isolate: unreachable from the host; heal brings it back", async () => {
    expect((await lab(["fault", "witness", "isolate", "--name", A])).code).toBe(0);
    expect((await curl(`http://${NET_A}13:9480/healthz`)).code).not.toBe(0);
    const isolated = await host(A, "witness");
    expect(isolated.process?.state).toBe("running");
    expect(isolated.faults).toEqual(["isolate"]);
    expect(linkState(`tdl-${A}-witness`, "eth1")).toBe("DOWN");
    const partial = await lab(["heal", "witness", "link", "hb", "--name", A]);
    expect(partial.code).toBe(1);
    expect(partial.stderr).toContain("cut off as a whole (isolate)");
    expect((await lab(["heal", "witness", "--name", A])).code).toBe(0);
    expect((await curl(`http://${NET_A}13:9480/healthz`)).code).toBe(0);
    expect(linkState(`tdl-${A}-witness`, "eth1")).not.toBe("DOWN");
  }, STEP_MS);

  test("fault power: every process of the host is gone; heal brings it back", async () => {
    expect((await lab(["fault", "rs1", "power", "--name", A])).code).toBe(0);
    const out = Bun.spawnSync(["ip", "netns", "pids", `tdl-${A}-rs1`], { timeout: 5_000 }).stdout.toString();
    expect(out.trim()).toBe("");
    expect((await curl(`http://${NET_A}101/`, `tdl-${A}-client`)).code).not.toBe(0);
    expect((await host(A, "rs1")).faults).toEqual(["power"]);
    expect((await lab(["heal", "rs1", "--name", A])).code).toBe(0);
    expect(await curl(`http://${NET_A}101/`, `tdl-${A}-client`)).toEqual({ code: 0, body: "rs1\n" });
    pids.push((await host(A, "rs1")).process!.pid);
  }, STEP_MS);

  test("a second lab coexists; a taken name or subnet is refused", async () => {
    const again = await lab(["up", "-c", CONFIG_A, "--name", A]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already up");
    const same = await lab(["up", "-c", CONFIG_A, "--name", B]);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain(`used by lab "${A}"`);
    const r = await lab(["up", "-c", CONFIG_B, "--name", B]);
    expect(r.code, r.stderr).toBe(0);
    const all = await lab(["status", "--json"]);
    const names = (JSON.parse(all.stdout) as { labs: LabStatus[] }).labs.map((s) => s.lab);
    expect(names).toContain(A);
    expect(names).toContain(B);
    expect((await curl(`http://${NET_B}11:9480/healthz`)).code).toBe(0);
    expect(await curl(`http://${NET_B}102/`, `tdl-${B}-client`)).toEqual({ code: 0, body: "rs2\n" });
    expect((await curl(`http://${NET_A}11:9480/healthz`)).code).toBe(0);
    pids.push(...(await statusOf(B)).hosts.flatMap((h) => (h.process ? [h.process.pid] : [])));
  }, STEP_MS);

  test("lab down leaves no namespace, host link, process or state behind, and is idempotent", async () => {
    for (const name of [A, B]) {
      const r = await lab(["down", "--name", name]);
      expect(r.code, r.stderr).toBe(0);
      expect(namespacesWithPrefix(`tdl-${name}-`)).toEqual([]);
      expect(hostLinkExists(`tdl-${name}`)).toBe(false);
      expect(existsSync(join(STATE_ROOT, name))).toBe(false);
    }
    expect(pids.length).toBe(10);
    expect(pids.filter(alive)).toEqual([]);
    expect((await lab(["down", "--name", A])).code).toBe(0);
    const s = await lab(["status", "--name", A, "--json"]);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout)).toEqual({ labs: [] });
  }, STEP_MS);
});

describe.skipIf(!ROOT)("tandem lab with a NAT director (root)", () => {
  const [NET_N] = ROOT ? (freeSubnets(1, 300) as [string]) : [""];
  const VIP = `${NET_N}50`;
  const dir = join(tmp.dir, "nat");

  test("the client reaches the virtual service through the VIP: the lab routes the real servers' replies back through it; status lists its URL and real servers", async () => {
    Bun.spawnSync(["mkdir", "-p", dir]);
    await pairSecrets(dir, "nat-lab-token-0123456789");
    const file = join(dir, "tandem.toml");
    writeFileSync(file, pairConfig({ cluster: "natlab", lan: NET_N, more: directorGroup({ lan: NET_N, vip: VIP, check: '{ kind = "http", path = "/", interval = "300ms", timeout = "200ms", rise = 1, fall = 2 }' }) }));
    const up = await lab(["up", "-c", file, "--name", N]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain(`web-vip  virtual     http://${VIP}/`);
    expect(up.stdout).toContain(`client: ip netns exec tdl-${N}-client curl http://${VIP}/`);
    const st = await statusOf(N);
    expect(st.services.find((s) => s.name === "web-vip")).toEqual({ name: "web-vip", kind: "virtual", url: `http://${VIP}/`, forwarding: "nat", servers: [`${NET_N}101:80`, `${NET_N}102:80`] });
    const text = await lab(["status", "--name", N]);
    expect(text.stdout).toContain(`nat to ${NET_N}101:80, ${NET_N}102:80`);
    // Both real servers answer through the virtual address (wrr 3:1), from the client's namespace.
    const seen = new Set<string>();
    await waitFor("both real servers through the VIP", async () => {
      const r = await curl(`http://${VIP}/`, `tdl-${N}-client`);
      if (r.code === 0) seen.add(r.body.trim());
      return seen.size === 2 ? true : undefined;
    }, 20_000, 100);
    expect([...seen].sort()).toEqual(["rs1", "rs2"]);
    const routes = Bun.spawnSync(["ip", "-n", `tdl-${N}-rs1`, "route", "show"], { timeout: 5_000 }).stdout.toString();
    expect(routes).toContain(`${NET_N}100 via ${VIP} dev eth0`);
    const down = await lab(["down", "--name", N]);
    expect(down.code, down.stderr).toBe(0);
    expect(namespacesWithPrefix(`tdl-${N}-`)).toEqual([]);
  }, 90_000);
});
