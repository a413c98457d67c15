/**
 * Where a key path sits in TOML text, so a problem can name its line.
 * A light scan of table headers and `key =` lines: enough for the way config
 * files are written (it does not look inside inline tables or arrays, and
 * answers with the enclosing key's line there).
 */
export type KeyPath = readonly (string | number)[];

/** Deeper than any config's keys (resources.resource[0].params.x is five); parseConfig refuses deeper nesting. */
export const MAX_NESTING = 32;

const HEADER = /^\s*\[(\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/;
const KEY = /^\s*([A-Za-z0-9_\-."' ]+?)\s*=/;

function splitDotted(key: string): string[] {
  return key.split(".").map((p) => p.trim().replace(/^["']|["']$/g, ""));
}

export function lineIndex(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  let table: (string | number)[] = [];
  const mark = (path: (string | number)[], line: number) => {
    for (let i = 1; i <= Math.min(path.length, MAX_NESTING + 1); i++) {
      const k = path.slice(0, i).join(".");
      if (!lines.has(k)) lines.set(k, line);
    }
  };
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    const header = HEADER.exec(raw);
    if (header) {
      const parts = splitDotted(header[2] ?? "");
      if (header[1] === "[") {
        const name = parts.join(".");
        const idx = arrayCounts.get(name) ?? 0;
        arrayCounts.set(name, idx + 1);
        table = [...parts, idx];
      } else {
        table = parts;
      }
      mark(table, line);
      return;
    }
    const key = KEY.exec(raw);
    if (key && !raw.trimStart().startsWith("#")) mark([...table, ...splitDotted(key[1] ?? "")], line);
  });
  return lines;
}

/** The line of the path, or of its nearest enclosing key that has one. */
export function lineOf(index: Map<string, number>, path: KeyPath): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = index.get(path.slice(0, n).join("."));
    if (line !== undefined) return line;
  }
  return undefined;
}
