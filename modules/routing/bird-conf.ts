/**
 * The BIRD include that Tandem owns, pure: from the node's sessions and the
 * prefixes to announce, the text of one file that the operator's bird.conf
 * includes. Everything in it is Tandem's by name (`tandem*`), so the
 * operator's own protocols, filters and tables are left alone:
 *
 * - the announced prefixes live in tables of their own (`tandem4`,
 *   `tandem6`), filled by a static protocol: the operator's kernel protocol
 *   (on master4/master6) never sees them, so nothing reaches the node's
 *   routing table;
 * - each session is a BGP protocol `tandem_NAME` that exports those tables
 *   and imports nothing: a director announces, it does not route;
 * - BFD, when a session asks for it, runs in one `tandem_bfd` protocol, with
 *   the session's intervals set on its BGP protocol (so the operator's config
 *   must not have a BFD protocol of its own: two would share BFD's port).
 *
 * With nothing to announce the static protocols hold no route and the
 * sessions stay up with nothing exported: a withdrawal is an UPDATE, not a
 * session reset, and the next announcement needs no new session.
 */
import { parseDuration } from "../../core/duration.ts";
import type { SessionRaw } from "./config.ts";

export interface BirdSession {
  name: string;
  peer: string;
  asn: number;
  localAsn: number;
  holdTimeS: number;
  bfd?: { intervalMs: number; multiplier: number };
  password?: string;
}

/** The protocol's name in BIRD for a session of the config. */
export const protocolName = (session: string): string => `tandem_${session.replace(/-/g, "_")}`;
export const BFD_PROTOCOL = "tandem_bfd";

/** BIRD's hold time is whole seconds, at least 3 (RFC 4271). */
export const holdSeconds = (s: SessionRaw): number => Math.max(3, Math.ceil(parseDuration(s.hold_time)! / 1000));

const quote = (s: string): string => `"${s}"`;

/**
 * A session that failed (the peer restarted, BFD went down) is tried again
 * after ERROR_WAIT_S (doubling up to max), and a connect that got no answer
 * every CONNECT_RETRY_S: BIRD's defaults (60–300 s, 120 s) would keep a
 * director out of the routers' paths for minutes after a router comes back.
 */
export const CONNECT_RETRY_S = 5;
export const ERROR_WAIT_S = { min: 1, max: 30 } as const;

function bgp(s: BirdSession): string {
  const family = s.peer.includes(":") ? "ipv6" : "ipv4";
  return [
    `protocol bgp ${protocolName(s.name)} {`,
    `  local as ${s.localAsn};`,
    `  neighbor ${s.peer} as ${s.asn};`,
    `  hold time ${s.holdTimeS};`,
    `  connect retry time ${CONNECT_RETRY_S};`,
    `  error wait time ${ERROR_WAIT_S.min}, ${ERROR_WAIT_S.max};`,
    ...(s.password !== undefined ? [`  password ${quote(s.password)};`] : []),
    ...(s.bfd ? [`  bfd { min rx interval ${s.bfd.intervalMs} ms; min tx interval ${s.bfd.intervalMs} ms; multiplier ${s.bfd.multiplier}; };`] : []),
    ...(family === "ipv4"
      ? ["  ipv4 { table tandem4; import none; export all; };", "  ipv6 { table tandem6; import none; export all; };"]
      : ["  ipv6 { table tandem6; import none; export all; };"]),
    "}",
  ].join("\n");
}

/** BIRD's BFD protocol, which the sessions that ask for BFD use (each with its own intervals). */
const bfd = (sessions: readonly BirdSession[]): string[] => (sessions.some((s) => s.bfd) ? [`protocol bfd ${BFD_PROTOCOL} {`, "}"] : []);

function statics(family: "ipv4" | "ipv6", prefixes: readonly string[]): string[] {
  const table = family === "ipv4" ? "tandem4" : "tandem6";
  return [`protocol static ${table}_announce {`, `  ${family} { table ${table}; };`, ...prefixes.map((p) => `  route ${p} blackhole;`), "}"];
}

/** The include's text: a header, the tables, the announcements, BFD, the sessions. */
export function renderInclude(o: { cluster: string; node: string; sessions: readonly BirdSession[]; prefixes: readonly string[] }): string {
  const v6 = o.prefixes.filter((p) => p.includes(":"));
  const v4 = o.prefixes.filter((p) => !p.includes(":"));
  return [
    `# Written by Tandem (cluster ${o.cluster}, node ${o.node}); rewritten at every change: do not edit.`,
    "# The operator's bird.conf includes this file; everything here is named tandem*.",
    "ipv4 table tandem4;",
    "ipv6 table tandem6;",
    ...statics("ipv4", v4),
    ...statics("ipv6", v6),
    ...bfd(o.sessions),
    ...o.sessions.map(bgp),
    "",
  ].join("\n");
}

/** The session as BIRD gets it, its password read already (from the config or its file). */
export function birdSession(s: SessionRaw, password: string | undefined): BirdSession {
  return {
    name: s.name,
    peer: s.peer,
    asn: s.asn,
    localAsn: s.local_asn,
    holdTimeS: holdSeconds(s),
    ...(s.bfd ? { bfd: { intervalMs: parseDuration(s.bfd.interval)!, multiplier: s.bfd.multiplier } } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/** Whether the operator's config includes the file: an `include "PATH";` line, not commented out. */
export function includes(birdConf: string, include: string): boolean {
  return birdConf.split("\n").some((line) => {
    const m = /^\s*include\s+"([^"]+)"\s*;/.exec(line);
    return m !== null && m[1] === include;
  });
}
