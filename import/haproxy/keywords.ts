/**
 * HAProxy keywords the import does not carry, and why: a note when nothing
 * that runs changes (logging, process settings), a warning when traffic is
 * handled otherwise under Tandem.
 */
import type { Level } from "../findings.ts";
import { table } from "../table.ts";

const LOG = "Tandem logs JSON lines (pino) on stdout; [proxy] access_log sets the share of requests logged";
const PROCESS = "how HAProxy ran as a process; Tandem is one process its service manager runs";
const STATS = "the statistics page and socket: Tandem serves its metrics at /metrics, its state at /v1/status and its dashboard";
const TLS_TUNING = "TLS settings: Tandem's TLS takes Bun's defaults (TLS 1.2 and up, its ciphers)";
const REWRITE = "header and request rewriting has no counterpart: Tandem forwards requests as they came (with X-Forwarded-For)";
const REMOVED = "HAProxy 2.1 removed it (it refuses the file); its work has no counterpart in Tandem";
const CONN = "Tandem keeps connections alive to clients and pools them to servers, whatever HAProxy's connection mode was";
const ERRORS = "Tandem answers errors (400, 431, 502, 503, 504) with its own short bodies";

/** Keywords of global. */
export const GLOBAL: Readonly<Record<string, readonly [Level, string]>> = table({
  log: ["note", LOG], "log-send-hostname": ["note", LOG], "log-tag": ["note", LOG],
  chroot: ["note", PROCESS], user: ["note", PROCESS], group: ["note", PROCESS], uid: ["note", PROCESS], gid: ["note", PROCESS],
  daemon: ["note", PROCESS], pidfile: ["note", PROCESS], "master-worker": ["note", PROCESS], nbproc: ["note", PROCESS], "ulimit-n": ["note", PROCESS],
  "cpu-map": ["note", PROCESS], quiet: ["note", PROCESS], debug: ["note", PROCESS], "node": ["note", PROCESS], description: ["note", PROCESS],
  "hard-stop-after": ["note", PROCESS], "setenv": ["warning", "environment for ${NAME} expansion: the import kept ${NAME} as written"], "presetenv": ["warning", "environment for ${NAME} expansion: the import kept ${NAME} as written"],
  stats: ["note", STATS], "server-state-file": ["note", "servers' runtime state: Tandem keeps drains and weights in its state dir"], "server-state-base": ["note", "servers' runtime state: Tandem keeps drains and weights in its state dir"],
  "ca-base": ["note", "only server certificates were verified against it; Tandem does not speak TLS to servers"],
  "ssl-default-bind-ciphers": ["note", TLS_TUNING], "ssl-default-bind-ciphersuites": ["note", TLS_TUNING], "ssl-default-bind-options": ["note", TLS_TUNING], "ssl-default-bind-curves": ["note", TLS_TUNING],
  "ssl-default-server-ciphers": ["note", TLS_TUNING], "ssl-default-server-ciphersuites": ["note", TLS_TUNING], "ssl-default-server-options": ["note", TLS_TUNING], "ssl-dh-param-file": ["note", TLS_TUNING],
  "ssl-server-verify": ["note", TLS_TUNING], "ssl-engine": ["note", TLS_TUNING], "ssl-mode-async": ["note", TLS_TUNING],
  "lua-load": ["warning", "Lua scripts do not run in Tandem"], "lua-prepend-path": ["warning", "Lua scripts do not run in Tandem"],
  "spread-checks": ["note", "Tandem spreads its checks by itself"], "max-spread-checks": ["note", "Tandem spreads its checks by itself"],
  "maxpipes": ["note", "Tandem does not splice"], "maxsslconn": ["note", "bounded by each frontend's maxconn"], "maxconnrate": ["warning", "rate limits have no counterpart"], "maxsessrate": ["warning", "rate limits have no counterpart"],
  "h1-case-adjust": ["note", "Tandem forwards header names as they came"], "insecure-fork-wanted": ["note", PROCESS], "expose-experimental-directives": ["note", PROCESS],
  "external-check": ["note", "external checks: write a [[services]] check of kind misc"], "localpeer": ["note", "Tandem replicates stick tables over its cluster bus to its peer"],
  "set-dumpable": ["note", PROCESS], "unix-bind": ["note", PROCESS], "default-path": ["note", PROCESS], "nbthread": ["note", "it is [proxy] workers"],
});

/** Keywords of a defaults, frontend, backend or listen section. */
export const PROXY: Readonly<Record<string, readonly [Level, string]>> = table({
  log: ["note", LOG], "log-format": ["note", LOG], "log-tag": ["note", LOG], "error-log-format": ["note", LOG], "capture": ["note", LOG], "unique-id-format": ["note", LOG], "unique-id-header": ["note", LOG], "declare": ["note", LOG],
  description: ["note", "a comment: the output's comments say where each section came from"], id: ["note", "Tandem names, it does not number"],
  stats: ["note", STATS], "monitor-uri": ["warning", "Tandem answers its health at /v1/health on its API, not on a frontend's address"], "monitor": ["warning", "Tandem answers its health at /v1/health on its API"], "monitor-net": ["warning", "Tandem answers its health at /v1/health on its API"],
  errorfile: ["note", ERRORS], errorloc: ["note", ERRORS], errorloc302: ["note", ERRORS], errorloc303: ["note", ERRORS], errorfiles: ["note", ERRORS],
  "http-request": ["warning", "http-request rules (deny, redirect, set-header, auth, ...) have no counterpart: the requests they acted on are forwarded as they came"],
  "http-response": ["warning", "http-response rules have no counterpart: answers are forwarded as they came"],
  "http-after-response": ["warning", "http-after-response rules have no counterpart"],
  "tcp-request": ["warning", "tcp-request rules (inspect-delay, accept, reject, track-sc) have no counterpart"],
  "tcp-response": ["warning", "tcp-response rules have no counterpart"],
  redirect: ["warning", "redirects have no counterpart in Tandem's rules: the requests go to the backend instead"],
  "use-server": ["warning", "a rule that picks a server has no counterpart: the backend balances"],
  "force-persist": ["warning", "persistence rules have no counterpart"], "ignore-persist": ["warning", "persistence rules have no counterpart"],
  compression: ["note", "Tandem forwards bodies as they came, compressed by the server or not"],
  reqadd: ["warning", REMOVED], reqrep: ["warning", REMOVED], reqirep: ["warning", REMOVED], reqdel: ["warning", REMOVED], reqidel: ["warning", REMOVED], reqallow: ["warning", REMOVED], reqdeny: ["warning", REMOVED], reqtarpit: ["warning", REMOVED], reqpass: ["warning", REMOVED],
  rspadd: ["warning", REMOVED], rsprep: ["warning", REMOVED], rspirep: ["warning", REMOVED], rspdel: ["warning", REMOVED], rspidel: ["warning", REMOVED], rspdeny: ["warning", REMOVED],
  reqsetbe: ["warning", REMOVED], reqisetbe: ["warning", REMOVED], block: ["warning", REMOVED], appsession: ["warning", REMOVED],
  "http-reuse": ["note", "Tandem reuses idle server connections (pool_idle) for any request"],
  "http-check": ["warning", "this http-check step has no counterpart"],
  "tcp-check": ["warning", "tcp-check scripts have no counterpart: a tcp check connects only"],
  fullconn: ["note", "dynamic maxconn has no counterpart: a server's maxconn is fixed"], "hash-balance-factor": ["note", "bounded loads on the consistent hash have no counterpart"],
  "hash-type": ["note", "Tandem's hashes are always consistent (a server change moves few keys)"],
  "server-template": ["warning", "servers found through DNS have no counterpart: list them as server lines"],
  "server-state-file-name": ["note", "Tandem keeps drains and weights in its state dir"], "load-server-state-from-file": ["note", "Tandem keeps drains and weights in its state dir"],
  "email-alert": ["note", "Tandem sends no email; its events stream from /v1/events"], "dynamic-cookie-key": ["warning", "dynamic cookies have no counterpart: Tandem's inserted cookie names the server"],
  "bind-process": ["note", PROCESS], "rate-limit": ["warning", "rate limits have no counterpart"], "persist": ["warning", "RDP persistence has no counterpart"],
  "filter": ["warning", "filters (compression, cache, trace, spoe, bandwidth) have no counterpart"], "http-send-name-header": ["warning", REWRITE],
  "max-keep-alive-queue": ["note", CONN], "http-error": ["note", ERRORS], "source": ["warning", "a source address for server connections has no counterpart"],
  dispatch: ["warning", "dispatch (one server address, no server lines) has no counterpart: list the server"], "grace": ["note", REMOVED], "enabled": ["note", "sections are enabled"],
  "stick": ["warning", "only stick on src (a client's address) has a counterpart"], "stick-table": ["warning", "only a stick-table of type ip with stick on src has a counterpart"],
  "balance": ["warning", "this algorithm has no counterpart: roundrobin is written"],
});

/** `option` names and why they are not carried. */
export const OPTION: Readonly<Record<string, readonly [Level, string]>> = table({
  dontlognull: ["note", LOG], "log-separate-errors": ["note", LOG], "log-health-checks": ["note", LOG], logasap: ["note", LOG], tcplog: ["note", LOG], httpslog: ["note", LOG], "dontlog-normal": ["note", LOG], contstats: ["note", LOG], "socket-stats": ["note", LOG],
  "http-server-close": ["note", CONN], httpclose: ["note", CONN], forceclose: ["note", CONN], "http-keep-alive": ["note", CONN], "http-pretend-keepalive": ["note", CONN], "http-tunnel": ["note", CONN], "http-no-delay": ["note", CONN],
  "http-buffer-request": ["note", "Tandem forwards a request's body as it arrives"], "http-use-htx": ["note", "HTX is HAProxy's internal representation"],
  abortonclose: ["note", "Tandem drops a request whose client went away before a server took it"], "prefer-last-server": ["note", "Tandem reuses pooled connections to any server the balancer picks"],
  tcpka: ["note", "Tandem's sockets take the kernel's keepalive settings"], clitcpka: ["note", "Tandem's sockets take the kernel's keepalive settings"], srvtcpka: ["note", "Tandem's sockets take the kernel's keepalive settings"],
  "splice-auto": ["note", "Tandem does not splice"], "splice-request": ["note", "Tandem does not splice"], "splice-response": ["note", "Tandem does not splice"],
  "accept-invalid-http-request": ["warning", "Tandem's parser refuses what RFC 9112 refuses (smuggling)"], "accept-invalid-http-response": ["warning", "Tandem's parser refuses what RFC 9112 refuses (smuggling)"],
  "http-ignore-probes": ["note", "Tandem closes an idle connection with nothing sent without logging it"], checkcache: ["note", "Tandem does not inspect caching headers"],
  "independent-streams": ["note", "Tandem times each direction of a tunnel alike"], "nolinger": ["note", "Tandem closes sockets normally"], transparent: ["warning", "transparent proxying has no counterpart"],
  persist: ["warning", "persistence to a down server has no counterpart: a client's server that is down is replaced"], allbackups: ["note", "Tandem spreads over every backup server that is up, not only the first"],
  "disable-h2-upgrade": ["note", "Tandem speaks HTTP/1.1"], "h1-case-adjust-bogus-client": ["note", "Tandem forwards header names as they came"], "h1-case-adjust-bogus-server": ["note", "Tandem forwards header names as they came"],
  "http-restrict-req-hdr-names": ["note", "Tandem refuses header names RFC 9110 refuses"], "idle-close-on-response": ["note", CONN], "spop-check": ["warning", "this check has no counterpart: a tcp check is written, which connects only"],
  "external-check": ["warning", "external checks: write a [[services]] check of kind misc with the command"], originalto: ["warning", "X-Original-To has no counterpart"],
});

/** Server options that are not carried, and why. */
export const SERVER: Readonly<Record<string, readonly [Level, string]>> = table({
  cookie: ["note", "Tandem's inserted cookie names the server itself; clients' old cookies start over"],
  slowstart: ["note", "slow start has no counterpart: a server that comes up takes its full share"],
  "agent-check": ["warning", "agent checks have no counterpart"], "agent-port": ["warning", "agent checks have no counterpart"], "agent-inter": ["warning", "agent checks have no counterpart"], "agent-addr": ["warning", "agent checks have no counterpart"], "agent-send": ["warning", "agent checks have no counterpart"],
  resolvers: ["note", "Tandem takes addresses, not names to resolve"], "resolve-prefer": ["note", "Tandem takes addresses, not names to resolve"], "init-addr": ["note", "Tandem takes addresses, not names to resolve"], "resolve-opts": ["note", "Tandem takes addresses, not names to resolve"],
  id: ["note", "Tandem names, it does not number"], track: ["warning", "a server tracking another's state has no counterpart: each is checked"], redir: ["warning", "redirecting to a server has no counterpart"],
  ssl: ["warning", "Tandem speaks plain HTTP or TCP to servers, not TLS"], verify: ["note", "server TLS is not spoken"], sni: ["note", "server TLS is not spoken"], "ca-file": ["note", "server TLS is not spoken"], alpn: ["note", "server TLS is not spoken"], "no-sslv3": ["note", "server TLS is not spoken"], crt: ["note", "server TLS is not spoken"], "check-sni": ["note", "its check's TLS name: the check's host is its SNI"],
  "check-alpn": ["note", "its check's ALPN has no counterpart"], "check-proto": ["note", "its check's protocol has no counterpart"], "check-send-proxy": ["note", "checks do not speak the PROXY protocol"], addr: ["warning", "checking another address than the server's has no counterpart"],
  maxqueue: ["note", "the queue is per backend ([proxy.backend] queue)"], minconn: ["note", "dynamic maxconn has no counterpart: maxconn is fixed"], "on-marked-down": ["note", "Tandem keeps sessions on a server marked down until they end"], "on-marked-up": ["note", "no counterpart"],
  "on-error": ["note", "Tandem marks a server down at error_limit (fastinter/fail-check/sudden-death have no counterpart)"], "pool-max-conn": ["note", "the pool is [proxy.backend] pool_idle"], "pool-purge-delay": ["note", "the pool is [proxy.backend] pool_idle"],
  "pool-low-conn": ["note", "the pool is [proxy.backend] pool_idle"], "tfo": ["note", "no counterpart"], "proto": ["warning", "Tandem speaks HTTP/1.1 to servers"],
  "proxy-v2-options": ["note", "PROXY v2 TLVs have no counterpart"], fastinter: ["note", "Tandem checks at one interval"], downinter: ["note", "Tandem checks at one interval"], "socks4": ["warning", "no counterpart"], "namespace": ["warning", "no counterpart"], "ws": ["note", "WebSockets pass through as any upgrade"],
  "log-proto": ["note", LOG], "usesrc": ["warning", "no counterpart"], "source": ["warning", "a source address for server connections has no counterpart"], "set-proxy-v2-tlv-fmt": ["note", "PROXY v2 TLVs have no counterpart"],
});

/** Server options followed by a value. */
export const SERVER_WITH_VALUE = new Set([
  "weight", "maxconn", "inter", "fastinter", "downinter", "rise", "fall", "port", "addr", "cookie", "slowstart", "agent-port", "agent-inter", "agent-addr", "agent-send", "resolvers", "resolve-prefer", "init-addr", "resolve-opts",
  "id", "track", "redir", "verify", "sni", "ca-file", "alpn", "crt", "check-sni", "check-alpn", "check-proto", "maxqueue", "minconn", "on-marked-down", "on-marked-up", "on-error", "error-limit", "observe", "pool-max-conn",
  "pool-purge-delay", "pool-low-conn", "proto", "proxy-v2-options", "socks4", "namespace", "ws", "log-proto", "usesrc", "source", "ciphers", "ciphersuites", "crl-file", "ssl-min-ver", "ssl-max-ver", "curves", "sigalgs", "set-proxy-v2-tlv-fmt", "shard", "tcp-ut", "npn", "guid",
]);

/** Bind options followed by a value. */
export const BIND_WITH_VALUE = new Set([
  "crt", "crt-list", "alpn", "npn", "ciphers", "ciphersuites", "curves", "ecdhe", "ca-file", "crl-file", "verify", "ssl-min-ver", "ssl-max-ver", "name", "id", "process", "thread", "interface", "mode", "uid", "gid", "user", "group",
  "level", "severity-output", "maxconn", "backlog", "mss", "namespace", "proto", "nice", "tcp-ut", "accept-netscaler-cip", "ca-ignore-err", "crt-ignore-err", "ca-sign-file", "ca-sign-pass", "sigalgs", "client-sigalgs", "guid-prefix", "shards", "label", "quic-cc-algo", "quic-force-retry", "idle-ping",
]);
