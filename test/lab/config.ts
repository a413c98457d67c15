/** The pair that lab tests build on: its config text, its key and token files, and `tandem lab` on it. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tandem, writeSecret } from "../helpers.ts";

/** Heartbeat timers of the lab tests: detection within deadtime + interval, slack for a loaded machine. */
export const LAB_TIMERS = { interval: 100, warntime: 250, deadtime: 500, initdead: 1000 };

export interface PairOptions {
  cluster: string;
  /** The lan's /24 prefix ("198.18.N."): alpha is .11, bravo .12. */
  lan: string;
  /** A second heartbeat network's prefix: link "hb" on eth1, the same host numbers. */
  hb?: string;
  /** Sections of the test's own, after the heartbeat links ([heartbeat.ping], [resources], …). */
  more?: string;
  /** Lines of the [api] table beyond the port, the token file and insecure_http. */
  api?: string;
  /** state_dir: the lab gives each node a dir of its own for it. */
  stateDir?: string;
  /** Heartbeat timers in ms, when not LAB_TIMERS. */
  timers?: typeof LAB_TIMERS;
}

export function pairConfig(o: PairOptions): string {
  const t = o.timers ?? LAB_TIMERS;
  const hb = o.hb ? `\n[[heartbeat.links]]\nname = "hb"\nkind = "ucast"\ninterface = "eth1"\naddresses = { alpha = "${o.hb}11", bravo = "${o.hb}12" }\n` : "";
  return `cluster = "${o.cluster}"
key_file = "cluster.key"
${o.stateDir !== undefined ? `state_dir = "${o.stateDir}"\n` : ""}
[[nodes]]
name = "alpha"
address = "${o.lan}11"

[[nodes]]
name = "bravo"
address = "${o.lan}12"

[heartbeat]
interval = "${t.interval}ms"
warntime = "${t.warntime}ms"
deadtime = "${t.deadtime}ms"
initdead = "${t.initdead}ms"

[[heartbeat.links]]
name = "lan"
kind = "ucast"
${hb}${o.more ?? ""}
[api]
port = 9480
token_file = "api.token"
# The lab's network is its own namespaces: mutating calls (the CLI's, the tests') may go over plain HTTP.
insecure_http = true
${o.api ?? ""}`;
}

/** A group `name` on alpha (preferred) of an address resource "vip" on eth0, then `more` members. */
export function vipGroup(name: string, vip: string, more: string[] = []): string {
  return `[resources]
[[resources.group]]
name = "${name}"
members = ${JSON.stringify(["vip", ...more])}
preferred = "alpha"
[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "${vip}/24", interface = "eth0" }
monitor_interval = "1s"
`;
}

/** A lab of the pair in `o`: its key, token and config written in `dir`, then `tandem lab up` on it. */
export async function pairLabUp(lab: string, dir: string, token: string, o: PairOptions): Promise<void> {
  await pairSecrets(dir, token);
  const file = join(dir, "tandem.toml");
  writeFileSync(file, pairConfig(o));
  const r = await tandem(["lab", "up", "-c", file, "--name", lab], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`lab up: ${r.stderr}${r.stdout}`);
}

/** The key (tandem keygen) and the API token a pair config names, in `dir`. */
export async function pairSecrets(dir: string, token: string): Promise<void> {
  await tandem(["keygen", "-o", join(dir, "cluster.key")]);
  writeSecret(join(dir, "api.token"), token);
}

/**
 * A group "lb" of a virtual address and a module's resource (its agent kind
 * `agent`, named so), preferring alpha without failback, and the service
 * "web" of the lab's two real servers (port 80, `weights`), checked as
 * `check` says (a TOML inline table).
 */
export function lbGroup(o: { lan: string; vip: string; agent: string; check: string; weights: [number, number]; monitor: string }): string {
  return `
[resources]
[[resources.group]]
name = "lb"
members = ["vip", "${o.agent}"]
preferred = "alpha"
auto_failback = false

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "${o.vip}/24", interface = "eth0" }
monitor_interval = "1s"

[[resources.resource]]
name = "${o.agent}"
agent = "${o.agent}"
monitor_interval = "${o.monitor}"${o.agent === "director" ? "\nsymmetrical = false" : ""}

[[services]]
name = "web"
port = 80
servers = [{ address = "${o.lan}101", weight = ${o.weights[0]} }, { address = "${o.lan}102", weight = ${o.weights[1]} }]
check = ${o.check}
`;
}

/** The director as a resource (lbGroup) over the real servers weighted 3 and 1, wrr, NAT, on nftables. */
export function directorGroup(o: { lan: string; vip: string; check: string }): string {
  return `${lbGroup({ ...o, agent: "director", weights: [3, 1], monitor: "2s" })}${directorSection({ vip: o.vip, service: "web", scheduler: "wrr" })}`;
}

/** [director] on nftables, with one virtual service "web-vip": `vip`:80 over the [[services]] entry `service`, NAT. */
export function directorSection(o: { vip: string; service: string; scheduler: string }): string {
  return `
[director]
dataplane = "nftables"

[[director.virtual_service]]
name = "web-vip"
address = "${o.vip}"
port = 80
service = "${o.service}"
scheduler = "${o.scheduler}"
forwarding = "nat"
`;
}

/** A host as `tandem lab status --json` lists it. */
export interface LabHost {
  name: string;
  namespace: string;
  api: string | null;
  process: { pid: number } | null;
}

/** `tandem lab ARGS --name LAB`: what it printed; a failure throws with what it said. */
export async function labCommand(lab: string, ...args: string[]): Promise<string> {
  const r = await tandem(["lab", ...args, "--name", lab], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tandem lab ${args.join(" ")}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The lab's hosts by name, and the dir where it keeps its state. */
export async function labStatus(lab: string): Promise<{ hosts: Record<string, LabHost>; stateDir: string }> {
  const st = JSON.parse(await labCommand(lab, "status", "--json")).labs[0] as { hosts: LabHost[]; stateDir: string };
  return { hosts: Object.fromEntries(st.hosts.map((h) => [h.name, h])), stateDir: st.stateDir };
}

/**
 * A replicated volume as the promotable clone `vol` (agent `volume`, one promoted instance), and `group` on its
 * promoted side, started after the promotion: the DRBD-style stack the lab and appliance volume tests run. Without
 * a group: the clone alone, promoted wherever its instance scores best.
 */
export function promotedVolume(group: string | undefined, volume = "data"): string {
  const clone = `
[[resources.resource]]
name = "vol"
agent = "volume"
params = { volume = "${volume}" }
exclusive = false
clone = true
promotable = true
monitor_interval = "1s"
`;
  if (group === undefined) return clone;
  return `${clone}
[[resources.colocation]]
group = "${group}"
with = "vol"
with_role = "promoted"

[[resources.order]]
first = "vol"
then = "${group}"
first_action = "promote"
`;
}

/** The lab's own fence device: powers the node off through `tandem lab` (the resource manager's `lab` agent). */
export function labPowerDevice(lab: string): string {
  return `
[[resources.fence_device]]
name = "power"
agent = "lab"
params = { lab = "${lab}" }
timeout = "30s"
`;
}

/** What `tandem lab status` says of each host of a lab: its API's URL and its faults, by name. */
export async function labHosts(lab: string): Promise<Record<string, { name: string; api: string | null; faults: string[] }>> {
  const r = await tandem(["lab", "status", "--json", "--name", lab], { timeoutMs: 30_000 });
  return Object.fromEntries(JSON.parse(r.stdout).labs[0].hosts.map((h: { name: string; api: string | null; faults: string[] }) => [h.name, h]));
}
