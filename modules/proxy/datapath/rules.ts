/**
 * A frontend's use_backend rules, compiled once per config: the first rule
 * whose conditions all hold names the backend, else the default. Pure: the
 * request is what the head parser read, the source what the socket (or the
 * PROXY header) says.
 */
import { parseCidr, parseIp } from "../../../core/os/ip.ts";
import type { RuleRaw } from "../config.ts";

/** What a rule looks at. Header names are asked in lower case. */
export interface RuleInput {
  /** The client's address (text), after a PROXY header if the frontend accepts one. */
  source: string;
  /** http only: null in tcp mode. */
  method: string | null;
  /** The request target (path with its query). */
  target: string | null;
  /** The Host header (or the authority of an absolute target). */
  host: string | null;
  header(name: string): string | undefined;
}

export interface CompiledRule {
  backend: string;
  matches(r: RuleInput): boolean;
}

interface Net {
  bytes: Uint8Array;
  prefixLength: number;
}

/** The address (IPv4-mapped IPv6 taken as IPv4) in the network? */
export function inNetwork(address: string, net: Net): boolean {
  let a = parseIp(address);
  if (a && a.length === 16 && net.bytes.length === 4 && a.slice(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff))) a = a.slice(12);
  if (!a || a.length !== net.bytes.length) return false;
  const full = net.prefixLength >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== net.bytes[i]) return false;
  const rest = net.prefixLength & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full]! & mask) === (net.bytes[full]! & mask);
}

/** A Host header's name alone: port and a trailing dot aside, lower case. */
export function hostName(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.lastIndexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

function hostMatcher(patterns: string[]): (host: string) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const p of patterns.map((x) => x.toLowerCase())) {
    if (p.startsWith("*.")) suffixes.push(p.slice(1));
    else exact.add(p);
  }
  return (host) => exact.has(host) || suffixes.some((s) => host.endsWith(s) && host.length > s.length);
}

export function compileRule(raw: RuleRaw): CompiledRule {
  const checks: ((r: RuleInput) => boolean)[] = [];
  if (raw.source) {
    const nets = raw.source.map((s) => parseCidr(s));
    checks.push((r) => nets.some((n) => inNetwork(r.source, n)));
  }
  if (raw.method) {
    const methods = new Set<string>(raw.method);
    checks.push((r) => r.method !== null && methods.has(r.method));
  }
  if (raw.host) {
    const match = hostMatcher(raw.host);
    checks.push((r) => r.host !== null && match(hostName(r.host)));
  }
  if (raw.path_prefix) {
    const prefixes = raw.path_prefix;
    checks.push((r) => r.target !== null && prefixes.some((p) => r.target!.startsWith(p)));
  }
  if (raw.path_regex !== undefined) {
    const re = new RegExp(raw.path_regex);
    checks.push((r) => r.target !== null && re.test(r.target));
  }
  if (raw.header) {
    const name = raw.header.name.toLowerCase();
    const { value } = raw.header;
    const re = raw.header.value_regex !== undefined ? new RegExp(raw.header.value_regex) : null;
    checks.push((r) => {
      const v = r.header(name);
      if (v === undefined) return false;
      if (value !== undefined && v !== value) return false;
      return re === null || re.test(v);
    });
  }
  return { backend: raw.backend, matches: (r) => checks.every((c) => c(r)) };
}

/** The backend for a request: the first matching rule's, else the default. */
export function route(rules: readonly CompiledRule[], fallback: string, r: RuleInput): string {
  for (const rule of rules) if (rule.matches(r)) return rule.backend;
  return fallback;
}
