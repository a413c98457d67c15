/**
 * Logs are pino JSON lines on stdout. When stdout is a terminal they are
 * rendered for a human instead (time, level, message, fields) in-process:
 * pino-pretty's worker transport does not survive `bun build --compile`.
 */
import pino, { type Logger } from "pino";

export type { Logger };

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const OMIT = new Set(["level", "time", "msg", "pid", "hostname"]);

export function humanLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(Number(rec.time)).toISOString().slice(11, 23);
  const level = (LEVELS[Number(rec.level)] ?? String(rec.level)).padEnd(5);
  const fields = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time} ${level} ${String(rec.msg ?? "")}${fields ? "  " + fields : ""}\n`;
}

export function createLogger(opts: { level: string; node?: string; human?: boolean; write?: (line: string) => void }): Logger {
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const human = opts.human ?? Boolean(process.stdout.isTTY);
  const stream = { write: (line: string) => write(human ? humanLine(line) : line) };
  return pino({ level: opts.level, base: opts.node ? { node: opts.node } : null }, stream);
}
