/**
 * `tandem volume`: the replicated volumes as a node sees them, and the
 * operator's commands on one: promote (`--force` for a new volume's first
 * generation), demote, connect, disconnect, discard-my-data (which first
 * shows how far this side diverged, and acts only with --yes). Calls a
 * node's API as the other admin commands do; the command runs on the node
 * asked (-n), since a volume's role is per node.
 */
import { type Command, EXIT_FAILURE, EXIT_OK, fail, parse } from "./cli.ts";
import { ADMIN_OPTIONS, API_EXIT_CODES, COMMON_OPTIONS, call, printStatus, reaching, report, target } from "./admin.ts";
import type { VolumeStatus } from "../modules/replication/volume.ts";

const MISSING = "no replicated volume (no [[volumes]] with an `on` entry for it)";

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function formatVolume(v: VolumeStatus): string {
  const conn = v.connection === "standalone" && v.reason ? `standalone (${v.reason})` : v.connection;
  let line = `${v.name}: ${v.role}, ${conn}, disk ${v.disk}${v.peerPrimary ? ", peer primary" : ""}, ${bytes(v.outOfSyncBytes)} out of sync`;
  if (v.verify) line += `, verify ${v.verify.checkedRegions}/${v.verify.regions} regions, ${v.verify.differing} differing`;
  if (v.resync) line += `, resync ${bytes(v.resync.bytesLeft)} left at ${bytes(v.resync.bytesPerSecond)}/s${v.resync.etaSeconds === null ? "" : `, about ${v.resync.etaSeconds} s`}`;
  return line;
}

/** GET /v1/replication/volumes: each volume's status, and where the primary serves it over NBD. */
export interface VolumesBody {
  volumes: VolumeStatus[];
  stale: boolean;
  sockets: Record<string, string>;
}

/** Each volume in a line, with its NBD socket where it is primary here. */
export function formatVolumes(body: VolumesBody): string {
  const served = (v: VolumeStatus) => (v.role === "primary" && body.sockets[v.name] ? `; NBD on ${body.sockets[v.name]}` : "");
  return [...body.volumes.map((v) => formatVolume(v) + served(v)), ...(body.stale ? ["(the replication thread has not answered lately: this status is old)"] : [])].join("\n");
}

const VERBS = ["promote", "demote", "connect", "disconnect", "discard-my-data", "verify"] as const;

export const volume: Command = {
  name: "volume",
  summary: "replicated volumes: status; promote, demote, connect, disconnect, discard-my-data, verify",
  help: `Usage: tandem volume [-c FILE] [status] [--json]
       tandem volume [-c FILE] -n NODE promote VOLUME [--force]
       tandem volume [-c FILE] -n NODE demote|connect|disconnect|verify VOLUME
       tandem volume [-c FILE] -n NODE discard-my-data VOLUME [--yes]

status (the default) prints each volume on the node: its role, the peer
link, whether its data is up to date, how much differs from the peer, and a
resync's progress. promote makes the node's replica primary (served over
NBD); an out-of-date replica, or one whose peer is primary, refuses (see
the node's events); --force makes a new volume's first generation.
discard-my-data resolves a split brain on the losing side: it prints how
far this side diverged and, with --yes, drops its changes and resyncs from
the peer. verify compares each region's digest with the peer's while
connected; regions that differ are counted (event volume.verify-done) and
marked out of sync, resent from the primary after a disconnect and connect.

Options:
      --json          print the API's JSON (status)
      --force         promote a replica that is not up to date (a new volume)
      --yes           discard-my-data: go ahead
${COMMON_OPTIONS}

${API_EXIT_CODES}`,
  async main(argv) {
    const { values, positionals } = parse(argv, { ...ADMIN_OPTIONS, force: { type: "boolean" }, yes: { type: "boolean" } }, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    const verb = positionals[0] ?? "status";
    const t = await target(values);
    if (verb === "status") {
      if (positionals.length > 1) fail(`status takes no arguments, found ${positionals.slice(1).join(" ")}`);
      return printStatus(t, "/v1/replication/volumes", MISSING, values.json, formatVolumes);
    }
    if (!(VERBS as readonly string[]).includes(verb)) fail(`unknown volume command "${verb}" (expected status, ${VERBS.join(", ")})`);
    if (positionals.length !== 2) fail(`${verb} takes one VOLUME`);
    if (values.force && verb !== "promote") fail("--force is for promote only");
    const name = positionals[1]!;
    const command = verb === "promote" && values.force ? "promote-force" : verb;
    return reaching(async () => {
      if (verb === "discard-my-data") {
        const answer = await call(t, "GET", "/v1/replication/volumes");
        const v = ((answer.body.volumes ?? []) as VolumeStatus[]).find((x) => x.name === name);
        if (!v) {
          console.error(`error: no volume "${name}" on that node`);
          return EXIT_FAILURE;
        }
        console.log(formatVolume(v));
        if (!values.yes) {
          console.log(`this side's changes (${bytes(v.outOfSyncBytes)} marked out of sync) would be dropped for the peer's; run again with --yes to do it`);
          return EXIT_OK;
        }
      }
      return report(await call(t, "POST", `/v1/replication/volumes/${encodeURIComponent(name)}/${command}`), () => `${name}: ${command} done`);
    });
  },
};
