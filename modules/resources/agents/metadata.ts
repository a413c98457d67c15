/**
 * OCF meta-data: the XML an agent prints for `meta-data`, read by a small,
 * bounded XML reader (elements, attributes, text, entities, CDATA; comments,
 * processing instructions and the DOCTYPE skipped), and the checks the config
 * layer makes with it: required parameters missing, unknown ones.
 */
import { didYouMean } from "../../../core/config/problems.ts";

/** The most meta-data read: IPaddr2's is about 15 KiB. */
export const META_DATA_MAX_BYTES = 256 * 1024;
const MAX_DEPTH = 32;
const MAX_ELEMENTS = 10_000;

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: (XmlElement | string)[];
}

export class XmlError extends Error {}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
const NAME_RE = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ATTR_RE = /\s+([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/y;

function decodeEntities(text: string, lineOf: () => number): string {
  return text.replace(/&([^;&\s]{1,10});/g, (_, ref: string) => {
    if (ref.startsWith("#x") || ref.startsWith("#X")) return codePoint(parseInt(ref.slice(2), 16), ref, lineOf);
    if (ref.startsWith("#")) return codePoint(parseInt(ref.slice(1), 10), ref, lineOf);
    const named = ENTITIES[ref];
    if (named === undefined) throw new XmlError(`line ${lineOf()}: unknown entity &${ref};`);
    return named;
  });
}

function codePoint(n: number, ref: string, lineOf: () => number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0x10ffff) throw new XmlError(`line ${lineOf()}: bad character reference &${ref};`);
  return String.fromCodePoint(n);
}

/** The document's root element; throws XmlError naming the line of what is wrong. */
export function parseXml(text: string): XmlElement {
  if (text.length > META_DATA_MAX_BYTES) throw new XmlError(`longer than ${META_DATA_MAX_BYTES} bytes`);
  let pos = 0;
  let elements = 0;
  let root: XmlElement | null = null;
  const stack: XmlElement[] = [];
  const lineOf = () => text.slice(0, pos).split("\n").length;
  const skipPast = (end: string, what: string) => {
    const at = text.indexOf(end, pos);
    if (at < 0) throw new XmlError(`line ${lineOf()}: ${what} never ends`);
    const body = text.slice(pos, at);
    pos = at + end.length;
    return body;
  };

  while (pos < text.length) {
    const lt = text.indexOf("<", pos);
    const textEnd = lt < 0 ? text.length : lt;
    if (textEnd > pos) {
      const chunk = text.slice(pos, textEnd);
      const top = stack[stack.length - 1];
      if (top) top.children.push(decodeEntities(chunk, lineOf));
      else if (chunk.trim()) throw new XmlError(`line ${lineOf()}: text outside the root element`);
      pos = textEnd;
      continue;
    }
    if (text.startsWith("<?", pos)) skipPast("?>", "processing instruction");
    else if (text.startsWith("<!--", pos)) skipPast("-->", "comment");
    else if (text.startsWith("<![CDATA[", pos)) {
      pos += 9;
      const body = skipPast("]]>", "CDATA section");
      const top = stack[stack.length - 1];
      if (!top) throw new XmlError(`line ${lineOf()}: CDATA outside the root element`);
      top.children.push(body);
    } else if (text.startsWith("<!", pos)) {
      const close = text.indexOf(">", pos);
      const open = text.indexOf("[", pos);
      if (open >= 0 && (close < 0 || open < close)) skipPast("]>", "DOCTYPE");
      else skipPast(">", "declaration");
    } else if (text.startsWith("</", pos)) {
      pos += 2;
      NAME_RE.lastIndex = pos;
      const m = NAME_RE.exec(text);
      const top = stack.pop();
      if (!m || !top || m[0] !== top.name) throw new XmlError(`line ${lineOf()}: </${m?.[0] ?? ""}> does not close <${top?.name ?? "nothing"}>`);
      pos += m[0].length;
      const rest = skipPast(">", "end tag");
      if (rest.trim()) throw new XmlError(`line ${lineOf()}: junk in </${top.name}>`);
    } else {
      pos += 1;
      NAME_RE.lastIndex = pos;
      const m = NAME_RE.exec(text);
      if (!m) throw new XmlError(`line ${lineOf()}: expected an element name after <`);
      pos += m[0].length;
      const el: XmlElement = { name: m[0], attrs: {}, children: [] };
      for (;;) {
        ATTR_RE.lastIndex = pos;
        const a = ATTR_RE.exec(text);
        if (!a) break;
        el.attrs[a[1]!] = decodeEntities(a[3] ?? a[4] ?? "", lineOf);
        pos += a[0].length;
      }
      while (pos < text.length && /\s/.test(text[pos]!)) pos++;
      const selfClosing = text.startsWith("/>", pos);
      if (!selfClosing && text[pos] !== ">") throw new XmlError(`line ${lineOf()}: malformed tag <${el.name}>`);
      pos += selfClosing ? 2 : 1;
      if (++elements > MAX_ELEMENTS) throw new XmlError(`more than ${MAX_ELEMENTS} elements`);
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) throw new XmlError(`line ${lineOf()}: a second root element <${el.name}>`);
      else root = el;
      if (!selfClosing) {
        if (stack.length >= MAX_DEPTH) throw new XmlError(`line ${lineOf()}: nested deeper than ${MAX_DEPTH}`);
        stack.push(el);
      }
    }
  }
  if (stack.length) throw new XmlError(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new XmlError("no root element");
  return root;
}

export interface OcfParameter {
  name: string;
  required: boolean;
  unique: boolean;
  /** The `content` element's type: string, integer, boolean, … */
  type: string;
  default: string | null;
  shortdesc: string;
}

export interface OcfActionHint {
  name: string;
  /** The agent's advised minimum; null when it gives none or one not read. */
  timeoutMs: number | null;
  intervalMs: number | null;
}

export interface OcfMetaData {
  name: string;
  version: string;
  shortdesc: string;
  parameters: OcfParameter[];
  actions: OcfActionHint[];
}

const child = (el: XmlElement, name: string) => el.children.find((c): c is XmlElement => typeof c !== "string" && c.name === name);
const childrenNamed = (el: XmlElement, name: string) => el.children.filter((c): c is XmlElement => typeof c !== "string" && c.name === name);
const textOf = (el: XmlElement | undefined): string => (el ? el.children.map((c) => (typeof c === "string" ? c : textOf(c))).join("").trim() : "");
const flag = (v: string | undefined) => v === "1" || v === "true" || v === "yes";

const TIME_UNITS_MS: Record<string, number> = { ms: 1, msec: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hr: 3_600_000 };

/** Pacemaker's reading of an action's time: a number with an optional unit, seconds without one. */
export function parseOcfTime(text: string | undefined): number | null {
  if (text === undefined) return null;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = m[2] ? TIME_UNITS_MS[m[2]] : 1000;
  return unit === undefined ? null : Math.round(parseFloat(m[1]!) * unit);
}

/** Reads an agent's meta-data; throws XmlError when it is not the resource-agent document. */
export function parseMetaData(xml: string): OcfMetaData {
  const root = parseXml(xml);
  if (root.name !== "resource-agent") throw new XmlError(`the root element is <${root.name}>, not <resource-agent>`);
  const params = child(root, "parameters");
  const actions = child(root, "actions");
  return {
    name: root.attrs.name ?? "",
    version: root.attrs.version ?? textOf(child(root, "version")),
    shortdesc: textOf(child(root, "shortdesc")),
    parameters: (params ? childrenNamed(params, "parameter") : []).map((p) => {
      const content = child(p, "content");
      if (!p.attrs.name) throw new XmlError("a <parameter> without a name");
      return {
        name: p.attrs.name,
        required: flag(p.attrs.required),
        unique: flag(p.attrs.unique),
        type: content?.attrs.type ?? "string",
        default: content?.attrs.default ?? null,
        shortdesc: textOf(child(p, "shortdesc")),
      };
    }),
    actions: (actions ? childrenNamed(actions, "action") : []).map((a) => ({
      name: a.attrs.name ?? "",
      timeoutMs: parseOcfTime(a.attrs.timeout),
      intervalMs: parseOcfTime(a.attrs.interval),
    })),
  };
}

export interface ParameterProblem {
  parameter: string;
  message: string;
  hint?: string;
}

/** What is wrong with `params` for an agent with this meta-data: required ones missing, unknown ones. */
export function checkParameters(meta: OcfMetaData, params: Record<string, string>): ParameterProblem[] {
  const known = meta.parameters.map((p) => p.name);
  const problems: ParameterProblem[] = [];
  for (const p of meta.parameters) {
    if (p.required && !(p.name in params)) problems.push({ parameter: p.name, message: `required parameter "${p.name}" of ${meta.name} is missing` });
  }
  for (const name of Object.keys(params)) {
    if (known.includes(name)) continue;
    const guess = didYouMean(name, known);
    problems.push({
      parameter: name,
      message: `${meta.name} has no parameter "${name}"`,
      hint: guess ? `did you mean "${guess}"?` : `its parameters: ${known.join(", ") || "none"}`,
    });
  }
  return problems;
}
