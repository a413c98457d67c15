/**
 * haproxy.cfg read as HAProxy's own line parser reads it (parse_line): words
 * split at blanks; `#` outside quotes ends the line; `\` escapes the next
 * character (`\ `, `\#`, `\\`, `\"`, `\'`) and spells `\r`, `\n`, `\t` and
 * `\xHH`; double quotes keep blanks and take escapes; single quotes keep
 * everything as written. `${NAME}` (environment) is kept as written: the import
 * does not read the environment HAProxy ran with. A line whose first word
 * names a section opens it.
 */

/** The section keywords HAProxy 2.x knows. */
export const PROXY_SECTIONS = ["defaults", "frontend", "backend", "listen"] as const;
export const OTHER_SECTIONS = ["global", "peers", "resolvers", "userlist", "mailers", "cache", "program", "http-errors", "ring", "log-forward", "fcgi-app", "crt-store", "traces"] as const;
export type SectionKind = (typeof PROXY_SECTIONS)[number] | (typeof OTHER_SECTIONS)[number];
const SECTIONS: readonly string[] = [...PROXY_SECTIONS, ...OTHER_SECTIONS];

/** Bounds on what one import reads. */
export const LIMITS = { bytes: 4 * 1024 * 1024, lines: 200_000, words: 256, certificates: 1000 } as const;

export interface Line {
  line: number;
  words: string[];
}

export interface Section {
  kind: SectionKind;
  /** Its name (a defaults section may have none). */
  name: string;
  /** The words after the name (`from NAME`, an old `listen NAME ADDR:PORT`). */
  args: string[];
  line: number;
  lines: Line[];
}

export interface Parsed {
  sections: Section[];
  /** Lines before the first section, and words HAProxy refuses to read. */
  errors: Array<{ line: number; message: string }>;
}

/** One line's words, or a message when a quote is left open. */
export function words(text: string): string[] | string {
  const out: string[] = [];
  let cur: string | undefined;
  let quote: '"' | "'" | undefined;
  const add = (s: string) => {
    cur = (cur ?? "") + s;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else add(c);
      continue;
    }
    if (c === "\\" && i + 1 < text.length) {
      const n = text[++i]!;
      if (n === "r") add("\r");
      else if (n === "n") add("\n");
      else if (n === "t") add("\t");
      else if (n === "x" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
        add(String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16)));
        i += 2;
      } else if (" #\\\"'$".includes(n)) add(n);
      else add(`\\${n}`);
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else add(c);
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      add("");
      continue;
    }
    if (c === "#") break;
    if (c === " " || c === "\t" || c === "\r") {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
      continue;
    }
    add(c);
  }
  if (quote) return `a ${quote === '"' ? "double" : "single"} quote is not closed`;
  if (cur !== undefined) out.push(cur);
  return out;
}

/** The file's sections in order. */
export function parse(text: string): Parsed {
  const sections: Section[] = [];
  const errors: Parsed["errors"] = [];
  const lines = text.split("\n");
  if (text.length > LIMITS.bytes || lines.length > LIMITS.lines) {
    errors.push({ line: 1, message: `over ${LIMITS.bytes} bytes or ${LIMITS.lines} lines: not read` });
    return { sections, errors };
  }
  lines.forEach((raw, i) => {
    const line = i + 1;
    const w = words(raw);
    if (typeof w === "string") return void errors.push({ line, message: w });
    if (!w.length) return;
    if (w.length > LIMITS.words) return void errors.push({ line, message: `more than ${LIMITS.words} words` });
    if (SECTIONS.includes(w[0]!)) {
      sections.push({ kind: w[0] as SectionKind, name: w[1] ?? "", args: w.slice(2), line, lines: [] });
      return;
    }
    const current = sections[sections.length - 1];
    if (!current) return void errors.push({ line, message: `"${w[0]}" before any section (global, defaults, frontend, backend, listen, ...)` });
    current.lines.push({ line, words: w });
  });
  return { sections, errors };
}
