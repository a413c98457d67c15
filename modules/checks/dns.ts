/**
 * The dns checker: one query over UDP (RFC 1035), recursion desired, and a
 * pass when the answer has RCODE 0 (NOERROR) and at least one record of the
 * type asked. The reader walks a response with bounds on every step: it
 * never reads past the datagram, never follows a compression pointer (names
 * are skipped, not read), looks at DNS_MAX_RECORDS records at most, and
 * answers a verdict for any bytes at all instead of throwing.
 */
import { parseDuration } from "../../core/duration.ts";
import type { CheckRaw } from "./config.ts";
import type { CheckOutcome, Target } from "./target.ts";
import { describeError, withTimeout } from "./socket.ts";

export const DNS_TYPES = { A: 1, NS: 2, SOA: 6, MX: 15, TXT: 16, AAAA: 28 } as const;
export type DnsType = keyof typeof DNS_TYPES;

/** The most questions and answers of a response that are read. */
const DNS_MAX_RECORDS = 64;
const HEADER_BYTES = 12;
const CLASS_IN = 1;
const MAX_LABEL = 63;
const MAX_NAME = 255;
const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"];

/** A query for `name`, or the reason it cannot be one (a label over 63 bytes, a name over 255, not ASCII). */
export function encodeQuery(id: number, name: string, type: DnsType): Uint8Array | string {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const labels = trimmed === "" ? [] : trimmed.split(".");
  const qname: number[] = [];
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL) return `"${name}" has a label that is empty or over ${MAX_LABEL} bytes`;
    if (!/^[\x21-\x7e]+$/.test(label)) return `"${name}" is not ASCII (write an international name in its xn-- form)`;
    qname.push(label.length, ...Array.from(label, (ch) => ch.charCodeAt(0)));
  }
  qname.push(0);
  if (qname.length > MAX_NAME) return `"${name}" is over ${MAX_NAME} bytes`;
  const out = new Uint8Array(HEADER_BYTES + qname.length + 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, id);
  v.setUint16(2, 0x0100); // a standard query, recursion desired
  v.setUint16(4, 1); // one question
  out.set(qname, HEADER_BYTES);
  v.setUint16(HEADER_BYTES + qname.length, DNS_TYPES[type]);
  v.setUint16(HEADER_BYTES + qname.length + 2, CLASS_IN);
  return out;
}

export type DnsVerdict =
  /** Not an answer to this query (another id): wait for the next datagram. */
  | { kind: "other" }
  | { kind: "answer"; records: number }
  | { kind: "fail"; message: string };

/** The offset past the name at `at`, or -1 when it runs past the end or has a label type that is not defined. */
function skipName(b: Uint8Array, at: number): number {
  for (let i = at; i < b.length; ) {
    const len = b[i]!;
    if (len === 0) return i + 1;
    if ((len & 0xc0) === 0xc0) return i + 2 <= b.length ? i + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    i += 1 + len;
  }
  return -1;
}

/** What a datagram says as an answer to query `id` for `type`. Never throws. */
export function readResponse(b: Uint8Array, id: number, type: DnsType): DnsVerdict {
  if (b.length < HEADER_BYTES) return { kind: "fail", message: `a malformed response (${b.length} bytes)` };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint16(0) !== id) return { kind: "other" };
  const flags = v.getUint16(2);
  if ((flags & 0x8000) === 0) return { kind: "fail", message: "a query came back, not a response" };
  const rcode = flags & 0x000f;
  if (rcode !== 0) return { kind: "fail", message: `${RCODES[rcode] ?? `RCODE ${rcode}`}` };
  const truncated = (flags & 0x0200) !== 0;
  const questions = Math.min(v.getUint16(4), DNS_MAX_RECORDS);
  const answers = Math.min(v.getUint16(6), DNS_MAX_RECORDS);
  let at = HEADER_BYTES;
  for (let i = 0; i < questions; i++) {
    at = skipName(b, at);
    if (at < 0 || at + 4 > b.length) return { kind: "fail", message: "a malformed response (its question)" };
    at += 4;
  }
  let records = 0;
  for (let i = 0; i < answers; i++) {
    at = skipName(b, at);
    if (at < 0 || at + 10 > b.length) break;
    const rtype = v.getUint16(at);
    const end = at + 10 + v.getUint16(at + 8);
    if (end > b.length) break;
    if (rtype === DNS_TYPES[type]) records++;
    at = end;
  }
  if (records > 0) return { kind: "answer", records };
  return { kind: "fail", message: `NOERROR, but no ${type} record in the answer${truncated ? " (truncated)" : ""}` };
}

function queryId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0]!;
}

export async function dnsCheck(target: Target, check: CheckRaw, signal: AbortSignal): Promise<CheckOutcome> {
  if (target.port === null) return { ok: false, message: "no port to check" };
  if (check.query === undefined) return { ok: false, message: "no query to ask" };
  const id = queryId();
  const query = encodeQuery(id, check.query, check.query_type);
  if (typeof query === "string") return { ok: false, message: query };
  const bound = withTimeout(signal, parseDuration(check.timeout)!);
  const outcome = await new Promise<CheckOutcome | null>((resolve) => {
    let socket: { close(): void } | null = null;
    let settled = false;
    const finish = (out: CheckOutcome | null) => {
      if (settled) return;
      settled = true;
      bound.signal.removeEventListener("abort", onAbort);
      socket?.close();
      resolve(out);
    };
    const onAbort = () => finish(null);
    bound.signal.addEventListener("abort", onAbort, { once: true });
    Bun.udpSocket({
      connect: { hostname: target.address, port: target.port! },
      socket: {
        data(_s, datagram) {
          const verdict = readResponse(datagram, id, check.query_type);
          if (verdict.kind === "answer") finish({ ok: true, message: `${verdict.records} ${check.query_type} record${verdict.records === 1 ? "" : "s"}` });
          else if (verdict.kind === "fail") finish({ ok: false, message: verdict.message });
        },
        // Without this handler an ICMP port unreachable is an uncaught exception (see modules/heartbeat/README.md, Links).
        error(err: unknown) {
          finish({ ok: false, message: describeError(err) });
        },
      },
    }).then(
      (s) => {
        socket = s;
        if (settled) return s.close();
        try {
          if (!s.send(query)) finish({ ok: false, message: "the query could not be sent" });
        } catch (err) {
          finish({ ok: false, message: `send: ${describeError(err)}` });
        }
      },
      (err) => finish({ ok: false, message: `socket: ${describeError(err)}` }),
    );
    if (bound.signal.aborted) finish(null);
  });
  bound.clear();
  return outcome ?? { ok: false, message: bound.why() };
}
