/**
 * The [[services]] section: one place for a service's servers and how to
 * check them, read by the director (LVS) and, later, the proxy. A check's
 * state machine (rise, fall) and its checkers live beside this file.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration, MAX_WEIGHT, Name } from "../../core/config/primitives.ts";

export const CHECK_KINDS = ["tcp", "http", "https", "misc", "dns", "none"] as const;

const Port = Type.Integer({ minimum: 1, maximum: 65535 });

export const CheckSchema = Type.Object(
  {
    kind: Type.Union(CHECK_KINDS.map((k) => Type.Literal(k)), { default: "tcp", description: "tcp: connect; http, https: GET; misc: a command; dns: a query; none: always healthy" }),
    interval: Duration("time between checks of one server", "5s"),
    timeout: Duration("bound on one check", "3s"),
    rise: Type.Integer({ minimum: 1, maximum: 100, default: 2, description: "successes in a row before a down server is up" }),
    fall: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: "failures in a row before an up server is down" }),
    port: Type.Optional({ ...Port, description: "check this port instead of the server's" }),
    path: Type.String({ pattern: "^/[!-~]*$", maxLength: 2048, default: "/", description: "http, https: the path to GET (with its query), as sent: printable ASCII, no spaces" }),
    status: Type.String({ pattern: "^[1-5][0-9]{2}(-[1-5][0-9]{2})?(,[1-5][0-9]{2}(-[1-5][0-9]{2})?)*$", default: "200-399", description: "http, https: the statuses that pass, as 200 or 200-399, comma-separated" }),
    body: Type.Optional(Type.String({ minLength: 1, description: "http, https: a regular expression the body must match" })),
    digest: Type.Optional(Type.String({ pattern: "^[0-9a-f]{32}$|^[0-9a-f]{64}$", description: "http, https: the body's MD5 (32 hex digits, keepalived's) or SHA-256 (64)" })),
    host: Type.Optional(Type.String({ pattern: "^[!-~]+$", maxLength: 255, description: "http, https: the Host header (virtual host); default: the server's address" })),
    sni: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9._-]+$", maxLength: 255, description: "https: the TLS server name; default: host (none when neither is set)" })),
    verify_tls: Type.Boolean({ default: false, description: "https: refuse a certificate that does not verify" }),
    command: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: "misc: argv run without a shell; exit 0 passes, anything else fails (but see dynamic_weight)" })),
    dynamic_weight: Type.Boolean({ default: false, description: "misc: an exit code of 2-255 sets the server's weight to code - 2" }),
    query: Type.Optional(Type.String({ minLength: 1, description: "dns: the name to ask for" })),
    query_type: Type.Union([Type.Literal("A"), Type.Literal("AAAA"), Type.Literal("SOA"), Type.Literal("NS"), Type.Literal("MX"), Type.Literal("TXT")], { default: "A" }),
  },
  { additionalProperties: false, default: {} },
);

/**
 * A server's own check: any key of the service's check, which it overrides
 * for this server alone (keepalived's checker in each real_server); the keys
 * it leaves out are the service's. No defaults: an absent key is the service's.
 */
export const ServerCheckSchema = (() => {
  const partial = Type.Partial(CheckSchema, { additionalProperties: false, description: "this server's own check: keys that override the service's check for it" });
  delete (partial as { default?: unknown }).default;
  for (const p of Object.values(partial.properties)) delete (p as { default?: unknown }).default;
  return partial;
})();

export const ServerSchema = Type.Object(
  {
    address: Type.String({ minLength: 1, description: "the real server's IPv4 or IPv6 address" }),
    port: Type.Optional({ ...Port, description: "its port; default: the service's port" }),
    weight: Type.Integer({ minimum: 0, maximum: MAX_WEIGHT, default: 1, description: "its share of new connections; 0 takes no new ones" }),
    maxconn: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: "the proxy: requests in flight to it at most, the rest wait in the backend's queue; default: no limit" })),
    backup: Type.Optional(Type.Boolean({ description: "the proxy: used only while no other server of the service is up (default false)" })),
    check: Type.Optional(ServerCheckSchema),
    inhibit_on_failure: Type.Optional(Type.Boolean({ description: "the director: this server, failed, is drained to weight 0 (true) or removed (false); default: its virtual service's inhibit_on_failure" })),
  },
  { additionalProperties: false },
);

export const ServiceSchema = Type.Object(
  {
    name: Name("the service's name"),
    port: Type.Optional({ ...Port, description: "the servers' default port" }),
    servers: Type.Array(ServerSchema, { minItems: 1, description: "the real servers" }),
    check: CheckSchema,
  },
  { additionalProperties: false },
);

export const ServicesSchema = Type.Array(ServiceSchema, { description: "services: their servers and checks, shared by the director and the proxy" });

export type ServiceRaw = Static<typeof ServiceSchema>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    services?: ServiceRaw[];
  }
}
export type CheckRaw = Static<typeof CheckSchema>;
export type ServerRaw = Static<typeof ServerSchema>;

/** The check a server runs: the service's, with the server's own keys over it. */
export function checkOf(service: ServiceRaw, server: ServerRaw): CheckRaw {
  return server.check ? { ...service.check, ...server.check } : service.check;
}
