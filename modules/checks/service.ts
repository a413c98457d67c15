/**
 * The checks shell: feeds the engine, runs the checks it asks for (each
 * with its own AbortController, aborted on stop and when its server leaves
 * the config), feeds their outcomes back, and ticks it at its deadline. It
 * runs in the checks' thread (worker.ts), told what to check by the module
 * on the control thread (control.ts), and reports through `onChange`.
 */
import type { Clock } from "../../core/time.ts";
import { EngineLoop } from "../../core/engine-loop.ts";
import type { Random } from "../../core/random.ts";
import { serverKey } from "../../core/net/address.ts";
import { checkOf, type ServerRaw, type ServiceRaw } from "./config.ts";
import { CHECKERS, runCheck, targetOf, type CheckKind } from "./checkers.ts";
import type { CheckFn, Target } from "./target.ts";
import { initialState, isHealthy, nextDeadline, step, weightOf, type EngineParams, type Effect, type Health, type Input, type ServerChange, type State } from "./engine.ts";

export interface CheckerOptions {
  services: readonly ServiceRaw[];
  /** Checks in flight at once, at most. */
  concurrency: number;
  /** What a new server counts as until its checks say otherwise: "down" with the director's alpha. */
  initial: "up" | "down";
  clock: Clock;
  random: Random;
  /** Each change of a server's state or weight. */
  onChange?: (change: ServerChange) => void;
  /** The checker of each kind (tests put their own in). */
  checkers?: Record<CheckKind, CheckFn>;
}

export interface ServerStatus {
  key: string;
  server: string;
  address: string;
  port: number | null;
  state: Health;
  /** Whether it takes traffic: up, or unknown while new servers count as up. */
  healthy: boolean;
  weight: number;
  checking: boolean;
  /** The last result; `at` is wall-clock milliseconds. */
  last: { ok: boolean; message: string; at: number; weight?: number } | null;
  /** Wall-clock milliseconds of the last change of state. */
  lastChange: number | null;
}

export interface ServiceStatus {
  name: string;
  check: CheckKind;
  servers: ServerStatus[];
}

export class Checker {
  private readonly loop: EngineLoop<State, Input, Effect>;
  private services: readonly ServiceRaw[];
  /** By server key: what its checks need. */
  private targets = new Map<string, { service: ServiceRaw; server: ServerRaw; target: Target }>();
  /** By run: the checks in flight. */
  private readonly running = new Map<number, AbortController>();

  constructor(private readonly o: CheckerOptions) {
    this.services = o.services;
    this.index();
    this.loop = new EngineLoop(o.clock, initialState({ concurrency: o.concurrency, initial: o.initial }, o.services), {
      step,
      nextDeadline,
      tick: () => ({ type: "tick", now: o.clock.now() }),
      perform: (e) => this.perform(e),
    });
  }

  start(): void {
    this.feed({ type: "start", now: this.o.clock.now(), random: this.o.random.next() });
  }

  /**
   * Takes a new services list, and new params when given: servers that stay keep their state. Checks
   * whose answer no longer counts (their server left, or its check changed)
   * are aborted, so they give their slots back soon.
   */
  reload(services: readonly ServiceRaw[], p?: EngineParams): void {
    this.services = services;
    this.index();
    this.feed({ type: "reconfigure", now: this.o.clock.now(), services, random: this.o.random.next(), ...(p ? { p } : {}) });
    const counted = new Set(this.state.servers.map((sv) => sv.run));
    for (const [run, abort] of this.running) if (!counted.has(run)) abort.abort();
  }

  /** Aborts every check in flight; nothing is reported after. */
  stop(): void {
    this.feed({ type: "stop", now: this.o.clock.now() });
    this.loop.clear();
    for (const abort of this.running.values()) abort.abort();
    this.running.clear();
  }

  status(): ServiceStatus[] {
    const byKey = new Map(this.state.servers.map((sv) => [sv.key, sv]));
    const wall = (t: number) => Math.round(this.o.clock.wall() - (this.o.clock.now() - t));
    return this.services.map((service) => ({
      name: service.name,
      check: service.check.kind,
      servers: service.servers.flatMap((server) => {
        const sv = byKey.get(serverKey(service, server));
        if (!sv) return [];
        const { target } = this.targets.get(sv.key)!;
        return [
          {
            key: sv.key,
            server: sv.server,
            address: target.address,
            port: target.port,
            state: sv.state,
            healthy: isHealthy(this.state, sv),
            weight: weightOf(sv),
            checking: sv.run !== null,
            last: sv.last && { ...sv.last, at: wall(sv.last.at) },
            lastChange: sv.lastChange === null ? null : wall(sv.lastChange),
          },
        ];
      }),
    }));
  }

  private index(): void {
    this.targets = new Map();
    for (const service of this.services) {
      for (const server of service.servers) {
        const key = serverKey(service, server);
        if (!this.targets.has(key)) this.targets.set(key, { service, server, target: targetOf(service, server) });
      }
    }
  }

  private get state(): State {
    return this.loop.state;
  }

  private feed(input: Input): void {
    this.loop.feed(input);
  }

  private perform(e: Effect): void {
    if (e.type === "event") {
      this.o.onChange?.(e.data);
      return;
    }
    const { service, server, target } = this.targets.get(e.key)!;
    const abort = new AbortController();
    this.running.set(e.run, abort);
    void runCheck(target, checkOf(service, server), abort.signal, this.o.checkers ?? CHECKERS).then((out) => {
      if (!this.running.delete(e.run)) return;
      this.feed({ type: "result", now: this.o.clock.now(), key: e.key, run: e.run, ok: out.ok, message: out.message, ...(out.weight !== undefined ? { weight: out.weight } : {}) });
    });
  }
}
