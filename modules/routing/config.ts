/**
 * The [routing] section: the node's BGP sessions (peer, its AS, the local AS,
 * optional BFD and password) and where BIRD's files are. Which virtual
 * services are announced is said on each one, `announce = true` in
 * [[director.virtual_service]]: announcing is the director's service, the
 * session is the node's.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration, NAME_PATTERN } from "../../core/config/primitives.ts";
import { parseDuration } from "../../core/duration.ts";
import type { Finding } from "../../core/config/problems.ts";
import type { ConfigSecret, RawConfig } from "../../core/config/schema.ts";
import { parseIp } from "../../core/os/ip.ts";

/** BFD's bounds as BIRD takes them (its intervals are 1 ms to 4294 s; below 10 ms a busy node flaps). */
export const BFD_INTERVAL_MIN_MS = 10;
export const ASN_MAX = 4_294_967_295;

export const BfdSchema = Type.Object(
  {
    interval: Duration("how often BFD packets are sent and expected (BIRD's min tx and min rx interval)", "100ms"),
    multiplier: Type.Integer({ minimum: 1, maximum: 255, default: 3, description: "packets lost in a row before the session is down: detection takes interval × multiplier" }),
  },
  { additionalProperties: false },
);

export const SessionSchema = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, description: "the session's name (BIRD's protocol is tandem_NAME)" }),
    peer: Type.String({ minLength: 1, description: "the neighbour's address (IPv4 or IPv6)" }),
    asn: Type.Integer({ minimum: 1, maximum: ASN_MAX, description: "the neighbour's AS number" }),
    local_asn: Type.Integer({ minimum: 1, maximum: ASN_MAX, description: "this node's AS number" }),
    nodes: Type.Optional(Type.Array(Type.String({ pattern: NAME_PATTERN }), { minItems: 1, description: "the nodes that open this session; default every node that runs the module" })),
    bfd: Type.Optional(BfdSchema),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 80, description: "the session's TCP MD5 password (a secret: prefer password_file)" })),
    password_file: Type.Optional(Type.String({ minLength: 1, description: "a file holding the password, mode 0600, instead of password" })),
    hold_time: Duration("the BGP hold time: without BFD, a dead peer is found this late", "9s"),
  },
  { additionalProperties: false },
);

export const RoutingSchema = Type.Object(
  {
    bird_config: Type.String({ pattern: "^/", default: "/etc/bird/bird.conf", description: "BIRD's main config, the operator's: it must include `include` (Tandem never writes it)" }),
    include: Type.String({ pattern: "^/", default: "/etc/bird/tandem.conf", description: "the file Tandem owns and rewrites: its sessions, its announcements" }),
    socket: Type.String({ pattern: "^/", default: "/run/bird/bird.ctl", description: "BIRD's control socket (birdc -s); in these three paths {node} is the node's name (nodes sharing a file system, as a lab's)" }),
    birdc: Type.String({ minLength: 1, default: "birdc", description: "the birdc command" }),
    bird: Type.String({ minLength: 1, default: "bird", description: "the bird command, run when no BIRD answers on the socket" }),
    poll: Duration("how often the sessions' state is read back from BIRD", "1s"),
    session: Type.Array(SessionSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type RoutingRaw = Static<typeof RoutingSchema>;
export type SessionRaw = Static<typeof SessionSchema>;
export type BfdRaw = Static<typeof BfdSchema>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    routing?: RoutingRaw;
  }
}

/** The sessions this node opens. */
export const sessionsOf = (r: RoutingRaw, node: string): SessionRaw[] => r.session.filter((s) => !s.nodes || s.nodes.includes(node));

/** The module's rules: sessions named once, known nodes, a password one way; announced virtual services need [routing] and an address. */
export function routingRules(c: RawConfig): Finding[] {
  const out: Finding[] = [];
  const err = (path: (string | number)[], message: string, expected?: string) => out.push({ severity: "error", path, message, ...(expected ? { expected } : {}) });
  const r = c.routing;
  const known = new Set(c.nodes.map((n) => n.name));
  const names = new Set<string>();
  r?.session.forEach((s, i) => {
    const at = (k: string) => ["routing", "session", i, k];
    if (names.has(s.name)) err(at("name"), `session name "${s.name}" is used twice`, "a unique name");
    names.add(s.name);
    if (!parseIp(s.peer)) err(at("peer"), `"${s.peer}" is not an IPv4 or IPv6 address`);
    s.nodes?.forEach((n, j) => {
      if (!known.has(n)) err(["routing", "session", i, "nodes", j], `no node named "${n}"`, `one of ${[...known].join(", ")}`);
    });
    if (s.password !== undefined && s.password_file !== undefined) err(at("password"), "a password or a password_file, not both");
    if (s.password !== undefined && /["\\\n]/.test(s.password)) err(at("password"), "a BGP password here may not hold a quote, a backslash or a line break");
    if (s.bfd && parseDuration(s.bfd.interval)! < BFD_INTERVAL_MIN_MS) err(["routing", "session", i, "bfd", "interval"], `BFD faster than every ${BFD_INTERVAL_MIN_MS} ms is refused`);
  });
  (c.director?.virtual_service ?? []).forEach((vs, i) => {
    if (!vs.announce) return;
    const at = ["director", "virtual_service", i, "announce"];
    if (!r) err(at, `virtual service "${vs.name}" is announced, but there is no [routing] section with its BGP sessions`, "a [routing] section");
    if (vs.address === undefined) err(at, `virtual service "${vs.name}" has no address to announce (a fwmark service)`, "an address");
  });
  return out;
}

/** The sessions' passwords: inline ones are warned about when the config is readable by others, files are checked. */
export function routingSecrets(c: RawConfig): ConfigSecret[] {
  return (c.routing?.session ?? []).flatMap((s, i) => [
    ...(s.password !== undefined ? [{ path: ["routing", "session", i, "password"] }] : []),
    ...(s.password_file !== undefined ? [{ path: ["routing", "session", i, "password_file"], file: s.password_file }] : []),
  ]);
}
