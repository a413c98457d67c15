/**
 * The [heartbeat] section: timers as in Heartbeat's ha.cf (keepalive is
 * `interval`), the UDP port, and the links. The module's descriptor brings the
 * schema and `heartbeatRules` (its cross-field rules) to the config.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration, NAME_PATTERN } from "../../core/config/primitives.ts";
import { parseDuration } from "../../core/duration.ts";
import type { Finding } from "../../core/config/problems.ts";
import type { RawConfig } from "../../core/config/schema.ts";

export const HEARTBEAT_PORT = 694;

/** At most this many links; a frame names its link by an index below it. */
export const MAX_LINKS = 8;

export const LinkSchema = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, description: "the link's name, used in status, events and metrics" }),
    kind: Type.Union([Type.Literal("ucast"), Type.Literal("mcast"), Type.Literal("bcast")], {
      description: "ucast: to each peer's address; mcast: to a group on an interface; bcast: to the interface's broadcast address",
    }),
    interface: Type.Optional(Type.String({ minLength: 1, maxLength: 15, description: "the network interface of this link (required for mcast and bcast)" })),
    addresses: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), Type.String({ format: "ipv4" }), {
        description: "each node's address on this link, by node name; default: the nodes' own addresses",
      }),
    ),
    group: Type.Optional(Type.String({ format: "ipv4", description: "multicast group (mcast), e.g. 239.192.0.1" })),
    ttl: Type.Integer({ minimum: 1, maximum: 255, default: 1, description: "multicast TTL (mcast)" }),
  },
  { additionalProperties: false },
);

export const PingSchema = Type.Object(
  {
    targets: Type.Array(Type.String({ format: "ipv4" }), { minItems: 1, description: "upstream addresses (a router) whose reachability tells which node is cut off" }),
    interval: Duration("how often each target is pinged", "1s"),
    timeout: Duration("how long a ping may take", "1s"),
  },
  { additionalProperties: false },
);

export const HeartbeatSchema = Type.Object(
  {
    interval: Duration("time between heartbeats on each link (ha.cf keepalive)", "200ms"),
    warntime: Duration("a heartbeat later than this is reported as late", "500ms"),
    deadtime: Duration("a peer silent on every link for this long is declared dead", "1s"),
    initdead: Duration("deadtime for a peer not yet heard since start (ha.cf: at least twice deadtime)", "2s"),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: HEARTBEAT_PORT, description: "UDP port (694, the ha-cluster port)" }),
    encrypt: Type.Boolean({ default: true, description: "encrypt frames (XChaCha20-Poly1305); false authenticates them only" }),
    links: Type.Array(LinkSchema, { minItems: 1, maxItems: MAX_LINKS, description: "the links heartbeats travel on, all at once; a peer is dead only when every link is silent" }),
    ping: Type.Optional(PingSchema),
  },
  { additionalProperties: false },
);

export type HeartbeatRaw = Static<typeof HeartbeatSchema>;
export type LinkRaw = Static<typeof LinkSchema>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    heartbeat?: HeartbeatRaw;
  }
}

interface NodeLike {
  name: string;
  address: string;
}

const MULTICAST = /^(22[4-9]|23\d)\./;

/** Cross-field rules: timer order, every node addressed on every link, what each kind needs. */
export function heartbeatProblems(hb: HeartbeatRaw, nodes: readonly NodeLike[]): Finding[] {
  const out: Finding[] = [];
  const ms = (k: "interval" | "warntime" | "deadtime" | "initdead") => parseDuration(hb[k])!;
  const at = (key: string) => ["heartbeat", key];
  if (ms("interval") <= 0) out.push({ severity: "error", path: at("interval"), message: "interval must be above zero", expected: "a duration above 0" });
  if (ms("deadtime") < 2 * ms("interval"))
    out.push({ severity: "error", path: at("deadtime"), message: `deadtime ${hb.deadtime} is under two intervals (${hb.interval})`, expected: "at least twice the interval" });
  if (ms("warntime") <= ms("interval") || ms("warntime") >= ms("deadtime"))
    out.push({ severity: "error", path: at("warntime"), message: `warntime ${hb.warntime} must lie between interval ${hb.interval} and deadtime ${hb.deadtime}`, expected: "interval < warntime < deadtime" });
  if (ms("initdead") < ms("deadtime"))
    out.push({ severity: "error", path: at("initdead"), message: `initdead ${hb.initdead} is under deadtime ${hb.deadtime}`, expected: "at least deadtime" });
  else if (ms("initdead") < 2 * ms("deadtime"))
    out.push({ severity: "warning", path: at("initdead"), message: `initdead ${hb.initdead} is under twice deadtime; a slow boot of the network may look like a dead peer` });
  const names = new Set<string>();
  hb.links.forEach((link, i) => {
    const path = (...k: (string | number)[]) => ["heartbeat", "links", i, ...k];
    if (names.has(link.name)) out.push({ severity: "error", path: path("name"), message: `link name "${link.name}" is used twice`, expected: "a unique name" });
    names.add(link.name);
    if ((link.kind === "mcast" || link.kind === "bcast") && !link.interface)
      out.push({ severity: "error", path: path("interface"), message: `a ${link.kind} link needs its interface`, expected: "an interface name like eth1" });
    if (link.kind === "mcast" && !link.group) out.push({ severity: "error", path: path("group"), message: "an mcast link needs its group", expected: "a multicast address like 239.192.0.1" });
    if (link.group && !MULTICAST.test(link.group))
      out.push({ severity: "error", path: path("group"), message: `${link.group} is not a multicast address`, expected: "an address in 224.0.0.0/4", found: link.group });
    if (link.kind !== "mcast" && link.group) out.push({ severity: "error", path: path("group"), message: `group is only for mcast links, this one is ${link.kind}` });
    const known = new Set(nodes.map((n) => n.name));
    for (const n of Object.keys(link.addresses ?? {}))
      if (!known.has(n)) out.push({ severity: "error", path: path("addresses", n), message: `no node named "${n}"`, expected: `one of ${[...known].join(", ")}` });
    if (link.addresses) {
      for (const n of nodes)
        if (!link.addresses[n.name]) out.push({ severity: "error", path: path("addresses"), message: `node "${n.name}" has no address on link "${link.name}"`, expected: "an address for every node" });
      const seen = new Map<string, string>();
      for (const [n, a] of Object.entries(link.addresses)) {
        const other = seen.get(a);
        if (other) out.push({ severity: "error", path: path("addresses", n), message: `address ${a} is also ${other}'s on this link`, expected: "a unique address" });
        seen.set(a, n);
      }
    }
  });
  hb.links.forEach((link, j) =>
    hb.links.slice(0, j).forEach((other) => {
      const clash = nodes.find((n) => receiveEndpoint(link, n) !== undefined && receiveEndpoint(link, n) === receiveEndpoint(other, n));
      if (clash)
        out.push({
          severity: "error",
          path: ["heartbeat", "links", j],
          message: `links "${other.name}" and "${link.name}" would both receive on ${receiveEndpoint(link, clash)} on node "${clash.name}", so their datagrams could not be told apart`,
          expected: "each link on its own address, group or interface",
        });
    }),
  );
  if (hb.links.length === 1) out.push({ severity: "warning", path: ["heartbeat", "links"], message: "one heartbeat link: a single cable or switch fault looks like a dead peer", hint: "add a second link on another network" });
  return out;
}

/**
 * What a link's socket binds to on a node (see links.ts): its address on the
 * link (ucast), the group (mcast), the interface's broadcast address (bcast).
 */
function receiveEndpoint(link: LinkRaw, node: NodeLike): string | undefined {
  if (link.kind === "mcast") return link.group && `group ${link.group}`;
  if (link.kind === "bcast") return link.interface && `the broadcast address of ${link.interface}`;
  return linkAddress(link, node);
}

/** A node's address on a link: the link's table, else the node's own address. */
export function linkAddress(link: LinkRaw, node: NodeLike): string {
  return link.addresses?.[node.name] ?? node.address;
}

/** The module's rules on the whole config: its section's, or a warning when a cluster of several nodes has none. */
export function heartbeatRules(c: RawConfig): Finding[] {
  if (c.heartbeat) return heartbeatProblems(c.heartbeat, c.nodes);
  if (c.nodes.length > 1)
    return [{ severity: "warning", path: [], message: "no [heartbeat] section: the nodes will not know whether the others are alive", hint: "add [heartbeat] with at least one link" }];
  return [];
}
