import { type Command, EXIT_OK, fail, parse } from "./cli.ts";
import { configSchema } from "../core/config/schema.ts";
import { MODULES } from "../modules/index.ts";

export const config: Command = {
  name: "config",
  summary: "config tools: `config schema` prints the JSON Schema",
  help: `Usage: tandem config schema

Prints the JSON Schema (draft 2020-12 compatible) of the config file, for
editors and CI that validate TOML against a schema (taplo, Even Better TOML).

Options:
  -h, --help   this help`,
  async main(argv) {
    const { values, positionals } = parse(argv, {}, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (positionals[0] !== "schema" || positionals.length !== 1) fail(positionals.length ? `unknown config action "${positionals.join(" ")}"` : "missing action: schema");
    console.log(JSON.stringify({ $schema: "https://json-schema.org/draft/2020-12/schema", ...configSchema(MODULES) }, null, 2));
    return EXIT_OK;
  },
};
