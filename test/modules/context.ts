/** A module's context as the runtime gives it, for a module started by a test on the real clock (no state dir), and a one-node config. */
import { Services } from "../../core/cluster.ts";
import { MODULES } from "../../modules/index.ts";
import { parseConfig, type Config } from "../../core/config/load.ts";
import { EventBus } from "../../core/events.ts";
import { createLogger } from "../../core/log.ts";
import { Metrics } from "../../core/metrics.ts";
import type { ModuleContext } from "../../core/module.ts";
import { seededRandom } from "../../core/random.ts";
import { StateStore } from "../../core/state.ts";
import { realClock } from "../../core/time.ts";

/** The context of node `name`; modules given the same `services` see each other's. */
export function testContext(config: Config, name: string, services = new Services()): ModuleContext {
  const log = createLogger({ level: "fatal", human: false, write: () => {} });
  const events = new EventBus(name, realClock.wall);
  const metrics = new Metrics();
  return {
    node: config.nodes.find((n) => n.name === name)!,
    clock: realClock,
    random: seededRandom(1),
    log,
    events,
    metrics,
    runtime: { status: () => ({}), reload: () => Promise.resolve({ result: "unchanged", config: config.hash }), routes: () => [] },
    services,
    state: new StateStore({ dir: undefined, cluster: config.cluster, node: name, log, clock: realClock, events, metrics }),
  };
}

/** The config of cluster `cluster` whose one node, alpha, is a member, with `sections` after it. */
export function memberConfig(cluster: string, sections: string): Config {
  const text = `cluster = "${cluster}"
key_file = "cluster.key"
[[nodes]]
name = "alpha"
address = "198.18.1.11"
roles = ["member"]
${sections}`;
  const r = parseConfig(text, `${cluster}.toml`, MODULES);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}
