/**
 * What crosses between the proxy's control side (on the control thread) and
 * its data-path workers (one Bun Worker each, `[proxy] workers` of them).
 * Every message is plain data (structured clone); the data path never waits
 * on the control thread to serve a request.
 *
 * In (control -> worker): `configure` (the whole proxy config with each
 * backend's servers resolved from [[services]]; replaces the last; a worker
 * keeps serving in-flight requests on the old one and takes new ones on the
 * new), `servers` (health and runtime state of servers, from the shared
 * checks and the admin overrides), `stick` (stick-table entries learned by
 * another worker or the peer node), `stats` (a request for counters), `stop`
 * (stop listening, let in-flight requests end within the grace, then say
 * `stopped`).
 * Out (worker -> control): `listening` (its sockets are bound, or why not),
 * `observed` (passive health: a server crossed its error limit), `stick`
 * (entries it created or refreshed, batched), `served` (the first answer a
 * server gave a client through this thread, once a thread), `stats`,
 * `stopped`.
 */
import type { BackendRaw, FrontendRaw, ProxyRaw } from "./config.ts";

/** Messages a worker batches before it sends them (stick updates, observations): at most this often. */
export const BATCH_MS = 50;
/** Entries in one `stick` message at most; more wait for the next batch. */
export const MAX_STICK_BATCH = 1024;
/** How long a stop lets in-flight requests end before the worker closes what is left. */
export const STOP_GRACE_MS = 5000;
/** After a worker thread dies, how long before a new one takes its place (sent the config, server states and stick entries again). */
export const WORKER_RESTART_MS = 1000;

/** A backend's server as the data path sees it: where it is and what the config says of it. */
export interface ProxyServer {
  /** serverKey(address, port): how checks, stick tables and the API name it. */
  key: string;
  address: string;
  port: number;
  weight: number;
  maxconn?: number;
  backup: boolean;
}

/** A backend with its servers resolved from its [[services]] entry. */
export interface ResolvedBackend extends BackendRaw {
  servers: ProxyServer[];
}

/** A frontend with its certificates read (PEM text), so a worker never reads a secret file itself. */
export interface ResolvedFrontend extends Omit<FrontendRaw, "certificate"> {
  certificates: { cert: string; key: string; serverNames?: string[] }[];
}

export interface WorkerConfig extends Omit<ProxyRaw, "frontend" | "backend" | "workers"> {
  frontends: ResolvedFrontend[];
  backends: ResolvedBackend[];
  /** Config generation: a worker reports which one it serves. */
  generation: number;
}

/** A server's state for the data path: healthy by its active check, and the operator's runtime state. */
export interface ServerState {
  backend: string;
  key: string;
  /** The active check's verdict (a server without a check is up). */
  up: boolean;
  /** ready: takes traffic; drain: keeps its sticky clients and in-flight requests, no new ones; maint: nothing. */
  admin: "ready" | "drain" | "maint";
  /** The weight now (the config's, or a runtime change). */
  weight: number;
}

export interface StickEntry {
  backend: string;
  /** The stuck key: a client address (stick on source) or a cookie's server. */
  key: string;
  server: string;
  /** Wall-clock ms when last used; a merge keeps the newer. */
  seenAt: number;
}

/** Which of the proxy's workers this is: maxconn is shared out over them, and without reuse_port only worker 0 listens. */
export interface WorkerPlace {
  index: number;
  count: number;
}

export type ToWorker =
  | { type: "configure"; config: WorkerConfig; worker?: WorkerPlace; /** The node's name, in the access log's lines (none without it). */ node?: string }
  | { type: "servers"; states: ServerState[] }
  | { type: "stick"; entries: StickEntry[] }
  | { type: "stats" }
  | { type: "stop" };

/** Upper bounds (ms) of the latency histogram's buckets; `latencyMs` has one more, for what is slower than the last. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000] as const;

/** Counters of one worker since it started; the control side sums them over workers. `latencyMs`: counts per LATENCY_BUCKETS_MS bucket. */
export interface WorkerStats {
  frontends: Record<string, { connections: number; active: number; requests: number; status: Record<"1xx" | "2xx" | "3xx" | "4xx" | "5xx", number>; refused: number }>;
  backends: Record<string, { queued: number; queueFull: number; queueTimeouts: number; retries: number; redispatches: number; servers: Record<string, { requests: number; active: number; errors: number; latencyMs: number[] }> }>;
  /** Access log lines dropped because stdout was slow (datapath/access.ts HOLD_BYTES were held). */
  accessLogDropped: number;
}

export type FromWorker =
  | { type: "listening"; generation: number; error?: string }
  | { type: "observed"; backend: string; server: string; reason: string }
  | { type: "stick"; entries: StickEntry[] }
  /** The first answer a server gave a client through this thread (once a thread: a thread lives while the listeners run); `at`: the worker's wall clock when its head went to the client. */
  | { type: "served"; frontend: string; backend: string; server: string; client: string; status: number; at: number }
  | { type: "stats"; stats: WorkerStats }
  | { type: "stopped" };
