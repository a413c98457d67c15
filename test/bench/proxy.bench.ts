/**
 * The HTTP proxy against HAProxy and nginx (issue 13): wrk (-t2, 64 and 256
 * connections, as in ANCHORS.md) against one backend directly, then through
 * HAProxy, nginx and Tandem, each proxying to the same two nginx backends
 * with keep-alive, at 1 and 2 workers (nbthread, worker_processes, [proxy]
 * workers); a small and a 64 KiB response; TLS termination with new
 * handshakes (wrk with `Connection: close`, full TLS 1.2 handshakes) and with
 * keep-alive. Requests/s, p99 latency, CPU per request of the proxy's own
 * processes, ratios to HAProxy. The sides run side by side and each case is
 * measured on all of them back to back, a run a side in turn (the order
 * reversed every other round), so drift touches them alike.
 * BENCH_PROXY_SECONDS (default 5) sets each run's length, BENCH_PROXY_RUNS
 * (default 1) how many runs a figure is the median of, BENCH_PROXY_WARMUP
 * (default 1) the seconds of warm-up before each case. For a short focused
 * run, comma lists narrow the matrix: BENCH_PROXY_MODES (plain, "tls new
 * handshakes", "tls keep-alive"), BENCH_PROXY_CLIENTS (64, 256),
 * BENCH_PROXY_WORKERS (1, 2), BENCH_PROXY_BODIES (small, large) and
 * BENCH_PROXY_SIDES (direct, HAProxy, nginx, Tandem); e.g.
 * BENCH_PROXY_MODES=plain BENCH_PROXY_CLIENTS=64 BENCH_PROXY_WORKERS=1
 * BENCH_PROXY_BODIES=small BENCH_PROXY_SIDES=HAProxy,Tandem.
 * BENCH_PROXY_BEFORE=PATH adds a side "Tandem before" run from another
 * tandem binary (an earlier build), measured in the same run beside the
 * others: an A/B on a machine whose load drifts.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { median, type Row, type Table } from "./lib.ts";
import { accepts, backend, BODIES, certificate, fetchBody, fullHandshakeClient, haproxy, nginxProxy, resumes, tandem, type Body, type ProxySetup, type Side } from "./proxy-sides.ts";

const SECONDS = Number(process.env.BENCH_PROXY_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_PROXY_RUNS ?? 1);
/** wrk's warm-up before each case's measured runs; longer lets Tandem's JIT (a thread of its own, counted in its CPU) finish compiling the case's paths first. */
const WARMUP_SECONDS = Number(process.env.BENCH_PROXY_WARMUP ?? 1);
const WRK_THREADS = 2;
/** A comma list from the environment, or everything when unset. */
function only<T>(name: string, all: readonly T[]): T[] {
  const v = process.env[name];
  if (!v) return [...all];
  const want = v.split(",").map((w) => w.trim());
  return all.filter((a) => want.includes(String(a)));
}
const WORKERS = only("BENCH_PROXY_WORKERS", [1, 2]);
/** What a wrk run may take beyond its duration before it is killed. */
const WRK_SLACK_MS = 15_000;

type Mode = "plain" | "tls new handshakes" | "tls keep-alive";
interface Case {
  mode: Mode;
  body: Body;
  clients: number;
}
const MODES = only<Mode>("BENCH_PROXY_MODES", ["plain", "tls new handshakes", "tls keep-alive"]);
const CLIENTS = only("BENCH_PROXY_CLIENTS", [64, 256]);
const BODY_NAMES = only<Body>("BENCH_PROXY_BODIES", ["small", "large"]);
const CASES: Case[] = [
  ...(["small", "large"] as const).flatMap((body) => [64, 256].map((clients) => ({ mode: "plain" as const, body, clients }))),
  { mode: "tls new handshakes" as const, body: "small" as const, clients: 64 },
  { mode: "tls keep-alive" as const, body: "small" as const, clients: 64 },
  { mode: "tls keep-alive" as const, body: "large" as const, clients: 64 },
].filter((c) => MODES.includes(c.mode) && CLIENTS.includes(c.clients) && BODY_NAMES.includes(c.body));
const PICKED = only("BENCH_PROXY_SIDES", ["direct", "HAProxy", "nginx", "Tandem"] as const);
const DIRECT = PICKED.includes("direct");
/** Another tandem binary to measure beside this one (an earlier build), as the side "Tandem before". */
const BEFORE = process.env.BENCH_PROXY_BEFORE;
type SideName = "HAProxy" | "nginx" | "Tandem" | "Tandem before";
const SIDES: SideName[] = (["HAProxy", "nginx", "Tandem before", "Tandem"] as const).filter((s) => (s === "Tandem before" ? BEFORE !== undefined : PICKED.includes(s)));

interface Figures {
  rps: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  upstreamConnections: number;
  errors: number;
  /** The machine's 1-minute load average at the end of the run (other work on the machine shows here). */
  load?: number;
}
type Result = Figures | { unavailable: string };

interface Wrk {
  requests: number;
  rps: number;
  p99Ms: number;
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** One wrk run and what it printed: requests, requests/s, p99 (--latency), socket errors plus non-2xx/3xx answers. */
export function parseWrk(out: string): Wrk {
  const requests = /^\s*(\d+) requests in /m.exec(out);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  if (!requests || !rps || !p99) throw new Error(`wrk printed no figures: ${out.trim().slice(-300)}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (sock ? sock.slice(1).reduce((s, n) => s + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { requests: Number(requests[1]), rps: Number(rps[1]), p99Ms: Number(p99[1]) * UNIT_MS[p99[2]!]!, errors };
}

/** wrk; `fresh`: the environment of a client that does a full handshake on each connection, and `Connection: close` so each request is one. */
async function wrk(url: string, clients: number, seconds: number, fresh: Record<string, string> | undefined): Promise<Wrk> {
  const args = ["wrk", `-t${WRK_THREADS}`, `-c${clients}`, `-d${seconds}s`, "--latency", ...(fresh ? ["-H", "Connection: close"] : []), url];
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", env: fresh ?? process.env });
  const timer = setTimeout(() => p.kill("SIGKILL"), seconds * 1000 + WRK_SLACK_MS);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  if (p.exitCode !== 0) throw new Error(`wrk exited with ${p.exitCode}: ${err.trim() || out.trim()}`);
  return parseWrk(out);
}

function label(c: Case): string {
  return `${c.mode}, ${c.body === "small" ? `${BODIES.small.length} B` : "64 KiB"}, ${c.clients} clients`;
}

/** Where wrk goes for a case on a side, and the client environment it runs with. */
interface Target {
  url: string;
  client: Record<string, string> | undefined;
}

/** One case on one side before its runs: the answer checked, then a warm-up. */
async function prepare(side: Side, c: Case, fresh: Record<string, string>): Promise<Target> {
  const tls = c.mode !== "plain";
  const port = tls ? side.tls : side.plain;
  const path = `/${c.body}`;
  const got = await fetchBody(port, tls, path);
  if (got !== BODIES[c.body]) throw new Error(`a wrong answer for ${path} (${got.length} bytes)`);
  const t: Target = { url: `${tls ? "https" : "http"}://127.0.0.1:${port}${path}`, client: c.mode === "tls new handshakes" ? fresh : undefined };
  await wrk(t.url, c.clients, WARMUP_SECONDS, t.client);
  return t;
}

/** One measured run, with the side's CPU and the backends' new connections around it. */
async function run(side: Side, c: Case, t: Target, backends: Side[]): Promise<Figures> {
  const opened = async () => (await Promise.all(backends.map(accepts))).reduce((s, n) => s + n, 0);
  const [a0, cpu0] = [await opened(), side.cpu()];
  const w = await wrk(t.url, c.clients, SECONDS, t.client);
  const [a1, cpu1] = [await opened(), side.cpu()];
  return { rps: w.rps, p99Ms: w.p99Ms, cpuUsPerRequest: ((cpu1 - cpu0) / w.requests) * 1e6, upstreamConnections: a1 - a0, errors: w.errors, load: loadavg()[0]! };
}

/** The figures of a side's runs: medians, and the highest load any ran at. */
function summary(runs: Figures[]): Figures {
  const m = (k: Exclude<keyof Figures, "load">) => median(runs.map((r) => r[k]));
  return { rps: m("rps"), p99Ms: m("p99Ms"), cpuUsPerRequest: m("cpuUsPerRequest"), upstreamConnections: m("upstreamConnections"), errors: m("errors"), load: Math.max(...runs.map((r) => r.load!)) };
}

/**
 * One case on every side: each warmed up, then RUNS rounds of one run a
 * side, the order reversed every other round, so drift in the machine's
 * load and the place in the order touch every side alike.
 */
async function measureCase(c: Case, sides: [string, Side | string][], backends: Side[], fresh: Record<string, string>): Promise<Map<string, Result>> {
  const out = new Map<string, Result>();
  const ready: [string, Side, Target][] = [];
  for (const [name, s] of sides) {
    if (typeof s === "string") {
      out.set(name, { unavailable: s });
      continue;
    }
    try {
      ready.push([name, s, await prepare(s, c, fresh)]);
    } catch (e) {
      out.set(name, { unavailable: (e as Error).message });
    }
  }
  const runs = new Map<string, Figures[]>(ready.map(([name]) => [name, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const [name, s, t] of r % 2 === 0 ? ready : [...ready].reverse()) {
      if (out.has(name)) continue;
      try {
        runs.get(name)!.push(await run(s, c, t, backends));
      } catch (e) {
        out.set(name, { unavailable: (e as Error).message });
      }
    }
  }
  for (const [name] of ready) if (!out.has(name)) out.set(name, summary(runs.get(name)!));
  return out;
}

const figures = (r: Result | undefined): Figures | undefined => (r && !("unavailable" in r) ? r : undefined);

/** The issue's goal for a plain case: met, short of it, or below the line under which the issue is not done (so is any failed request). */
export function verdict(t: Figures, h: Figures): string {
  if (t.errors > 0) return `not done (${t.errors} failed request${t.errors === 1 ? "" : "s"})`;
  const rps = t.rps / h.rps;
  if (rps < 0.8 || t.p99Ms / h.p99Ms > 1.5) return "not done (< 0.8× req/s or p99 > 1.5×)";
  if (rps >= 1 && t.cpuUsPerRequest <= h.cpuUsPerRequest) return "goal met";
  return "short of the goal";
}

function n(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "n/a";
}

function x(a: number, b: number | undefined): string {
  return b === undefined ? "—" : `${(a / b).toFixed(2)}×`;
}

/** One line of the full table; `note` is the goal's verdict or a caveat. */
function line(c: Case, workers: string, side: string, r: Result, h: Figures | undefined, note: string): string {
  const cells =
    "unavailable" in r
      ? [`not available: ${r.unavailable.replaceAll("|", "/").replaceAll("\n", " ").slice(0, 200)}`, "", "", "", "", "", "", "", "", note]
      : [
          n(r.rps, 0),
          x(r.rps, h?.rps),
          n(r.p99Ms, 2),
          x(r.p99Ms, h?.p99Ms),
          n(r.cpuUsPerRequest, 1),
          x(r.cpuUsPerRequest, h?.cpuUsPerRequest),
          n(r.upstreamConnections, 0),
          n(r.errors, 0),
          r.load === undefined ? "" : n(r.load, 1),
          note,
        ];
  return `| ${label(c)} | ${workers} | ${side} | ${cells.join(" | ")} |`;
}

function version(cmd: string[], re: RegExp): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return re.exec(r.stdout.toString() + r.stderr.toString())?.[1] ?? "?";
}

export async function bench(bin: string): Promise<Table> {
  const missing = ["wrk", "haproxy", "nginx", "openssl"].filter((t) => !Bun.which(t));
  if (missing.length) throw new Error(`${missing.join(", ")} not installed (node scripts/setup.mjs --bench installs them)`);
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-proxy-"));
  chmodSync(dir, 0o755); // nginx's workers drop root and read the bodies from here
  const results = new Map<string, Result>();
  const key = (c: Case, workers: number, side: string) => `${label(c)}|${workers}|${side}`;
  const resumed = new Map<string, boolean>();
  const notStarted: string[] = [];
  const backends: Side[] = [];
  try {
    const cert = certificate(dir);
    const fresh = fullHandshakeClient(dir);
    for (const tag of ["backend-1", "backend-2"]) backends.push(await backend(dir, tag));
    if (DIRECT) for (const c of CASES.filter((c) => c.mode === "plain")) results.set(key(c, 1, "direct"), (await measureCase(c, [["direct", backends[0]!]], backends, fresh)).get("direct")!);
    for (const workers of WORKERS) {
      const setup: ProxySetup = { dir, workers, backends, cert };
      const started = new Map<string, Side | string>();
      try {
        const starts: [SideName, (s: ProxySetup) => Promise<Side>][] = [
          ["HAProxy", haproxy],
          ["nginx", nginxProxy],
          ["Tandem", (s) => tandem(bin, s)],
          ["Tandem before", (s) => tandem(BEFORE!, { ...s, dir: join(s.dir, "before") })],
        ];
        for (const [name, start] of starts) {
          if (!SIDES.includes(name)) continue;
          const s = await start(setup).catch((e: Error) => e.message);
          started.set(name, s);
          if (typeof s === "string") notStarted.push(`${name} at ${workers} worker${workers > 1 ? "s" : ""}: not available: ${s}`);
        }
        for (const [name, s] of started) {
          if (typeof s === "string" || !MODES.includes("tls new handshakes")) continue;
          try {
            resumed.set(name, resumes(s.tls, dir, fresh));
          } catch {
            // no TLS answer: its TLS cases say why
          }
        }
        for (const c of CASES) {
          const got = await measureCase(c, SIDES.map((name) => [name, started.get(name)!]), backends, fresh);
          for (const [name, r] of got) results.set(key(c, workers, name), r);
        }
      } finally {
        for (const s of started.values()) if (typeof s !== "string") await s.stop();
      }
    }
  } finally {
    for (const b of backends) await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const lines: string[] = [];
  const rows: Row[] = [];
  for (const c of CASES) {
    if (c.mode === "plain" && DIRECT) lines.push(line(c, "1 (backend)", "direct to one backend", results.get(key(c, 1, "direct"))!, undefined, ""));
    for (const workers of WORKERS) {
      const h = figures(results.get(key(c, workers, "HAProxy")));
      for (const name of SIDES) {
        const r = results.get(key(c, workers, name))!;
        const t = figures(r);
        let note = "";
        if (name.startsWith("Tandem") && c.mode === "plain" && t && h) note = verdict(t, h);
        if (c.mode === "tls new handshakes" && resumed.get(name)) note = "resumed sessions: not full handshakes";
        lines.push(line(c, String(workers), name, r, name === "HAProxy" ? undefined : h, note));
      }
      if (c.mode !== "plain") continue;
      const t = figures(results.get(key(c, workers, "Tandem")));
      const at = `${label(c)}, ${workers} worker${workers > 1 ? "s" : ""}`;
      rows.push(
        { figure: `${at}: requests/s`, unit: "req/s", tandem: t?.rps ?? NaN, anchor: h?.rps ?? NaN, better: "higher" },
        { figure: `${at}: p99 latency`, unit: "ms", tandem: t?.p99Ms ?? NaN, anchor: h?.p99Ms ?? NaN, better: "lower" },
        { figure: `${at}: CPU per request`, unit: "µs", tandem: t?.cpuUsPerRequest ?? NaN, anchor: h?.cpuUsPerRequest ?? NaN, better: "lower" },
      );
    }
  }
  const versions = `HAProxy ${version(["haproxy", "-v"], /version (\S+)/)}, nginx ${version(["nginx", "-v"], /nginx\/(\S+)/)}, ${version(["wrk", "-v"], /^(wrk \S+)/m)}`;
  const method = [
    `wrk -t${WRK_THREADS} --latency, ${SECONDS} s per run after ${WARMUP_SECONDS} s of warm-up, ${RUNS === 1 ? "one run" : `median of ${RUNS} runs, taken in rounds of one run a side (the order reversed every other round)`} per figure, everything on 127.0.0.1 (${versions}). ` +
      "Backends: two nginx processes with one worker each serving fixed bodies from a temp dir with sendfile (the anchors' backends; fast, and the same for every side); the direct rows are wrk against one of them. " +
      "Each proxy balances roundrobin over both with keep-alive to them, adds X-Forwarded-For, and has a plain and a TLS frontend (a self-signed ECDSA P-256 certificate the bench makes with openssl). " +
      "HAProxy: nbthread N, http-reuse always; nginx: worker_processes N, upstream keepalive; Tandem: `tandem run` of a one-node cluster, [proxy] workers = N, pool_idle 512. " +
      "New handshakes: wrk sends `Connection: close`, so each request is a new TLS connection, and an OpenSSL config holds it to TLS 1.2 without tickets: wrk offers a connection's session again when it reconnects, and in TLS 1.3 every side here would resume it through tickets (Tandem's Bun TLS issues them with no switch); HAProxy and nginx have their session caches off, and `openssl s_client -sess_in` with the same client config checks that no side resumes (one that does is marked). Keep-alive runs negotiate TLS 1.3. " +
      "CPU per request: user + system seconds of the proxy's processes (all threads, nginx's master and workers; for Tandem the whole node) over the run, from /proc, divided by wrk's requests; for the direct rows, the backend's. " +
      "Upstream conns opened: connections the two backends accepted during the run (stub_status). Errors: wrk's socket errors plus non-2xx/3xx answers. Load: the machine's 1-minute load average at the end of the run (the highest over the runs); on a machine other work shares, compare figures only beside a like load. Ratios are to HAProxy at the same workers. " +
      "ANCHORS.md measured with -t2 -c64 -d10s, median of 3: set BENCH_PROXY_SECONDS=10 BENCH_PROXY_RUNS=3 to match.",
    "",
    "Goal (issue 13): Tandem ≥ 1.0× HAProxy's requests/s at equal workers on both responses, with CPU per request no higher; " +
      "the issue is not done below 0.8× on either response at 1 or 2 workers, or with p99 above 1.5× HAProxy's. The verdict column judges each plain case.",
    ...notStarted.flatMap((l) => ["", l]),
    "",
    "| case | workers | side | req/s | ×HAProxy | p99 (ms) | ×HAProxy | CPU/req (µs) | ×HAProxy | upstream conns opened | errors | load | verdict / note |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...lines,
    "",
    "Tandem beside HAProxy at the goal's cases (plain HTTP keep-alive):",
  ].join("\n");
  return { title: "HTTP proxy: Tandem, HAProxy and nginx to the same two backends", anchor: "HAProxy", method, rows };
}

