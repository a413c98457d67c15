/** The pair that lab tests build on: its config text, and its key and token files. */
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
}

export function pairConfig(o: PairOptions): string {
  const hb = o.hb ? `\n[[heartbeat.links]]\nname = "hb"\nkind = "ucast"\ninterface = "eth1"\naddresses = { alpha = "${o.hb}11", bravo = "${o.hb}12" }\n` : "";
  return `cluster = "${o.cluster}"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "${o.lan}11"

[[nodes]]
name = "bravo"
address = "${o.lan}12"

[heartbeat]
interval = "${LAB_TIMERS.interval}ms"
warntime = "${LAB_TIMERS.warntime}ms"
deadtime = "${LAB_TIMERS.deadtime}ms"
initdead = "${LAB_TIMERS.initdead}ms"

[[heartbeat.links]]
name = "lan"
kind = "ucast"
${hb}${o.more ?? ""}
[api]
port = 9480
token_file = "api.token"
`;
}

/** The key (tandem keygen) and the API token a pair config names, in `dir`. */
export async function pairSecrets(dir: string, token: string): Promise<void> {
  await tandem(["keygen", "-o", join(dir, "cluster.key")]);
  writeSecret(join(dir, "api.token"), token);
}
