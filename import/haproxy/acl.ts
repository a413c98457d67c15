/**
 * HAProxy's ACLs and `if`/`unless` conditions as Tandem's rules. A rule holds
 * conditions that must all hold (host, path prefix or regex, one header,
 * method, source networks), each a list of values of which one must match;
 * so an ACL becomes such a condition, several `acl` lines of one name (an or)
 * several, and a condition `A B or C` the rules [A and B] and [C]. What a
 * rule cannot say (a negation, TLS facts, ports, counters, patterns from
 * files) is named with why.
 */
import { parseCidr, parseIp } from "../../core/os/ip.ts";
import { METHODS, RuleSchema } from "../../modules/proxy/config.ts";
import { fits } from "../lvs.ts";
import { table } from "../table.ts";

/** One condition of a rule; `all` is HAProxy's TRUE (a rule with no condition). */
export type Atom =
  | { field: "all" }
  | { field: "host" | "path_prefix" | "method" | "source"; values: string[] }
  | { field: "path_regex"; value: string }
  | { field: "header"; name: string; value?: string; value_regex?: string };

/** An ACL: one of its atoms must hold; or why it has no counterpart. */
export type Acl = { atoms: Atom[] } | { why: string };

export interface Rule {
  host?: string[];
  path_prefix?: string[];
  path_regex?: string;
  header?: { name: string; value?: string; value_regex?: string };
  method?: string[];
  source?: string[];
}

/** Rules one use_backend may become (an or of ors); more is a warning. */
export const MAX_RULES_PER_LINE = 64;

/** A regular expression that matches `s` as written. */
export const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A regular expression made blind to case the only way the schema's (flagless) one can be: each letter as [xX]. */
export function caseBlind(re: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < re.length; i++) {
    const c = re[i]!;
    if (c === "\\" && i + 1 < re.length) {
      out += c + re[++i];
      continue;
    }
    if (c === "[" && !inClass) inClass = true;
    else if (c === "]" && inClass) inClass = false;
    const lo = c.toLowerCase();
    const up = c.toUpperCase();
    if (lo === up) out += c;
    else out += inClass ? lo + up : `[${lo}${up}]`;
  }
  return out;
}

/** HAProxy matches a path without its query; Tandem's path_regex sees the query too, so an end anchor also allows one. */
function pathEnd(re: string): string {
  return /(^|[^\\])\$$/.test(re) ? `${re.slice(0, -1)}(?:\\?|$)` : re;
}

const alternation = (parts: string[]) => (parts.length === 1 ? parts[0]! : `(?:${parts.join("|")})`);

/** Predefined ACLs HAProxy knows without an `acl` line. */
const PREDEFINED: Readonly<Record<string, Acl>> = table({
  TRUE: { atoms: [{ field: "all" }] },
  METH_GET: { atoms: [{ field: "method", values: ["GET", "HEAD"] }] },
  METH_POST: { atoms: [{ field: "method", values: ["POST"] }] },
  METH_PUT: { atoms: [{ field: "method", values: ["PUT"] }] },
  METH_OPTIONS: { atoms: [{ field: "method", values: ["OPTIONS"] }] },
  METH_HEAD: { atoms: [{ field: "method", values: ["HEAD"] }] },
  METH_TRACE: { atoms: [{ field: "method", values: ["TRACE"] }] },
  METH_CONNECT: { atoms: [{ field: "method", values: ["CONNECT"] }] },
  LOCALHOST: { atoms: [{ field: "source", values: ["127.0.0.0/8", "::1/128"] }] },
});
const PREDEFINED_OTHER = ["FALSE", "HTTP", "HTTP_1.0", "HTTP_1.1", "HTTP_2.0", "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH", "HTTP_URL_STAR", "RDP_COOKIE", "REQ_CONTENT", "WAIT_END"];

/** The match method of a fetch's suffix (hdr_beg -> beg). */
const SUFFIX: Readonly<Record<string, string>> = table({ beg: "beg", end: "end", sub: "sub", reg: "reg", regex: "reg", dom: "dom", dir: "dir", len: "len", cnt: "cnt", ip: "ip", val: "int" });

/**
 * One `acl NAME CRITERION [FLAGS] VALUES...` (or an anonymous `{ ... }`) as an
 * atom; `words` starts at the criterion.
 */
export function aclOf(words: readonly string[]): Acl {
  const [criterion, ...rest] = words;
  if (!criterion) return { why: "an ACL with no criterion" };
  let ci = false;
  let match: string | undefined;
  let i = 0;
  for (; i < rest.length && rest[i]!.startsWith("-"); i++) {
    const f = rest[i]!;
    if (f === "--") {
      i++;
      break;
    }
    if (f === "-i") ci = true;
    else if (f === "-m") match = rest[++i];
    else if (f === "-f") return { why: `its patterns are read from the file ${rest[i + 1]}, which the import does not read` };
    else if (f === "-M") return { why: "its patterns are read from a map file, which the import does not read" };
    else if (f === "-u" || f === "-n") i += f === "-u" ? 1 : 0;
    else break;
  }
  const values = rest.slice(i);
  if (/,/.test(criterion) && !/^[^,]+,lower$/.test(criterion)) return { why: `the converter in ${criterion} has no counterpart` };
  const fetch = criterion.replace(/,lower$/, "");
  const m = /^(req\.)?([a-z_.0-9]+?)(?:_(beg|end|sub|reg|regex|dom|dir|len|cnt|ip|val))?(?:\(([^)]*)\))?$/.exec(fetch);
  if (!m) return { why: `the criterion ${criterion} has no counterpart` };
  const base = m[2]!;
  const how = match ?? (m[3] ? SUFFIX[m[3]] : undefined) ?? "str";
  const arg = m[4];
  if ((base === "hdr" || base === "fhdr") && arg) return headerAcl(arg.split(",")[0]!.trim(), how, values, ci);
  if (base === "path" || base === "url" || base === "pathq") return pathAcl(base, how, values, ci);
  if (base === "method") {
    const ms = values.map((v) => v.toUpperCase());
    const unknown = ms.filter((v) => !(METHODS as readonly string[]).includes(v));
    if (unknown.length || how !== "str") return { why: `method ${unknown.join(" ") || how}: Tandem's rules take ${METHODS.join(", ")}, matched exactly` };
    return { atoms: [{ field: "method", values: ms }] };
  }
  if (base === "src" && !arg && how !== "found") {
    const nets: string[] = [];
    for (const v of values) {
      const net = v.includes("/") ? v : parseIp(v) ? `${v}/${parseIp(v)!.length === 4 ? 32 : 128}` : undefined;
      if (net === undefined) return { why: `src ${v} is not an address or network` };
      try {
        parseCidr(net);
      } catch {
        return { why: `src ${v} is not an address or network` };
      }
      nets.push(net);
    }
    return { atoms: [{ field: "source", values: nets }] };
  }
  return { why: `${criterion} has no counterpart in Tandem's rules (host, path, one header, method, source)` };
}

function headerAcl(name: string, how: string, values: readonly string[], ci: boolean): Acl {
  const host = name.toLowerCase() === "host";
  const headerName = host ? "Host" : name;
  if (!fits(RuleSchema.properties.header.properties.name, headerName)) return { why: `"${name}" is not a header name` };
  const regex = (parts: string[]) => ({ atoms: [{ field: "header" as const, name: headerName, value_regex: ci ? caseBlind(alternation(parts)) : alternation(parts) }] });
  const lit = values.map(escapeRegex);
  if (how === "found" || (how === "cnt" && values.join(" ") === "gt 0")) return { atoms: [{ field: "header", name: headerName }] };
  if (!values.length) return { why: `hdr(${name}) -m ${how} with no value` };
  if (host && how === "str" && values.every((v) => fits(RuleSchema.properties.host.items, v))) return { atoms: [{ field: "host", values: values.map((v) => v.toLowerCase()) }] };
  if (host && how === "end" && values.every((v) => v.startsWith(".") && fits(RuleSchema.properties.host.items, `*${v}`))) return { atoms: [{ field: "host", values: values.map((v) => `*${v.toLowerCase()}`) }] };
  if (host && how === "dom" && values.every((v) => fits(RuleSchema.properties.host.items, `*.${v}`))) {
    return { atoms: [{ field: "host", values: values.flatMap((v) => [v.toLowerCase(), `*.${v.toLowerCase()}`]) }] };
  }
  if (how === "str") return !ci && values.length === 1 ? { atoms: [{ field: "header", name: headerName, value: values[0]! }] } : regex([`^${alternation(lit)}$`]);
  if (how === "beg") return regex([`^${alternation(lit)}`]);
  if (how === "end") return regex([`${alternation(lit)}$`]);
  if (how === "sub") return regex([alternation(lit)]);
  if (how === "reg") return validRegex(values) ?? regex([alternation(values.map((v) => (values.length > 1 ? `(?:${v})` : v)))]);
  if (how === "dom") return regex([`(?:^|[./?:])${alternation(lit)}(?:$|[./?:])`]);
  return { why: `hdr(${name}) matched by ${how} has no counterpart` };
}

function validRegex(values: readonly string[]): Acl | undefined {
  for (const v of values) {
    try {
      new RegExp(v);
    } catch (e) {
      return { why: `"${v}" is not a regular expression Tandem reads (JavaScript's syntax): ${(e as Error).message}` };
    }
  }
  return undefined;
}

function pathAcl(base: string, how: string, values: readonly string[], ci: boolean): Acl {
  if (!values.length) return { why: `${base} with no value` };
  const lit = values.map(escapeRegex);
  const regex = (re: string) => ({ atoms: [{ field: "path_regex" as const, value: ci ? caseBlind(re) : re }] });
  const tail = base === "path" ? "(?:\\?|$)" : "$";
  if (how === "beg" && !ci && values.every((v) => fits(RuleSchema.properties.path_prefix.items, v))) return { atoms: [{ field: "path_prefix", values: [...values] }] };
  if (how === "beg") return regex(`^${alternation(lit)}`);
  if (how === "str") return regex(`^${alternation(lit)}${tail}`);
  if (how === "end") return regex(`${alternation(lit)}${tail}`);
  if (how === "sub") return regex(alternation(lit));
  if (how === "dir") return regex(`(?:^|/)${alternation(lit)}(?:/|\\?|$)`);
  if (how === "reg") {
    const bad = validRegex(values);
    if (bad) return bad;
    const res = base === "path" ? values.map(pathEnd) : [...values];
    return regex(res.length === 1 ? res[0]! : `(?:${res.map((r) => `(?:${r})`).join("|")})`);
  }
  return { why: `${base} matched by ${how} has no counterpart` };
}

/** Both atoms in one rule, or undefined when the rule cannot say both (the same condition twice). */
function and(rule: Rule, atom: Atom): Rule | undefined {
  if (atom.field === "all") return rule;
  if (atom.field === "header") return rule.header ? undefined : { ...rule, header: { name: atom.name, ...(atom.value !== undefined ? { value: atom.value } : {}), ...(atom.value_regex !== undefined ? { value_regex: atom.value_regex } : {}) } };
  if (atom.field === "path_regex") return rule.path_regex !== undefined ? undefined : { ...rule, path_regex: atom.value };
  if (rule[atom.field] !== undefined) return undefined;
  return { ...rule, [atom.field]: atom.values };
}

export interface Condition {
  /** The rules it becomes, in order. */
  rules: Rule[];
  /** Why a part of it (an alternative of an or) was left out. */
  dropped: string[];
}

/**
 * A condition (`if`/`unless` and the words after it) as rules, given the
 * section's named ACLs. An alternative HAProxy had that the rules cannot say
 * is dropped, with why: requests it took go on to the later rules.
 */
export function conditionOf(words: readonly string[], acls: ReadonlyMap<string, Acl>, mode: "http" | "tcp"): Condition {
  const [kw, ...rest] = words;
  const terms: Array<Array<{ neg: boolean; acl: Acl; text: string }>> = [[]];
  let neg = false;
  for (let i = 0; i < rest.length; i++) {
    let w = rest[i]!;
    if (w === "or" || w === "||") {
      terms.push([]);
      continue;
    }
    while (w.startsWith("!")) {
      neg = !neg;
      w = w.slice(1);
    }
    if (!w) continue;
    let acl: Acl;
    let text: string;
    if (w === "{" || w.startsWith("{")) {
      const inner: string[] = w.length > 1 ? [w.slice(1)] : [];
      for (i++; i < rest.length && rest[i] !== "}"; i++) inner.push(rest[i]!);
      acl = aclOf(inner);
      text = `{ ${inner.join(" ")} }`;
    } else {
      acl = acls.get(w) ?? PREDEFINED[w] ?? { why: PREDEFINED_OTHER.includes(w) ? `the predefined ACL ${w} has no counterpart` : `no acl named ${w}` };
      text = w;
    }
    terms[terms.length - 1]!.push({ neg, acl, text: `${neg ? "!" : ""}${text}` });
    neg = false;
  }
  if (kw === "unless") {
    const only = terms.length === 1 && terms[0]!.length === 1 ? terms[0]![0]! : undefined;
    if (!only || !only.neg) return { rules: [], dropped: [`unless ${rest.join(" ")}: a rule cannot say "not"`] };
    only.neg = false;
  }
  const rules: Rule[] = [];
  const dropped: string[] = [];
  for (const term of terms) {
    const why = term.map((t) => (t.neg ? `${t.text}: a rule cannot say "not"` : "why" in t.acl ? `${t.text}: ${t.acl.why}` : undefined)).find((x) => x !== undefined);
    if (why) {
      dropped.push(why);
      continue;
    }
    let partial: Rule[] = [{}];
    for (const t of term) {
      const atoms = (t.acl as { atoms: Atom[] }).atoms;
      partial = partial.flatMap((r) => atoms.map((a) => and(r, a)).filter((x): x is Rule => x !== undefined));
    }
    if (!partial.length) {
      dropped.push(`${term.map((t) => t.text).join(" ")}: a rule holds each kind of condition once`);
      continue;
    }
    const httpOnly = partial.some((r) => r.host || r.path_prefix || r.path_regex !== undefined || r.header || r.method);
    if (mode === "tcp" && httpOnly) {
      dropped.push(`${term.map((t) => t.text).join(" ")}: a tcp frontend routes on the source only`);
      continue;
    }
    rules.push(...partial);
  }
  if (rules.length > MAX_RULES_PER_LINE) return { rules: [], dropped: [`it becomes ${rules.length} rules, over ${MAX_RULES_PER_LINE}`] };
  return { rules, dropped };
}
