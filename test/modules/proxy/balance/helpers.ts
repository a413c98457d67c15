import { seededRandom } from "../../../../core/random.ts";
import { Balancer, type PickRequest, type Server } from "../../../../modules/proxy/balance/balancer.ts";
import type { ResolvedBackend, ServerState } from "../../../../modules/proxy/messages.ts";

export interface ServerSpec {
  weight?: number;
  maxconn?: number;
  backup?: boolean;
}

/** A backend over servers s0, s1, ... (address 198.18.0.N, port 80) with the config's defaults and `over` on top. */
export function backend(specs: ServerSpec[], over: Partial<ResolvedBackend> = {}): ResolvedBackend {
  return {
    name: "web",
    service: "web",
    balance: "roundrobin",
    stick_on_source: false,
    stick_expire: "30m",
    stick_size: 100_000,
    observe: "layer7",
    error_limit: 10,
    retries: 3,
    redispatch: true,
    queue: 1024,
    connect_timeout: "5s",
    server_timeout: "30s",
    queue_timeout: "5s",
    tunnel_timeout: "1h",
    pool_idle: 256,
    servers: specs.map((s, i) => ({ key: `198.18.0.${i + 1}:80`, address: `198.18.0.${i + 1}`, port: 80, weight: s.weight ?? 1, backup: s.backup ?? false, ...(s.maxconn ? { maxconn: s.maxconn } : {}) })),
    ...over,
  };
}

/** A balancer whose dispatches are recorded as [handle, server index]. */
export function balancer(config: ResolvedBackend, seed = 1) {
  const dispatched: [number, number][] = [];
  const b: Balancer<number> = new Balancer<number>(config, { random: seededRandom(seed), dispatch: (h, s) => dispatched.push([h, index(s)]) });
  return { b, dispatched };
}

/** s0 -> 0: the server's place by its address. */
export const index = (s: Server): number => Number(s.address.split(".")[3]) - 1;

export function request(over: Partial<PickRequest<number>> = {}): PickRequest<number> {
  return { handle: 0, source: "198.19.0.1", now: 0, ...over };
}

/** Picks n requests, releasing each at once; the servers' indexes in order (-1 for no server). */
export function sequence(b: Balancer<number>, n: number, req: (i: number) => PickRequest<number> = () => request()): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = b.pick(req(i));
    if (typeof s === "string") out.push(-1);
    else {
      out.push(index(s));
      b.release(s);
    }
  }
  return out;
}

export function counts(xs: number[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const x of xs) c[x]!++;
  return c;
}

/** Server i's state as the control side sends it: up and ready with weight 1, and `over` on top. */
export const state = (i: number, over: Partial<ServerState> = {}): ServerState => ({ backend: "web", key: `198.18.0.${i + 1}:80`, up: true, admin: "ready", weight: 1, ...over });
