/**
 * The proxy's counters over its workers: each worker counts since it
 * started (messages.ts WorkerStats); the sum of the workers running now and
 * of the counters of those gone before (their last report, without their
 * gauges: active connections, queued requests) never goes back. Pure.
 */
import type { WorkerStats } from "./messages.ts";

type FrontendStats = WorkerStats["frontends"][string];
type BackendStats = WorkerStats["backends"][string];
type ServerStats = BackendStats["servers"][string];

export const emptyStats = (): WorkerStats => ({ frontends: {}, backends: {}, accessLogDropped: 0 });

const addArrays = (a: readonly number[], b: readonly number[]): number[] => Array.from({ length: Math.max(a.length, b.length) }, (_, i) => (a[i] ?? 0) + (b[i] ?? 0));

/** `into` plus `from`; with `gauges` false, `from`'s active connections and queued requests are left out (a worker that is gone holds none). */
export function addStats(into: WorkerStats, from: WorkerStats, gauges = true): WorkerStats {
  const g = gauges ? 1 : 0;
  const frontends = { ...into.frontends };
  for (const [name, f] of Object.entries(from.frontends)) {
    const a: FrontendStats = frontends[name] ?? { connections: 0, active: 0, requests: 0, status: { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 }, refused: 0 };
    frontends[name] = {
      connections: a.connections + f.connections,
      active: a.active + g * f.active,
      requests: a.requests + f.requests,
      status: { "1xx": a.status["1xx"] + f.status["1xx"], "2xx": a.status["2xx"] + f.status["2xx"], "3xx": a.status["3xx"] + f.status["3xx"], "4xx": a.status["4xx"] + f.status["4xx"], "5xx": a.status["5xx"] + f.status["5xx"] },
      refused: a.refused + f.refused,
    };
  }
  const backends = { ...into.backends };
  for (const [name, b] of Object.entries(from.backends)) {
    const a: BackendStats = backends[name] ?? { queued: 0, queueFull: 0, queueTimeouts: 0, retries: 0, redispatches: 0, servers: {} };
    const servers = { ...a.servers };
    for (const [key, s] of Object.entries(b.servers)) {
      const x: ServerStats = servers[key] ?? { requests: 0, active: 0, errors: 0, latencyMs: [] };
      servers[key] = { requests: x.requests + s.requests, active: x.active + g * s.active, errors: x.errors + s.errors, latencyMs: addArrays(x.latencyMs, s.latencyMs) };
    }
    backends[name] = { queued: a.queued + g * b.queued, queueFull: a.queueFull + b.queueFull, queueTimeouts: a.queueTimeouts + b.queueTimeouts, retries: a.retries + b.retries, redispatches: a.redispatches + b.redispatches, servers };
  }
  return { frontends, backends, accessLogDropped: into.accessLogDropped + from.accessLogDropped };
}
