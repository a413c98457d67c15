/** Durations in the config are strings with a unit, as in ha.cf's `1500ms`. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

export const DURATION_PATTERN = "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$";
const DURATION_RE = new RegExp(DURATION_PATTERN);
/**
 * The longest duration: 2^31-1 ms (about 24.8 days), the most setTimeout
 * takes (a longer one fires at once) and so the longest timer Tandem sets.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** MAX_DURATION_MS as a config writes it, in the words of the problems. */
export const MAX_DURATION_TEXT = "596h";

/**
 * Milliseconds for "150ms", "2s", "1.5m", "1h"; undefined when the text is not
 * a duration or is longer than MAX_DURATION_MS: never Infinity or NaN.
 */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const unit = m[2] as keyof typeof UNIT_MS;
  const ms = Math.round(parseFloat(text) * UNIT_MS[unit]);
  return Number.isFinite(ms) && ms <= MAX_DURATION_MS ? ms : undefined;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
