/**
 * One config generation as the data path uses it: frontends with their rules
 * compiled and their timeouts in ms, backends pointing at their state kept
 * across generations (backends.ts). A connection takes the generation
 * current when it was accepted and keeps it to its end, so a reload never
 * changes what an in-flight request sees.
 */
import { parseDuration } from "../../../core/duration.ts";
import type { ResolvedBackend, ResolvedFrontend, WorkerConfig } from "../messages.ts";
import type { BackendState } from "./backends.ts";
import { compileRule, route, type CompiledRule, type RuleInput } from "./rules.ts";
import { frontendCounters, type FrontendCounters } from "./stats.ts";

export interface BackendRt {
  def: ResolvedBackend;
  state: BackendState;
  /** The timeouts in ms. */
  ms: { connect: number; server: number; tunnel: number };
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
    states: ReadonlyMap<string, BackendState>,
    /** Frontend counters by name, kept across generations. */
    counters: Map<string, FrontendCounters>,
  ) {
    for (const b of config.backends) this.backends.set(b.name, { def: b, state: states.get(b.name)!, ms: { connect: ms(b.connect_timeout), server: ms(b.server_timeout), tunnel: ms(b.tunnel_timeout) } });
    for (const f of config.frontends) {
      let c = counters.get(f.name);
      if (!c) counters.set(f.name, (c = frontendCounters()));
      this.frontends.set(f.name, { def: f, rules: f.rule.map(compileRule), counters: c, ms: { client: ms(f.client_timeout), request: ms(f.request_timeout), keepalive: ms(f.keepalive_timeout) } });
    }
  }

  /** The backend a request (or a tcp connection) of this frontend goes to. */
  backendFor(f: FrontendRt, r: RuleInput): BackendRt {
    return this.backends.get(route(f.rules, f.def.default_backend, r))!;
  }
}
