/**
 * Reading keepalived's statements: where a finding goes (a quiet reader keeps
 * only errors, for the other nodes' files), the keyword dispatch of a block
 * (read, not imported with its reason, or unknown with a did-you-mean), and
 * keepalived's value syntax (unsigned integers, timers in seconds, booleans,
 * addresses).
 */
import { didYouMean } from "../../core/config/problems.ts";
import { formatIp, parseIp } from "../../core/os/ip.ts";
import { at, type Finding, type Level } from "../findings.ts";
import { SECRET, type Reason } from "./keywords.ts";
import { statementText, type Statement } from "./parse.ts";

export class Reader {
  constructor(
    readonly findings: Finding[],
    /** Only errors count: notes and warnings were said for the main file. */
    readonly quiet = false,
  ) {}

  private push(level: Level, s: Statement | undefined, message: string): void {
    if (this.quiet && level !== "error") return;
    this.findings.push({ level, ...(s ? { where: at(s.file, s.line) } : {}), message });
  }

  error(s: Statement | undefined, message: string): void {
    this.push("error", s, message);
  }

  warning(s: Statement | undefined, message: string): void {
    this.push("warning", s, message);
  }

  /** What keepalived logs and skips (a bad value, a missing one): a warning, and the import skips it too. */
  skipped(s: Statement, message: string): void {
    this.push("warning", s, `${message}: keepalived skipped it, and so does the import`);
  }

  note(s: Statement | undefined, message: string): void {
    this.push("note", s, message);
  }

  /** A value the files do not give: a placeholder is written that `tandem check` refuses. */
  todo(message: string): void {
    this.push("todo", undefined, message);
  }

  /** A keyword that is not imported, with why. */
  notImported(s: Statement, [level, reason]: Reason): void {
    this.push(level, s, `${summary(s)} is not imported: ${reason}`);
  }

  get failed(): boolean {
    return this.findings.some((f) => f.level === "error");
  }

  /**
   * Each statement of a block to its handler, or to `others` (a keyword with
   * no counterpart), or an error naming the block and the nearest keyword.
   */
  walk(block: readonly Statement[], context: string, handlers: Record<string, (s: Statement) => void>, others: ReadonlyMap<string, Reason> = new Map()): void {
    for (const s of block) {
      const k = keyword(s);
      const known = Object.hasOwn(handlers, k);
      if (known) handlers[k]!(s);
      else if (others.has(k)) this.notImported(s, others.get(k)!);
      else this.unknown(s, context, [...Object.keys(handlers), ...others.keys()]);
    }
  }

  /** A keyword keepalived does not know where it stands: it skips it (and its block), and so does the import. */
  unknown(s: Statement, context: string, candidates: readonly string[]): void {
    const near = didYouMean(keyword(s), candidates);
    this.warning(s, `unknown keyword "${keyword(s)}" in ${context}${near ? ` (did you mean "${near}"?)` : ""}: keepalived skipped it${s.block ? " and its block" : ""}, and so does the import`);
  }

  /** The arguments, when there are min to max of them; else an error with the usage. */
  args(s: Statement, min: number, max: number, usage: string): string[] | undefined {
    const a = s.words.slice(1).map((w) => w.text);
    if (s.block) return this.skipped(s, `${keyword(s)} takes no block (${usage})`), undefined;
    if (a.length < min) return this.skipped(s, `${keyword(s)} takes ${min === max ? min : `${min} to ${max}`} value${max === 1 ? "" : "s"} (${usage}), found ${a.length}`), undefined;
    if (a.length > max) {
      this.warning(s, `${keyword(s)} takes ${min === max ? min : `${min} to ${max}`} value${max === 1 ? "" : "s"} (${usage}): keepalived read the first ${max === 1 ? "" : `${max} `}and skipped "${a.slice(max).join(" ")}", and so does the import`);
      return a.slice(0, max);
    }
    return a;
  }

  /** The block of a statement that needs one; an error if it has none. */
  block(s: Statement, usage: string): Statement[] | undefined {
    if (!s.block) this.skipped(s, `${keyword(s)} needs a block: ${usage}`);
    return s.block;
  }

  uint(s: Statement, text: string, what: string, min: number, max: number): number | undefined {
    if (/^\d+$/.test(text) && Number(text) >= min && Number(text) <= max) return Number(text);
    return this.skipped(s, `${what} "${text}" is not a whole number from ${min} to ${max}`), undefined;
  }

  /** keepalived's TIMER: seconds, with a fraction, in milliseconds (a time above zero is at least 1 ms). */
  seconds(s: Statement, text: string): number | undefined {
    if (/^\d+(\.\d+)?$/.test(text) && Number(text) < 86_400) return Number(text) > 0 ? Math.max(1, Math.round(Number(text) * 1000)) : 0;
    return this.skipped(s, `${keyword(s)} "${text}" is not a time in seconds (3, 1.5)`), undefined;
  }

  /** keepalived's BOOL (on, off, true, false, yes, no, 1, 0); a keyword alone is on. */
  bool(s: Statement): boolean | undefined {
    const a = this.args(s, 0, 1, `${keyword(s)} [on|off]`);
    if (!a) return undefined;
    if (!a.length) return true;
    const v = a[0]!.toLowerCase();
    if (["on", "true", "yes", "1"].includes(v)) return true;
    if (["off", "false", "no", "0"].includes(v)) return false;
    return this.skipped(s, `${keyword(s)} "${a[0]}" is not on, off, true, false, yes, no, 1 or 0`), undefined;
  }

  /** An IPv4 or IPv6 address in canonical text. */
  address(s: Statement, text: string, what: string): string | undefined {
    const bytes = parseIp(text);
    if (bytes) return formatIp(bytes);
    return this.skipped(s, `${what} "${text}" is not an IPv4 or IPv6 address`), undefined;
  }
}

export const keyword = (s: Statement): string => s.words[0]!.text;

/** A statement as a message names it: its words (not its block), or its keyword alone when they are a secret. */
function summary(s: Statement): string {
  return SECRET.has(keyword(s)) ? keyword(s) : statementText(s);
}

export const where = (s: Statement): string => at(s.file, s.line);
