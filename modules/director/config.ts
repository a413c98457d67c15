/**
 * The [director] section: virtual services (LVS) by address, port and
 * protocol, or by firewall mark, each naming a [[services]] entry for its real
 * servers and their check, with the LVS settings (scheduler, forwarding,
 * persistence, sorry server, quorum) and which dataplane programs them.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration, Name, NAME_PATTERN } from "../../core/config/primitives.ts";
import { parseDuration } from "../../core/duration.ts";
import type { Finding } from "../../core/config/problems.ts";
import type { RawConfig } from "../../core/config/schema.ts";
import { checkOf, type CheckRaw, type ServiceRaw } from "../checks/config.ts";
import { parseHostPort, parseIp } from "../../core/os/ip.ts";

const familyOfAddress = (a: string) => parseIp(a)?.length;

/** IPVS's schedulers; the nftables dataplane has rr, wrr, sh and mh (see its README). */
export const SCHEDULERS = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"] as const;
export const FORWARDING = ["nat", "dr", "tun"] as const;
export const DATAPLANES = ["auto", "ipvs", "nftables"] as const;
/** active-passive: one active director (the pair's); active-active: every member is an active director, behind routers that spread flows (ECMP). */
export const DIRECTOR_MODES = ["active-passive", "active-active"] as const;

export const VirtualServiceSchema = Type.Object(
  {
    name: Name("the virtual service's name"),
    address: Type.Optional(Type.String({ minLength: 1, description: "the virtual address (IPv4 or IPv6), usually an `address` resource's" })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: "the virtual port; 0 with persistence: every port" })),
    protocol: Type.Union([Type.Literal("tcp"), Type.Literal("udp")], { default: "tcp" }),
    fwmark: Type.Optional(Type.Integer({ minimum: 1, maximum: 0xffffffff, description: "a firewall mark instead of address and port" })),
    service: Type.String({ pattern: NAME_PATTERN, description: "the [[services]] entry with its real servers and their check" }),
    scheduler: Type.Union(SCHEDULERS.map((s) => Type.Literal(s)), { default: "wlc" }),
    forwarding: Type.Union(FORWARDING.map((f) => Type.Literal(f)), { default: "nat", description: "nat (masquerading), dr (direct routing, gatewaying), tun (IP-in-IP)" }),
    persistence: Type.Optional(Duration("a client keeps its real server this long after its last connection")),
    persistence_netmask: Type.Optional(Type.String({ minLength: 1, description: "clients in one such network share persistence (IPv4 mask, e.g. 255.255.255.0)" })),
    sorry_server: Type.Optional(Type.String({ minLength: 1, description: "ADDRESS:PORT used when no real server is healthy" })),
    quorum: Type.Integer({ minimum: 0, default: 0, description: "healthy weight below which the service is failed (keepalived's quorum); 0: never" }),
    hysteresis: Type.Integer({ minimum: 0, default: 0, description: "the service is up again at quorum + hysteresis" }),
    inhibit_on_failure: Type.Boolean({ default: false, description: "a failed server is drained to weight 0 instead of removed (ldirectord's quiescent)" }),
    alpha: Type.Boolean({ default: false, description: "new servers start down until their first checks pass" }),
    announce: Type.Optional(Type.Boolean({ description: "announce the virtual address over BGP (the routing module) while this node may serve it" })),
  },
  { additionalProperties: false },
);

/** conntrackd's sync modes: FTFW (reliable, acked) or NOTRACK (best effort). */
export const SYNC_MODES = ["ftfw", "notrack"] as const;

/**
 * Connection synchronisation between the directors: conntrackd on nftables,
 * the kernel's sync daemon on IPVS; the active director sends, the others
 * keep what they receive, and a takeover commits it.
 */
export const SyncSchema = Type.Object(
  {
    interface: Type.String({ minLength: 1, maxLength: 15, description: "the link the directors synchronise connections over (a dedicated one is best)" }),
    addresses: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), Type.String({ format: "ipv4" }), {
        description: "each director's address on that link, by node name; default: the nodes' own addresses",
      }),
    ),
    group: Type.Optional(Type.String({ format: "ipv4", description: "a multicast group (e.g. 225.0.0.50) instead of unicast between the pair; needed with more than two directors" })),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 3780, description: "the UDP port of the synchronisation (conntrackd's; IPVS's with a group)" }),
    id: Type.Integer({ minimum: 0, maximum: 255, default: 0, description: "IPVS's sync id: the daemons of one pair share it (keepalived's lvs_sync_daemon id)" }),
    mode: Type.Union(SYNC_MODES.map((m) => Type.Literal(m)), { default: "ftfw", description: "conntrackd: ftfw (acked, resent) or notrack (best effort)" }),
    run_dir: Type.Optional(Type.String({ minLength: 1, description: "where conntrackd's config, socket and lock are kept, in conntrackd-CLUSTER-NODE below it; default /run/tandem" })),
  },
  { additionalProperties: false },
);

export const DirectorSchema = Type.Object(
  {
    dataplane: Type.Union(DATAPLANES.map((d) => Type.Literal(d)), { default: "auto", description: "auto: ipvs when the kernel has it, else nftables" }),
    mode: Type.Optional(
      Type.Union(DIRECTOR_MODES.map((m) => Type.Literal(m)), {
        description: "active-passive (default): one active director; active-active: every member is active (a director resource must be a clone), with consistent hashing, each announcing its virtual addresses",
      }),
    ),
    check_concurrency: Type.Integer({ minimum: 1, maximum: 4096, default: 64, description: "checks in flight at once, at most" }),
    virtual_service: Type.Array(VirtualServiceSchema, { default: [] }),
    sync: Type.Optional(SyncSchema),
  },
  { additionalProperties: false },
);

export type DirectorRaw = Static<typeof DirectorSchema>;
export type VirtualServiceRaw = Static<typeof VirtualServiceSchema>;
export type SyncRaw = Static<typeof SyncSchema>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    director?: DirectorRaw;
  }
}

/** Cross-field rules of [[services]] and [director]: names unique and known, an address and port or a fwmark, what each check kind needs. */
export function directorProblems(director: DirectorRaw | undefined, services: readonly ServiceRaw[]): Finding[] {
  const out: Finding[] = [];
  const err = (path: (string | number)[], message: string, expected?: string) => out.push({ severity: "error", path, message, ...(expected ? { expected } : {}) });
  const names = new Set<string>();
  services.forEach((s, i) => {
    if (names.has(s.name)) err(["services", i, "name"], `service name "${s.name}" is used twice`, "a unique name");
    names.add(s.name);
    const checkProblems = (c: CheckRaw, at: (string | number)[]) => {
      if (c.kind === "misc" && !c.command) err([...at, "command"], "a misc check needs its command", 'an argv array like ["/usr/local/bin/check-web"]');
      if (c.kind === "dns" && !c.query) err([...at, "query"], "a dns check needs the name to query");
      if (c.body !== undefined) {
        try {
          new RegExp(c.body);
        } catch (e) {
          err([...at, "body"], `not a regular expression: ${(e as Error).message}`);
        }
      }
      if (parseDuration(c.interval)! < MIN_CHECK_INTERVAL_MS) err([...at, "interval"], `checks more often than every ${MIN_CHECK_INTERVAL_MS} ms are refused`);
      if (parseDuration(c.timeout)! <= 0) err([...at, "timeout"], "a check needs a timeout above zero");
    };
    checkProblems(s.check, ["services", i, "check"]);
    s.servers.forEach((srv, j) => {
      if (srv.check) checkProblems(checkOf(s, srv), ["services", i, "servers", j, "check"]);
    });
    const seen = new Set<string>();
    s.servers.forEach((srv, j) => {
      const port = srv.port ?? s.port;
      const id = `${srv.address}:${port}`;
      if (seen.has(id)) err(["services", i, "servers", j], `server ${id} is listed twice`);
      seen.add(id);
      if (!familyOfAddress(srv.address)) err(["services", i, "servers", j, "address"], `"${srv.address}" is not an IPv4 or IPv6 address`);
    });
  });
  const vsNames = new Set<string>();
  (director?.virtual_service ?? []).forEach((vs, i) => {
    const at = (k?: string) => ["director", "virtual_service", i, ...(k ? [k] : [])];
    if (vsNames.has(vs.name)) err(at("name"), `virtual service name "${vs.name}" is used twice`, "a unique name");
    vsNames.add(vs.name);
    if (!names.has(vs.service)) err(at("service"), `no service named "${vs.service}"`, "a [[services]] entry");
    if (vs.fwmark !== undefined && (vs.address !== undefined || vs.port !== undefined)) err(at(), "a virtual service has a fwmark or an address and port, not both");
    if (vs.fwmark === undefined && (vs.address === undefined || vs.port === undefined)) err(at(), "a virtual service needs an address and a port, or a fwmark");
    if (vs.address !== undefined && !familyOfAddress(vs.address)) err(at("address"), `"${vs.address}" is not an IPv4 or IPv6 address`);
    if (vs.sorry_server !== undefined && !parseHostPort(vs.sorry_server)) err(at("sorry_server"), `"${vs.sorry_server}" is not ADDRESS:PORT`, "198.18.7.200:80 or [fd00::1]:80");
    if (vs.persistence_netmask !== undefined && vs.persistence === undefined) err(at("persistence_netmask"), "persistence_netmask without persistence");
    if (vs.hysteresis > vs.quorum) err(at("hysteresis"), `hysteresis ${vs.hysteresis} is over quorum ${vs.quorum}`);
  });
  return out;
}

/** The shortest check interval accepted. */
export const MIN_CHECK_INTERVAL_MS = 100;

/** The sync section's rules: addresses of known nodes, and a group when more than two directors (members) sync. */
export function syncProblems(sync: SyncRaw, nodes: readonly { name: string }[]): Finding[] {
  const out: Finding[] = [];
  const at = (...k: string[]) => ["director", "sync", ...k];
  const known = new Set(nodes.map((n) => n.name));
  for (const n of Object.keys(sync.addresses ?? {}))
    if (!known.has(n)) out.push({ severity: "error", path: at("addresses", n), message: `no node named "${n}"`, expected: `one of ${[...known].join(", ")}` });
  if (nodes.length > 2 && sync.group === undefined)
    out.push({ severity: "error", path: at("group"), message: `${nodes.length} directors: unicast synchronisation is between a pair; more directors need a multicast group`, expected: 'a group such as "225.0.0.50"' });
  return out;
}

/** Schedulers that send a flow to the same real server on every director that has the same servers and weights: what routers' ECMP needs when they move a flow. */
export const CONSISTENT_SCHEDULERS: readonly VirtualServiceRaw["scheduler"][] = ["mh", "sh"];

/**
 * active-active: every director serves at once (routers spread flows over
 * them), so each virtual service needs a consistent-hash scheduler, and a
 * director resource must be a clone (one instance per director); a resource
 * that is not runs on one node, which is active-passive.
 */
export function activeActiveProblems(c: RawConfig): Finding[] {
  if (c.director?.mode !== "active-active") return [];
  const out: Finding[] = [];
  c.director.virtual_service.forEach((vs, i) => {
    if (!CONSISTENT_SCHEDULERS.includes(vs.scheduler))
      out.push({
        severity: "error",
        path: ["director", "virtual_service", i, "scheduler"],
        message: `active-active: scheduler "${vs.scheduler}" sends a flow that the routers move to another director to another real server`,
        expected: 'a consistent hash: "mh" (Maglev) or "sh"',
      });
  });
  const rs = c.resources;
  (rs?.resource ?? []).forEach((r, i) => {
    if (r.agent !== "director") return;
    const group = rs!.group.find((g) => g.members.includes(r.name));
    if (group ? group.clone : r.clone) return;
    out.push({
      severity: "error",
      path: group ? ["resources", "group", rs!.group.indexOf(group), "clone"] : ["resources", "resource", i, "clone"],
      message: `active-active: the director resource "${r.name}" runs on one node at a time${group ? ` (its group "${group.name}" is not a clone)` : ""}`,
      expected: "clone = true",
    });
  });
  return out;
}

/** The module's rules on the whole config, when it has [director] or [[services]]. */
export function directorRules(c: RawConfig): Finding[] {
  const directors = (c.nodes ?? []).filter((n) => (n.roles ?? ["member"]).includes("member"));
  const sync = c.director?.sync ? syncProblems(c.director.sync, directors) : [];
  return c.director || c.services ? [...directorProblems(c.director, c.services ?? []), ...sync, ...activeActiveProblems(c)] : [];
}
