import { hostname } from "node:os";
import { type Command, EXIT_OK, EXIT_USAGE, fail, parse } from "./cli.ts";
import { findSelf, loadConfig } from "../core/config/load.ts";
import { formatProblem } from "../core/config/problems.ts";

export const check: Command = {
  name: "check",
  summary: "validate a config file",
  help: `Usage: tandem check -c FILE [--node NAME] [--json]

Validates the config (syntax, schema, names, addresses, key and token files)
and, when a node is named or the host name matches one, that node's view of it.
Exits 0 when valid (warnings are printed but do not fail), 2 with every problem
otherwise: its key path, line, what was expected and what was found.

Options:
  -c, --config FILE   the cluster config (TOML)
  -n, --node NAME     check as this node (default: the host name, if it is a node)
      --json          print the result as JSON
  -h, --help          this help`,
  async main(argv) {
    const { values } = parse(argv, {
      config: { type: "string", short: "c" },
      node: { type: "string", short: "n" },
      json: { type: "boolean" },
    });
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (!values.config) fail("missing -c FILE");
    const file = values.config;
    const result = await loadConfig(file);
    const problems = result.ok ? [] : [...result.problems];
    if (result.ok) {
      const self = findSelf(result.config, values.node, hostname());
      // Without --node, a host that is not a node may still check the file.
      if ("problem" in self && values.node !== undefined) problems.push(self.problem);
    }
    if (values.json) {
      console.log(JSON.stringify({ valid: problems.length === 0, problems, warnings: result.warnings }, null, 2));
    } else {
      for (const w of result.warnings) console.error(`warning: ${formatProblem(file, w)}`);
      for (const p of problems) console.error(`error: ${formatProblem(file, p)}`);
      if (!problems.length) console.log(`${file}: valid${result.ok ? ` (cluster ${result.config.cluster}, ${result.config.nodes.length} nodes, config ${result.config.hash.slice(0, 12)})` : ""}`);
    }
    return problems.length ? EXIT_USAGE : EXIT_OK;
  },
};
