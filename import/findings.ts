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
