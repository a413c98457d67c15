/**
 * drbd.conf as drbdadm reads it, into a tree of statements: `#` outside
 * double quotes starts a comment to the end of the line, white space (a CR
 * too) separates words, a double-quoted string is one word (a backslash
 * escapes the next character; one not closed on its line ends there, with a
 * warning, since drbdadm 9 takes it),
 * `{` opens the block of the words before it, `;` ends a statement and `}`
 * closes a block. `include "PATTERN";` at the top level is followed where it
 * stands: a glob relative to the including file, its files in sorted order;
 * a pattern with no wildcard that names no file is an error, as drbdadm
 * makes it. A section after `skip` (drbdadm's way to comment one out) is
 * dropped.
 *
 * Every bound is a named limit, and any text at all gives a tree or errors
 * with FILE:LINE: this never throws on input.
 */
import { dirname, isAbsolute, join } from "node:path";
import { at, type Finding } from "../findings.ts";
import type { IncludeReader } from "../keepalived/parse.ts";

export type { IncludeReader } from "../keepalived/parse.ts";

export interface Statement {
  file: string;
  line: number;
  /** The keyword first (there always is one), then its arguments (quotes removed). */
  words: string[];
  /** Present when a `{ ... }` block follows the words. */
  block?: Statement[];
}

export const LIMITS = {
  /** Sections within sections: drbd's deepest is four (resource, connection, volume, disk). */
  depth: 8,
  /** Includes within includes: drbdadm's own bound. */
  includeDepth: 10,
  /** Files read in all, the first one too. */
  files: 256,
  /** Bytes of one file. */
  bytes: 4 * 1024 * 1024,
  /** Statements in all. */
  statements: 100_000,
  /** Characters of a quoted string: drbdadm's scanner takes 255 at most. */
  string: 255,
} as const;

export interface Parsed {
  statements: Statement[];
  /** Every file read, the first one first. */
  files: string[];
}

type Token = { kind: "word"; text: string; line: number } | { kind: "{" | "}" | ";"; line: number };

const WILDCARD = /[*?[]/;

/** The tokens of one file, or the first error. */
function tokenize(file: string, text: string, findings: Finding[]): Token[] | undefined {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "{" || c === "}" || c === ";") {
      out.push({ kind: c, line });
      i++;
    } else if (c === '"') {
      let s = "";
      i++;
      for (;;) {
        const d = text[i];
        if (d === undefined || d === "\n") {
          findings.push({ level: "warning", where: at(file, line), message: "a double-quoted string is not closed on its line: read to the line's end (drbdadm 9 takes it and drops the value)" });
          break;
        }
        i++;
        if (d === '"') break;
        if (d === "\\" && text[i] !== undefined && text[i] !== "\n") s += text[i++];
        else s += d;
      }
      if (s.length > LIMITS.string) {
        findings.push({ level: "error", where: at(file, line), message: `a string of over ${LIMITS.string} characters (drbdadm refuses it)` });
        return undefined;
      }
      out.push({ kind: "word", text: s, line });
    } else {
      const start = i;
      while (i < text.length && !/[\s{};"#]/.test(text[i]!)) i++;
      out.push({ kind: "word", text: text.slice(start, i), line });
    }
  }
  return out;
}

class Parser {
  readonly files: string[] = [];
  private statements = 0;
  private readonly open = new Set<string>();

  constructor(
    private readonly reader: IncludeReader,
    readonly findings: Finding[],
  ) {}

  private error(file: string, line: number | undefined, message: string): undefined {
    this.findings.push({ level: "error", where: at(file, line), message });
    return undefined;
  }

  /** The top-level statements of a file, its includes read in their place. */
  file(file: string, depth: number, from?: { file: string; line: number }): Statement[] | undefined {
    if (this.files.length >= LIMITS.files) return this.error(from?.file ?? file, from?.line, `more than ${LIMITS.files} files to read`);
    const got = this.reader.read(file);
    if ("error" in got) return this.error(from?.file ?? file, from?.line, from ? `cannot read the include ${file}: ${got.error}` : `cannot read it: ${got.error}`);
    if (this.open.has(got.id)) return this.error(from!.file, from!.line, `${file} includes itself`);
    this.files.push(file);
    const tokens = tokenize(file, got.text, this.findings);
    if (!tokens) return undefined;
    this.open.add(got.id);
    const out = this.block(file, tokens, { i: 0 }, 0, depth);
    this.open.delete(got.id);
    return out;
  }

  /** Statements up to a `}` (depth > 0) or the end (depth 0). */
  private block(file: string, tokens: Token[], pos: { i: number }, depth: number, includeDepth: number): Statement[] | undefined {
    const out: Statement[] = [];
    let words: Array<{ text: string; line: number }> = [];
    while (pos.i < tokens.length) {
      const t = tokens[pos.i++]!;
      if (t.kind === "word") {
        words.push(t);
        continue;
      }
      if (t.kind === "}") {
        if (depth === 0) return this.error(file, t.line, "a } that closes no section");
        if (words.length) return this.error(file, words[0]!.line, `"${words.map((w) => w.text).join(" ")}" needs a ; before the }`);
        return out;
      }
      if (++this.statements > LIMITS.statements) return this.error(file, t.line, `more than ${LIMITS.statements} statements`);
      const line = words[0]?.line ?? t.line;
      let s: Statement;
      if (t.kind === "{") {
        if (!words.length) return this.error(file, t.line, "a { with no section name before it (drbdadm refuses it)");
        if (depth + 1 > LIMITS.depth) return this.error(file, t.line, `sections nested more than ${LIMITS.depth} deep`);
        const inner = this.block(file, tokens, pos, depth + 1, includeDepth);
        if (!inner) return undefined;
        s = { file, line, words: words.map((w) => w.text), block: inner };
      } else {
        if (!words.length) return this.error(file, t.line, "a ; with nothing before it (drbdadm refuses it)");
        s = { file, line, words: words.map((w) => w.text) };
      }
      words = [];
      // `skip NAME { ... }` is drbdadm's way to comment a section out.
      if (s.words[0] === "skip") continue;
      if (depth === 0 && s.words[0] === "include" && !s.block) {
        const included = this.include(s, includeDepth);
        if (!included) return undefined;
        out.push(...included);
      } else out.push(s);
    }
    if (depth > 0) return this.error(file, tokens[tokens.length - 1]?.line, "a section is not closed: a } is missing at the end");
    if (words.length) return this.error(file, words[0]!.line, `"${words.map((w) => w.text).join(" ")}" needs a ; at the end`);
    return out;
  }

  private include(s: Statement, depth: number): Statement[] | undefined {
    if (s.words.length !== 2) return this.error(s.file, s.line, 'include takes one pattern: include "drbd.d/*.res";');
    if (depth + 1 > LIMITS.includeDepth) return this.error(s.file, s.line, `includes nested more than ${LIMITS.includeDepth} deep`);
    const pattern = isAbsolute(s.words[1]!) ? s.words[1]! : join(dirname(s.file), s.words[1]!);
    const files = this.reader.expand(pattern);
    if (!files.length && !WILDCARD.test(s.words[1]!)) return this.error(s.file, s.line, `cannot open the include file ${s.words[1]} (drbdadm refuses a missing one)`);
    const out: Statement[] = [];
    for (const f of files) {
      const got = this.file(f, depth + 1, s);
      if (!got) return undefined;
      out.push(...got);
    }
    return out;
  }
}

/** The statements of drbd.conf (or a .res file) and its includes, or errors. */
export function parseDrbd(file: string, reader: IncludeReader): { parsed?: Parsed; findings: Finding[] } {
  const findings: Finding[] = [];
  const p = new Parser(reader, findings);
  const statements = p.file(file, 0);
  return statements && !findings.some((f) => f.level === "error") ? { parsed: { statements, files: p.files }, findings } : { findings };
}
