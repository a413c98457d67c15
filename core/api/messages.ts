/**
 * What crosses between the control thread (the runtime, the heartbeat, the
 * coordinator) and the API worker (Bun.serve, hono, SSE). Every message is a
 * plain object (structured clone); every queue on either side has a bound
 * named here.
 */
import type { TandemEvent } from "../events.ts";
import type { RouteInfo } from "./routes.ts";

/**
 * Event messages sent to the worker and not yet acknowledged; past it the
 * control thread waits for an ack. A message carries the events of one turn
 * of the control thread's loop (at most the bus's ring, EVENT_HISTORY).
 */
export const EVENT_BATCHES_IN_FLIGHT = 4;
/** Module routes (and the reload) forwarded to the control thread at once; past it the worker answers 503. */
export const MAX_ROUTES_IN_FLIGHT = 16;
/** HTTP callers waiting for one coalesced status or metrics answer; past it the worker answers 503. */
export const MAX_WAITERS = 1024;
/** How long an HTTP caller waits for the control thread before the worker answers 504. */
export const CONTROL_TIMEOUT_MS = 5000;
/** Largest request body the API reads (and so forwards). */
export const MAX_BODY_BYTES = 64 * 1024;
/** Seconds a 503 asks the caller to wait (Retry-After). */
export const RETRY_AFTER_S = 1;
/**
 * Open API connections (the worker's gate closes any past it at once).
 * Each costs the process three descriptors (the client's, the gate's link to
 * the server and the server's end of it): 128 of them stay well inside the
 * soft limit of 1024 a systemd service gets. [api] max_connections.
 */
export const MAX_CONNECTIONS = 128;
/** Open /v1/events streams; past it 503. [api] max_sse_clients. */
export const MAX_SSE_CLIENTS = 32;
/**
 * A request's headers must arrive within this (a client sending them a byte
 * at a time is cut off). Bun's HTTP server (uWebSockets) enforces it: its
 * timer is not reset by partial headers; named here so tests hold it to it.
 */
export const HEADER_TIMEOUT_S = 10;
/** A request's body must arrive within this, else 408 and the connection is closed. */
export const BODY_TIMEOUT_MS = 10_000;

/** Who may do what, and under which names the node may be asked (a Host header naming anything else is refused: DNS rebinding). */
export interface Access {
  /** The bearer token of mutating routes; null: they are refused. */
  token: string | null;
  /** The bearer token that reading routes (status, events, metrics, the modules' GETs) need; null: open. /healthz, the page and the OpenAPI document stay open. The token above is accepted too. */
  readToken: string | null;
  /** Host names and addresses (without port) a request may name in its Host header. */
  hosts: string[];
  /** api.insecure_http: mutating calls over plain HTTP from peers off loopback are served; false: refused with 403. */
  insecureHttp: boolean;
}

/** Where and how the worker listens. */
export interface ListenSpec {
  hostname: string;
  port: number;
  /** PEM texts: HTTPS when given. */
  tls: { cert: string; key: string } | null;
  maxConnections: number;
  maxSseClients: number;
}

/** A request for a route whose handler runs on the control thread. */
export interface ForwardedRequest {
  method: string;
  /** Path and query string, as received. */
  url: string;
  headers: Record<string, string>;
  /** At most MAX_BODY_BYTES. */
  body: string;
}

export interface ForwardedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type ToWorker =
  | { type: "init"; version: string; dashboard: string; access: Access; routes: RouteInfo[]; history: TandemEvent[] }
  | { type: "listen"; id: number; spec: ListenSpec }
  | { type: "access"; access: Access }
  | { type: "routes"; routes: RouteInfo[] }
  | { type: "events"; events: TandemEvent[] }
  | { type: "status"; body: Record<string, unknown> }
  | { type: "metrics"; text: string }
  | { type: "response"; id: number; response: ForwardedResponse }
  | { type: "stop" };

export type FromWorker =
  | { type: "listening"; id: number; port: number }
  | { type: "listen-failed"; id: number; error: string }
  | { type: "events-ack" }
  | { type: "status-request" }
  | { type: "metrics-request" }
  | { type: "request"; id: number; request: ForwardedRequest }
  | { type: "stopped" }
  | { type: "log"; level: "warn" | "error"; msg: string; data: Record<string, unknown> };
