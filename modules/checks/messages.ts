/**
 * What crosses between the control thread and the checks' worker thread, and
 * the bounds on it. Every message is plain data (structured clone).
 *
 * In (control -> worker): the whole set to check and the params, as one
 * `configure` that replaces the last (the control thread sends at most one a
 * turn of its loop, the newest winning), a `status` request (at most
 * STATUS_REQUESTS_IN_FLIGHT outstanding), and `stop`.
 * Out (worker -> control): `health` (every checked server, after each
 * configure), `changes` (coalesced per server over CHANGE_BATCH_MS: one
 * entry a server at most, so a message never holds more entries than there
 * are servers checked), the `status` asked for, and `stopped`.
 */
import type { ServiceRaw } from "./config.ts";
import type { EngineParams, ServerChange } from "./engine.ts";
import type { ServiceStatus } from "./service.ts";

/** How long the worker gathers changes before it sends them: a flap within it is one change. */
export const CHANGE_BATCH_MS = 10;
/** Status requests the control thread has outstanding at once; another waits for that answer. */
export const STATUS_REQUESTS_IN_FLIGHT = 1;
/** How long a stop waits for the worker to abort its checks and say so before the thread is terminated. */
export const STOP_WAIT_MS = 2000;
/** After the worker thread dies, how long before a new one takes over (it is sent the current set again). */
export const WORKER_RESTART_MS = 1000;

/** A server's health as consumers need it. */
export type ServerHealth = Omit<ServerChange, "previous" | "reason">;

export type ToWorker = { type: "configure"; services: ServiceRaw[]; p: EngineParams } | { type: "status" } | { type: "stop" };

export type FromWorker =
  | { type: "health"; servers: ServerHealth[] }
  | { type: "changes"; changes: ServerChange[] }
  | { type: "status"; services: ServiceStatus[] }
  | { type: "stopped" };
