import { type Command, EXIT_OK, EXIT_USAGE, fail, parse } from "./cli.ts";
import { configSchema } from "../core/config/schema.ts";
import { configKeys, explainText, normaliseKey, referenceMarkdown } from "../core/config/reference.ts";
import { MODULES } from "../modules/index.ts";

export const config: Command = {
  name: "config",
  summary: "config tools: the JSON Schema, one key explained, the reference",
  help: `Usage: tandem config schema
       tandem config explain KEY
       tandem config reference

schema prints the JSON Schema (draft 2020-12 compatible) of the config file,
for editors and CI that validate TOML against a schema (taplo, Even Better
TOML). explain prints one key (heartbeat.deadtime, nodes.roles,
heartbeat.links.kind): what it means, its type, default, limits and an
example; a table's name (heartbeat.links) prints each of its keys. reference
prints every key so, in Markdown (docs/configuration.md).

Exit codes: 0 printed; 2 an unknown action or key (the nearest keys are named).

Options:
  -h, --help   this help`,
  async main(argv) {
    const { values, positionals } = parse(argv, {}, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    const [action, ...args] = positionals;
    const usage = (n: number) => args.length !== n && fail(`${action} takes ${n === 0 ? "no argument" : "one KEY"}`);
    if (action === "schema") {
      usage(0);
      console.log(JSON.stringify({ $schema: "https://json-schema.org/draft/2020-12/schema", ...configSchema(MODULES) }, null, 2));
      return EXIT_OK;
    }
    const keys = configKeys(configSchema(MODULES));
    if (action === "reference") {
      usage(0);
      process.stdout.write(referenceMarkdown(keys));
      return EXIT_OK;
    }
    if (action !== "explain") fail(action === undefined ? "missing action: schema, explain KEY or reference" : `unknown config action "${action}"`);
    usage(1);
    const wanted = normaliseKey(args[0]!);
    const exact = keys.filter((k) => k.path === wanted);
    const within = keys.filter((k) => k.path.startsWith(`${wanted}.`));
    const found = exact.length ? exact : within;
    if (!found.length) {
      const last = wanted.split(".").at(-1)!;
      const near = keys.filter((k) => k.path.split(".").at(-1) === last || k.path.includes(wanted)).map((k) => k.path);
      process.stderr.write(`tandem config: no key "${args[0]}"${near.length ? `; did you mean ${near.slice(0, 8).join(", ")}?` : "; `tandem config reference` lists every key"}\n`);
      return EXIT_USAGE;
    }
    console.log(found.map(explainText).join("\n\n"));
    return EXIT_OK;
  },
};
