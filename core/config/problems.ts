/** A problem found in a config: where, what was expected, what was found. */
import type { KeyPath } from "./locate.ts";

export interface Problem {
  path: KeyPath;
  line?: number;
  message: string;
  expected?: string;
  found?: string;
  hint?: string;
}

/** What a cross-field rule finds: an error refuses the config, a warning is shown and the config used. */
export type Finding = Problem & { severity: "error" | "warning" };

export function formatPath(path: KeyPath): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${p}` : p;
  return out || "(top level)";
}

export function formatProblem(file: string, p: Problem): string {
  const where = `${file}${p.line !== undefined ? `:${p.line}` : ""}: ${formatPath(p.path)}`;
  const parts = [`${where}: ${p.message}`];
  if (p.expected !== undefined) parts.push(`expected ${p.expected}`);
  if (p.found !== undefined) parts.push(`found ${p.found}`);
  let text = parts.join("; ");
  if (p.hint) text += ` (${p.hint})`;
  return text;
}

/** Levenshtein distance, for did-you-mean on unknown keys and names. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === "object") return "a table";
  return String(v);
}
