/**
 * Byte classes of HTTP/1.1 (RFC 9110 §5.6.2, RFC 9112) as lookup tables and
 * the byte helpers the parsers share: no regular expressions, no string
 * splitting on the hot path.
 */

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;
export const SEMICOLON = 59;
export const COMMA = 44;

/** tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1;

/** A field value's byte: HTAB, SP, VCHAR, obs-text; not NUL, CR, LF, other controls or DEL. */
export const isValueByte = (c: number) => (c >= SP && c !== 0x7f) || c === HTAB;

export const isDigit = (c: number) => c >= 48 && c <= 57;

/** The value of a hex digit, or -1. */
export function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** A Buffer over the same memory (no copy), for its native latin1 decoding. */
export const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Bytes s..e equal `lower` (lower-case ASCII letters, digits, "-"), ignoring the case of letters. For token bytes, or field-value bytes already checked (no controls): then only a letter can match another byte than itself. */
export function equalsLower(b: Uint8Array, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((b[s + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * Bytes s..e as a latin1 string (one byte, one char). Buffer's latin1Slice
 * (Node's and Bun's, not in their types) is the fastest way on Bun, well ahead
 * of toString("latin1", s, e); TextDecoder("latin1") would be windows-1252.
 */
export const latin1 = (b: Buffer, s: number, e: number): string => (b as Buffer & { latin1Slice(s: number, e: number): string }).latin1Slice(s, e);

/** Writes `text` (latin1) into `b` at `at`; the bytes written. latin1Write, like latin1Slice, is twice as fast as write(text, at, "latin1") on Bun. */
export const latin1Write = (b: Buffer, text: string, at: number): number => (b as Buffer & { latin1Write(text: string, at: number): number }).latin1Write(text, at);
