/**
 * The [proxy] section: frontends (what the proxy listens on, in `http` or
 * `tcp` mode, with TLS termination and the rules that pick a backend) and
 * backends (a [[services]] entry's servers, with how to balance over them,
 * stick clients to them, watch live traffic, retry, queue and time out).
 * HAProxy's words where it has one: frontend, backend, balance, maxconn,
 * backup, observe, error-limit, redispatch, send-proxy, accept-proxy.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration, Name, NAME_PATTERN } from "../../core/config/primitives.ts";
import type { Finding } from "../../core/config/problems.ts";
import type { RawConfig } from "../../core/config/schema.ts";
import { parseCidr, parseHostPort } from "../../core/os/ip.ts";

export const MODES = ["http", "tcp"] as const;
/** HAProxy's `balance` algorithms; `random` draws two servers and takes the less loaded (power of two choices). */
export const BALANCE = ["roundrobin", "static-rr", "leastconn", "first", "random", "source", "uri", "url_param", "hdr"] as const;
export const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"] as const;
export const PROXY_PROTOCOL = ["v1", "v2"] as const;

/** The bound on a request or response head the proxy reads, whatever the config says. */
export const MAX_HEAD_BYTES = 1024 * 1024;

const Bind = Type.String({ minLength: 1, description: "ADDRESS:PORT to listen on ([::]:443 for IPv6)" });

export const CertificateSchema = Type.Object(
  {
    cert_file: Type.String({ minLength: 1, description: "PEM certificate chain, leaf first" }),
    key_file: Type.String({ minLength: 1, description: "its PEM private key (a secret file: mode 0600 or 0400)" }),
    server_names: Type.Optional(Type.Array(Type.String({ pattern: "^(\\*\\.)?[A-Za-z0-9.-]+$", maxLength: 255 }), { minItems: 1, description: "SNI names it serves (a leading *. is a wildcard); default: the names in the certificate" })),
  },
  { additionalProperties: false },
);

export const RuleSchema = Type.Object(
  {
    backend: Type.String({ pattern: NAME_PATTERN, description: "the backend a matching request goes to" }),
    host: Type.Optional(Type.Array(Type.String({ pattern: "^(\\*\\.)?[A-Za-z0-9.-]+$", maxLength: 255 }), { minItems: 1, description: "http: the Host (port aside, any case); *.example.com matches its subdomains" })),
    path_prefix: Type.Optional(Type.Array(Type.String({ pattern: "^/[!-~]*$", maxLength: 2048 }), { minItems: 1, description: "http: the path starts with one of these" })),
    path_regex: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "http: a regular expression on the path (with its query)" })),
    header: Type.Optional(Type.Object({ name: Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), value: Type.Optional(Type.String({ description: "exact value; absent: the header is present" })), value_regex: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) }, { additionalProperties: false, description: "http: a request header" })),
    method: Type.Optional(Type.Array(Type.Union(METHODS.map((m) => Type.Literal(m))), { minItems: 1, description: "http: the request method is one of these" })),
    source: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "the client's address is in one of these networks (CIDR)" })),
  },
  { additionalProperties: false, description: "all the conditions given must hold (and); the first rule that matches wins" },
);

export const FrontendSchema = Type.Object(
  {
    name: Name("the frontend's name"),
    bind: Type.Array(Bind, { minItems: 1, description: "where it listens" }),
    mode: Type.Union(MODES.map((m) => Type.Literal(m)), { default: "http", description: "http: requests are parsed, routed and balanced one by one; tcp: connections are forwarded as bytes" }),
    default_backend: Type.String({ pattern: NAME_PATTERN, description: "the backend when no rule matches" }),
    rule: Type.Array(RuleSchema, { default: [], description: "use_backend rules, in order" }),
    certificate: Type.Array(CertificateSchema, { default: [], description: "TLS termination: one or more certificates chosen by SNI (the first is the default); none: plain" }),
    accept_proxy: Type.Boolean({ default: false, description: "clients speak the PROXY protocol (v1 or v2) first; its source is the client's" }),
    forwarded_for: Type.Boolean({ default: true, description: "http: add X-Forwarded-For (and X-Forwarded-Proto) with the client's address" }),
    forwarded: Type.Boolean({ default: false, description: "http: add the RFC 7239 Forwarded header" }),
    maxconn: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: "client connections at once, shared out over the workers; one more is accepted and closed at once, counted refused (Bun cannot stop accepting: see README.md)" }),
    client_timeout: Duration("a client that sends nothing this long while it should is closed (timeout client)", "30s"),
    request_timeout: Duration("the whole request head must arrive within this (timeout http-request): a slow client cannot hold a connection", "10s"),
    keepalive_timeout: Duration("an idle keep-alive client connection is closed after this (timeout http-keep-alive)", "10s"),
  },
  { additionalProperties: false },
);

export const BackendSchema = Type.Object(
  {
    name: Name("the backend's name"),
    service: Type.String({ pattern: NAME_PATTERN, description: "the [[services]] entry with its servers (weight, maxconn, backup) and their active check" }),
    balance: Type.Union(BALANCE.map((b) => Type.Literal(b)), { default: "roundrobin" }),
    hash_key: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "url_param: the parameter's name; hdr: the header's name" })),
    cookie: Type.Optional(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", maxLength: 64, description: "http: stick a client to its server by this inserted cookie (cookie NAME insert indirect nocache)" })),
    stick_on_source: Type.Boolean({ default: false, description: "stick a client address to its server (stick on src) in the backend's stick table" }),
    stick_expire: Duration("an entry of the stick table not used this long is forgotten", "30m"),
    stick_size: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000, description: "entries in the stick table at most; the least recently used goes first" }),
    observe: Type.Union([Type.Literal("none"), Type.Literal("layer4"), Type.Literal("layer7")], { default: "layer7", description: "passive health: layer4 counts connect errors and timeouts, layer7 also 5xx answers" }),
    error_limit: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: "consecutive observed errors that mark a server down; it comes back through its active check" }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 3, description: "connect attempts after the first failed one" }),
    redispatch: Type.Boolean({ default: true, description: "the last retry (and a retried idempotent request) may go to another server (option redispatch)" }),
    queue: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1024, description: "requests waiting for a server when all are at maxconn; more are answered 503" }),
    connect_timeout: Duration("bound on connecting to a server (timeout connect)", "5s"),
    server_timeout: Duration("a server that sends nothing this long while it should is given up (timeout server)", "30s"),
    queue_timeout: Duration("a request waits in the queue at most this long, then gets 503 (timeout queue)", "5s"),
    tunnel_timeout: Duration("an idle tunnel (tcp mode, or an upgraded HTTP connection such as a WebSocket) is closed after this (timeout tunnel)", "1h"),
    send_proxy: Type.Optional(Type.Union(PROXY_PROTOCOL.map((v) => Type.Literal(v)), { description: "speak the PROXY protocol to servers first (send-proxy, send-proxy-v2)" })),
    pool_idle: Type.Integer({ minimum: 0, maximum: 100_000, default: 256, description: "http: idle keep-alive connections kept per server and worker for reuse" }),
  },
  { additionalProperties: false },
);

export const ProxySchema = Type.Object(
  {
    workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: "data path threads; default: the number of cores" })),
    reuse_port: Type.Boolean({ default: true, description: "each worker listens with its own socket (SO_REUSEPORT) and the kernel spreads connections; false: one shared socket" }),
    max_header_bytes: Type.Integer({ minimum: 1024, maximum: MAX_HEAD_BYTES, default: 16_384, description: "a request or response head larger than this is refused (431 for a request, 502 for a response)" }),
    max_headers: Type.Integer({ minimum: 8, maximum: 1000, default: 100, description: "header fields in one head at most" }),
    access_log: Type.Number({ minimum: 0, maximum: 1, default: 0, description: "http: the share of requests with an access log line (a JSON line on stdout, as the node's log; 1: every one; 0: none)" }),
    frontend: Type.Array(FrontendSchema, { default: [] }),
    backend: Type.Array(BackendSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type ProxyRaw = Static<typeof ProxySchema>;
export type FrontendRaw = Static<typeof FrontendSchema>;
export type BackendRaw = Static<typeof BackendSchema>;
export type RuleRaw = Static<typeof RuleSchema>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    proxy?: ProxyRaw;
  }
}

/** Cross-field rules: names unique and known, binds well formed and not shared, hash keys where the algorithm needs one, regular expressions that compile. */
export function proxyProblems(c: RawConfig): Finding[] {
  const proxy = c.proxy;
  if (!proxy) return [];
  const out: Finding[] = [];
  const err = (path: (string | number)[], message: string, expected?: string) => out.push({ severity: "error", path, message, ...(expected ? { expected } : {}) });
  const services = new Set((c.services ?? []).map((s) => s.name));
  const backends = new Set<string>();
  proxy.backend.forEach((b, i) => {
    const at = (k: string) => ["proxy", "backend", i, k];
    if (backends.has(b.name)) err(at("name"), `backend name "${b.name}" is used twice`, "a unique name");
    backends.add(b.name);
    if (!services.has(b.service)) err(at("service"), `no service named "${b.service}"`, "a [[services]] entry");
    if ((b.balance === "url_param" || b.balance === "hdr") && b.hash_key === undefined) err(at("hash_key"), `balance ${b.balance} needs the ${b.balance === "hdr" ? "header" : "parameter"} to hash on`);
    if (b.hash_key !== undefined && b.balance !== "url_param" && b.balance !== "hdr") err(at("hash_key"), `hash_key is for balance url_param or hdr, not ${b.balance}`);
  });
  const frontends = new Set<string>();
  const binds = new Map<string, string>();
  proxy.frontend.forEach((f, i) => {
    const at = (...k: (string | number)[]) => ["proxy", "frontend", i, ...k];
    if (frontends.has(f.name)) err(at("name"), `frontend name "${f.name}" is used twice`, "a unique name");
    frontends.add(f.name);
    f.bind.forEach((b, j) => {
      if (!parseHostPort(b)) return err(at("bind", j), `"${b}" is not ADDRESS:PORT`, "198.18.0.10:80 or [::]:443");
      const other = binds.get(b);
      if (other !== undefined) err(at("bind", j), `${b} is bound by frontend "${other}" too`);
      binds.set(b, f.name);
    });
    if (!backends.has(f.default_backend)) err(at("default_backend"), `no backend named "${f.default_backend}"`, "a [[proxy.backend]] entry");
    f.rule.forEach((r, j) => {
      if (!backends.has(r.backend)) err(at("rule", j, "backend"), `no backend named "${r.backend}"`, "a [[proxy.backend]] entry");
      const httpOnly = (["host", "path_prefix", "path_regex", "header", "method"] as const).filter((k) => r[k] !== undefined);
      if (f.mode === "tcp" && httpOnly.length) err(at("rule", j), `a tcp frontend cannot route on ${httpOnly.join(", ")}: only source`);
      r.source?.forEach((net, k) => {
        try {
          parseCidr(net);
        } catch (e) {
          err(at("rule", j, "source", k), (e as Error).message, "a network like 198.18.0.0/16");
        }
      });
      for (const [k, re] of [["path_regex", r.path_regex], ["value_regex", r.header?.value_regex]] as const) {
        if (re === undefined) continue;
        try {
          new RegExp(re);
        } catch (e) {
          err(at("rule", j, ...(k === "value_regex" ? ["header", k] : [k])), `not a regular expression: ${(e as Error).message}`);
        }
      }
    });
  });
  return out;
}
