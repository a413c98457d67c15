/**
 * `tandem director`: the director's virtual services and real servers as a
 * node sees them, and the admin's drain, enable and weight of a real server
 * (kept across reloads until `enable` clears it). Calls a node's API as the
 * other admin commands do.
 */
import type { Command } from "./cli.ts";
import { API_EXIT_CODES, COMMON_OPTIONS, serverAdmin } from "./admin.ts";

interface ServerView {
  key: string;
  healthy: boolean;
  weight: number | null;
  override: number | null;
}
export interface DirectorBody {
  dataplane: string;
  active: boolean;
  reconcile: { ms: number; changes: number; error: string | null } | null;
  virtualServices: Array<{ name: string; key: string; up: boolean; healthyWeight: number; sorry: boolean; servers: ServerView[] }>;
}

export function formatDirector(d: DirectorBody): string {
  const lines = [`dataplane ${d.dataplane}, ${d.active ? "active" : "standby (checks only)"}${d.reconcile?.error ? `, last reconcile FAILED: ${d.reconcile.error}` : ""}`];
  for (const v of d.virtualServices) {
    lines.push(`${v.name} (${v.key}): ${v.up ? "up" : "DOWN"}, healthy weight ${v.healthyWeight}${v.sorry ? ", sorry server in use" : ""}`);
    for (const s of v.servers) {
      const where = s.weight === null ? "out" : s.weight === 0 ? "drained" : `weight ${s.weight}`;
      lines.push(`  ${s.key.padEnd(32)} ${s.healthy ? "healthy" : "FAILED"}, ${where}${s.override === null ? "" : ` (admin: ${s.override === 0 ? "drain" : `weight ${s.override}`})`}`);
    }
  }
  return lines.join("\n");
}


export const director: Command = {
  name: "director",
  summary: "the director's virtual services and real servers; drain, enable, weight",
  help: `Usage: tandem director [-c FILE] [status] [--json]
       tandem director [-c FILE] drain SERVICE ADDRESS:PORT
       tandem director [-c FILE] enable SERVICE ADDRESS:PORT
       tandem director [-c FILE] weight SERVICE ADDRESS:PORT N

status (the default) prints each virtual service, whether it holds its
quorum, and each real server's health and weight in the dataplane. drain
sets a server's weight to 0 (no new connections; established ones go on),
weight sets it to N, enable clears either: the server takes its checked
weight again. The admin's setting is kept across reloads until cleared.

Options:
      --json          print the API's JSON (status)
${COMMON_OPTIONS}

${API_EXIT_CODES}`,
  main(argv) {
    return serverAdmin<DirectorBody>(this.help, argv, { module: "director", missing: "no director (no [director] section, or not a member)", format: formatDirector, done: { drain: () => "drained", enable: () => "takes its checked weight again", weight: (w) => `weight ${w}` } });
  },
};
