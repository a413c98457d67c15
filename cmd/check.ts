import { accessSync, constants, statSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname } from "node:path";
import { type Command, EXIT_OK, EXIT_USAGE, fail, parse } from "./cli.ts";
import { type Config, findSelf, loadConfig } from "../core/config/load.ts";
import { lineIndex, lineOf } from "../core/config/locate.ts";
import { formatProblem, type Problem } from "../core/config/problems.ts";
import { readState, stateFile, unsafeStateDir } from "../core/state.ts";
import { MODULES } from "../modules/index.ts";

/**
 * Why `tandem run`, as this user, could not make, write or trust the state dir,
 * found without making anything: the dir, or the nearest parent of it that
 * exists, must be a directory this user may write; an existing dir must also
 * be one run trusts (core/state.ts unsafeStateDir).
 */
function stateDirProblem(dir: string, file: string): Omit<Problem, "path"> | undefined {
  const hint = `tandem run keeps ${file} there; set state_dir to a directory the user tandem runs as may write`;
  let at = dir;
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") {
        at = dirname(at);
        continue;
      }
      return { message: `${dir} cannot be looked at: ${(e as Error).message}`, hint };
    }
    const what = at === dir ? dir : `${dir} cannot be made: ${at}`;
    if (!isDir) return { message: `${what} is not a directory`, expected: "a directory, or a path whose nearest existing parent is one", hint };
    try {
      accessSync(at, constants.W_OK | constants.X_OK);
    } catch (e) {
      return { message: `${what} is not writable by this user`, found: (e as NodeJS.ErrnoException).code ?? (e as Error).message, hint };
    }
    if (at !== dir) return undefined;
    const unsafe = unsafeStateDir(dir);
    return unsafe && { ...unsafe, hint: unsafe.hint ?? hint };
  }
}

/** What `tandem run` would meet in `node`'s state dir: an error when it cannot be written, a warning when its file cannot be used. */
function stateProblems(config: Config, node: string): { problems: Problem[]; warnings: Problem[] } {
  if (config.stateDir === undefined) return { problems: [], warnings: [] };
  const at = { path: ["state_dir"], line: lineOf(lineIndex(config.text), ["state_dir"]) };
  const file = stateFile(config.stateDir, node);
  const blocked = stateDirProblem(config.stateDir, basename(file));
  if (blocked) return { problems: [{ ...at, ...blocked }], warnings: [] };
  const read = readState(file, config.cluster, node);
  if (typeof read !== "string") return { problems: [], warnings: [] };
  return { problems: [], warnings: [{ ...at, message: `the state file ${file} cannot be used: ${read}`, hint: `tandem run would move it aside to ${file}.bad-<time> and start ${node} with no state kept` }] };
}

export const check: Command = {
  name: "check",
  summary: "validate a config file",
  help: `Usage: tandem check -c FILE [--node NAME] [--json]

Validates the config (syntax, schema, names, addresses, key and token files)
and, when a node is named or the host name matches one, that node's view of it
and its state dir: that tandem run could make or write it, and that a state
file already there is this node's (a warning: run would move it aside). Nothing
is made or moved. Exits 0 when valid (warnings are printed but do not fail), 2
with every problem otherwise: its key path, line, what was expected and what
was found.

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
    const result = await loadConfig(file, MODULES);
    const problems = result.ok ? [] : [...result.problems];
    const warnings = [...result.warnings];
    if (result.ok) {
      const self = findSelf(result.config, values.node, hostname());
      // Without --node, a host that is not a node may still check the file.
      if ("problem" in self) {
        if (values.node !== undefined) problems.push(self.problem);
      } else {
        const state = stateProblems(result.config, self.node.name);
        problems.push(...state.problems);
        warnings.push(...state.warnings);
      }
    }
    if (values.json) {
      console.log(JSON.stringify({ valid: problems.length === 0, problems, warnings }, null, 2));
    } else {
      for (const w of warnings) console.error(`warning: ${formatProblem(file, w)}`);
      for (const p of problems) console.error(`error: ${formatProblem(file, p)}`);
      if (!problems.length) console.log(`${file}: valid${result.ok ? ` (cluster ${result.config.cluster}, ${result.config.nodes.length} nodes, config ${result.config.hash.slice(0, 12)})` : ""}`);
    }
    return problems.length ? EXIT_USAGE : EXIT_OK;
  },
};
