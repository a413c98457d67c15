/** The worker's counters (messages.ts WorkerStats), kept as they happen and copied out on a `stats` request. */
import { LATENCY_BUCKETS_MS, type WorkerStats } from "../messages.ts";

export type FrontendCounters = WorkerStats["frontends"][string];
export type BackendCounters = WorkerStats["backends"][string];
export type ServerCounters = BackendCounters["servers"][string];

export function frontendCounters(): FrontendCounters {
  return { connections: 0, active: 0, requests: 0, status: { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 }, refused: 0 };
}

export function backendCounters(): BackendCounters {
  return { queued: 0, queueFull: 0, queueTimeouts: 0, retries: 0, redispatches: 0, servers: {} };
}

export function serverCounters(): ServerCounters {
  return { requests: 0, active: 0, errors: 0, latencyMs: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) };
}

/** Count one answer's status class. */
export function countStatus(f: FrontendCounters, status: number): void {
  const cls = status < 200 ? "1xx" : status < 300 ? "2xx" : status < 400 ? "3xx" : status < 500 ? "4xx" : "5xx";
  f.status[cls]++;
}

/** Count one request's latency (ms from its head to the end of its answer's head) in its histogram bucket. */
export function countLatency(s: ServerCounters, ms: number): void {
  let i = 0;
  while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]!) i++;
  s.latencyMs[i]!++;
}
