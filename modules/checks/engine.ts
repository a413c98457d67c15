/**
 * The health-check engine. Pure: `step(state, input)` returns the next state
 * and the effects (checks to run, events); it never reads a clock, a socket or
 * `Math.random`. The shell runs each check it asks for and feeds the outcome
 * back, and ticks it at `nextDeadline`.
 *
 * Per (service, server), a state machine with hysteresis, as HAProxy's rise
 * and fall: `fall` failures in a row take an up server down, `rise` successes
 * in a row bring a down server up; anything short of that changes nothing. A
 * new server is `unknown` until its checks say otherwise, and counts as
 * `initial` meanwhile: `up` (ldirectord's and keepalived's default: serve at
 * once) or `down` (their `alpha`: serve only after the checks pass). A
 * result that agrees with `initial` confirms it at once; the other way takes
 * the thresholds, as from that state.
 *
 * A misc check may set a dynamic weight (keepalived's misc_dynamic): a success
 * that carries one replaces the server's weight without touching its state.
 *
 * Scheduling: a server's next check is due one interval after its last one
 * started. The first is at an offset in [0, interval) drawn from the input's
 * random number, spread over the servers by a Weyl sequence on the golden
 * ratio, so that checks never fire together whatever the number of servers.
 * At most `concurrency` checks are in flight; when more are due, the longest
 * due go first. The shell bounds every check by its timeout; should an answer
 * still not come, the engine counts a failure `RESULT_GRACE_MS` after the
 * timeout and frees the slot, so one hung server holds one slot at most that
 * long and delays nobody else beyond the concurrency bound.
 *
 * A reload is an input (`reconfigure`): the new services list, and the new
 * concurrency and `initial` when they changed, applied at once.
 */
import { parseDuration } from "../../core/duration.ts";
import { hostPort, serverKey } from "../../core/net/address.ts";
import { checkOf, type CheckRaw, type ServerRaw, type ServiceRaw } from "./config.ts";

/** Past a check's timeout, how long the engine waits for the shell's answer before it counts a failure (a misc check's kill grace and reaping fit in it). */
export const RESULT_GRACE_MS = 5000;
/** The shortest interval between two checks of one server; a shorter one in the input is raised to it. */
export const MIN_INTERVAL_MS = 100;
/** The fractional part of the golden ratio: k times it, modulo 1, spreads any number of points evenly. */
const GOLDEN = (Math.sqrt(5) - 1) / 2;

export type Health = "unknown" | "up" | "down";

export interface EngineParams {
  /** Checks in flight at once, at most (>= 1). */
  concurrency: number;
  /** What a new server counts as until its checks say otherwise. */
  initial: "up" | "down";
}

export interface CheckResult {
  ok: boolean;
  message: string;
  /** From a misc check with dynamic_weight. */
  weight?: number;
  /** Monotonic time of the result. */
  at: number;
}

export interface ServerState {
  key: string;
  service: string;
  /** "address:port" ([address]:port for IPv6), or the address alone when the server has no port. */
  server: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** The check as configured, to tell whether a reconfigure changed it. */
  spec: string;
  configWeight: number;
  /** Set by a misc check with dynamic_weight; it replaces configWeight while set. */
  dynamicWeight: number | null;
  state: Health;
  /** Consecutive successes or failures (one of them is 0 once a result came). */
  successes: number;
  failures: number;
  /** Monotonic time the next check is due; null before start. */
  due: number | null;
  /** The run in flight whose result counts, or null. */
  run: number | null;
  last: CheckResult | null;
  /** Monotonic time of the last change of state, or null if none yet. */
  lastChange: number | null;
}

/** A check in flight; its server may have gone (a reconfigure), and it still holds its slot until it answers or is overdue. */
interface Flight {
  key: string;
  overdueAt: number;
}

export interface State {
  p: EngineParams;
  phase: "idle" | "running" | "stopped";
  /** In config order. */
  servers: ServerState[];
  flights: Record<number, Flight>;
  nextRun: number;
}

export type Input =
  | { type: "start"; now: number; random: number }
  | { type: "result"; now: number; key: string; run: number; ok: boolean; message: string; weight?: number }
  | { type: "tick"; now: number }
  /** A reload: the new services list, and the new params when they change (absent: kept). */
  | { type: "reconfigure"; now: number; services: readonly ServiceRaw[]; random: number; p?: EngineParams }
  | { type: "stop"; now: number };

/** What a checks.server event says: a server's state or weight changed. */
export interface ServerChange {
  key: string;
  service: string;
  server: string;
  state: Health;
  previous: Health;
  /** Whether it takes traffic now: up, or unknown while new servers count as up. */
  healthy: boolean;
  weight: number;
  reason: string;
}

export type Effect = { type: "run-check"; key: string; run: number; due: number } | { type: "event"; event: "checks.server"; data: ServerChange };

/** The weight the server has now: its dynamic one when set, else its configured one. */
export function weightOf(sv: ServerState): number {
  return sv.dynamicWeight ?? sv.configWeight;
}

/** Whether the server takes traffic: up, or unknown while new servers count as up. */
export function isHealthy(s: State, sv: ServerState): boolean {
  return sv.state === "up" || (sv.state === "unknown" && s.p.initial === "up");
}

function specOf(check: CheckRaw): string {
  return JSON.stringify(check, Object.keys(check).sort());
}

function newServer(service: ServiceRaw, server: ServerRaw): ServerState {
  const check = checkOf(service, server);
  return {
    key: serverKey(service, server),
    service: service.name,
    server: hostPort(server.address, server.port ?? service.port),
    intervalMs: Math.max(MIN_INTERVAL_MS, parseDuration(check.interval)!),
    timeoutMs: parseDuration(check.timeout)!,
    rise: check.rise,
    fall: check.fall,
    spec: specOf(check),
    configWeight: server.weight,
    dynamicWeight: null,
    state: "unknown",
    successes: 0,
    failures: 0,
    due: null,
    run: null,
    last: null,
    lastChange: null,
  };
}

/** The k-th first check of a placement: an offset in [0, interval) from `random`. */
function firstDue(now: number, random: number, k: number, intervalMs: number): number {
  return now + ((random + k * GOLDEN) % 1) * intervalMs;
}

export function initialState(p: EngineParams, services: readonly ServiceRaw[]): State {
  const s: State = { p, phase: "idle", servers: [], flights: {}, nextRun: 1 };
  reconfigure(s, services, 0, 0, []);
  return s;
}

export function step(prev: State, input: Input): { state: State; effects: Effect[] } {
  if (prev.phase === "stopped") return { state: prev, effects: [] };
  const s: State = { ...prev, servers: prev.servers.map((sv) => ({ ...sv })), flights: { ...prev.flights } };
  const fx: Effect[] = [];
  switch (input.type) {
    case "start":
      if (s.phase !== "idle") break;
      s.phase = "running";
      s.servers.forEach((sv, k) => (sv.due = firstDue(input.now, input.random, k, sv.intervalMs)));
      break;
    case "result":
      result(s, input, fx);
      break;
    case "tick":
      break;
    case "reconfigure":
      if (input.p) params(s, input.p, fx);
      reconfigure(s, input.services, input.now, input.random, fx);
      break;
    case "stop":
      s.phase = "stopped";
      s.flights = {};
      for (const sv of s.servers) sv.run = null;
      return { state: s, effects: [] };
  }
  if (s.phase === "running") {
    overdue(s, input.now, fx);
    dispatch(s, input.now, fx);
  }
  return { state: s, effects: fx };
}

/** When the engine next needs a tick: the next due check (when a slot is free) or the next overdue flight. */
export function nextDeadline(s: State): number | null {
  if (s.phase !== "running") return null;
  let at: number | null = null;
  let inFlight = 0;
  for (const run in s.flights) {
    inFlight++;
    const f = s.flights[run]!;
    if (at === null || f.overdueAt < at) at = f.overdueAt;
  }
  if (inFlight >= s.p.concurrency) return at;
  for (const sv of s.servers) if (sv.run === null && sv.due !== null && (at === null || sv.due < at)) at = sv.due;
  return at;
}

function result(s: State, input: Extract<Input, { type: "result" }>, fx: Effect[]): void {
  const flight = s.flights[input.run];
  if (!flight || flight.key !== input.key) return;
  delete s.flights[input.run];
  const sv = s.servers.find((x) => x.key === input.key);
  if (!sv || sv.run !== input.run) return;
  sv.run = null;
  record(s, sv, { ok: input.ok, message: input.message, at: input.now, ...(input.weight !== undefined ? { weight: input.weight } : {}) }, fx);
}

/** Flights past their timeout and grace: the slot is freed, and for a server still waiting on it, a failure. */
function overdue(s: State, now: number, fx: Effect[]): void {
  for (const run in s.flights) {
    const f = s.flights[run]!;
    if (f.overdueAt > now) continue;
    delete s.flights[run];
    const sv = s.servers.find((x) => x.key === f.key);
    if (!sv || sv.run !== Number(run)) continue;
    sv.run = null;
    record(s, sv, { ok: false, message: `no answer within ${sv.timeoutMs + RESULT_GRACE_MS} ms`, at: now }, fx);
  }
}

/** Where a result leaves the server, as HAProxy counts: only `fall` (`rise`) in a row moves it. */
function judge(s: State, sv: ServerState): Health {
  const assumed = sv.state === "unknown" ? s.p.initial : sv.state;
  if (assumed === "up") return sv.failures >= sv.fall ? "down" : sv.failures === 0 ? "up" : sv.state;
  return sv.successes >= sv.rise ? "up" : sv.successes === 0 ? "down" : sv.state;
}

function record(s: State, sv: ServerState, r: CheckResult, fx: Effect[]): void {
  sv.last = r;
  if (r.ok) {
    sv.successes++;
    sv.failures = 0;
  } else {
    sv.failures++;
    sv.successes = 0;
  }
  const previous = sv.state;
  const weightBefore = weightOf(sv);
  if (r.ok && r.weight !== undefined) sv.dynamicWeight = r.weight;
  sv.state = judge(s, sv);
  let reason: string;
  if (sv.state !== previous) {
    sv.lastChange = r.at;
    const count = r.ok ? `${sv.successes} check${sv.successes === 1 ? "" : "s"} passed` : `${sv.failures} check${sv.failures === 1 ? "" : "s"} failed`;
    reason = `${count} in a row${r.message ? `: ${r.message}` : ""}`;
  } else if (weightOf(sv) !== weightBefore) {
    reason = `weight ${weightOf(sv)} from the check`;
  } else return;
  fx.push(change(s, sv, previous, reason));
}

function change(s: State, sv: ServerState, previous: Health, reason: string): Effect {
  return { type: "event", event: "checks.server", data: { key: sv.key, service: sv.service, server: sv.server, state: sv.state, previous, healthy: isHealthy(s, sv), weight: weightOf(sv), reason } };
}

/**
 * New params, applied at once: a lower concurrency starts nothing new until
 * the flights are under it (those in flight finish), a higher one starts the
 * waiting checks now. A new `initial` moves every unknown server to it (one
 * change each) and judges their next results from it.
 */
function params(s: State, p: EngineParams, fx: Effect[]): void {
  const before = s.p.initial;
  s.p = p;
  if (p.initial === before) return;
  for (const sv of s.servers) if (sv.state === "unknown") fx.push(change(s, sv, "unknown", `unknown servers count as ${p.initial} until checked`));
}

/** Starts the longest-due checks while slots are free. */
function dispatch(s: State, now: number, fx: Effect[]): void {
  const free = s.p.concurrency - Object.keys(s.flights).length;
  if (free <= 0) return;
  const due = s.servers.filter((sv) => sv.run === null && sv.due !== null && sv.due <= now).sort((a, b) => a.due! - b.due!);
  for (const sv of due.slice(0, free)) {
    const run = s.nextRun++;
    fx.push({ type: "run-check", key: sv.key, run, due: sv.due! });
    sv.run = run;
    sv.due = now + sv.intervalMs;
    s.flights[run] = { key: sv.key, overdueAt: now + sv.timeoutMs + RESULT_GRACE_MS };
  }
}

/**
 * The servers of a new services list. One that stays (same service, address
 * and port) keeps its state; when its check changed, the counts start again,
 * its dynamic weight is dropped and the answer of a check in flight will not
 * count (its slot stays held until it answers). New servers start unknown.
 * A key that appears twice is taken once, the first time.
 */
function reconfigure(s: State, services: readonly ServiceRaw[], now: number, random: number, fx: Effect[]): void {
  const old = new Map(s.servers.map((sv) => [sv.key, sv]));
  const next: ServerState[] = [];
  const seen = new Set<string>();
  let placed = 0;
  for (const service of services) {
    for (const server of service.servers) {
      const fresh = newServer(service, server);
      if (seen.has(fresh.key)) continue;
      seen.add(fresh.key);
      const kept = old.get(fresh.key);
      let sv: ServerState;
      if (kept && kept.spec === fresh.spec) sv = { ...kept, configWeight: fresh.configWeight };
      else if (kept) sv = { ...fresh, state: kept.state, last: kept.last, lastChange: kept.lastChange };
      else sv = fresh;
      if (s.phase === "running" && sv.due === null) sv.due = firstDue(now, random, placed++, sv.intervalMs);
      if (kept && weightOf(sv) !== weightOf(kept)) fx.push(change(s, sv, kept.state, "reconfigured"));
      next.push(sv);
    }
  }
  s.servers = next;
}
