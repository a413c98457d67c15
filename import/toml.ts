/**
 * A small writer of TOML with comments, for the configs the importers write:
 * smol-toml's stringify cannot place a comment, and an imported config is
 * read by a person before it is used.
 */

export type TomlValue = string | number | boolean | readonly string[] | TomlTable;
export interface TomlTable {
  readonly [key: string]: TomlValue;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** A TOML basic string: JSON's escapes, plus DEL, which TOML does not allow raw. */
export function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, "\\u007f");
}

export function tomlKey(k: string): string {
  return BARE_KEY.test(k) ? k : tomlString(k);
}

export function tomlValue(v: TomlValue): string {
  if (typeof v === "string") return tomlString(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => tomlString(x)).join(", ")}]`;
  const entries = Object.entries(v as TomlTable);
  return entries.length ? `{ ${entries.map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`).join(", ")} }` : "{}";
}

/** Comment text on one line: TOML comments end at a line break and take no other control character. */
function commentText(t: string): string {
  return t.replace(/[\x00-\x08\x0a-\x1f\x7f]+/g, " ");
}

export class TomlWriter {
  private readonly lines: string[] = [];

  /** One comment line per entry; an empty entry is a bare `#`. */
  comment(...text: string[]): this {
    for (const t of text) this.lines.push(t ? `# ${commentText(t)}` : "#");
    return this;
  }

  blank(): this {
    if (this.lines.length && this.lines[this.lines.length - 1] !== "") this.lines.push("");
    return this;
  }

  /** `[name]`, or `[[name]]` for an entry of an array of tables; `before`: comment lines above it. */
  table(name: string, opts: { array?: boolean; comment?: string; before?: readonly string[] } = {}): this {
    this.blank();
    this.comment(...(opts.before ?? []));
    const header = opts.array ? `[[${name}]]` : `[${name}]`;
    this.lines.push(opts.comment ? `${header}  # ${commentText(opts.comment)}` : header);
    return this;
  }

  key(key: string, value: TomlValue, comment?: string): this {
    const line = `${tomlKey(key)} = ${tomlValue(value)}`;
    this.lines.push(comment ? `${line}  # ${commentText(comment)}` : line);
    return this;
  }

  /** An array of inline tables, one a line, each with its comment. */
  tables(key: string, items: ReadonlyArray<{ value: TomlTable; comment?: string }>): this {
    this.lines.push(`${tomlKey(key)} = [`);
    for (const { value, comment } of items) this.lines.push(`  ${tomlValue(value)},${comment ? `  # ${commentText(comment)}` : ""}`);
    this.lines.push("]");
    return this;
  }

  text(): string {
    return `${this.lines.join("\n").trimEnd()}\n`;
  }
}
