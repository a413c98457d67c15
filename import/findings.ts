/**
 * What an import found besides the config: errors (bad input: nothing is
 * written), warnings (something not imported that changes what runs),
 * notes (a directive with no Tandem counterpart, or a meaning that changed),
 * and todos (a value the files do not give: a placeholder `tandem check`
 * refuses until it is filled in).
 */
export type Level = "error" | "warning" | "note" | "todo";

export interface Finding {
  level: Level;
  /** `FILE:LINE`, or `FILE`, when the finding comes from a place in the input. */
  where?: string;
  message: string;
}

export function at(file: string, line?: number): string {
  return line === undefined ? file : `${file}:${line}`;
}

export function formatFinding(f: Finding): string {
  return `${f.level}: ${f.where ? `${f.where}: ` : ""}${f.message}`;
}

/** The comment lines under an imported config's header: every finding but the TODOs (those stand where they apply). */
export function findingLines(findings: readonly Finding[]): string[] {
  const notes = findings.filter((f) => f.level !== "todo");
  return notes.length ? ["", "What was not imported, or changed meaning:", ...notes.map((f) => `  ${formatFinding(f)}`)] : [];
}

/**
 * Findings in file and line order (files in the order read; those with no
 * place last), each once: a note or warning said again elsewhere names the
 * other places instead (the same notify_up on every real server).
 */
export function tidy(findings: readonly Finding[], files: readonly string[]): Finding[] {
  const place = (f: Finding): [number, number] => {
    const m = f.where === undefined ? null : /^(.*):(\d+)$/.exec(f.where);
    const file = files.indexOf(m ? m[1]! : (f.where ?? ""));
    return [file < 0 ? files.length : file, m ? Number(m[2]) : 0];
  };
  const sorted = findings
    .map((f, i) => ({ f, i, p: place(f) }))
    .sort((a, b) => a.p[0] - b.p[0] || a.p[1] - b.p[1] || a.i - b.i)
    .map((x) => x.f);
  const first = new Map<string, { f: Finding; also: string[] }>();
  const out: Finding[] = [];
  for (const f of sorted) {
    const key = f.level === "error" || f.level === "todo" ? formatFinding(f) : `${f.level}|${f.message}`;
    const seen = first.get(key);
    if (!seen) {
      const entry = { f: { ...f }, also: [] as string[] };
      first.set(key, entry);
      out.push(entry.f);
    } else if (f.where !== undefined && f.where !== seen.f.where && !seen.also.includes(f.where)) seen.also.push(f.where);
  }
  for (const { f, also } of first.values()) if (also.length) f.message += ` (also at ${also.join(", ")})`;
  return out;
}
