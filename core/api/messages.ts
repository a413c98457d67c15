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
  | { type: "init"; version: string; dashboard: string; token: string | null; routes: RouteInfo[]; history: TandemEvent[] }
  | { type: "listen"; id: number; hostname: string; port: number }
  | { type: "token"; token: string | null }
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
