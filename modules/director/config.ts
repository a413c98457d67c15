/**
 * The [director] section: virtual services (LVS) by address, port and
 * protocol, or by firewall mark, each naming a [[services]] entry for its real
 * servers and their check, with the LVS settings (scheduler, forwarding,
 * persistence, sorry server, quorum) and which dataplane programs them.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration, Name, NAME_PATTERN } from "../../core/config/primitives.ts";

/** IPVS's schedulers; the nftables dataplane has rr, wrr, sh and mh (see its README). */
export const SCHEDULERS = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"] as const;
export const FORWARDING = ["nat", "dr", "tun"] as const;
export const DATAPLANES = ["auto", "ipvs", "nftables"] as const;

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
  },
  { additionalProperties: false },
);

export const DirectorSchema = Type.Object(
  {
    dataplane: Type.Union(DATAPLANES.map((d) => Type.Literal(d)), { default: "auto", description: "auto: ipvs when the kernel has it, else nftables" }),
    check_concurrency: Type.Integer({ minimum: 1, maximum: 4096, default: 64, description: "checks in flight at once, at most" }),
    virtual_service: Type.Array(VirtualServiceSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type DirectorRaw = Static<typeof DirectorSchema>;
export type VirtualServiceRaw = Static<typeof VirtualServiceSchema>;
