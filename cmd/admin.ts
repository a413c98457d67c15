/**
 * The admin commands: `tandem status|standby|online|move|clear|cleanup|disable|enable|maintenance`. Each
 * is a call to a node's HTTP API (the node named by --node, else this host's,
 * else the first member that answers), with the token from the config's
 * api.token_file for the commands that change something (api.read_token_file
 * for the others). Over HTTPS the API's certificate is verified against
 * api.ca_file (else the system's CAs; a self-signed certificate given as its
 * own CA is pinned); a
 * mutating call over plain HTTP to an address other than loopback is refused
 * unless api.insecure_http says the network is trusted. Without -c the
 * config is /etc/tandem/tandem.toml (the package's); with --api and no -c no
 * config is read, and the token is $TANDEM_TOKEN.
 */
import { hostname } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail, parse } from "./cli.ts";
import { loadConfig } from "../core/config/load.ts";
import { formatProblem } from "../core/config/problems.ts";
import { parseDuration } from "../core/duration.ts";
import { MODULES } from "../modules/index.ts";
import { MAX_WEIGHT } from "../core/config/primitives.ts";

/** How long one API call may take. */
const CALL_TIMEOUT_MS = 5000;

/** The config the admin commands read without -c: where the package installs it. */
export const DEFAULT_CONFIG = "/etc/tandem/tandem.toml";
/** With --api and no config: the bearer token, for reading and for changing. */
export const TOKEN_ENV = "TANDEM_TOKEN";

export const COMMON_OPTIONS = `  -c, --config FILE   the cluster config (TOML; default ${DEFAULT_CONFIG}); its
                      api.token_file and api.read_token_file give the tokens
  -n, --node NAME     ask this node's API (default: this host's node, else the first member that answers)
      --api URL       ask this API instead, e.g. http://198.18.7.11:9480; without
                      -c no config is read and the token is $${TOKEN_ENV}
  -h, --help          this help`;

/** The exit codes of the commands that call a node's API, for their help. */
export const API_EXIT_CODES = `Exit codes:
  0  done
  1  the node refused or failed (401/403: the token; 409, 5xx: see the message),
     or no node answered (is \`tandem run\` up? is --api right?)
  2  bad usage, a bad config, or a name the node does not know (404, 400)`;

export const ADMIN_OPTIONS = {
  config: { type: "string", short: "c" },
  node: { type: "string", short: "n" },
  api: { type: "string" },
  json: { type: "boolean" },
  for: { type: "string" },
} as const;

export interface Target {
  urls: string[];
  token: string | null;
  readToken: string | null;
  /** The CA (PEM) the API's certificate is verified with; null: the system's. */
  tls: { ca: string } | null;
  insecureHttp: boolean;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/i;

export async function target(values: { config?: string; node?: string; api?: string }): Promise<Target> {
  if (values.config === undefined && values.api !== undefined) {
    if (values.node) fail("--node needs the config (-c FILE) to find the node's address; with --api, leave it out");
    return { urls: [values.api.replace(/\/$/, "")], token: process.env[TOKEN_ENV] || null, readToken: null, tls: null, insecureHttp: false };
  }
  const file = values.config ?? DEFAULT_CONFIG;
  if (!values.config && !existsSync(file)) fail(`missing -c FILE (or --api URL): the default config ${file} does not exist`);
  const loaded = await loadConfig(file, MODULES);
  if (!loaded.ok) fail(loaded.problems.map((p) => formatProblem(file, p)).join("\n"));
  const config = loaded.config;
  const api = config.api;
  const tls = api.caFile ? { ca: readFileSync(api.caFile, "utf8") } : null;
  const base = { token: api.token ?? null, readToken: api.readToken ?? null, tls, insecureHttp: api.insecureHttp };
  if (values.api) return { urls: [values.api.replace(/\/$/, "")], ...base };
  const url = (name: string) => {
    const n = config.nodes.find((x) => x.name === name)!;
    const host = api.bind ?? n.address;
    return `${api.tls ? "https" : "http"}://${isIPv6(host) ? `[${host}]` : host}:${api.port}`;
  };
  const members = config.nodes.filter((n) => n.roles.includes("member")).map((n) => n.name);
  if (values.node) {
    if (!config.nodes.some((n) => n.name === values.node)) fail(`no node named "${values.node}" in ${file}`);
    return { urls: [url(values.node)], ...base };
  }
  const here = members.find((m) => m === hostname());
  return { urls: (here ? [here, ...members.filter((m) => m !== here)] : members).map(url), ...base };
}

class Unreachable extends Error {}

/** The first node's answer, and the API that gave it; connection failures move on to the next node. */
export async function call(t: Target, method: "GET" | "POST", path: string): Promise<{ status: number; body: Record<string, unknown>; url: string }> {
  const errors: string[] = [];
  const token = method === "POST" ? t.token : (t.readToken ?? t.token);
  for (const base of t.urls) {
    const u = new URL(base);
    if (method === "POST" && u.protocol === "http:" && !LOOPBACK.test(u.hostname) && !t.insecureHttp) {
      errors.push(`${base}: refused to send the token over plain HTTP to a non-loopback address (serve HTTPS with api.cert_file and api.key_file, or set api.insecure_http = true on a trusted network)`);
      continue;
    }
    try {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        ...(t.tls && u.protocol === "https:" ? { tls: t.tls } : {}),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, url: base };
    } catch (e) {
      errors.push(`${base}: ${(e as Error).message}`);
    }
  }
  throw new Unreachable(`no node answered (${errors.join("; ")})`);
}

/** A command's main with "no node answered" as a failure (exit 1) rather than a crash. */
export async function reaching(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof Unreachable)) throw e;
    console.error(`error: ${e.message}; is \`tandem run\` up there, and is the address (-c, --node, --api) right?`);
    return EXIT_FAILURE;
  }
}

export function report(answer: { status: number; body: Record<string, unknown> }, ok: (body: Record<string, unknown>) => string): number {
  if (answer.status >= 200 && answer.status < 300) {
    console.log(ok(answer.body));
    return EXIT_OK;
  }
  const b = answer.body;
  console.error(`error: ${String(b.detail ?? b.title ?? answer.status)}${Array.isArray(b.known) ? ` (known: ${b.known.join(", ")})` : ""}${HINTS[answer.status] ?? ""}`);
  return answer.status === 404 || answer.status === 400 ? EXIT_USAGE : EXIT_FAILURE;
}

/** What to do about a refusal, after the node's own words. */
const HINTS: Record<number, string> = {
  401: `\n(the token is the file api.token_file names in the config given with -c, or $${TOKEN_ENV} with --api and no config; is it the node's?)`,
  403: "\n(this needs api.token_file in the node's config, or HTTPS off loopback; see the message)",
  503: "\n(the node is busy; try again in a second)",
  504: "\n(the node's control plane did not answer in time; see its log: journalctl -u tandem)",
};

function command(name: string, summary: string, args: string, explain: string, path: (pos: string[], values: { for?: string }) => string, done: (pos: string[]) => string): Command {
  const wanted = args.split(" ").filter((a) => /^[A-Z]+$/.test(a)).length;
  return {
    name,
    summary,
    help: `Usage: tandem ${name} [-c FILE] ${args}

${explain}

Options:
${COMMON_OPTIONS}

${API_EXIT_CODES}`,
    async main(argv) {
      const { values, positionals } = parse(argv, ADMIN_OPTIONS, true);
      if (values.help) return void console.log(this.help), EXIT_OK;
      if (positionals.length !== wanted) fail(`expected ${args.replace(/\[.*\]/, "").trim()}, found ${positionals.length ? positionals.join(" ") : "nothing"}`);
      if (values.for !== undefined && name !== "move") fail("--for is for move only");
      if (values.for !== undefined && !parseDuration(values.for)) fail(`--for expects a duration like 30m or 2h, found "${values.for}"`);
      const t = await target(values);
      return reaching(async () => report(await call(t, "POST", path(positionals, values)), () => done(positionals)));
    },
  };
}

const enc = encodeURIComponent;

export const standby = command("standby", "put a node in standby: its groups move away", "NODE", "Puts NODE in standby: its groups stop there and start elsewhere, and nothing\nstarts on it until `tandem online NODE`.", ([n]) => `/v1/resources/standby/${enc(n!)}`, ([n]) => `${n} is in standby`);

export const online = command("online", "end a node's standby", "NODE", "Ends NODE's standby: groups may run there again (and go back, if their\nstickiness lets them).", ([n]) => `/v1/resources/online/${enc(n!)}`, ([n]) => `${n} is online`);

export const move = command(
  "move",
  "move a group to a node, for good or --for a while",
  "GROUP NODE [--for DURATION]",
  "Moves GROUP to NODE and keeps it there (a resource in no group is a group of\nits own name). The move stays in force, and in `tandem status`, until it\nexpires (--for) or `tandem clear GROUP` removes it; a move to a node that\ncannot run the group is noted and ignored, never a ban.",
  ([g, n], v) => `/v1/resources/move/${enc(g!)}/${enc(n!)}${v.for ? `?for=${enc(v.for)}` : ""}`,
  ([g, n]) => `${g} moves to ${n}`,
);

export const clear = command("clear", "remove a group's move", "GROUP", "Removes GROUP's move: it is placed by its scores again.", ([g]) => `/v1/resources/clear/${enc(g!)}`, ([g]) => `${g}'s move is cleared`);

export const cleanup = command(
  "cleanup",
  "forget a resource's failures and probe it again",
  "RESOURCE",
  "Forgets RESOURCE's failures on every node (a failed start, a failed stop that\nwas dealt with by hand) and probes its state again on every node.",
  ([r]) => `/v1/resources/cleanup/${enc(r!)}`,
  ([r]) => `${r} is cleaned up`,
);

export const disable = command(
  "disable",
  "stop a group or resource and start it nowhere until enabled",
  "NAME",
  "Disables NAME, a group or a resource (Pacemaker's target-role=Stopped): it\nstops wherever it runs and starts nowhere until `tandem enable NAME`. A\ngroup member stops with the members after it; those before it keep running.\nKept in the admin state, across restarts.",
  ([n]) => `/v1/resources/disable/${enc(n!)}`,
  ([n]) => `${n} is disabled`,
);

export const enable = command("enable", "end a group's or resource's disable", "NAME", "Ends NAME's disable: it is placed and started again.", ([n]) => `/v1/resources/enable/${enc(n!)}`, ([n]) => `${n} is enabled`);

export const maintenance: Command = {
  name: "maintenance",
  summary: "the manager leaves the cluster, a node or a resource alone",
  help: `Usage: tandem maintenance [-c FILE] on|off [node NODE | resource NAME]

Maintenance of the whole cluster, of one node, or of one group or resource
(Pacemaker's maintenance-mode, a node's maintenance, is-managed=false): the
resource manager starts, stops, restarts and fences nothing there, whatever
fails or moves; monitors and probes still run and report, and failures show
in \`tandem status\` without being counted. When it ends, what it covered is
probed again (it may have been started or stopped by hand) and managed as
usual. The node and the resource are words, not options: --node picks the
node whose API is asked, as for every admin command.

Options:
${COMMON_OPTIONS}

${API_EXIT_CODES}`,
  async main(argv) {
    const { values, positionals } = parse(argv, ADMIN_OPTIONS, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    const [state, scope, name, ...rest] = positionals;
    if (state !== "on" && state !== "off") fail(`expected on or off, found ${state ?? "nothing"}`);
    if (scope !== undefined && scope !== "node" && scope !== "resource") fail(`expected node NODE or resource NAME after ${state}, found ${scope}`);
    if (scope !== undefined && name === undefined) fail(`${scope} needs a name`);
    if (rest.length) fail(`unexpected ${rest.join(" ")}`);
    if (values.for !== undefined) fail("--for is for move only");
    const query = scope === undefined ? "" : `?${scope}=${enc(name!)}`;
    const what = scope === undefined ? "the cluster" : `${scope} ${name}`;
    const t = await target(values);
    return reaching(async () => report(await call(t, "POST", `/v1/resources/maintenance/${state}${query}`), () => `maintenance of ${what} is ${state}`));
  },
};

export interface StatusBody {
  dc: string | null;
  quorate: boolean;
  nodes: Array<{ name: string; membership: string; standby: boolean; fence: string; attributes?: Record<string, unknown>; capacity?: Record<string, number>; used?: Record<string, number> }>;
  groups: Array<{ name: string; members: string[]; runningOn: string[]; clone?: { max: number | null } | null; instances?: Array<{ node: string; started: string[] }>; disabled?: boolean }>;
  resources: Record<string, { agent: string; states: Record<string, string>; disabled?: boolean; maintenance?: string[] }>;
  maintenance?: { cluster: boolean; nodes: string[]; resources: string[] };
  operations: Array<{ resource: string; action: string; forMs: number }>;
  failures: Array<{ resource: string; node: string; count: number }>;
  moves: Array<{ group: string; node: string; until: number | null; expired: boolean }>;
  notes: string[];
  cluster: { self: string };
}

export function formatStatus(node: string, s: StatusBody): string {
  const m = s.maintenance;
  const lines = [`node ${node}: DC ${s.dc ?? "none"}, ${s.quorate ? "quorate" : "NO QUORUM"}${m?.cluster ? ", MAINTENANCE (the manager acts on nothing)" : ""}`];
  lines.push("nodes:");
  for (const n of s.nodes) {
    lines.push(`  ${n.name.padEnd(12)} ${n.membership}${n.standby ? ", standby" : ""}${m?.nodes.includes(n.name) ? ", maintenance" : ""}${n.fence !== "none" ? `, fence ${n.fence}` : ""}`);
    const attributes = Object.entries(n.attributes ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    const capacity = Object.entries(n.capacity ?? {}).map(([k, v]) => `${k} ${n.used?.[k] ?? 0}/${v}`);
    if (attributes.length || capacity.length) lines.push(`  ${"".padEnd(12)} ${[...attributes, ...(capacity.length ? [`used ${capacity.join(", ")}`] : [])].join(" ")}`);
  }
  lines.push("groups:");
  for (const g of s.groups) {
    const flags = `${g.disabled ? ", disabled" : ""}${m?.resources.includes(g.name) ? ", maintenance" : ""}`;
    lines.push(`  ${g.name.padEnd(12)} ${groupWhere(g)}${flags}`);
    for (const r of g.members) {
      const res = s.resources[r];
      const states = Object.entries(res?.states ?? {}).filter(([, st]) => st !== "stopped");
      const own = `${res?.disabled ? ", disabled" : ""}${!m?.cluster && m?.resources.includes(r) ? ", maintenance" : ""}`;
      lines.push(`    ${r.padEnd(14)} ${res?.agent.padEnd(24)} ${states.length ? states.map(([n, st]) => `${st} on ${n}`).join(", ") : "stopped"}${own}`);
    }
  }
  for (const o of s.operations) lines.push(`in flight: ${o.action} ${o.resource} (${o.forMs} ms)`);
  for (const f of s.failures) lines.push(`failures: ${f.resource} on ${f.node}: ${f.count}`);
  for (const m of s.moves) lines.push(`move: ${m.group} to ${m.node}${m.until === null ? "" : m.expired ? " (expired)" : ` until ${new Date(m.until).toISOString()}`}`);
  for (const n of s.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}

/** Where a group runs: the nodes running it whole, then those running only its first members; a clone says so, with its clone_max. */
function groupWhere(g: StatusBody["groups"][number]): string {
  const part = (g.instances ?? []).filter((i) => !g.runningOn.includes(i.node)).map((i) => `${i.node} (${i.started.join(", ")} only)`);
  const where = [...g.runningOn, ...part];
  const kind = g.clone ? `clone${g.clone.max === null ? "" : ` (max ${g.clone.max})`} ` : "";
  return `${kind}${where.length ? `on ${where.join(", ")}` : "stopped"}`;
}

/** GET a module's status at `path` and print it (its JSON with `json`); a 404 says the node runs `missing`. */
export function printStatus<T>(t: Target, path: string, missing: string, json: boolean | undefined, format: (body: T) => string): Promise<number> {
  return reaching(async () => {
    const answer = await call(t, "GET", path);
    if (answer.status === 404) {
      console.error(`error: that node runs ${missing}`);
      return EXIT_FAILURE;
    }
    const body = answer.body as unknown as T;
    console.log(json ? JSON.stringify(body, null, 2) : format(body));
    return EXIT_OK;
  });
}

/**
 * The arguments of a per-server admin verb (`tandem director|proxy VERB
 * SERVICE ADDRESS:PORT [N]`), checked: the API path under `base`
 * (`/v1/NAME/servers/SERVICE/SERVER/VERB[/N]`) and the weight for `weight`.
 */
function serverVerb(base: string, verbs: readonly string[], positionals: string[]): { path: string; service: string; server: string; weight?: string } {
  const [verb = "", service, server, weight] = positionals;
  if (!verbs.includes(verb)) fail(`unknown verb "${verb}": status, ${verbs.join(", ")}`);
  if (!service) fail(`${verb} needs SERVICE ADDRESS:PORT`);
  if (!server || !/^[^/]+$/.test(server)) fail(`${verb}: expected ADDRESS:PORT (or ADDRESS for a server without a port), found ${server ?? "nothing"}`);
  if (verb === "weight" && (weight === undefined || !/^\d+$/.test(weight) || Number(weight) > MAX_WEIGHT)) fail(`weight needs N, a whole number from 0 to ${MAX_WEIGHT}; found ${weight ?? "nothing"}`);
  const args = verb === "weight" ? 4 : 3;
  if (positionals.length > args) fail(`unexpected ${positionals.slice(args).join(" ")}`);
  const path = `${base}servers/${encodeURIComponent(service)}/${encodeURIComponent(server)}/${verb}${verb === "weight" ? `/${weight}` : ""}`;
  return { path, service, server, ...(verb === "weight" ? { weight } : {}) };
}

/** A module's per-server admin command (`tandem director`, `tandem proxy`): its status, and what each verb says when done. */
export interface ServerAdmin<T> {
  /** The module's name: its API is /v1/NAME/. */
  module: string;
  /** What the node runs instead, when it has no such module ("no proxy (...)"). */
  missing: string;
  format(body: T): string;
  /** Each verb and what is printed once it is done (the weight given, for `weight`). */
  done: Record<string, (weight: string | undefined) => string>;
}

/** `tandem MODULE -c FILE [status] | VERB SERVICE ADDRESS:PORT [N]`: status by default, else the verb through the API. */
export async function serverAdmin<T>(help: string, argv: string[], a: ServerAdmin<T>): Promise<number> {
  const { values, positionals } = parse(argv, ADMIN_OPTIONS, true);
  if (values.help) return void console.log(help), EXIT_OK;
  if (values.for !== undefined) fail(`--for is for \`tandem move\`, not the ${a.module}`);
  const t = await target(values);
  const base = `/v1/${a.module}/`;
  if ((positionals[0] ?? "status") === "status") {
    if (positionals.length > 1) fail(`status takes no arguments, found ${positionals.slice(1).join(" ")}`);
    return printStatus<T>(t, base, a.missing, values.json, a.format);
  }
  const { path, service, server, weight } = serverVerb(base, Object.keys(a.done), positionals);
  const said = a.done[positionals[0]!]!(weight);
  return reaching(async () => report(await call(t, "POST", path), () => `${service}/${server}: ${said}`));
}
