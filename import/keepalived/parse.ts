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
  /** Parameters within parameters (and sequences within sequences) on one line. */
  substitution: 16,
  /** Lines read in all once parameters and sequences are expanded (sequences within sequences multiply): twice the statements. */
  lines: 200_000,
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
  /** The line without its comment; a definition continued by backslashes holds its lines joined by newlines. */
  text: string;
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
const CONDITION = /^@(\^?)(\S*)\s*([\s\S]*)$/;
const DEFINITION = /^\$([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/;
/** `${NAME}` anywhere, `$NAME` before white space or the end (keepalived leaves `$NAME/24` as it is). */
const PARAMETER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|$)/g;
/** Config IDs named anywhere: `@ID` at a line's start (of a definition's lines too) or as a parameter's value. */
const CONFIG_ID = /(?:^|\n|=)\s*@\^?([^\s@^]+)/g;
const NUMBER = /^-?(0x[0-9a-fA-F]+|\d+)$/;

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
      let line = decomment(rows[i]!);
      if (!line) continue;
      if (INCLUDE.test(line)) {
        if (!this.include(file, where, line)) return false;
        continue;
      }
      // A definition continued by a trailing backslash takes the lines after it, as lines of its value.
      if (DEFINITION.test(line.replace(/^@\^?\S*\s*/, ""))) {
        while (line.endsWith("\\") && i + 1 < rows.length) line = `${line.slice(0, -1).trimEnd()}\n${decomment(rows[++i]!)}`;
        if (line.endsWith("\\")) line = line.slice(0, -1).trimEnd();
      }
      this.lines.push({ file, line: first, text: line });
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

/** `text` with the parameters it names replaced by their values, once (a name keepalived does not know stays). */
function substitute(text: string, params: ReadonlyMap<string, string>): string {
  return text.replace(PARAMETER, (whole, braced: string | undefined, bare: string | undefined) => params.get(braced ?? bare!) ?? whole);
}

/** The text of a `~SEQ(...)` or `~LST(...)` up to its closing parenthesis (braces may hold commas), and the rest of the line; undefined when it does not close. */
function blockArgs(text: string, open: number): { args: string; rest: string } | undefined {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i]!;
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === ")" && depth === 0) return { args: text.slice(open, i), rest: text.slice(i + 1).trimStart() };
  }
  return undefined;
}

/** Items separated by commas at the top level (not inside braces), trimmed. */
function items(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of text) {
    if (c === "{") depth++;
    if (c === "}") depth--;
    if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

type Repeat = { assignments: Array<Array<[string, string]>>; rest: string } | string;

/**
 * A line's leading `~SEQ(VAR, [START,] [STEP,] END)` (`~SEQx` formats the
 * values in hex) or `~LST(VAR, V1, V2, ...)` (`~LST({A, B}, {1, 2}, ...)`):
 * the variables of each repetition and the rest of the line; a string says
 * why it is not one.
 */
function repeatOf(text: string): Repeat {
  const head = /^~(SEQx?|LST)\(/.exec(text);
  if (!head) return "not a repetition";
  const parts = blockArgs(text, head[0].length);
  const usage = "a sequence is ~SEQ(VAR, [START,] [STEP,] END) or ~LST(VAR, VALUE, ...) before the line it repeats";
  if (!parts) return usage;
  const [first, ...rest] = items(parts.args);
  if (head[1] === "LST") {
    const vars = /^\{(.*)\}$/.exec(first ?? "")?.[1]?.split(",").map((v) => v.trim()) ?? [first ?? ""];
    if (!vars.every((v) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) || !rest.length) return usage;
    const assignments: Array<Array<[string, string]>> = [];
    for (const item of rest) {
      const values = vars.length > 1 ? /^\{(.*)\}$/.exec(item)?.[1]?.split(",").map((v) => v.trim()) : [item];
      if (!values || values.length !== vars.length) return `~LST(${parts.args}): each value gives all of ${vars.join(", ")}`;
      assignments.push(vars.map((v, i) => [v, values[i]!]));
    }
    return { assignments, rest: parts.rest };
  }
  if (!first || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(first) || !rest.length || rest.length > 3 || !rest.every((n) => NUMBER.test(n))) return usage;
  const nums = rest.map((n) => (n.replace(/^-/, "").startsWith("0x") ? (n.startsWith("-") ? -1 : 1) * parseInt(n.replace(/^-/, ""), 16) : Number(n)));
  const end = nums[nums.length - 1]!;
  const start = nums.length > 1 ? nums[0]! : end < 0 ? -1 : 1;
  const step = nums.length === 3 ? nums[1]! : end >= start ? 1 : -1;
  if (step === 0 || (end - start) / step < 0) return `~SEQ(${parts.args}) counts from ${start} by ${step} and never reaches ${end}`;
  if ((end - start) / step >= LIMITS.sequence) return `~SEQ(${parts.args}) stands for more than ${LIMITS.sequence} lines`;
  const assignments: Array<Array<[string, string]>> = [];
  for (let v = start; step > 0 ? v <= end : v >= end; v += step) assignments.push([[first, head[1] === "SEQx" ? v.toString(16) : String(v)]]);
  return { assignments, rest: parts.rest };
}

/** The text of a statement's words as written (quoted words in quotes), for comments. */
export function statementText(s: Statement): string {
  return s.words.map((w) => (w.quoted ? `"${w.text}"` : w.text)).join(" ");
}

/**
 * The statements of the lines that count for config ID `id` (undefined:
 * only lines without a condition), as keepalived reads each line: its
 * condition, then a definition, else its parameters substituted (at use,
 * not at definition), a ~SEQ or ~LST repeating the rest, and a value of
 * several lines read as lines of their own.
 */
function build(lines: readonly RawLine[], id: string | undefined, findings: Finding[]): Statement[] {
  const top: Statement[] = [];
  const stack: Array<{ list: Statement[]; owner?: Statement }> = [{ list: top }];
  const params = new Map<string, string>([
    ["_HASH", "#"],
    ["_BANG", "!"],
    ...(id !== undefined ? [["_INSTANCE", id] as [string, string]] : []),
  ]);
  let count = 0;
  let linesRead = 0;
  let stopped = false;

  const emit = (words: Word[], file: string, line: number, where: string): void => {
    let pending: Word[] = [];
    const flush = (): boolean => {
      if (!pending.length) return true;
      if (++count > LIMITS.statements) {
        findings.push({ level: "error", where, message: `more than ${LIMITS.statements} statements: the import reads no more` });
        return false;
      }
      stack[stack.length - 1]!.list.push({ file, line, words: pending });
      pending = [];
      return true;
    };
    for (const w of words) {
      if (w.quoted || (w.text !== "{" && w.text !== "}")) {
        pending.push(w);
        continue;
      }
      if (!flush()) return void (stopped = true);
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
        return void (stopped = true);
      } else {
        owner.block = [];
        stack.push({ list: owner.block, owner });
      }
    }
    if (!flush()) stopped = true;
  };

  /** `text`: a line of a file (a definition continued over several lines is one), or the lines a substitution gave (`expanded`). */
  const read = (text: string, l: RawLine, depth: number, expanded: boolean): void => {
    const where = at(l.file, l.line);
    // One error stops the reading: a definition that names itself twice would otherwise double its lines each round, 2^16 of them.
    if (depth > LIMITS.substitution) {
      findings.push({ level: "error", where, message: `parameters nested more than ${LIMITS.substitution} deep` });
      return void (stopped = true);
    }
    for (const physical of expanded ? text.split("\n") : [text]) {
      if (stopped) return;
      if (++linesRead > LIMITS.lines) {
        findings.push({ level: "error", where, message: `parameters and sequences make more than ${LIMITS.lines} lines: the import reads no more` });
        return void (stopped = true);
      }
      let t = physical.trim();
      if (!t) continue;
      const cond = CONDITION.exec(t);
      if (cond) {
        if (!cond[2]) {
          findings.push({ level: "error", where, message: "a conditional line needs its config ID right after the @ (@ID or @^ID)" });
          continue;
        }
        if (id === undefined || (cond[2] === id) === (cond[1] === "^")) continue;
        t = cond[3]!;
      }
      const def = DEFINITION.exec(t);
      if (def) {
        params.set(def[1]!, def[2]!.trim());
        continue;
      }
      if (t.startsWith("~SEQ") || t.startsWith("~LST")) {
        const r = repeatOf(t);
        if (typeof r === "string") {
          findings.push({ level: "error", where, message: r });
          continue;
        }
        for (const assignment of r.assignments) {
          for (const [k, v] of assignment) params.set(k, v);
          read(r.rest, l, depth + 1, true);
        }
        continue;
      }
      // A value that names parameters, or holds lines, is read again line by line: the definitions among its lines count for the lines after them.
      const done = substitute(t, params);
      if (done !== t) {
        if (done.length > LIMITS.bytes) findings.push({ level: "error", where, message: `parameters make a line of over ${LIMITS.bytes} bytes` });
        else read(done, l, depth + 1, true);
        continue;
      }
      const words = splitWords(done);
      if (typeof words === "string") findings.push({ level: "error", where, message: words });
      else emit(words, l.file, l.line, where);
    }
  };

  for (const l of lines) {
    if (stopped) break;
    params.set("_PWD", dirname(l.file));
    read(l.text, l, 0, false);
  }
  // After a stop, the blocks left open are the reading's, not the file's.
  for (const frame of stopped ? [] : stack.slice(1).reverse()) {
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
  const ids = [...new Set(r.lines.flatMap((l) => [...l.text.matchAll(CONFIG_ID)].map((m) => m[1]!)))];
  const views = (ids.length ? ids : [undefined]).map((id) => {
    const seen = new Set(findings.map((f) => `${f.where}|${f.message}`));
    const own: Finding[] = [];
    const statements = build(r.lines, id, own);
    for (const f of own) if (!seen.has(`${f.where}|${f.message}`)) findings.push(f);
    return { ...(id === undefined ? {} : { id }), statements };
  });
  return { views, files: r.files };
}
