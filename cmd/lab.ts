import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import demo from "../examples/demo.toml" with { type: "text" };
import { formatKeyFile, newKey } from "../core/crypto/keyfile.ts";
import { labDir } from "../lab/paths.ts";
import { type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, fail, parse } from "./cli.ts";
import { selfCommand } from "../core/os/process.ts";
import { loadConfig, parseConfig } from "../core/config/load.ts";
import { formatProblem } from "../core/config/problems.ts";
import { defaultLabName, planLab } from "../lab/topology.ts";
import { parseIpv4 } from "../core/os/ip.ts";
import { labNameProblem } from "../core/lab-name.ts";
import { FAULTS, logFile, type Fault } from "../lab/state.ts";
import { LabError } from "../lab/system.ts";
import { allStates, down, fault, heal, netem, netemProblem, resolveLab, setLink, status, up, type LabFile, type LabStatus } from "../lab/lab.ts";
import type { Netem } from "../lab/state.ts";
import { parseListen, serveRealServer } from "../lab/realserver.ts";
import { serveControl } from "../lab/control.ts";
import { MODULES } from "../modules/index.ts";
import { type Target, call, target } from "./admin.ts";
import { type Ask, FIRST_PROMOTION_TIMEOUT_MS, labVolumes, promoteNewVolumes, type UpVolume } from "../lab/volumes.ts";

const NAME_OPTIONS = {
  config: { type: "string", short: "c" },
  name: { type: "string" },
} as const;

const HELP = {
  up: `Usage: tandem lab up [-c FILE] [--name LAB] [--no-promote]

Builds a lab on this machine from a cluster config (without -c: the demo, a
pair holding a virtual address with the director and the proxy spreading
the client over the two real servers, and a replicated volume under the
group, written with a new key and token to
/run/tandem/lab/LAB/demo.toml; lab "demo" by default): every node of the config
in a network namespace of its own with its address from the config, plus a
client and two real servers (rs1, rs2), all on one bridge (the lan) in a
"switch" namespace. The host gets the subnet's .1 on the veth tdl-LAB, so it
reaches each node's API. Each further /24 among the addresses of the
[heartbeat] links is a network of its own (its own bridge, named after its
first link) that only the nodes join, with their link addresses: the K-th such
network is ethK in every node (the lan is eth0); the host does not join it.
Each node runs \`tandem run -c FILE --node NAME\`; each real server answers
every GET with its name. Waits (at most 15s) until every node answers GET
/healthz and every real server answers the client. A replicated volume
([[volumes]]) that is new on both of its nodes is made primary once by force
(as \`tandem volume promote --force\`), on the node preferred by the group
that runs with its promoted side (else the first of its \`on\` list), as
soon as both sides connect (waits of at most ${FIRST_PROMOTION_TIMEOUT_MS / 1000}s); a volume that was
primary once is left to the resource manager (--no-promote: every volume is
left so). Then prints where to look, with each volume's NBD socket.
Whatever fails half way is removed again. The last line is the URL to open:
the first node's dashboard.

Addresses: the nodes' /24 (all nodes in one, inside 198.18.0.0/15); the host
side is .1, the client .100, rs1 .101, rs2 .102. Heartbeat link networks: any
/24 inside 198.18.0.0/15, one address per node, not .0 or .255.

Options:
  -c, --config FILE   the cluster config (TOML); default: the demo
      --name LAB      the lab's name (default: the cluster's name); a-z, 0-9
                      and '-', at most 11 characters
      --no-promote    leave new volumes unpromoted: their first promotion is
                      the operator's (tandem volume promote --force)
  -h, --help          this help`,
  down: `Usage: tandem lab down [--name LAB | -c FILE]

Kills every process in the lab's namespaces, deletes the namespaces and the
host veth, and removes the lab's state and logs. Taking down a lab that is not
up is not an error. Without --name or -c: the one lab that is up.

Options:
      --name LAB      the lab
  -c, --config FILE   the lab named after this config's cluster
  -h, --help          this help`,
  status: `Usage: tandem lab status [--name LAB | -c FILE] [--json]

Lists the lab's networks (subnet, bridge, the interface the nodes have on it,
the heartbeat links on it, the host's address if it joins) and every host:
name, role (member, arbiter, client, realserver), network namespace, each
interface with its network and address, API URL, process state (running,
stopped, frozen), injected faults, links down, netem; and the services: the
lab's real servers, each virtual service of the config's director with its
URL (http://ADDRESS:PORT/), forwarding and real servers, and each bind of the
proxy's http frontends with its URL and its default backend's servers. Without --name or -c: every lab that is up. --json prints
{"labs": [...]}, one entry per lab, an empty list when none is up.

Options:
      --name LAB      the lab
  -c, --config FILE   the lab named after this config's cluster
      --json          print JSON: {"labs": [...]}
  -h, --help          this help`,
  fault: `Usage: tandem lab fault HOST power|kill|freeze|isolate [--name LAB | -c FILE]
       tandem lab fault HOST link NETWORK [--name LAB | -c FILE]

Breaks a lab host (a node, or rs1, rs2, client):
  power         every process of its namespace SIGKILLed and its links down
  kill          its tandem process (a real server's server) SIGKILLed
  freeze        SIGSTOP to that process: it holds its sockets but answers nothing
  isolate       its links down: nobody reaches it, it reaches nobody
  link NETWORK  its interface on one network down (lan, or a heartbeat link's
                network as \`tandem lab status\` names it), the others up
The fault is recorded; \`tandem lab status\` shows it until \`tandem lab heal\`.

Options:
      --name LAB      the lab (default: the one lab that is up)
  -c, --config FILE   the lab named after this config's cluster
  -h, --help          this help`,
  heal: `Usage: tandem lab heal HOST [--name LAB | -c FILE]
       tandem lab heal HOST link NETWORK [--name LAB | -c FILE]

Undoes what can be undone on a lab host: links up, SIGCONT to a frozen
process, and the host's process started again if it is gone (after power or
kill). Waits (at most 15s) until the host answers again. With link NETWORK:
brings only that interface up again (refused while the host is isolated or
powered off) and does not wait. Netem stays; see \`tandem lab netem --clear\`.

Options:
      --name LAB      the lab (default: the one lab that is up)
  -c, --config FILE   the lab named after this config's cluster
  -h, --help          this help`,
  netem: `Usage: tandem lab netem HOST NETWORK [--loss PCT] [--delay MS [--jitter MS]] [--name LAB | -c FILE]
       tandem lab netem HOST NETWORK --clear [--name LAB | -c FILE]

Impairs what HOST sends on one network (lan, or a heartbeat link's network),
replacing any impairment set there before. Delay and jitter: tc netem as the
root qdisc of its interface there, inside its namespace (the kernel needs
sch_netem). Loss: an nftables rule at its port on the network's bridge, in the
switch namespace, so packets are lost on the wire and the sender sees no
error (works without sch_netem). To impair both directions between two hosts,
set it on both. Shown by \`tandem lab status\` until --clear; \`heal\` keeps it.

Options:
      --loss PCT      lose this share of the packets (0 to 100, steps of 0.01)
      --delay MS      hold each packet this many milliseconds (0 to 10000)
      --jitter MS     vary the delay by up to this much (needs --delay)
      --clear         take the netem away
      --name LAB      the lab (default: the one lab that is up)
  -c, --config FILE   the lab named after this config's cluster
  -h, --help          this help`,
  control: `Usage: tandem lab control --name LAB

The lab's control: serves the lab's faults and heals (what \`tandem lab fault\`
and \`heal\` do) on the unix socket /run/tandem/lab/LAB/control.sock, for the
nodes' dashboards (a node in a lab offers them under /v1/lab/, behind its admin
token). \`tandem lab up\` runs it in this machine's network namespace, outside
every host's, and \`lab down\` stops it.

Options:
      --name LAB      the lab
  -h, --help          this help`,
  realserver: `Usage: tandem lab realserver --name NAME --listen ADDR:PORT

The lab's real server: answers every GET with NAME and a newline (plain text).
\`tandem lab up\` runs one in each real server's namespace on port 80.

Options:
      --name NAME          what to answer
      --listen ADDR:PORT   where to listen
  -h, --help               this help`,
} as const;

type Action = keyof typeof HELP;

const ACTIONS = Object.keys(HELP) as Action[];

function requireRoot(action: Action): void {
  if (process.getuid?.() !== 0) throw new LabError(`must run as root: \`lab ${action}\` works with network namespaces and links (try sudo)`);
}

/** --name, else the lab named after -c FILE's cluster, else the one lab that is up. */
function labName(values: { name?: string; config?: string }): string {
  if (values.name !== undefined) {
    const problem = labNameProblem(values.name);
    if (problem) fail(problem);
    return values.name;
  }
  if (values.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(values.config, "utf8");
    } catch (e) {
      fail(`cannot read ${values.config}: ${(e as Error).message}`);
    }
    const parsed = parseConfig(text, values.config, MODULES);
    if (!parsed.ok) fail(`${values.config} is not a valid config (see \`tandem check -c ${values.config}\`)`);
    return defaultLabName(parsed.config.cluster);
  }
  return resolveLab(undefined);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd()).join("\n");
}

/** "198.18.7.0/24 lan on eth0 (this host is 198.18.7.1 on tdl-demo)" or "... hb on eth1 (nodes only)". */
function networkLine(n: LabStatus["networks"][number]): string {
  const access = n.hostLink ? `this host is ${n.hostLink.address} on ${n.hostLink.name}` : "nodes only";
  return `${n.subnet} ${n.name} on ${n.iface} (${access}${n.links.length ? `; heartbeat links ${n.links.join(", ")}` : ""})`;
}

/** How a virtual service or a proxy frontend reaches its real servers: "nat to 198.18.7.101:80, 198.18.7.102:80", "proxy to …". */
function serviceNote(v: LabStatus["services"][number]): string {
  if (v.kind === "realserver") return "";
  return `${v.kind === "proxy" ? "proxy" : (v.forwarding ?? "nat")} to ${v.servers?.length ? v.servers.join(", ") : "no real server"}`;
}

function describe(s: LabStatus): string {
  const rows = [["HOST", "ROLE", "NAMESPACE", "ADDRESSES", "PROCESS", "FAULTS", "URL"]];
  for (const h of s.hosts) {
    const url = h.api ?? s.services.find((v) => v.kind === "realserver" && v.name === h.name)?.url ?? "";
    const faults = [...h.faults, ...h.linksDown.map((n) => `link:${n}`), ...Object.keys(h.netem).map((n) => `netem:${n}`)];
    rows.push([
      h.name,
      h.role,
      h.namespace,
      h.addresses.map((a) => `${a.iface}=${a.address}/${a.prefixLength}`).join(","),
      h.process ? `${h.process.state} ${h.process.pid}` : "-",
      faults.join(",") || "-",
      url,
    ]);
  }
  const nets = s.networks.map((n) => `  ${networkLine(n)}`).join("\n");
  const services = table(s.services.map((v) => [v.name, v.kind, v.url, serviceNote(v)]));
  return `lab ${s.lab}: cluster ${s.cluster} from ${s.config}\nnetworks:\n${nets}\n${table(rows)}\nservices:\n${services}\nlogs: ${s.logDir}`;
}

/** The demo `lab up` runs without -c: examples/demo.toml, compiled in; the lab it makes is named so by default. */
const DEMO_LAB = "demo";
const DEMO_FILE = "demo.toml";
/** Bytes of the demo's API token, in hex. */
const DEMO_TOKEN_BYTES = 24;

/** The demo's config, a new key and a new token, as the lab writes them into its directory (demo.toml names the other two). */
async function demoFiles(): Promise<Record<string, LabFile>> {
  return {
    [DEMO_FILE]: { text: demo, mode: 0o644 },
    "demo.key": { text: formatKeyFile({ active: 1, keys: new Map([[1, await newKey()]]) }), mode: 0o600 },
    "demo.token": { text: `${randomBytes(DEMO_TOKEN_BYTES).toString("hex")}\n`, mode: 0o600 },
  };
}

function upSummary(s: LabStatus, isDemo: boolean, volumes: UpVolume[]): string {
  const client = s.hosts.find((h) => h.role === "client");
  const lines = [`lab ${s.lab} is up; networks:`, ...s.networks.map((n) => `  ${networkLine(n)}`)];
  lines.push("node APIs:");
  lines.push(table(s.hosts.filter((h) => h.api).map((h) => [h.name, h.role, h.api!, `netns ${h.namespace}`])));
  lines.push("services:");
  lines.push(table(s.services.map((v) => [v.name, v.kind, v.url, v.kind === "realserver" ? `netns ${s.hosts.find((h) => h.name === v.name)?.namespace ?? "-"}` : serviceNote(v)])));
  const first = s.services.find((v) => v.kind === "virtual") ?? s.services[0];
  const proxy = s.services.find((v) => v.kind === "proxy");
  if (client && first) lines.push(`client: ip netns exec ${client.namespace} curl ${first.url}`);
  if (client && proxy && proxy !== first) lines.push(`        ip netns exec ${client.namespace} curl ${proxy.url}   (through the proxy)`);
  if (volumes.length) lines.push("volumes:");
  for (const v of volumes) {
    lines.push(`  ${v.name}: ${v.did}`);
    if (v.primary) lines.push(`    primary on ${v.primary.node}, NBD on ${v.primary.socket}: nbdinfo 'nbd+unix:///${v.name}?socket=${v.primary.socket}'`);
  }
  lines.push(`logs:   ${s.logDir}`);
  lines.push(`status: tandem lab status --name ${s.lab}`);
  lines.push(`stop:   tandem lab down --name ${s.lab}`);
  const node = s.hosts.find((h) => h.api);
  if (isDemo) {
    lines.push(`nodes:  tandem status -c ${s.config}   (the token for changes: ${join(dirname(s.config), "demo.token")})`);
    lines.push(`a failover: tandem lab fault ${node?.name ?? "alpha"} kill --name ${s.lab}; then tandem events -c ${s.config}`);
  }
  if (node?.api) lines.push(`\nopen ${node.api} (the dashboard)`);
  return lines.join("\n");
}

/** The node's API through its config (the token, TLS), as the admin commands call it; undefined when it does not answer. */
function asking(file: string): Ask {
  const targets = new Map<string, Promise<Target>>();
  return async (node, method, path) => {
    if (!targets.has(node)) targets.set(node, target({ config: file, node }));
    try {
      return await call(await targets.get(node)!, method, `/v1/${path}`);
    } catch {
      return undefined;
    }
  };
}

/** The NETWORK after `link`, and nothing more. */
function linkNetwork(rest: string[]): string {
  const [network, extra] = rest;
  if (network === undefined) fail("expected NETWORK after link (lan, or a heartbeat link's network)");
  if (extra !== undefined) fail(`unexpected argument "${extra}"`);
  return network;
}

/** "loss 10%, delay 50ms ±5ms" */
function netemText(n: Netem): string {
  const loss = n.lossPct === undefined ? [] : [`loss ${n.lossPct}%`];
  const delay = n.delayMs === undefined ? [] : [`delay ${n.delayMs}ms${n.jitterMs === undefined ? "" : ` ±${n.jitterMs}ms`}`];
  return [...loss, ...delay].join(", ");
}

/** --loss, --delay, --jitter as numbers; a flag that is not a number is a usage error. */
function netemSpec(values: { loss?: string; delay?: string; jitter?: string }): Netem {
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) fail(`${flag}: expected a number, found "${v}"`);
    return n;
  };
  const spec: Netem = {};
  const lossPct = num("--loss", values.loss);
  const delayMs = num("--delay", values.delay);
  const jitterMs = num("--jitter", values.jitter);
  if (lossPct !== undefined) spec.lossPct = lossPct;
  if (delayMs !== undefined) spec.delayMs = delayMs;
  if (jitterMs !== undefined) spec.jitterMs = jitterMs;
  const problem = netemProblem(spec);
  if (problem) fail(problem);
  return spec;
}

async function runAction(action: Action, argv: string[]): Promise<number> {
  const help = () => (console.log(HELP[action]), EXIT_OK);
  switch (action) {
    case "up": {
      const { values, positionals } = parse(argv, { ...NAME_OPTIONS, "no-promote": { type: "boolean" } }, true);
      if (values.help) return help();
      if (positionals.length) fail(`unexpected argument "${positionals[0]}"`);
      if (values.name !== undefined && labNameProblem(values.name)) fail(labNameProblem(values.name)!);
      const file = values.config ?? join(labDir(values.name ?? DEMO_LAB), DEMO_FILE);
      const loaded = values.config ? await loadConfig(values.config, MODULES) : parseConfig(demo, file, MODULES);
      if (!loaded.ok) {
        for (const p of loaded.problems) console.error(`error: ${formatProblem(file, p)}`);
        return EXIT_USAGE;
      }
      const name = values.name ?? defaultLabName(loaded.config.cluster);
      const planned = planLab(loaded.config, name, selfCommand());
      if (!planned.ok) {
        for (const p of planned.problems) console.error(`error: ${file}: ${p}`);
        return EXIT_USAGE;
      }
      requireRoot(action);
      const progress = (line: string) => console.error(`lab ${name}: ${line}`);
      const state = await up(planned.plan, progress, values.config ? {} : await demoFiles());
      const written = state.plan.configFile;
      const volumes = values["no-promote"] ? [] : await promoteNewVolumes(labVolumes(loaded.config.raw), asking(written), (v) => `tandem volume -c ${written} -n ${v.first} promote ${v.name} --force`);
      for (const v of volumes) progress(`volume ${v.name}: ${v.did}`);
      console.log(upSummary(status(state), !values.config, volumes));
      return EXIT_OK;
    }
    case "down": {
      const { values, positionals } = parse(argv, NAME_OPTIONS, true);
      if (values.help) return help();
      if (positionals.length) fail(`unexpected argument "${positionals[0]}"`);
      requireRoot(action);
      const named = values.name !== undefined || values.config !== undefined;
      if (!named && !allStates().length) return console.log("no lab is up"), EXIT_OK;
      const lab = labName(values);
      console.log((await down(lab)) ? `lab ${lab} is down` : `lab ${lab} was not up`);
      return EXIT_OK;
    }
    case "status": {
      const { values, positionals } = parse(argv, { ...NAME_OPTIONS, json: { type: "boolean" } }, true);
      if (values.help) return help();
      if (positionals.length) fail(`unexpected argument "${positionals[0]}"`);
      requireRoot(action);
      const named = values.name !== undefined || values.config !== undefined;
      const lab = named ? labName(values) : undefined;
      const labs = allStates()
        .filter((s) => lab === undefined || s.plan.lab === lab)
        .map(status);
      if (values.json) console.log(JSON.stringify({ labs }, null, 2));
      else console.log(labs.length ? labs.map(describe).join("\n\n") : lab === undefined ? "no lab is up" : `lab ${lab} is not up`);
      return EXIT_OK;
    }
    case "fault": {
      const { values, positionals } = parse(argv, NAME_OPTIONS, true);
      if (values.help) return help();
      const [host, kind, ...rest] = positionals;
      const kinds = [...FAULTS, "link NETWORK"].join(", ");
      if (host === undefined || kind === undefined) fail(`expected HOST and one of ${kinds}`);
      if (kind === "link") {
        const network = linkNetwork(rest);
        requireRoot(action);
        const lab = labName(values);
        setLink(lab, host, network, "down");
        console.log(`lab ${lab}: ${host}'s link on ${network} is down; undo with \`tandem lab heal ${host} link ${network} --name ${lab}\``);
        return EXIT_OK;
      }
      if (!FAULTS.includes(kind as Fault)) fail(`unknown fault "${kind}"; expected one of ${kinds}`);
      if (rest.length) fail(`unexpected argument "${rest[0]}"`);
      requireRoot(action);
      const lab = labName(values);
      await fault(lab, host, kind as Fault);
      console.log(`lab ${lab}: ${host} ${kind}; undo with \`tandem lab heal ${host} --name ${lab}\``);
      return EXIT_OK;
    }
    case "heal": {
      const { values, positionals } = parse(argv, NAME_OPTIONS, true);
      if (values.help) return help();
      const [host, what, ...rest] = positionals;
      if (host === undefined) fail("expected HOST");
      if (what === "link") {
        const network = linkNetwork(rest);
        requireRoot(action);
        const lab = labName(values);
        setLink(lab, host, network, "up");
        console.log(`lab ${lab}: ${host}'s link on ${network} is up`);
        return EXIT_OK;
      }
      if (what !== undefined) fail(`unexpected argument "${what}"`);
      requireRoot(action);
      const lab = labName(values);
      const silent = await heal(lab, host);
      if (silent.length) {
        console.error(`tandem lab heal: ${host} was healed but does not answer: ${silent.join("; ")}; see ${logFile(lab, host)}`);
        return EXIT_FAILURE;
      }
      console.log(`lab ${lab}: ${host} healed`);
      return EXIT_OK;
    }
    case "netem": {
      const { values, positionals } = parse(
        argv,
        { ...NAME_OPTIONS, loss: { type: "string" }, delay: { type: "string" }, jitter: { type: "string" }, clear: { type: "boolean" } },
        true,
      );
      if (values.help) return help();
      const [host, network, extra] = positionals;
      if (host === undefined || network === undefined) fail("expected HOST and NETWORK");
      if (extra !== undefined) fail(`unexpected argument "${extra}"`);
      const impairs = values.loss !== undefined || values.delay !== undefined || values.jitter !== undefined;
      if (values.clear && impairs) fail("--clear takes no --loss, --delay or --jitter");
      const spec = values.clear ? null : netemSpec(values);
      requireRoot(action);
      const lab = labName(values);
      netem(lab, host, network, spec);
      console.log(`lab ${lab}: ${host} sends on ${network} ${spec ? `with ${netemText(spec)}` : "unimpaired"}`);
      return EXIT_OK;
    }
    case "control": {
      const { values, positionals } = parse(argv, { name: { type: "string" } }, true);
      if (values.help) return help();
      if (positionals.length) fail(`unexpected argument "${positionals[0]}"`);
      if (values.name === undefined) fail("missing --name LAB");
      const problem = labNameProblem(values.name);
      if (problem) fail(problem);
      requireRoot(action);
      console.log(`lab ${values.name}: control listening on ${serveControl(values.name)}`);
      return EXIT_OK;
    }
    case "realserver": {
      const { values, positionals } = parse(argv, { name: { type: "string" }, listen: { type: "string" } }, true);
      if (values.help) return help();
      if (positionals.length) fail(`unexpected argument "${positionals[0]}"`);
      if (!values.name) fail("missing --name NAME");
      if (!values.listen) fail("missing --listen ADDR:PORT");
      const listen = parseListen(values.listen);
      if (!listen || parseIpv4(listen.hostname) === undefined) fail(`--listen: expected ADDR:PORT like 198.18.7.101:80, found "${values.listen}"`);
      console.log(`realserver ${values.name} listening on ${serveRealServer(values.name, listen.hostname, listen.port)}`);
      return EXIT_OK;
    }
  }
}

export const lab: Command = {
  name: "lab",
  summary: "a lab on this machine: the config's nodes, a client and real servers in network namespaces",
  help: `Usage: tandem lab ACTION [OPTIONS]

Runs a cluster config on this one machine: each node in a network namespace,
plus a client and two real servers, on one bridge, and the nodes on one more
bridge per network of the heartbeat links; then breaks and mends it.
Needs root. State and logs live in /run/tandem/lab/LAB/.

Actions:
  up [-c FILE] [--name LAB]     build the lab and start every node (no -c: the demo)
  down [--name LAB]             stop everything and remove the lab
  status [--name LAB] [--json]  hosts, addresses, URLs, processes, faults
  fault HOST KIND               break a host: power, kill, freeze or isolate
  fault HOST link NETWORK       take one of its links down
  heal HOST [link NETWORK]      mend it (or only that link)
  netem HOST NETWORK [--loss PCT] [--delay MS] [--jitter MS] | --clear
                                impair what it sends on one network
  realserver --name N --listen ADDR:PORT
                                the real servers' HTTP server (run by up)
  control --name LAB            the faults for the nodes' dashboards (run by up)

'tandem lab ACTION --help' for an action's help.

Options:
  -h, --help   this help`,
  async main(argv) {
    const [first, ...rest] = argv;
    if (first === undefined) fail(`missing action: one of ${ACTIONS.join(", ")}`);
    if (first === "-h" || first === "--help") return console.log(this.help), EXIT_OK;
    const action = ACTIONS.find((a) => a === first);
    if (!action) fail(`unknown action "${first}"; expected one of ${ACTIONS.join(", ")}`);
    try {
      return await runAction(action, rest);
    } catch (e) {
      if (e instanceof UsageError) {
        console.error(`tandem lab ${action}: ${e.message}\nSee 'tandem lab ${action} --help'.`);
        return EXIT_USAGE;
      }
      if (!(e instanceof LabError)) throw e;
      console.error(`tandem lab ${action}: ${e.message}`);
      return EXIT_FAILURE;
    }
  },
};
