/**
 * One config generation as the data path uses it: frontends with their rules
 * compiled, backends with their servers (objects shared across generations,
 * see backends.ts). A connection takes the generation current when it was
 * accepted and keeps it to its end, so a reload never changes what an
 * in-flight request sees.
 */
import { parseDuration } from "../../../core/duration.ts";
import type { ResolvedBackend, ResolvedFrontend, WorkerConfig } from "../messages.ts";
import type { ServerRt } from "./backends.ts";
import { compileRule, route, type CompiledRule, type RuleInput } from "./rules.ts";
import { backendCounters, frontendCounters, type BackendCounters, type FrontendCounters } from "./stats.ts";

export interface BackendRt {
  def: ResolvedBackend;
  servers: ServerRt[];
  counters: BackendCounters;
  /** The timeouts in ms. */
  ms: { connect: number; server: number; queue: number; tunnel: number };
}

export interface FrontendRt {
  def: ResolvedFrontend;
  rules: CompiledRule[];
  counters: FrontendCounters;
  /** The timeouts in ms. */
  ms: { client: number; request: number; keepalive: number };
}

const ms = (d: string) => parseDuration(d)!;

export class Generation {
  readonly frontends = new Map<string, FrontendRt>();
  readonly backends = new Map<string, BackendRt>();

  constructor(
    readonly config: WorkerConfig,
    servers: Map<string, ServerRt[]>,
    /** Counters by name, kept across generations. */
    counters: { frontends: Map<string, FrontendCounters>; backends: Map<string, BackendCounters> },
  ) {
    for (const b of config.backends) {
      let c = counters.backends.get(b.name);
      if (!c) counters.backends.set(b.name, (c = backendCounters()));
      const list = servers.get(b.name) ?? [];
      for (const s of list) c.servers[s.def.key] = s.counters;
      this.backends.set(b.name, { def: b, servers: list, counters: c, ms: { connect: ms(b.connect_timeout), server: ms(b.server_timeout), queue: ms(b.queue_timeout), tunnel: ms(b.tunnel_timeout) } });
    }
    for (const f of config.frontends) {
      let c = counters.frontends.get(f.name);
      if (!c) counters.frontends.set(f.name, (c = frontendCounters()));
      this.frontends.set(f.name, { def: f, rules: f.rule.map(compileRule), counters: c, ms: { client: ms(f.client_timeout), request: ms(f.request_timeout), keepalive: ms(f.keepalive_timeout) } });
    }
  }

  /** The backend a request (or a tcp connection) of this frontend goes to. */
  backendFor(f: FrontendRt, r: RuleInput): BackendRt {
    return this.backends.get(route(f.rules, f.def.default_backend, r))!;
  }
}
