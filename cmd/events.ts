/**
 * `tandem events`: follows a node's GET /v1/events (server-sent events) and
 * prints each event as a line, or as JSON. When the node it follows goes
 * away (killed, powered off, frozen past twice the stream's keepalive) it
 * moves on to the next member of the config and replays that node's history
 * from the moment the last one was lost, so following a takeover shows the
 * survivor's side of it. Gives up (exit 1) when no node has answered for
 * GIVE_UP_MS.
 */
import { type Command, EXIT_FAILURE, EXIT_OK, fail, parse } from "./cli.ts";
import { ADMIN_OPTIONS, API_EXIT_CODES, COMMON_OPTIONS, type Target, TOKEN_ENV, target } from "./admin.ts";
import type { TandemEvent } from "../core/events.ts";

/** How long no node may answer before `tandem events` gives up. */
const GIVE_UP_MS = 30_000;
/** The pause between two rounds over the nodes when none answered. */
const RETRY_MS = 500;
/** A stream silent this long is taken for lost: the node sends a keepalive every 15 s (core/api/worker.ts). */
const STREAM_IDLE_MS = 35_000;
/** How long the first answer (the headers) may take. */
const CONNECT_TIMEOUT_MS = 5000;

export interface EventFilter {
  /** Modules whose events are wanted (the type's first word: heartbeat, resources, director…); empty: all. */
  modules: string[];
  /** Events before this time are not shown (the replay after a node was lost: after its last event shown). */
  from: number;
}

export const wanted = (e: TandemEvent, f: EventFilter): boolean => e.at >= f.from && (!f.modules.length || f.modules.includes(e.type.slice(0, e.type.indexOf(".") >>> 0)));

const value = (v: unknown): string => (typeof v === "string" ? (/[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v) : JSON.stringify(v));

/** "03:12:01.123 bravo heartbeat.peer peer=alpha status=down reason=silent silentMs=510" (UTC). */
export function eventLine(e: TandemEvent): string {
  const time = new Date(e.at).toISOString().slice(11, 23);
  const data = Object.entries(e.data).map(([k, v]) => `${k}=${value(v)}`);
  return [time, e.node, e.type, ...data].join(" ");
}

/** The events of one SSE body as they arrive; ends when the stream does (or stays silent past STREAM_IDLE_MS). */
async function* sse(body: ReadableStream<Uint8Array>, abort: AbortController): AsyncGenerator<TandemEvent> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const timer = setTimeout(() => abort.abort(), STREAM_IDLE_MS);
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch {
      return;
    } finally {
      clearTimeout(timer);
    }
    if (chunk.done) return;
    buf += dec.decode(chunk.value, { stream: true });
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const message = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = message
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (data) yield JSON.parse(data) as TandemEvent;
    }
  }
}

/** done: the count was reached; lost: the node did not answer, or its stream ended (`since`: it had been followed, its events shown up to then); refused: an answer that another try will not change. */
type Outcome = { kind: "done" } | { kind: "lost"; why: string; since: number | null } | { kind: "refused"; message: string };

/** Follows one node's stream until it ends, the count is reached, or the node refuses. */
async function follow(base: string, t: Target, query: string, filter: EventFilter, print: (e: TandemEvent) => boolean): Promise<Outcome> {
  const abort = new AbortController();
  const token = t.readToken ?? t.token;
  const connect = setTimeout(() => abort.abort(), CONNECT_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(`${base}/v1/events${query}`, {
      headers: { accept: "text/event-stream", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: abort.signal,
      ...(t.tls && base.startsWith("https:") ? { tls: t.tls } : {}),
    });
  } catch (e) {
    return { kind: "lost", why: (e as Error).message, since: null };
  } finally {
    clearTimeout(connect);
  }
  if (res.status === 503) return { kind: "lost", why: "busy (too many event streams open)", since: null };
  if (res.status !== 200 || !res.body) {
    const detail = String(((await res.json().catch(() => ({}))) as { detail?: string }).detail ?? res.statusText);
    const hint = res.status === 401 ? ` (the read token: api.read_token_file or api.token_file of the config given with -c, or $${TOKEN_ENV} with --api)` : "";
    return { kind: "refused", message: `${base}/v1/events answered ${res.status}: ${detail}${hint}` };
  }
  let since = Date.now();
  for await (const e of sse(res.body, abort)) {
    since = e.at + 1;
    if (wanted(e, filter) && !print(e)) {
      abort.abort();
      return { kind: "done" };
    }
  }
  return { kind: "lost", why: abort.signal.aborted ? `silent for ${STREAM_IDLE_MS / 1000} s` : "the stream ended", since };
}

export const events: Command = {
  name: "events",
  summary: "follow the node's events as they happen: heartbeats, takeovers, checks, reloads",
  help: `Usage: tandem events [-c FILE] [--module NAME]... [--since ID] [--count N] [--json]

Follows a node's event stream (GET /v1/events) and prints each event as it
happens, one line each: time (UTC), node, type, then the event's fields as
key=value. --json prints each event as the API sends it, one JSON object a
line: {"id", "at" (ms since the epoch), "type", "node", "data"}.

When the node followed goes away (killed, powered off, or silent past twice
the stream's 15 s keepalive), it says so on stderr and follows the next
member of the config, showing that node's events from the moment the first
was lost: following a failover shows the survivor taking over. It gives up
when no node has answered for ${GIVE_UP_MS / 1000} s.

Options:
      --module NAME   only this module's events (the type's first word:
                      heartbeat, resources, director, checks, proxy, volume,
                      runtime, config…); repeat for more
      --since ID      first replay the node's recent events after id ID
                      (0: all it still holds); default: only new ones
      --count N       exit after N events (0 when done)
      --json          one JSON event a line
${COMMON_OPTIONS}

${API_EXIT_CODES}
  Interrupted (Ctrl-C): 130.`,
  async main(argv) {
    const { values, positionals } = parse(argv, { ...ADMIN_OPTIONS, module: { type: "string", multiple: true }, since: { type: "string" }, count: { type: "string" } }, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (positionals.length) fail(`unexpected ${positionals.join(" ")}`);
    if (values.for !== undefined) fail("--for is for move only");
    if (values.since !== undefined && !/^\d+$/.test(values.since)) fail(`--since expects an event id (a whole number), found "${values.since}"`);
    if (values.count !== undefined && !/^[1-9]\d*$/.test(values.count)) fail(`--count expects a whole number above 0, found "${values.count}"`);
    for (const m of values.module ?? []) if (!/^[a-z][a-z0-9-]*$/.test(m)) fail(`--module expects a module's name like heartbeat or resources, found "${m}"`);
    const t = await target(values);
    let left = values.count === undefined ? Infinity : Number(values.count);
    const print = (e: TandemEvent) => {
      console.log(values.json ? JSON.stringify(e) : eventLine(e));
      return --left > 0;
    };
    const filter: EventFilter = { modules: values.module ?? [], from: 0 };
    let query = values.since === undefined ? "" : `?since=${values.since}`;
    let at = 0;
    let silentSince = Date.now();
    for (;;) {
      const base = t.urls[at % t.urls.length]!;
      const out = await follow(base, t, query, filter, print);
      if (out.kind === "done") return EXIT_OK;
      if (out.kind === "refused") {
        console.error(`error: ${out.message}`);
        return EXIT_FAILURE;
      }
      if (out.since !== null) {
        // It was followed, then lost: the next node's history is shown from its last event on.
        console.error(`tandem events: lost ${base} (${out.why}); trying ${t.urls.length > 1 ? "the next node" : "again"}`);
        filter.from = out.since;
        query = "?since=0";
        silentSince = Date.now();
      } else if (Date.now() - silentSince > GIVE_UP_MS) {
        console.error(`error: no node answered for ${GIVE_UP_MS / 1000} s (last: ${base}: ${out.why}); is \`tandem run\` up there, is --api right?`);
        return EXIT_FAILURE;
      }
      at++;
      if (at % t.urls.length === 0 && out.since === null) await Bun.sleep(RETRY_MS);
    }
  },
};
