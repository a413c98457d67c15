/**
 * keepalived.conf as keepalived reads it, into a tree of statements: `!` or
 * `#` outside double quotes starts a comment (`\#`, `\!` are the characters
 * themselves), words are split at white space, a word that starts with `"`
 * runs to the next `"`, a `{` word opens the block of the statement before it
 * (on its line or an earlier one) and a `}` word closes it. `include` lines
 * are followed where they stand, relative to the including file, as
 * keepalived does; conditional lines (`@ID`, `@^ID`) give one tree per ID;
 * parameters (`$NAME=VALUE`, continued by a backslash; `$NAME`, `${NAME}`) and
 * sequences (`~SEQ(VAR, START, [STEP,] END) LINE`) are expanded as keepalived does.
 *
 * Every bound is a named limit, and any text at all gives a tree or errors
 * with FILE:LINE: this never throws on input.
 */
import { dirname, isAbsolute, join } from "node:path";
import { at, type Finding } from "../findings.ts";

export interface Word {
  text: string;
  /** Written in double quotes: never a brace, and may hold spaces. */
  quoted: boolean;
}

export interface Statement {
  file: string;
  line: number;
  /** The keyword first, then its arguments. */
  words: Word[];
  /** Present when a `{ ... }` block follows. */
  block?: Statement[];
}

/** What following includes needs from the file system; the CLI gives the real one, tests a map. */
export interface IncludeReader {
  /** The files a pattern (keepalived's glob, already made absolute or relative to the includer) names, in order. */
  expand(pattern: string): string[];
  /** A file's text and its identity (its real path, to find a file that includes itself), or why it cannot be read. */
  read(file: string): { text: string; id: string } | { error: string };
}

export const LIMITS = {
  /** Blocks within blocks: keepalived's deepest is five (virtual_server, real_server, HTTP_GET, url). */
  depth: 16,
  /** Includes within includes. */
  includeDepth: 8,
  /** Files read in all, the first one too. */
  files: 64,
  /** Bytes of one file. */
  bytes: 4 * 1024 * 1024,
  /** Statements in all. */
  statements: 100_000,
  /** Lines one ~SEQ stands for. */
  sequence: 10_000,
  /** Rounds of substitution of a parameter whose value names parameters. */
  substitution: 16,
} as const;

/** The trees of one configuration: one without conditional lines, else one per config ID. */
export interface Parsed {
  views: Array<{ id?: string; statements: Statement[] }>;
  /** Every file read, the first one first. */
  files: string[];
}

interface RawLine {
  file: string;
  line: number;
  /** The line without its comment, before parameters are substituted. */
  text: string;
  /** `@ID` (only on ID) or `@^ID` (everywhere but ID). */
  cond?: { id: string; negated: boolean };
  /** `$NAME=VALUE`: a parameter definition (VALUE several lines when continued with a backslash). */
  def?: { name: string; value: string };
}

/** The line without its comment, and with `\#`, `\!` outside quotes made plain; keepalived's decomment. */
function decomment(raw: string): string {
  let out = "";
  let quote = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') quote = !quote;
    else if (c === "\\" && i + 1 < raw.length) {
      const next = raw[i + 1]!;
      out += !quote && (next === "#" || next === "!") ? next : c + next;
      i++;
      continue;
    } else if (!quote && (c === "!" || c === "#")) break;
    out += c;
  }
  return out.trim();
}

/** Words as keepalived splits them (a brace is a word of its own, glued or not); a string when a quote is not closed. */
function splitWords(text: string): Word[] | string {
  const words: Word[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) return "a quote is not closed";
      words.push({ text: text.slice(i + 1, end), quoted: true });
      i = end + 1;
    } else if (c === "{" || c === "}") {
      words.push({ text: c, quoted: false });
      i++;
    } else {
      let end = i;
      while (end < text.length && !/[\s"{}]/.test(text[end]!)) end++;
      words.push({ text: text.slice(i, end), quoted: false });
      i = end;
    }
  }
  return words;
}

const INCLUDE = /^include[rmwba]?(\s+|$)/;
const CONDITION = /^@(\^?)(\S*)\s*(.*)$/;
const DEFINITION = /^\$([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;
/** `${NAME}` anywhere, `$NAME` as a word's end (keepalived leaves `$NAME/24` as it is). */
const PARAMETER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|$)/g;
const SEQUENCE = /^~SEQ\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?\)\s*(.*)$/;

class LineReader {
  readonly files: string[] = [];
  readonly lines: RawLine[] = [];
  private readonly stack: string[] = [];

  constructor(
    private readonly reader: IncludeReader,
    private readonly findings: Finding[],
  ) {}

  private error(where: string, message: string): void {
    this.findings.push({ level: "error", where, message });
  }

  /** Reads `file` and what it includes, in place; false once a limit is passed (nothing more is read). */
  readFile(file: string, text: string, id: string, from?: string): boolean {
    if (this.files.length >= LIMITS.files) return this.error(from ?? file, `more than ${LIMITS.files} files: the import reads no more`), false;
    if (this.stack.includes(id)) return this.error(from ?? file, `${file} includes itself (through ${this.stack.length} files)`), false;
    if (this.stack.length > LIMITS.includeDepth) return this.error(from ?? file, `includes nested more than ${LIMITS.includeDepth} deep`), false;
    if (text.length > LIMITS.bytes) return this.error(file, `over ${LIMITS.bytes} bytes: the import reads no more`), false;
    this.files.push(file);
    this.stack.push(id);
    const rows = text.split(/\r?\n/);
    for (let i = 0; i < rows.length; i++) {
      const where = at(file, i + 1);
      const first = i + 1;
      const line = decomment(rows[i]!);
      if (!line) continue;
      if (INCLUDE.test(line)) {
        if (!this.include(file, where, line)) return false;
        continue;
      }
      const cond = CONDITION.exec(line);
      if (cond && !cond[2]) {
        this.error(where, "a conditional line needs its config ID right after the @ (@ID or @^ID)");
        continue;
      }
      const body = cond ? cond[3]! : line;
      const def = DEFINITION.exec(body);
      const raw: RawLine = { file, line: first, text: body, ...(cond ? { cond: { id: cond[2]!, negated: cond[1] === "^" } } : {}) };
      if (def) {
        const parts = [def[2]!];
        while (parts[parts.length - 1]!.endsWith("\\") && i + 1 < rows.length) {
          parts[parts.length - 1] = parts[parts.length - 1]!.slice(0, -1);
          parts.push(decomment(rows[++i]!));
        }
        if (parts[parts.length - 1]!.endsWith("\\")) parts[parts.length - 1] = parts[parts.length - 1]!.slice(0, -1);
        raw.def = { name: def[1]!, value: parts.map((p) => p.trim()).filter(Boolean).join("\n") };
      }
      this.lines.push(raw);
    }
    this.stack.pop();
    return true;
  }

  private include(file: string, where: string, line: string): boolean {
    const words = splitWords(line);
    if (typeof words === "string" || words.length !== 2) {
      this.error(where, "include takes one file name or pattern (include /etc/keepalived/conf.d/*.conf)");
      return true;
    }
    const pattern = words[1]!.text;
    const matched = this.reader.expand(isAbsolute(pattern) ? pattern : join(dirname(file), pattern));
    if (!matched.length) this.findings.push({ level: "note", where, message: `include ${pattern} names no file (keepalived skipped it too)` });
    for (const f of matched) {
      const got = this.reader.read(f);
      if ("error" in got) this.error(where, `include ${pattern}: cannot read ${f}: ${got.error}`);
      else if (!this.readFile(f, got.text, got.id, where)) return false;
    }
    return true;
  }
}

/** `text` with the parameters it names replaced by their values, as keepalived does (a name it does not know stays). */
function substitute(text: string, params: ReadonlyMap<string, string>): string {
  let out = text;
  for (let round = 0; round < LIMITS.substitution && out.includes("$") && out.length <= LIMITS.bytes; round++) {
    const next = out.replace(PARAMETER, (whole, braced: string | undefined, bare: string | undefined) => params.get(braced ?? bare!) ?? whole);
    if (next === out) break;
    out = next;
  }
  return out;
}

/** A line as keepalived reads it in a view: its parameters substituted, a ~SEQ line once per value; an error message when a ~SEQ is not one. */
function expand(text: string, params: ReadonlyMap<string, string>): string[] | string {
  if (!text.startsWith("~SEQ")) return substitute(text, params).split("\n");
  const m = SEQUENCE.exec(text);
  if (!m) return "a sequence is ~SEQ(VAR, START, END) or ~SEQ(VAR, START, STEP, END) before the line it repeats";
  const [start, step, end] = m[4] === undefined ? [Number(m[2]), 1, Number(m[3])] : [Number(m[2]), Number(m[3]), Number(m[4])];
  if (step === 0 || (end - start) / step < 0) return `~SEQ(${m[1]}, ...) counts from ${start} by ${step} and never reaches ${end}`;
  if ((end - start) / step >= LIMITS.sequence) return `~SEQ(${m[1]}, ...) stands for more than ${LIMITS.sequence} lines`;
  const out: string[] = [];
  for (let v = start; step > 0 ? v <= end : v >= end; v += step) out.push(...substitute(m[5]!, new Map([...params, [m[1]!, String(v)]])).split("\n"));
  return out;
}

/** The text of a statement's words as written (quoted words in quotes), for comments. */
export function statementText(s: Statement): string {
  return s.words.map((w) => (w.quoted ? `"${w.text}"` : w.text)).join(" ");
}

/** The statements of the lines that count for config ID `id` (all unconditional lines when undefined), parameters and sequences expanded. */
function build(lines: readonly RawLine[], id: string | undefined, findings: Finding[]): Statement[] {
  const top: Statement[] = [];
  const stack: Array<{ list: Statement[]; owner?: Statement }> = [{ list: top }];
  const params = new Map<string, string>();
  let count = 0;
  for (const l of lines) {
    if (l.cond && (id === undefined || (l.cond.id === id) === l.cond.negated)) continue;
    const where = at(l.file, l.line);
    if (l.def) {
      params.set(l.def.name, substitute(l.def.value, params));
      continue;
    }
    const texts = expand(l.text, params);
    if (typeof texts === "string") {
      findings.push({ level: "error", where, message: texts });
      continue;
    }
    for (const text of texts) {
      const words = splitWords(text);
      if (typeof words === "string") {
        findings.push({ level: "error", where, message: words });
        continue;
      }
      let pending: Word[] = [];
      const flush = (): boolean => {
        if (!pending.length) return true;
        if (++count > LIMITS.statements) {
          findings.push({ level: "error", where, message: `more than ${LIMITS.statements} statements: the import reads no more` });
          return false;
        }
        stack[stack.length - 1]!.list.push({ file: l.file, line: l.line, words: pending });
        pending = [];
        return true;
      };
      for (const w of words) {
        if (w.quoted || (w.text !== "{" && w.text !== "}")) {
          pending.push(w);
          continue;
        }
        if (!flush()) return top;
        const frame = stack[stack.length - 1]!;
        if (w.text === "}") {
          if (stack.length === 1) findings.push({ level: "error", where, message: "a } that closes no block" });
          else stack.pop();
          continue;
        }
        const owner = frame.list[frame.list.length - 1];
        if (!owner || owner.block) findings.push({ level: "error", where, message: "a { that opens no block: it must follow the statement whose block it is" });
        else if (stack.length > LIMITS.depth) {
          findings.push({ level: "error", where, message: `blocks nested more than ${LIMITS.depth} deep` });
          return top;
        } else {
          owner.block = [];
          stack.push({ list: owner.block, owner });
        }
      }
      if (!flush()) return top;
    }
  }
  for (const frame of stack.slice(1).reverse()) {
    const o = frame.owner!;
    findings.push({ level: "error", where: at(o.file, o.line), message: `the block of ${o.words[0]!.text} is not closed` });
  }
  return top;
}

/** A file and its includes as statement trees: one, or one per config ID of its conditional lines. */
export function parseKeepalived(file: string, reader: IncludeReader, findings: Finding[]): Parsed {
  const r = new LineReader(reader, findings);
  const got = reader.read(file);
  if ("error" in got) findings.push({ level: "error", where: file, message: `cannot read it: ${got.error}` });
  else r.readFile(file, got.text, got.id);
  const ids = [...new Set(r.lines.flatMap((l) => (l.cond ? [l.cond.id] : [])))];
  const views = (ids.length ? ids : [undefined]).map((id) => {
    const seen = new Set(findings.map((f) => `${f.where}|${f.message}`));
    const own: Finding[] = [];
    const statements = build(r.lines, id, own);
    for (const f of own) if (!seen.has(`${f.where}|${f.message}`)) findings.push(f);
    return { ...(id === undefined ? {} : { id }), statements };
  });
  return { views, files: r.files };
}
