/**
 * The config a simulated cluster runs: a real config text, parsed and
 * validated as the daemon parses it, with a fixed cluster key. Node i has
 * 198.18.<link>.<i + 1> on each link (198.18.0.0/15, the benchmarking range).
 */
import { MODULES } from "../../modules/index.ts";
import { parseConfig, type Config } from "../../core/config/load.ts";
import type { ClusterConfig } from "../../modules/resources/model.ts";
import type { Timers } from "./timers.ts";

export interface SimCluster {
  members: readonly string[];
  arbiter: string | null;
  links: readonly string[];
  timers: Timers;
}

/** The heartbeat's port: Heartbeat's. */
export const SIM_PORT = 694;

/** The address of node `index` (in the config's node order) on link `link`. */
export const simAddress = (link: number, index: number) => `198.18.${link}.${index + 1}`;

/** Every node, members first, then the arbiter. */
export const simNodes = (c: SimCluster): string[] => [...c.members, ...(c.arbiter ? [c.arbiter] : [])];

export function simConfigText(c: SimCluster): string {
  const names = simNodes(c);
  const ms = (n: number) => `"${n}ms"`;
  const t = c.timers;
  return [
    `cluster = "sim"`,
    `key_file = "/sim/tandem.key"`,
    ...names.flatMap((n, i) => [`[[nodes]]`, `name = "${n}"`, `address = "${simAddress(0, i)}"`, `roles = ["${n === c.arbiter ? "arbiter" : "member"}"]`]),
    `[heartbeat]`,
    `interval = ${ms(t.intervalMs)}`,
    `warntime = ${ms(t.warntimeMs)}`,
    `deadtime = ${ms(t.deadtimeMs)}`,
    `initdead = ${ms(t.initdeadMs)}`,
    `port = ${SIM_PORT}`,
    ...c.links.flatMap((l, k) => [`[[heartbeat.links]]`, `name = "${l}"`, `kind = "ucast"`, `addresses = { ${names.map((n, i) => `${n} = "${simAddress(k, i)}"`).join(", ")} }`]),
    "",
  ].join("\n");
}

/** The same key on every node and in every run. */
const SIM_KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);

/** A parsed config with the fixed sim key, as the daemon reads its key file. */
export const withSimKey = (config: Config): Config => ({ ...config, keys: { active: 1, keys: new Map([[1, SIM_KEY]]) } });

/** Parse a config text as the daemon does; the key file is the fixed sim key. Throws on a config the daemon would refuse. */
export function parseSimConfig(text: string): Config {
  const r = parseConfig(text, "/sim/tandem.toml", MODULES);
  if (!r.ok) throw new Error(`the sim's config is not valid: ${JSON.stringify(r.problems)}`);
  return withSimKey(r.config);
}

export const simConfig = (c: SimCluster): Config => parseSimConfig(simConfigText(c));

/**
 * The [resources] section that gives this cluster config: resources as exec
 * agents (the sim's agents answer for them; the argv is never run), each group
 * with its preferred node, stickiness and clone settings, the colocations and orders, and with
 * `fencing` one fence device.
 */
export function resourcesText(c: ClusterConfig): string {
  const ms = (n: number) => `"${n}ms"`;
  return [
    `[resources]`,
    ...c.resources.flatMap((r) => [
      `[[resources.resource]]`,
      `name = "${r.name}"`,
      `agent = "exec"`,
      `params = { start = ["sim"], stop = ["sim"], monitor = ["sim"] }`,
      `exclusive = ${r.exclusive}`,
      `monitor_interval = ${ms(r.monitorIntervalMs)}`,
      `monitor_timeout = ${ms(r.monitorTimeoutMs)}`,
      `start_timeout = ${ms(r.startTimeoutMs)}`,
      `stop_timeout = ${ms(r.stopTimeoutMs)}`,
      `on_fail = "${r.onFail}"`,
      ...(r.migrationThreshold === null ? [] : [`migration_threshold = ${r.migrationThreshold}`]),
      ...(r.failureTimeoutMs === null ? [] : [`failure_timeout = ${ms(r.failureTimeoutMs)}`]),
      ...(r.symmetrical === false ? [`symmetrical = false`] : []),
    ]),
    ...c.groups.flatMap((g) => [
      `[[resources.group]]`,
      `name = "${g.name}"`,
      `members = [${g.members.map((m) => `"${m}"`).join(", ")}]`,
      ...(g.preferredNode ? [`preferred = "${g.preferredNode}"`] : []),
      `stickiness = ${g.stickiness}`,
      ...(g.allOrNothing ? [`all_or_nothing = true`] : []),
      ...(g.clone
        ? [
            `clone = true`,
            ...(g.clone.max === null ? [] : [`clone_max = ${g.clone.max}`]),
            ...(g.clone.interleave ? [`interleave = true`] : []),
            ...(g.clone.promotable ? [`promotable = true`, `promoted_max = ${g.clone.promotable.promotedMax}`] : []),
          ]
        : []),
    ]),
    ...c.colocations.flatMap((x) => [`[[resources.colocation]]`, `group = "${x.group}"`, `with = "${x.withGroup}"`, `score = ${x.score}`, ...(x.withRole ? [`with_role = "${x.withRole}"`] : [])]),
    ...c.orders.flatMap((o) => [`[[resources.order]]`, `first = "${o.first}"`, `then = "${o.then}"`, ...(o.firstAction ? [`first_action = "${o.firstAction}"`] : [])]),
    ...(c.fencing ? [`[[resources.fence_device]]`, `name = "power"`, `agent = "exec"`, `params = { command = ["sim-fence"] }`] : []),
    "",
  ].join("\n");
}
