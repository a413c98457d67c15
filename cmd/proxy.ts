/**
 * `tandem proxy`: the proxy's frontends, backends and servers as a node sees
 * them, and the operator's drain, maint, ready and weight of a server (kept
 * across restarts until `ready` clears them). Calls a node's API as the
 * other admin commands do.
 */
import type { Command } from "./cli.ts";
import { API_EXIT_CODES, COMMON_OPTIONS, serverAdmin } from "./admin.ts";

export interface ProxyBody {
  active: boolean;
  managed: boolean;
  generation: number;
  workers: Array<{ index: number; state: string; error: string | null; restarts: number }>;
  frontends: Array<{ name: string; mode: string; bind: string[]; tls: boolean; active: number; requests: number; status: Record<string, number> }>;
  backends: Array<{
    name: string;
    service: string;
    balance: string;
    queued: number;
    stick: number;
    servers: Array<{ key: string; backup: boolean; up: boolean; observed: string | null; admin: string; weight: number; active: number; requests: number; errors: number }>;
  }>;
}

export function formatProxy(p: ProxyBody): string {
  const failed = p.workers.filter((w) => w.error !== null || w.state !== "running");
  const lines = [
    `${p.active ? `listening, ${p.workers.length} workers` : p.managed ? "standby (its resource runs elsewhere)" : "not listening"}, config generation ${p.generation}${failed.length ? `; workers not running: ${failed.map((w) => `${w.index} ${w.error ?? w.state}`).join(", ")}` : ""}`,
  ];
  for (const f of p.frontends) {
    const classes = Object.entries(f.status).filter(([, n]) => n > 0).map(([c, n]) => `${c} ${n}`).join(", ");
    lines.push(`frontend ${f.name} (${f.mode}${f.tls ? ", tls" : ""}) on ${f.bind.join(" ")}: ${f.active} open, ${f.requests} requests${classes ? ` (${classes})` : ""}`);
  }
  for (const b of p.backends) {
    lines.push(`backend ${b.name} (service ${b.service}, ${b.balance}): ${b.queued} queued, ${b.stick} stick entries`);
    for (const s of b.servers) {
      const health = s.up ? "UP" : s.observed ? `DOWN (traffic: ${s.observed})` : "DOWN";
      lines.push(`  ${s.key.padEnd(32)} ${health}, ${s.admin}, weight ${s.weight}${s.backup ? ", backup" : ""}: ${s.active} active, ${s.requests} requests, ${s.errors} errors`);
    }
  }
  return lines.join("\n");
}

export const proxy: Command = {
  name: "proxy",
  summary: "the proxy's frontends, backends and servers; drain, maint, ready, weight",
  help: `Usage: tandem proxy [-c FILE] [status] [--json]
       tandem proxy [-c FILE] drain SERVICE ADDRESS:PORT
       tandem proxy [-c FILE] maint SERVICE ADDRESS:PORT
       tandem proxy [-c FILE] ready SERVICE ADDRESS:PORT
       tandem proxy [-c FILE] weight SERVICE ADDRESS:PORT N

status (the default) prints whether the node's proxy listens, each frontend
with its counters, and each backend's servers with their health (active
check, and live traffic), the operator's state and weight. drain keeps a
server's sticky clients and requests in flight and sends it no new ones
(HAProxy's drain); maint sends it nothing (disable server); weight sets its
weight to N; ready clears all three (enable server). A change holds on every
backend of the service and is kept across restarts until cleared.

Options:
      --json          print the API's JSON (status)
${COMMON_OPTIONS}

${API_EXIT_CODES}`,
  main(argv) {
    return serverAdmin<ProxyBody>(this.help, argv, { module: "proxy", missing: "no proxy (no [proxy] section, or not a member)", format: formatProxy, done: { drain: () => "drained: no new requests", maint: () => "in maintenance: no requests", ready: () => "ready: takes traffic at its checked weight", weight: (w) => `weight ${w}` } });
  },
};
