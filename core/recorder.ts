/**
 * The flight recorder: cuts the takeovers out of a node's event stream
 * (core/events.ts), each as the chain of what happened with its times, the
 * way an operator reconstructs one from ha-log after the fact: the
 * heartbeats that went late, the peer declared dead, the quorum in force and
 * the fencing decision, the DC, each resource stopped and started here, the
 * virtual addresses announced, the director taking over its dataplane, and
 * the first client served: a node cannot see the clients of the director
 * (the kernel forwards them), but its proxy serves them itself and says when
 * a server first answered one since its listeners started (`proxy.served`).
 *
 * A pure engine: `step(state, input) -> state`, fed the node's events and,
 * so that a takeover closes with no event after it, ticks; time comes only
 * from the inputs. The API worker runs it on its copy of the events
 * (core/api/worker.ts) and serves GET /v1/failovers from `failovers(state)`.
 *
 * A takeover opens when this node loses a peer (it went silent, restarted, or
 * said goodbye; one never heard since this node started was not lost) and counts once this node starts a resource within
 * ABANDON_MS: a peer lost while this node took nothing over (it was the
 * standby, or the peer was) leaves no record. It closes SETTLE_MS after its
 * last resource action, or when the next takeover opens; a first client
 * served after that is not part of it.
 */
import type { TandemEvent } from "./events.ts";

/** Takeovers kept, newest first; older ones are forgotten. */
export const MAX_FAILOVERS = 20;
/** Steps kept in one takeover; the ones past it are counted in `dropped`, not kept. */
export const MAX_STEPS = 100;
/** A takeover closes this long after its last resource action. */
export const SETTLE_MS = 5000;
/** A lost peer with no resource started here within this long was no takeover of this node's. */
export const ABANDON_MS = 60_000;
/** Late heartbeats older than this when the peer is declared dead are not part of its takeover. */
export const LATE_WINDOW_MS = 30_000;
/** Late heartbeats kept until the peer is declared dead (or heard again). */
export const MAX_LATE = 16;

/** What a step can be, in the order a takeover usually runs. */
export const STEP_KINDS = ["peer-silent", "heartbeat-late", "link-down", "peer-dead", "quorum", "dc", "fencing", "resource-stop", "resource-start", "address", "director", "virtual-service", "client-served"] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export interface FailoverStep {
  /** Epoch ms. */
  at: number;
  kind: StepKind;
  text: string;
  /** How long the step took; for client-served, how long after the peer was declared dead. */
  duration_ms?: number;
}

export interface Failover {
  /** NODE-ID: the node and the id of the event that opened it. */
  id: string;
  /** The node that took over. */
  node: string;
  /** Epoch ms of the first step. */
  started: number;
  /** Epoch ms of its last step once the takeover settled (SETTLE_MS after its last resource action); null while it runs. */
  ended: number | null;
  steps: FailoverStep[];
  /** Steps past MAX_STEPS, not kept. */
  dropped?: number;
}

interface Open {
  failover: Failover;
  /** The peer whose loss opened it. */
  peer: string;
  /** When the peer was lost: ABANDON_MS runs from here. */
  lostAt: number;
  /** A resource started here: it is a takeover. */
  tookOver: boolean;
  /** The last resource action (start, stop, fencing): SETTLE_MS runs from here. */
  lastAction: number;
}

export interface RecorderState {
  /** Closed takeovers, newest first, at most MAX_FAILOVERS. */
  closed: Failover[];
  open: Open | null;
  /** Late heartbeats not yet part of a takeover, oldest first, with their peer. */
  late: Array<{ peer: string; step: FailoverStep }>;
  /** The quorum as last reported. */
  quorum: { quorate: boolean; reason: string; at: number } | null;
}

/** The heartbeat's reason for a peer not heard within initdead of this node's start (modules/heartbeat/engine.ts). */
const INITDEAD = "never heard (initdead)";

export type RecorderInput = { type: "event"; event: TandemEvent } | { type: "tick"; at: number };

export function initialRecorder(): RecorderState {
  return { closed: [], open: null, late: [], quorum: null };
}

/** Every takeover, newest first: the one running (if it counts yet), then the closed ones. */
export function failovers(s: RecorderState): Failover[] {
  return s.open?.tookOver ? [s.open.failover, ...s.closed] : s.closed;
}

const str = (v: unknown): string => (typeof v === "string" ? v : String(v ?? "?"));
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** The steps a resource action gives: its stop or start, and for a started address the announcement its agent reports. */
function resourceSteps(at: number, d: Record<string, unknown>): FailoverStep[] {
  const action = d.action;
  if (action !== "start" && action !== "stop") return [];
  const ms = num(d.ms);
  const ok = d.status === "ok";
  const message = typeof d.message === "string" && d.message ? `: ${d.message}` : "";
  const text = `${ok ? (action === "start" ? "started" : "stopped") : `${action} failed (${str(d.status)})`} ${str(d.resource)}${message}`;
  const steps: FailoverStep[] = [{ at, kind: action === "start" ? "resource-start" : "resource-stop", text, ...(ms !== undefined ? { duration_ms: ms } : {}) }];
  // The address agent says "announced (1 of N)" once the address is up and its first gratuitous ARP or unsolicited NA went out.
  if (ok && action === "start" && typeof d.message === "string" && /\bannounced\b/.test(d.message)) steps.push({ at, kind: "address", text: `${str(d.resource)} announced on the link` });
  return steps;
}

function withSteps(o: Open, steps: FailoverStep[]): Open {
  const f = o.failover;
  const room = Math.max(0, MAX_STEPS - f.steps.length);
  const kept = steps.slice(0, room);
  const dropped = (f.dropped ?? 0) + steps.length - kept.length;
  const all = [...f.steps, ...kept];
  return { ...o, failover: { ...f, steps: all, started: Math.min(f.started, ...kept.map((x) => x.at)), ...(dropped ? { dropped } : {}) } };
}

/** The open takeover closed: kept when it counts, forgotten otherwise. */
function close(s: RecorderState): RecorderState {
  const o = s.open;
  if (!o) return s;
  if (!o.tookOver) return { ...s, open: null };
  const ended = Math.max(...o.failover.steps.map((x) => x.at));
  return { ...s, open: null, closed: [{ ...o.failover, ended }, ...s.closed].slice(0, MAX_FAILOVERS) };
}

/** Closes the open takeover when it has settled, or forgets a lost peer that led to nothing here. */
function expire(s: RecorderState, now: number): RecorderState {
  const o = s.open;
  if (!o) return s;
  if (o.tookOver ? now >= o.lastAction + SETTLE_MS : now >= o.lostAt + ABANDON_MS) return close(s);
  return s;
}

/** A peer lost: a new takeover opens with what led to it (the late heartbeats, the silence, the quorum in force). */
function lost(s: RecorderState, e: TandemEvent): RecorderState {
  const d = e.data;
  const peer = str(d.peer);
  const silent = num(d.silentMs);
  const steps: FailoverStep[] = [];
  if (silent !== undefined) steps.push({ at: e.at - silent, kind: "peer-silent", text: `last heartbeat from ${peer}` });
  steps.push(...s.late.filter((l) => l.peer === peer && l.step.at >= e.at - LATE_WINDOW_MS).map((l) => l.step));
  const why = d.status === "leaving" ? "said goodbye (it is stopping)" : d.reason === "silent" ? "is dead: silent past deadtime" : `is dead: ${str(d.reason)}`;
  steps.push({ at: e.at, kind: "peer-dead", text: `${peer} ${why}`, ...(silent !== undefined ? { duration_ms: silent } : {}) });
  if (s.quorum) steps.push({ at: e.at, kind: "quorum", text: `${s.quorum.quorate ? "quorate" : "NO QUORUM"} (${s.quorum.reason}), as since ${new Date(s.quorum.at).toISOString()}` });
  const late = s.late.filter((l) => l.peer !== peer);
  // A second peer lost while a takeover runs is part of it.
  if (s.open) return { ...s, open: withSteps(s.open, steps), late };
  const failover: Failover = { id: `${e.node}-${e.id}`, node: e.node, started: e.at, ended: null, steps: [] };
  return { ...s, open: withSteps({ failover, peer, lostAt: e.at, tookOver: false, lastAction: e.at }, steps), late };
}

/** The steps an event adds to the open takeover; null when it is none of its business. */
function stepsOf(e: TandemEvent): FailoverStep[] | null {
  const d = e.data;
  switch (e.type) {
    case "heartbeat.link":
      return d.status === "down" ? [{ at: e.at, kind: "link-down", text: `link ${str(d.link)} to ${str(d.peer)} is down` }] : null;
    case "heartbeat.quorum":
      return [{ at: e.at, kind: "quorum", text: `${d.quorate ? "quorate" : "NO QUORUM"}: ${str(d.reason)}` }];
    case "resources.dc":
      return [{ at: e.at, kind: "dc", text: d.dc === e.node ? `this node is the DC (was ${str(d.was ?? "none")})` : `the DC is ${str(d.dc ?? "none")}` }];
    case "resources.fence": {
      const text = d.result === "fencing" ? `fencing ${str(d.node)}: ${str(d.reason)}` : d.result === "fenced" ? `${str(d.node)} is fenced` : `fencing ${str(d.node)} failed: ${str(d.message)}`;
      return [{ at: e.at, kind: "fencing", text }];
    }
    case "resources.action":
      return resourceSteps(e.at, d);
    case "director.reconcile":
      return d.active === true ? [{ at: e.at, kind: "director", text: `the director is active: ${str(d.changes)} dataplane changes`, ...(num(d.ms) !== undefined ? { duration_ms: num(d.ms) } : {}) }] : null;
    case "director.virtual-service":
      return [{ at: e.at, kind: "virtual-service", text: `virtual service ${str(d.name)} is ${d.up ? "up" : "DOWN"}${d.sorry ? " (sorry server)" : ""}` }];
    default:
      return null;
  }
}

export function step(state: RecorderState, input: RecorderInput): RecorderState {
  if (input.type === "tick") return expire(state, input.at);
  const e = input.event;
  const s = expire(state, e.at);
  const d = e.data;
  switch (e.type) {
    case "heartbeat.late": {
      const peer = str(d.peer);
      const silent = num(d.silentMs);
      const late: FailoverStep = { at: e.at, kind: "heartbeat-late", text: `heartbeat from ${peer} late${silent !== undefined ? `: silent for ${silent} ms` : ""}`, ...(silent !== undefined ? { duration_ms: silent } : {}) };
      return { ...s, late: [...s.late, { peer, step: late }].slice(-MAX_LATE) };
    }
    case "heartbeat.peer":
      // A peer never heard since this node started (initdead) was not lost: what starts then is a start alone, not a takeover.
      if ((d.status === "down" && d.reason !== INITDEAD) || d.status === "leaving") return lost(s, e);
      // Heard again: its late heartbeats led to nothing.
      return { ...s, late: s.late.filter((l) => l.peer !== str(d.peer)) };
    case "heartbeat.quorum":
      return withOpen({ ...s, quorum: { quorate: d.quorate === true, reason: str(d.reason), at: e.at } }, e);
    default:
      return withOpen(s, e);
  }
}

/** The proxy's first client served since its listeners started: once a takeover, after this node took something over. */
function served(o: Open, e: TandemEvent): FailoverStep[] | null {
  if (!o.tookOver || o.failover.steps.some((x) => x.kind === "client-served")) return null;
  const d = e.data;
  const at = num(d.servedAt) ?? e.at;
  const after = Math.max(0, at - o.lostAt);
  return [{ at, kind: "client-served", text: `first client served: ${str(d.client)} answered ${str(d.status)} by ${str(d.server)} through the proxy's frontend ${str(d.frontend)}, ${after} ms after ${o.peer} was declared dead`, duration_ms: after }];
}

function withOpen(s: RecorderState, e: TandemEvent): RecorderState {
  if (!s.open) return s;
  const steps = e.type === "proxy.served" ? served(s.open, e) : stepsOf(e);
  if (!steps) return s;
  const action = steps.some((x) => x.kind === "resource-start" || x.kind === "resource-stop" || x.kind === "fencing");
  const tookOver = s.open.tookOver || (e.type === "resources.action" && e.data.action === "start" && e.data.status === "ok");
  return { ...s, open: withSteps({ ...s.open, tookOver, lastAction: action ? e.at : s.open.lastAction }, steps) };
}
