/**
 * The processes the proxy bench measures: two nginx backends serving fixed
 * bodies, and HAProxy, nginx and Tandem each proxying to both of them, each
 * with a plain and a TLS frontend. Every side is a process tree started here
 * and ended here by PID; its CPU is read from /proc.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../helpers.ts";
import { cpuSeconds, Lines, sh } from "./lib.ts";

export const BODIES = { small: "hello, world\n", large: "x".repeat(64 * 1024) } as const;
export type Body = keyof typeof BODIES;

/** Idle keep-alive connections each proxy may keep to the backends: more than the most clients a run opens. */
const POOL_IDLE = 512;
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3000;

export interface Side {
  name: string;
  /** The process the side started (the root of its tree). */
  pid: number;
  /** Port of the plain HTTP frontend, and of the TLS one (NaN where the side has none). */
  plain: number;
  tls: number;
  /** CPU seconds (user + system) of the side's processes now. */
  cpu(): number;
  stop(): Promise<void>;
}

/** A process tree: the one started and every descendant, each named with its start time so a reused PID is never hit. */
function tree(root: number): Array<{ pid: number; start: string }> {
  const parent = new Map<number, number>();
  const start = new Map<number, string>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(f[1]));
      start.set(Number(d), f[19]!);
    } catch {
      // gone between the listing and the read
    }
  }
  const out: number[] = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  return out.filter((pid) => start.has(pid)).map((pid) => ({ pid, start: start.get(pid)! }));
}

function startTime(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Ends a process tree: SIGTERM to its root, then SIGKILL to each of its processes still there after the grace. */
async function end(proc: Bun.Subprocess): Promise<void> {
  const all = tree(proc.pid);
  proc.kill("SIGTERM");
  await Promise.race([proc.exited, Bun.sleep(STOP_GRACE_MS)]);
  for (const p of all) if (startTime(p.pid) === p.start) process.kill(p.pid, "SIGKILL");
  await proc.exited;
}

function side(name: string, proc: Bun.Subprocess, plain: number, tls: number): Side {
  return {
    name,
    pid: proc.pid,
    plain,
    tls,
    cpu: () => tree(proc.pid).reduce((s, p) => s + cpuSeconds(p.pid), 0),
    stop: () => end(proc),
  };
}

/** GET a path through a port; the body, or a reason it is not the expected one. */
export async function fetchBody(port: number, tls: boolean, path: string): Promise<string> {
  const r = await fetch(`${tls ? "https" : "http"}://127.0.0.1:${port}${path}`, { headers: { connection: "close" }, tls: { rejectUnauthorized: false }, signal: AbortSignal.timeout(2000) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`status ${r.status} for ${path}`);
  return text;
}

/** Waits until the side answers the small body on its plain frontend; `died` says why it never will. */
async function ready(name: string, port: number, died: () => string | undefined): Promise<void> {
  const until = Date.now() + READY_TIMEOUT_MS;
  let last = "";
  while (Date.now() < until) {
    const why = died();
    if (why !== undefined) throw new Error(why);
    try {
      if ((await fetchBody(port, false, "/small")) === BODIES.small) return;
      last = "a wrong body for /small";
    } catch (e) {
      last = (e as Error).message;
    }
    await Bun.sleep(100);
  }
  throw new Error(`${name} did not answer /small within ${READY_TIMEOUT_MS / 1000} s (${last})`);
}

/** Why a process is gone, in its last words (the first of `outs` that has any), or undefined while it runs. */
function exitedWith(proc: Bun.Subprocess, ...outs: Lines[]): () => string | undefined {
  return () => {
    if (proc.exitCode === null) return undefined;
    const said = outs.map((o) => o.lines.slice(-2).map((l) => l.text).join(" / ")).find((t) => t !== "");
    return `exited with ${proc.exitCode}: ${said ?? "no output"}`;
  };
}

/** nginx's global lines: no daemon, everything it writes inside `dir`, file descriptors for thousands of connections. */
function nginxHead(dir: string, tag: string, workers: number): string {
  return `worker_processes ${workers};
worker_rlimit_nofile 16384;
pid ${join(dir, `${tag}.pid`)};
error_log stderr warn;
events { worker_connections 8192; }
http {
  access_log off;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path ${join(dir, `${tag}-body`)};
  proxy_temp_path ${join(dir, `${tag}-proxy`)};
  fastcgi_temp_path ${join(dir, `${tag}-fastcgi`)};
  uwsgi_temp_path ${join(dir, `${tag}-uwsgi`)};
  scgi_temp_path ${join(dir, `${tag}-scgi`)};
`;
}

async function nginx(dir: string, tag: string, conf: string, plain: number, tls: number): Promise<Side> {
  const file = join(dir, `${tag}.conf`);
  writeFileSync(file, conf);
  const proc = Bun.spawn(["nginx", "-p", dir, "-e", "stderr", "-c", file, "-g", "daemon off;"], { stdout: "ignore", stderr: "pipe" });
  const out = new Lines(proc.stderr);
  try {
    await ready(tag, plain, exitedWith(proc, out));
  } catch (e) {
    await end(proc);
    throw e;
  }
  return side(tag, proc, plain, tls);
}

/**
 * A backend: nginx with one worker serving /small and /large (64 KiB) from
 * `dir`/www with sendfile, keep-alive without a request limit, and
 * /nginx_status whose `accepts` counts the connections it was opened.
 */
export async function backend(dir: string, tag: string): Promise<Side> {
  const www = join(dir, "www");
  mkdirSync(www, { recursive: true });
  for (const [name, body] of Object.entries(BODIES)) writeFileSync(join(www, name), body);
  const port = await freePort();
  const conf = `${nginxHead(dir, tag, 1)}  sendfile on;
  tcp_nopush on;
  open_file_cache max=16;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${www};
    location = /nginx_status { stub_status; }
  }
}
`;
  return nginx(dir, tag, conf, port, NaN);
}

/** Connections a backend has accepted so far (its stub_status; this reading's own connection is not counted). */
export async function accepts(b: Side): Promise<number> {
  const m = /^\s*(\d+)\s+\d+\s+\d+\s*$/m.exec(await fetchBody(b.plain, false, "/nginx_status"));
  if (!m) throw new Error(`${b.name}: no accepts in its stub_status`);
  return Number(m[1]) - 1;
}

/** A self-signed ECDSA P-256 certificate for bench.test: the certificate, its key, and both in one file (HAProxy's crt). */
export function certificate(dir: string): { cert: string; key: string; both: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const both = join(dir, "both.pem");
  sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=bench.test", "-addext", "subjectAltName=DNS:bench.test"]);
  chmodSync(key, 0o600);
  writeFileSync(both, readFileSync(cert, "utf8") + readFileSync(key, "utf8"), { mode: 0o600 });
  return { cert, key, both };
}

export interface ProxySetup {
  dir: string;
  workers: number;
  backends: Side[];
  cert: { cert: string; key: string; both: string };
}

/**
 * HAProxy: `nbthread` threads, X-Forwarded-For added (as Tandem does by
 * default), `http-reuse always` so every request, a connection's first too,
 * may take an idle backend connection (as nginx's and Tandem's pools do); TLS
 * without a session cache, so a client without tickets never resumes.
 */
export async function haproxy(s: ProxySetup): Promise<Side> {
  const [plain, tls] = [await freePort(), await freePort()];
  const file = join(s.dir, "haproxy.cfg");
  writeFileSync(
    file,
    `global
  nbthread ${s.workers}
  maxconn 8000
  tune.ssl.cachesize 0
defaults
  mode http
  option forwardfor
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 10s
frontend plain
  bind 127.0.0.1:${plain}
  default_backend be
frontend tls
  bind 127.0.0.1:${tls} ssl crt ${s.cert.both}
  default_backend be
backend be
  balance roundrobin
  http-reuse always
${s.backends.map((b, i) => `  server s${i + 1} 127.0.0.1:${b.plain}`).join("\n")}
`,
  );
  const proc = Bun.spawn(["haproxy", "-db", "-f", file], { stdout: "ignore", stderr: "pipe" });
  const out = new Lines(proc.stderr);
  try {
    await ready("HAProxy", plain, exitedWith(proc, out));
  } catch (e) {
    await end(proc);
    throw e;
  }
  return side("HAProxy", proc, plain, tls);
}

/**
 * nginx: `worker_processes` workers, an upstream keep-alive pool, buffers
 * that hold a 64 KiB answer in memory, X-Forwarded-For; TLS without a
 * session cache, so a client without tickets never resumes.
 */
export async function nginxProxy(s: ProxySetup): Promise<Side> {
  const [plain, tls] = [await freePort(), await freePort()];
  const conf = `${nginxHead(s.dir, "nginx-proxy", s.workers)}  upstream be {
${s.backends.map((b) => `    server 127.0.0.1:${b.plain};`).join("\n")}
    keepalive ${POOL_IDLE};
    keepalive_requests 1000000;
    keepalive_timeout 75s;
  }
  server {
    listen 127.0.0.1:${plain} backlog=4096;
    listen 127.0.0.1:${tls} ssl backlog=4096;
    ssl_certificate ${s.cert.cert};
    ssl_certificate_key ${s.cert.key};
    ssl_session_cache off;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffer_size 8k;
      proxy_buffers 16 8k;
    }
  }
}
`;
  return nginx(s.dir, "nginx-proxy", conf, plain, tls);
}

/**
 * Tandem: `tandem run` of a one-node cluster with a [proxy] section: an http
 * frontend and a TLS one, a roundrobin backend over a [[services]] entry with
 * both backends (check none: always up), `workers` data path threads and an
 * idle pool larger than the clients. Throws with tandem's own words when it
 * refuses the config or never answers.
 */
export async function tandem(bin: string, s: ProxySetup): Promise<Side> {
  const [plain, tls, api] = [await freePort(), await freePort(), await freePort()];
  const dir = join(s.dir, `tandem-${s.workers}`);
  mkdirSync(dir, { recursive: true });
  sh([bin, "keygen", "-o", join(dir, "k")]);
  chmodSync(join(dir, "k"), 0o600);
  const file = join(dir, "t.toml");
  writeFileSync(
    file,
    `cluster = "bench"
key_file = "k"
[[nodes]]
name = "solo"
address = "127.0.0.1"
[api]
port = ${api}
[[services]]
name = "web"
servers = [${s.backends.map((b) => `{ address = "127.0.0.1", port = ${b.plain} }`).join(", ")}]
check = { kind = "none" }
[proxy]
workers = ${s.workers}
[[proxy.frontend]]
name = "plain"
bind = ["127.0.0.1:${plain}"]
mode = "http"
default_backend = "be"
[[proxy.frontend]]
name = "tls"
bind = ["127.0.0.1:${tls}"]
mode = "http"
default_backend = "be"
certificate = [{ cert_file = "${s.cert.cert}", key_file = "${s.cert.key}" }]
[[proxy.backend]]
name = "be"
service = "web"
balance = "roundrobin"
pool_idle = ${POOL_IDLE}
`,
  );
  const proc = Bun.spawn([bin, "run", "-c", file, "--node", "solo"], { stdout: "pipe", stderr: "pipe" });
  const [err, out] = [new Lines(proc.stderr), new Lines(proc.stdout)];
  try {
    await ready("Tandem", plain, exitedWith(proc, err, out));
  } catch (e) {
    await end(proc);
    throw e;
  }
  return side("Tandem", proc, plain, tls);
}

/**
 * The environment that makes an OpenSSL client (wrk, s_client) do a full
 * handshake on each new connection: TLS 1.2 without session tickets, by an
 * OpenSSL config. wrk keeps a connection's session when it reconnects, and
 * a TLS 1.3 client resumes through the server's tickets, which Tandem's TLS
 * (Bun's) issues with no switch to stop it; a TLS 1.2 client without tickets
 * can resume only through a server's session cache (`resumes` checks).
 */
export function fullHandshakeClient(dir: string): Record<string, string> {
  const file = join(dir, "client-full-handshakes.cnf");
  writeFileSync(file, "openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\nsystem_default = client\n[client]\nMaxProtocol = TLSv1.2\nOptions = -SessionTicket\n");
  return { ...(process.env as Record<string, string>), OPENSSL_CONF: file };
}

/** Whether a TLS frontend resumes a session the client (with `env`) offers again (openssl s_client with a saved session). */
export function resumes(port: number, dir: string, env: Record<string, string>): boolean {
  const sess = join(dir, `sess-${port}.pem`);
  const req = "GET /small HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n";
  const run = (flag: string) =>
    Bun.spawnSync(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "bench.test", "-ign_eof", flag, sess], { stdin: Buffer.from(req), stdout: "pipe", stderr: "pipe", env }).stdout.toString();
  if (!/^New,/m.test(run("-sess_out"))) throw new Error(`no TLS handshake on port ${port}`);
  return /^Reused,/m.test(run("-sess_in"));
}
