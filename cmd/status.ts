/**
 * `tandem status`: one node's view of the cluster on a screen: the node and
 * its modules, the peers and their links, quorum, the groups and where their
 * resources run, the director's virtual services, the proxy's frontends and
 * backends, the replicated volumes, and the last takeover
 * (from the flight recorder). One GET /v1/status and one GET /v1/failovers;
 * --json prints both as the API gave them.
 */
import { type Command, EXIT_FAILURE, EXIT_OK, fail, parse } from "./cli.ts";
import { ADMIN_OPTIONS, API_EXIT_CODES, COMMON_OPTIONS, call, formatStatus, reaching, report, type StatusBody, target } from "./admin.ts";
import { type DirectorBody, formatDirector } from "./director.ts";
import { formatProxy, type ProxyBody } from "./proxy.ts";
import { formatVolumes, type VolumesBody } from "./volume.ts";
import type { Failover } from "../core/recorder.ts";

interface LinkView {
  status: string;
  lossPct: number;
  rttMs: number | null;
}
interface HeartbeatBody {
  quorate: boolean;
  peers: Record<string, { role: string; status: string; silentMs: number | null; links: Record<string, LinkView> }>;
}
interface ModuleView {
  state: string;
  error?: string;
}
export interface NodeStatus {
  node: string;
  cluster: string;
  version: string;
  phase: string;
  config: { hash: string };
  modules: Record<string, ModuleView & Record<string, unknown>>;
}

const link = (name: string, l: LinkView) => `${name} ${l.status}${l.status === "up" ? ` (rtt ${l.rttMs ?? "?"} ms, loss ${l.lossPct}%)` : ""}`;
const indent = (text: string) => text.split("\n").map((l) => `  ${l}`);
const clock = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");

/** The last takeover in a line: who, when, and how long from the first step to the last. */
export function takeoverLine(f: Failover): string {
  const took = f.ended === null ? "still running" : `${f.ended - f.started} ms from the first step to the last`;
  const dead = f.steps.find((s) => s.kind === "peer-dead");
  return `last takeover: by ${f.node} at ${clock(f.started)}, ${took}${dead ? ` (${dead.text})` : ""}; the steps: tandem status --json, or GET /v1/failovers`;
}

export function formatNode(s: NodeStatus, failovers: Failover[] | null): string {
  const lines = [`node ${s.node} of cluster ${s.cluster}: ${s.phase}, tandem ${s.version}, config ${s.config.hash.slice(0, 12)}`];
  const modules = Object.entries(s.modules);
  const down = modules.filter(([, m]) => m.state !== "running");
  lines.push(`modules: ${modules.filter(([, m]) => m.state === "running").map(([n]) => n).join(", ") || "none"} running${down.map(([n, m]) => `; ${n} ${m.state.toUpperCase()}${m.error ? ` (${m.error})` : ""}`).join("")}`);
  const hb = s.modules.heartbeat as unknown as HeartbeatBody | undefined;
  if (hb?.peers) {
    lines.push(`heartbeat: ${hb.quorate ? "quorate" : "NO QUORUM"}`);
    for (const [name, p] of Object.entries(hb.peers)) {
      const links = Object.entries(p.links).map(([n, l]) => link(n, l));
      lines.push(`  ${name.padEnd(12)} ${p.status}${p.role === "arbiter" ? " (arbiter)" : ""}${p.status !== "up" && p.silentMs !== null ? `, silent ${p.silentMs} ms` : ""}; ${links.join(", ")}`);
    }
  }
  const res = s.modules.resources as unknown as StatusBody | undefined;
  if (res?.cluster) lines.push(...formatStatus(s.node, res).split("\n"));
  const dir = s.modules.director as unknown as DirectorBody | undefined;
  if (dir?.virtualServices) lines.push("director:", ...indent(formatDirector(dir)));
  const proxy = s.modules.proxy as unknown as ProxyBody | undefined;
  if (proxy?.backends) lines.push("proxy:", ...indent(formatProxy(proxy)));
  const volumes = s.modules.replication as unknown as VolumesBody | undefined;
  if (volumes?.volumes) lines.push("volumes:", ...indent(formatVolumes(volumes)));
  const last = failovers?.[0];
  if (last) lines.push(takeoverLine(last));
  return lines.join("\n");
}

export const status: Command = {
  name: "status",
  summary: "the node, its peers, groups, resources, virtual services, proxy and volumes, and the last takeover",
  help: `Usage: tandem status [-c FILE] [--json]

Prints, as the node asked sees them: the node and its modules (any not
running in capitals, with its error), the peers with each heartbeat link's
state, round trip and loss, quorum, the DC and each node (membership,
standby, fencing), each group with where it runs and each resource's state
on every node, operations in flight, failures, moves and the policy's notes,
the director's virtual services with each real server's health and weight,
the proxy's frontends and each backend's servers with their health, the
replicated volumes (role, link, disk, out of sync, resync, the NBD socket
where primary), and the last takeover this node made (from its flight recorder).

--json prints {"status": GET /v1/status, "failovers": GET /v1/failovers}: the
node's whole status (the resource manager's under status.modules.resources,
whose "cluster" field is what \`tandem simulate --state\` reads) and its
takeovers, each step timed.

Options:
      --json          print the API's JSON
${COMMON_OPTIONS}

${API_EXIT_CODES}`,
  async main(argv) {
    const { values, positionals } = parse(argv, ADMIN_OPTIONS, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (positionals.length) fail(`unexpected ${positionals.join(" ")}`);
    if (values.for !== undefined) fail("--for is for move only");
    const t = await target(values);
    return reaching(async () => {
      const answer = await call(t, "GET", "/v1/status");
      if (answer.status !== 200) return report(answer, () => "");
      const recorded = await call({ ...t, urls: [answer.url] }, "GET", "/v1/failovers");
      const failovers = recorded.status === 200 ? (recorded.body.failovers as Failover[]) : null;
      if (!failovers) console.error(`error: ${answer.url}/v1/failovers answered ${recorded.status}: ${String(recorded.body.detail ?? "")}`);
      if (values.json) console.log(JSON.stringify({ status: answer.body, failovers }, null, 2));
      else console.log(formatNode(answer.body as unknown as NodeStatus, failovers));
      return recorded.status === 200 ? EXIT_OK : EXIT_FAILURE;
    });
  },
};
