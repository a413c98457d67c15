/** Heartbeat's files as it read them: `#` to the end of a line is a comment, words split at white space. */

export interface Line {
  line: number;
  words: string[];
}

export function readLines(text: string): Line[] {
  const out: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const words = raw.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    if (words.length) out.push({ line: i + 1, words });
  });
  return out;
}
