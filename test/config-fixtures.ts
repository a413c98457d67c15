/**
 * What the modules' config tests share: a cluster's head to build on, and the
 * problems a config text draws when every module parses its section. Its own
 * file, not test/helpers.ts: it loads every module.
 */
import { parseConfig } from "../core/config/load.ts";
import { formatProblem } from "../core/config/problems.ts";
import { MODULES } from "../modules/index.ts";

/** Two members and an arbiter, and no section of any module. */
export const THREE_NODES = `cluster = "lab"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "198.18.1.11"

[[nodes]]
name = "bravo"
address = "198.18.1.12"

[[nodes]]
name = "witness"
address = "198.18.1.13"
roles = ["arbiter"]
`;

/** The problems `text` (read as `file`) draws, as `tandem check` prints them; none when it is accepted. */
export function configProblems(text: string, file = "t.toml"): string[] {
  const r = parseConfig(text, file, MODULES);
  return r.ok ? [] : r.problems.map((p) => formatProblem(file, p));
}
