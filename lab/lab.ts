/**
 * The lab's shell: carries out a plan (up), takes it away (down), reports on
 * it (status), breaks and mends hosts (fault, heal) and single links (setLink),
 * impairs what a host sends on a network (netem). Refusals are LabErrors.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { overlaps } from "../core/os/ip.ts";
import { buildCommands, namespacesOf, type LabHost, type LabInterface, type LabNetwork, type LabPlan } from "./topology.ts";
import { controlSocket, labDir } from "./paths.ts";
import { LAB_CONTROL_ENV } from "../core/api/lab.ts";
import { claimLab, listLabs, logDir, logFile, readState, removeLabDir, writeState, STATE_VERSION, type Fault, type LabState, type Netem } from "./state.ts";
import { hasCommand, hostAddresses, hostLinkNames, ip, ipOrThrow, killAll, LabError, namespacePids, namespaces, POLL_MS, probe, processState, signal, spawnDetached, spawnIn, nftOrThrow, tcOrThrow, type ProcessState } from "./system.ts";

/** Bound on the wait for every node's API and every real server to answer. */
export const READY_TIMEOUT_MS = 15_000;
/** How much of a log line an error message quotes. */
const LOG_LINE_MAX = 300;

/** Where a host's readiness is probed from: a node's /healthz from the host, a real server from the client. */
function readiness(plan: LabPlan, host: LabHost): { url: string; ns?: string } | undefined {
  if (host.api) return { url: `${host.api}healthz` };
  // From this host, over the lan's host link: with a NAT director, a real server answers the lab's client only through
  // the node that holds the virtual address, which none may hold yet.
  const service = plan.services.find((s) => s.kind === "realserver" && s.name === host.name);
  return service ? { url: service.url } : undefined;
}

/** Wait, bounded, until every given host answers, or its process has exited; returns why each other host did not answer. */
async function waitReady(state: LabState, hosts: LabHost[], timeoutMs = READY_TIMEOUT_MS): Promise<string[]> {
  const plan = state.plan;
  const deadline = Date.now() + timeoutMs;
  const exited = (h: LabHost) => state.processes[h.name] !== undefined && liveProcess(state, h) === undefined;
  let pending = hosts.filter((h) => readiness(plan, h));
  while (pending.length && !pending.some(exited)) {
    const answered = await Promise.all(
      pending.map((h) => {
        const r = readiness(plan, h)!;
        return probe(r.url, r.ns);
      }),
    );
    pending = pending.filter((_, i) => !answered[i]);
    if (!pending.length || Date.now() >= deadline) break;
    await Bun.sleep(POLL_MS * 2);
  }
  const late = Date.now() >= deadline;
  return pending.map((h) => {
    const why = exited(h) ? "exited" : late ? `no answer within ${timeoutMs / 1000}s` : "no answer yet";
    return `${h.name} (${why}; its log says: ${likelyReason(logFile(plan.lab, h.name))})`;
  });
}

/** The last line of a log that speaks of an error, else of a failure, else its last line; cut short. */
function likelyReason(file: string): string {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return "no log";
  }
  const lines = text.trimEnd().split("\n");
  const line = lines.findLast((l) => /error/i.test(l)) ?? lines.findLast((l) => /fail/i.test(l)) ?? lines.at(-1) ?? "";
  return line ? (line.length > LOG_LINE_MAX ? `${line.slice(0, LOG_LINE_MAX)}...` : line) : "empty log";
}

const prefixOf = (net: LabNetwork) => ({ address: net.subnet.split("/")[0]!, prefixLength: net.prefixLength });

/** Why this plan cannot come up next to what is already on the machine. */
function conflicts(plan: LabPlan): string[] {
  const out: string[] = [];
  for (const other of allStates())
    for (const net of plan.networks)
      for (const theirs of other.plan.networks)
        if (overlaps(prefixOf(net), prefixOf(theirs))) out.push(`subnet ${net.subnet} is used by lab "${other.plan.lab}" (${theirs.subnet})`);
  const addresses = hostAddresses();
  for (const net of plan.networks)
    for (const a of addresses)
      if (overlaps(prefixOf(net), a)) out.push(`subnet ${net.subnet} overlaps ${a.address}/${a.prefixLength} on host interface ${a.ifname}`);
  const existing = namespaces();
  for (const ns of namespacesOf(plan)) if (existing.has(ns)) out.push(`network namespace ${ns} already exists`);
  const links = hostLinkNames();
  for (const net of plan.networks) if (net.hostLink && links.has(net.hostLink.name)) out.push(`host interface ${net.hostLink.name} already exists`);
  return out;
}

/**
 * Each host its own HA_RSCTMP, the directory where resource agents keep their
 * state (Dummy's state file, pid files), and its own TMPDIR: the hosts of a
 * lab share one file system, machines do not. Both are in the lab's directory,
 * so what a host killed by a fault leaves there goes with the lab.
 */
function startProcess(state: LabState, host: LabHost): void {
  if (!host.process) return;
  const own = (d: string) => join(labDir(state.plan.lab), d, host.name);
  const env = { HA_RSCTMP: own("rsctmp"), TMPDIR: own("tmp"), [LAB_CONTROL_ENV]: controlSocket(state.plan.lab) };
  for (const d of [env.HA_RSCTMP, env.TMPDIR]) mkdirSync(d, { recursive: true, mode: 0o700 });
  state.processes[host.name] = { ...spawnIn(host.namespace, host.process, logFile(state.plan.lab, host.name), env), command: host.process };
}

/** The lab's control, in this (the host's) network namespace; up waits for its socket. */
async function startControl(state: LabState): Promise<void> {
  const { lab, control } = state.plan;
  state.control = { ...spawnDetached(control, "the lab's control", logFile(lab, "control")), command: control };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!existsSync(controlSocket(lab))) {
    if (Date.now() >= deadline || processState(state.control.pid, state.control.startTime) === "stopped") throw new LabError(`the lab's control did not start; its log says: ${likelyReason(logFile(lab, "control"))}`);
    await Bun.sleep(POLL_MS);
  }
}

/** A file `up` writes into the lab's directory before anything starts (the demo's config, key and token), taken away with the lab. */
export interface LabFile {
  text: string;
  mode: number;
}

/** Build the plan, start its processes and wait for them; on any failure, take away what was made. */
export async function up(plan: LabPlan, progress: (line: string) => void, files: Record<string, LabFile> = {}): Promise<LabState> {
  for (const cmd of ["ip", "curl"]) if (!hasCommand(cmd)) throw new LabError(`the lab needs \`${cmd}\`, which is not on PATH`);
  const taken = `lab "${plan.lab}" is already up (see \`tandem lab status --name ${plan.lab}\`; take it down with \`tandem lab down --name ${plan.lab}\`)`;
  if (listLabs().includes(plan.lab)) throw new LabError(taken);
  const problems = conflicts(plan);
  if (problems.length) throw new LabError(`cannot bring lab "${plan.lab}" up: ${problems.join("; ")}`);
  if (!claimLab(plan.lab)) throw new LabError(taken);
  const state: LabState = { version: STATE_VERSION, createdAt: new Date().toISOString(), plan, processes: {}, faults: {}, linksDown: {}, netem: {} };
  // Recorded before anything is made, so `lab down` can always find what there is.
  writeState(state);
  try {
    for (const [name, f] of Object.entries(files)) writeFileSync(join(labDir(plan.lab), name), f.text, { mode: f.mode, flag: "wx" });
    progress(`building ${plan.hosts.length} hosts on ${plan.networks.map((n) => n.subnet).join(", ")}`);
    for (const cmd of buildCommands(plan)) ipOrThrow(cmd);
    for (const f of plan.hosts.flatMap((h) => h.files ?? [])) {
      mkdirSync(dirname(f.path), { recursive: true, mode: 0o700 });
      writeFileSync(f.path, f.text, { mode: 0o600 });
    }
    await startControl(state);
    for (const host of plan.hosts) startProcess(state, host);
    writeState(state);
    progress(`started ${Object.keys(state.processes).length} processes; waiting up to ${READY_TIMEOUT_MS / 1000}s for them to answer`);
    const silent = await waitReady(state, plan.hosts);
    if (silent.length) throw new LabError(`lab "${plan.lab}" did not come up: ${silent.join("; ")}`);
    return state;
  } catch (e) {
    const left = await teardown(state);
    if (left.length) progress(`could not remove everything: ${left.join("; ")}`);
    throw e;
  }
}

/** Kill every process of the lab, delete its namespaces and host links; returns what could not be removed. */
async function teardown(state: LabState): Promise<string[]> {
  const plan = state.plan;
  const existing = namespaces();
  const present = namespacesOf(plan).filter((ns) => existing.has(ns));
  const recorded = [...Object.values(state.processes), ...(state.control ? [state.control] : [])]
    .filter((p) => processState(p.pid, p.startTime) !== "stopped")
    .map((p) => p.pid);
  const pids = [...new Set([...recorded, ...present.flatMap(namespacePids)])];
  const left: string[] = [];
  const alive = await killAll(pids);
  if (alive.length) left.push(`processes ${alive.join(", ")} survived SIGKILL`);
  for (const ns of present) {
    const r = ip(["netns", "del", ns]);
    if (!r.ok) left.push(`namespace ${ns}: ${r.stderr}`);
  }
  const links = hostLinkNames();
  for (const net of plan.networks) {
    const name = net.hostLink?.name;
    if (name === undefined || !links.has(name)) continue;
    const r = ip(["link", "del", name]);
    if (!r.ok && hostLinkNames().has(name)) left.push(`host interface ${name}: ${r.stderr}`);
  }
  if (!left.length) removeLabDir(plan.lab);
  return left;
}

/** Take a lab away. Returns false when it was not up. */
export async function down(lab: string): Promise<boolean> {
  const state = readState(lab);
  if (!state) {
    if (!listLabs().includes(lab)) return false;
    // A directory without a state: a `lab up` that died before writing one made nothing yet.
    removeLabDir(lab);
    return true;
  }
  const left = await teardown(state);
  if (left.length) throw new LabError(`lab "${lab}" is partly down; left: ${left.join("; ")}`);
  return true;
}

/** The lab to act on: the named one, else the only one up. */
export function resolveLab(name: string | undefined): string {
  if (name !== undefined) return name;
  const labs = listLabs();
  if (labs.length === 1) return labs[0]!;
  if (!labs.length) throw new LabError("no lab is up");
  throw new LabError(`${labs.length} labs are up (${labs.join(", ")}); pass --name LAB`);
}

function mustRead(lab: string): LabState {
  const state = readState(lab);
  if (!state) throw new LabError(`lab "${lab}" is not up${listLabs().length ? ` (up: ${listLabs().join(", ")})` : ""}`);
  return state;
}

function hostOf(state: LabState, name: string): LabHost {
  const host = state.plan.hosts.find((h) => h.name === name);
  if (!host) throw new LabError(`lab "${state.plan.lab}" has no host "${name}" (hosts: ${state.plan.hosts.map((h) => h.name).join(", ")})`);
  return host;
}

function setLinks(host: LabHost, updown: "up" | "down"): void {
  for (const i of host.interfaces) ipOrThrow(["-n", host.namespace, "link", "set", i.iface, updown]);
}

function liveProcess(state: LabState, host: LabHost): number | undefined {
  const p = state.processes[host.name];
  return p && processState(p.pid, p.startTime) !== "stopped" ? p.pid : undefined;
}

/**
 * Inject a fault into a host:
 * power: its links down, then every process of its namespace SIGKILLed;
 * kill: its lab process SIGKILLed; freeze: SIGSTOP to it; isolate: its links down.
 */
export async function fault(lab: string, name: string, kind: Fault): Promise<void> {
  const state = mustRead(lab);
  const host = hostOf(state, name);
  if ((kind === "kill" || kind === "freeze") && !host.process) throw new LabError(`host "${name}" runs no process to ${kind}`);
  const pid = liveProcess(state, host);
  if (kind === "power") {
    // Links first: a machine that loses power sends nothing more, not even the FIN or RST its kernel would send for
    // the TCP connections of a killed process (a BGP session closed so would tell the router at once, unlike a power loss).
    setLinks(host, "down");
    const alive = await killAll(namespacePids(host.namespace));
    if (alive.length) throw new LabError(`processes ${alive.join(", ")} of ${name} survived SIGKILL`);
  } else if (kind === "kill") {
    if (pid === undefined) throw new LabError(`${name}'s process is not running`);
    const alive = await killAll([pid]);
    if (alive.length) throw new LabError(`${name}'s process ${pid} survived SIGKILL`);
  } else if (kind === "freeze") {
    if (pid === undefined) throw new LabError(`${name}'s process is not running`);
    signal(pid, "SIGSTOP");
  } else {
    setLinks(host, "down");
  }
  const faults = state.faults[name] ?? [];
  state.faults[name] = faults.includes(kind) ? faults : [...faults, kind];
  writeState(state);
}

/**
 * Undo what can be undone: links up, SIGCONT, the lab process started again if
 * it is gone; then wait for the host to answer. Returns why it does not, if so.
 */
export async function heal(lab: string, name: string): Promise<string[]> {
  const state = mustRead(lab);
  const host = hostOf(state, name);
  setLinks(host, "up");
  // A link that went down took its routes with it.
  for (const r of host.routes ?? []) ipOrThrow(["-n", host.namespace, "route", "replace", r.to, "via", r.via]);
  const p = state.processes[host.name];
  if (p && processState(p.pid, p.startTime) === "frozen") signal(p.pid, "SIGCONT");
  if (host.process && liveProcess(state, host) === undefined) startProcess(state, host);
  delete state.faults[name];
  delete state.linksDown[name];
  writeState(state);
  return waitReady(state, [host]);
}

function legOn(state: LabState, host: LabHost, network: string): LabInterface {
  const leg = host.interfaces.find((i) => i.network === network);
  if (!leg) throw new LabError(`host "${host.name}" has no interface on network "${network}" (its networks: ${host.interfaces.map((i) => i.network).join(", ")}; the lab's: ${state.plan.networks.map((n) => n.name).join(", ")})`);
  return leg;
}

/**
 * Take one of a host's links down (its interface on one network), or bring it
 * up again. Bringing it up is refused while the whole host is isolated or
 * powered off: `heal HOST` mends those.
 */
export function setLink(lab: string, name: string, network: string, updown: "up" | "down"): void {
  const state = mustRead(lab);
  const host = hostOf(state, name);
  const { iface } = legOn(state, host, network);
  const whole = (state.faults[name] ?? []).filter((f) => f === "isolate" || f === "power");
  if (updown === "up" && whole.length) throw new LabError(`${name} is cut off as a whole (${whole.join(", ")}); mend it with \`tandem lab heal ${name}\``);
  ipOrThrow(["-n", host.namespace, "link", "set", iface, updown]);
  const down = (state.linksDown[name] ?? []).filter((n) => n !== network);
  if (updown === "down") down.push(network);
  if (down.length) state.linksDown[name] = down;
  else delete state.linksDown[name];
  writeState(state);
}

/** The longest delay or jitter `lab netem` accepts. */
export const NETEM_MAX_DELAY_MS = 10_000;

/** Why a netem request is wrong, if it is. */
export function netemProblem(n: Netem): string | undefined {
  if (n.jitterMs !== undefined && n.delayMs === undefined) return "--jitter needs --delay";
  if (n.lossPct === undefined && n.delayMs === undefined) return "give --loss, --delay or both (or --clear)";
  if (n.lossPct !== undefined && !(n.lossPct >= 0 && n.lossPct <= 100)) return `--loss ${n.lossPct}: expected a percentage from 0 to 100`;
  for (const [flag, v] of [["--delay", n.delayMs], ["--jitter", n.jitterMs]] as const)
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= NETEM_MAX_DELAY_MS)) return `${flag} ${v}: expected whole milliseconds from 0 to ${NETEM_MAX_DELAY_MS}`;
  return undefined;
}

/** The nftables table, in the switch namespace, that holds the loss of every host's leg (a chain per bridge port). */
export const LOSS_TABLE = "tdl_loss";
/** Loss is drawn per packet from 0..LOSS_SCALE-1: a resolution of 0.01%. */
const LOSS_SCALE = 10_000;

/** The tc netem arguments for a spec's delay: delay D[ms] [J[ms]]. */
export function delayArgs(n: Netem): string[] {
  return n.delayMs === undefined ? [] : ["delay", `${n.delayMs}ms`, ...(n.jitterMs === undefined ? [] : [`${n.jitterMs}ms`])];
}

/** An nft script that makes the bridge port drop `lossPct` of what arrives from the host. */
export function lossScript(port: string, lossPct: number): string {
  const threshold = Math.round(lossPct * (LOSS_SCALE / 100));
  const draw = threshold >= LOSS_SCALE ? "" : `numgen random mod ${LOSS_SCALE} < ${threshold} `;
  return [
    `add table netdev ${LOSS_TABLE}`,
    `add chain netdev ${LOSS_TABLE} ${port} { type filter hook ingress device "${port}" priority 0; policy accept; }`,
    `flush chain netdev ${LOSS_TABLE} ${port}`,
    `add rule netdev ${LOSS_TABLE} ${port} ${draw}counter drop`,
    "",
  ].join("\n");
}

/**
 * Impair what a host sends on one network, or, with `null`, take the
 * impairment away. Delay and jitter: tc netem as the root qdisc of the host's
 * interface there, in its namespace (the kernel needs sch_netem). Loss: an
 * nftables rule at the host's bridge port in the switch namespace, so the
 * packet is lost on the wire and the sender sees no error, as with netem.
 * The spec is one that netemProblem accepts; the previous one is replaced.
 */
export function netem(lab: string, name: string, network: string, spec: Netem | null): void {
  const state = mustRead(lab);
  const host = hostOf(state, name);
  const { iface, port } = legOn(state, host, network);
  const before = state.netem[name]?.[network];
  const next = spec ?? {};
  if (next.delayMs !== undefined) {
    if (!hasCommand("tc")) throw new LabError("--delay needs `tc`, which is not on PATH");
    try {
      tcOrThrow(host.namespace, ["qdisc", "replace", "dev", iface, "root", "netem", ...delayArgs(next)]);
    } catch (e) {
      if (!/qdisc kind is unknown/.test((e as Error).message)) throw e;
      throw new LabError("this kernel has no netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM), so --delay and --jitter cannot be had here; --loss works without it");
    }
  } else if (before?.delayMs !== undefined) tcOrThrow(host.namespace, ["qdisc", "del", "dev", iface, "root"]);
  if (next.lossPct !== undefined) {
    if (!hasCommand("nft")) throw new LabError("--loss needs `nft`, which is not on PATH");
    nftOrThrow(state.plan.switchNamespace, lossScript(port, next.lossPct));
  } else if (before?.lossPct !== undefined) nftOrThrow(state.plan.switchNamespace, `delete chain netdev ${LOSS_TABLE} ${port}\n`);
  const mine = state.netem[name] ?? {};
  if (spec) mine[network] = spec;
  else delete mine[network];
  if (Object.keys(mine).length) state.netem[name] = mine;
  else delete state.netem[name];
  writeState(state);
}

export interface HostStatus {
  name: string;
  role: LabHost["role"];
  namespace: string;
  addresses: { network: string; iface: string; address: string; prefixLength: number }[];
  api: string | null;
  process: { state: ProcessState; pid: number; command: string[] } | null;
  faults: Fault[];
  /** Networks whose interface is down by `fault HOST link NETWORK`. */
  linksDown: string[];
  /** Per network, the netem on what the host sends there. */
  netem: Record<string, Netem>;
  log: string | null;
}

export interface LabStatus {
  lab: string;
  cluster: string;
  config: string;
  createdAt: string;
  stateDir: string;
  logDir: string;
  switchNamespace: string;
  networks: { name: string; bridge: string; subnet: string; iface: string; links: string[]; hostLink: { name: string; address: string } | null }[];
  hosts: HostStatus[];
  services: LabState["plan"]["services"];
}

export function status(state: LabState): LabStatus {
  const plan = state.plan;
  return {
    lab: plan.lab,
    cluster: plan.cluster,
    config: plan.configFile,
    createdAt: state.createdAt,
    stateDir: labDir(plan.lab),
    logDir: logDir(plan.lab),
    switchNamespace: plan.switchNamespace,
    networks: plan.networks.map((n) => ({
      name: n.name,
      bridge: n.bridge,
      subnet: n.subnet,
      iface: n.iface,
      links: n.links,
      hostLink: n.hostLink ? { name: n.hostLink.name, address: n.hostLink.address } : null,
    })),
    hosts: plan.hosts.map((h) => {
      const p = state.processes[h.name];
      return {
        name: h.name,
        role: h.role,
        namespace: h.namespace,
        addresses: h.interfaces.map((i) => ({ network: i.network, iface: i.iface, address: i.address, prefixLength: i.prefixLength })),
        api: h.api ?? null,
        process: p ? { state: processState(p.pid, p.startTime), pid: p.pid, command: p.command } : null,
        faults: state.faults[h.name] ?? [],
        linksDown: state.linksDown[h.name] ?? [],
        netem: state.netem[h.name] ?? {},
        log: h.process ? logFile(plan.lab, h.name) : null,
      };
    }),
    services: plan.services,
  };
}

/** Every lab with a state, for `status` without a name. */
export function allStates(): LabState[] {
  return listLabs().flatMap((lab) => readState(lab) ?? []);
}
