/**
 * The configuration reference, made from the schema (core's keys and every
 * module's sections): each key with its type, default, limits, description
 * and an example. docs/configuration.md is `referenceMarkdown` (a test keeps
 * the file and the schema in step) and `tandem config explain KEY` prints
 * `explainText` for one key. Examples come from the key's schema (`examples`,
 * as JSON Schema has it), else the shipped examples/*.toml where they set the
 * key, else the key's default, else one made from its type.
 */
import { parse } from "smol-toml";
import type { TSchema } from "@sinclair/typebox";
import demo from "../../examples/demo.toml" with { type: "text" };
import pair from "../../examples/pair.toml" with { type: "text" };
import pairArbiter from "../../examples/pair-arbiter.toml" with { type: "text" };
import proxy from "../../examples/proxy.toml" with { type: "text" };
import { NAME_PATTERN } from "./primitives.ts";

const EXAMPLES: Array<[string, string]> = [
  ["examples/pair.toml", pair],
  ["examples/pair-arbiter.toml", pairArbiter],
  ["examples/proxy.toml", proxy],
  ["examples/demo.toml", demo],
];

type Schema = TSchema & Record<string, any>;

/** One step of a key's path: a table's key, and whether that value is an array of tables. */
interface Step {
  key: string;
  array: boolean;
}

export interface KeyDoc {
  /** Dotted, as an operator writes it: heartbeat.links.kind. */
  path: string;
  steps: Step[];
  /** The key's own schema (what a value of it must match). */
  schema: TSchema;
  type: string;
  required: boolean;
  default?: unknown;
  limits: string[];
  description: string;
  example: { toml: string; from: string };
}

/** A value as TOML writes it inline. */
export function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v);
    return entries.length ? `{ ${entries.map(([k, x]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k)} = ${tomlValue(x)}`).join(", ")} }` : "{}";
  }
  return String(v);
}

function typeOf(s: Schema): string {
  if (s.anyOf) {
    const all = s.anyOf as Schema[];
    if (all.every((a) => "const" in a)) return `one of ${all.map((a) => JSON.stringify(a.const)).join(", ")}`;
    return all.map(typeOf).join(", or ");
  }
  if (s.type === "string") {
    if (s.format === "duration") return "duration";
    if (s.format === "ipv4") return "IPv4 address";
    if (s.format) return `string (${s.format})`;
    if (s.pattern === NAME_PATTERN) return "name";
    return "string";
  }
  if (s.type === "array") return `array of ${typeOf(s.items as Schema)}`;
  if (s.type === "object") {
    const [pattern, value] = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>)[0] ?? [];
    return pattern === undefined ? "table" : `table of ${pattern === NAME_PATTERN ? "name" : "key"} = ${typeOf(value!)}`;
  }
  return String(s.type);
}

function limitsOf(s: Schema): string[] {
  const out: string[] = [];
  if (s.minimum !== undefined && s.maximum !== undefined) out.push(`${s.minimum} to ${s.maximum}`);
  else if (s.minimum !== undefined) out.push(`at least ${s.minimum}`);
  else if (s.maximum !== undefined) out.push(`at most ${s.maximum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`more than ${s.exclusiveMinimum}`);
  if (s.exclusiveMaximum !== undefined) out.push(`less than ${s.exclusiveMaximum}`);
  if (s.minLength !== undefined && s.minLength > 1) out.push(`at least ${s.minLength} characters`);
  if (s.minLength === 1) out.push("not empty");
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  if (s.minItems !== undefined) out.push(`at least ${s.minItems} item${s.minItems === 1 ? "" : "s"}`);
  if (s.maxItems !== undefined) out.push(`at most ${s.maxItems} items`);
  if (s.uniqueItems) out.push("no repeats");
  if (s.pattern && s.pattern !== NAME_PATTERN && s.format !== "duration") out.push(`matches ${s.pattern}`);
  if (s.type === "array" && s.items) out.push(...limitsOf(s.items as Schema).map((l) => `each: ${l}`));
  return out;
}

/** What the examples set at `steps` (the first array element that has it), with the file's name. */
function fromExamples(steps: Step[]): { value: unknown; from: string } | undefined {
  for (const [from, text] of EXAMPLES) {
    let found: unknown[] = [parse(text)];
    for (const st of steps) {
      found = found.flatMap((v) => {
        const x = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[st.key] : undefined;
        if (x === undefined) return [];
        return st.array && Array.isArray(x) ? x : [x];
      });
    }
    if (found.length) return { value: found[0], from };
  }
  return undefined;
}

/** A made-up digest (64 hex digits; its first 32 for an MD5). */
const HEX = "0123456789abcdef".repeat(4);

/** A value of this type when neither the examples nor a default give one. */
function madeUp(s: Schema, key: string): unknown {
  if (s.anyOf) return madeUp(s.anyOf[0] as Schema, key);
  if ("const" in s) return s.const;
  if (s.type === "boolean") return true;
  if (s.type === "integer" || s.type === "number") return s.minimum ?? 1;
  if (s.type === "array") return [madeUp(s.items as Schema, key)];
  if (s.type === "object") return {};
  if (s.format === "duration") return "5s";
  if (s.format === "ipv4") return "198.18.0.10";
  if (s.pattern === NAME_PATTERN) return "web";
  if (key.endsWith("_file")) return `/etc/tandem/${key.replace(/_file$/, "")}`;
  if (!s.pattern) return key;
  const fits = new RegExp(s.pattern as string);
  return [key, "www.example.com", HEX.slice(0, 32), HEX].find((c) => fits.test(c)) ?? key;
}

/** `key = value` under its table's header, with a header for each array of tables on the way (each needs its element). */
function snippet(steps: Step[], value: unknown): string {
  const table = steps.slice(0, -1);
  const headers = table.flatMap((t, i) => {
    const name = table.slice(0, i + 1).map((x) => x.key).join(".");
    return t.array ? [`[[${name}]]`] : i === table.length - 1 ? [`[${name}]`] : [];
  });
  return [...headers, `${steps.at(-1)!.key} = ${tomlValue(value)}`].join("\n");
}

/** A value for the key, and where it comes from; undefined when only its type could make one. */
function knownValue(steps: Step[], s: Schema): { value: unknown; from: string } | undefined {
  if (Array.isArray(s.examples) && s.examples.length) return { value: s.examples[0], from: "the schema" };
  const seen = fromExamples(steps);
  if (seen) return seen;
  if (s.default !== undefined && !(Array.isArray(s.default) && !s.default.length)) return { value: s.default, from: "the default" };
  return undefined;
}

/** Keys of the same name, schema and meaning (a section reused, as a real server's own check): one's value serves the other. */
const sameKind = (key: string, s: Schema) => JSON.stringify([key, s.type, s.format, s.pattern, s.description]);
/** A table (or an array of tables) that holds keys of its own: walked into, not listed as a key. */
function tableOf(s: Schema): { table: Schema; array: boolean } | undefined {
  if (s.type === "object" && s.properties) return { table: s, array: false };
  if (s.type === "array" && (s.items as Schema)?.type === "object" && (s.items as Schema).properties) return { table: s.items as Schema, array: true };
  return undefined;
}

/** Every key of the schema, in the schema's order, depth first. */
export function configKeys(schema: TSchema): KeyDoc[] {
  const out: Array<Omit<KeyDoc, "example"> & { known?: { value: unknown; from: string } }> = [];
  const walk = (table: Schema, steps: Step[]) => {
    const required = new Set<string>((table.required as string[]) ?? []);
    for (const [key, s] of Object.entries(table.properties as Record<string, Schema>)) {
      const inner = tableOf(s);
      if (inner) {
        walk(inner.table, [...steps, { key, array: inner.array }]);
        continue;
      }
      const at = [...steps, { key, array: false }];
      out.push({
        path: at.map((x) => x.key).join("."),
        steps: at,
        schema: s,
        type: typeOf(s),
        required: required.has(key) && s.default === undefined,
        default: s.default,
        limits: limitsOf(s),
        description: s.description ?? (s.type === "array" ? (s.items as Schema).description : undefined) ?? "",
        known: knownValue(at, s),
      });
    }
  };
  walk(schema as Schema, []);
  const byKind = new Map<string, { value: unknown; from: string }>();
  for (const k of out) {
    const kind = sameKind(k.steps.at(-1)!.key, k.schema as Schema);
    if (k.known && !byKind.has(kind)) byKind.set(kind, { value: k.known.value, from: `${k.known.from}, for ${k.path}` });
  }
  return out.map(({ known, ...k }) => {
    const key = k.steps.at(-1)!.key;
    const e = known ?? byKind.get(sameKind(key, k.schema as Schema)) ?? { value: madeUp(k.schema as Schema, key), from: "made from the type" };
    return { ...k, example: { toml: snippet(k.steps, e.value), from: e.from } };
  });
}

/** The key an operator names (heartbeat.links.kind; heartbeat.links[0].kind and [[...]] spellings too). */
export function normaliseKey(text: string): string {
  return text.replace(/^\[+|\]+$/g, "").replace(/\[\d*\]/g, "");
}

function facts(k: KeyDoc): Array<[string, string]> {
  return [
    ["type", k.type],
    ["default", k.default === undefined ? (k.required ? "none (required)" : "none (optional)") : tomlValue(k.default)],
    ...(k.limits.length ? ([["limits", k.limits.join("; ")]] as Array<[string, string]>) : []),
  ];
}

/** A terminal's width, less the indent. */
const EXPLAIN_WIDTH = 78;

/** `text` broken into lines of at most `width` at spaces (a longer word stands alone), each after `indent`. */
function wrap(text: string, indent: string, width = EXPLAIN_WIDTH): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** One key as `tandem config explain` prints it, wrapped for a terminal. */
export function explainText(k: KeyDoc): string {
  const facts_ = facts(k).flatMap(([name, value]) => {
    const [first, ...rest] = wrap(value, " ".repeat(12));
    return [`  ${`${name}:`.padEnd(9)} ${first!.trimStart()}`, ...rest];
  });
  return [k.path, ...(k.description ? wrap(k.description, "  ") : []), ...facts_, `  example (${k.example.from}):`, ...k.example.toml.split("\n").map((l) => `    ${l}`)].join("\n");
}

/** docs/configuration.md. */
export function referenceMarkdown(keys: KeyDoc[]): string {
  const out = [
    "# Configuration reference",
    "",
    "<!-- Generated from the config schema by `tandem config reference` (npm run docs:config); do not edit: a test compares it with the schema. -->",
    "",
    "One TOML file, the same on every node. `tandem check -c FILE` validates it, `tandem config explain KEY` prints one key as below, and `tandem config schema` prints the JSON Schema.",
    "A key's path is written with dots; an array of tables (`[[nodes]]`) is named without brackets (`nodes.name`).",
  ];
  let section = "";
  for (const k of keys) {
    const top = k.steps.length > 1 ? k.steps[0]!.key : "(top level)";
    if (top !== section) {
      section = top;
      out.push("", `## ${top === "(top level)" ? "Top level" : k.steps[0]!.array ? `[[${top}]]` : `[${top}]`}`);
    }
    out.push("", `### \`${k.path}\``, "");
    if (k.description) out.push(k.description, "");
    for (const [name, value] of facts(k)) out.push(`- ${name}: ${name === "default" && k.default !== undefined ? `\`${value}\`` : value}`);
    out.push(`- example (${k.example.from}):`, "", "  ```toml", ...k.example.toml.split("\n").map((l) => `  ${l}`), "  ```");
  }
  return `${out.join("\n")}\n`;
}
