/**
 * The coordinator: what one node of the resource manager does, as a pure
 * state machine. `step(state, input) -> { state, effects }`; it reads no
 * clock (time arrives in every input: `now` monotonic for timers, `wall` for
 * what nodes compare, failure times and move expiries).
 *
 * - Every node reports its own resources (states, starts and stops in
 *   flight, failures) and the admin state (standby, moves, cleanups) to the
 *   others, at once on a change or to a peer that comes up, and every
 *   `resendMs`. A peer back after being lost is planned from again only once
 *   it has reported since.
 * - The designated coordinator (DC) is the first member in config order that
 *   is up and not leaving, in this node's view. When this node is the DC and
 *   has quorum, it runs the policy on what every node reported, performs its
 *   own ready actions and fences, and sends the others a transition: the
 *   actions that are ready (their dependencies done), with the report each
 *   was planned from. A node performs the DC's actions only when they were
 *   planned from its latest report, so nothing is done twice on an old view.
 * - Without quorum a node acts alone: it stops its groups with exclusive
 *   members (the policy's rule 1). Leaving (a clean stop), it stops all it
 *   runs, right to left, whoever the DC is, and says so in its report so the
 *   DC places nothing on it.
 * - A start or stop in flight counts as "may be active" in every plan, and
 *   with quorum its group waits for its answer.
 */
import type { AgentStatus } from "../../core/agent.ts";
import type { MemberStatus } from "../../core/cluster.ts";
import { errorClass } from "./agents/ocf.ts";
import { effectiveState, exclusiveResources, inMaintenance, onFailOf, plan, promotableMembers, running } from "./policy.ts";
import type { Action, ClusterConfig, ClusterInput, FailedOp, FailRecord, FenceState, Maintenance, Membership, Move, NodeState, ResourceState } from "./model.ts";

export interface CoordParams {
  self: string;
  /** Member names in config order, this node among them. */
  members: readonly string[];
  config: ClusterConfig;
  /** Each member's attributes and capacity from the config, for location rules and placement; absent: none. */
  nodeTraits?: Record<string, Pick<NodeState, "attributes" | "capacity">>;
  /** Reports and transitions are sent again this often, so a lost one is repaired. */
  resendMs: number;
  /** A failed fence is tried again after this. */
  fenceRetryMs: number;
}

/**
 * How far past this node's wall time an admin state's version may be. A
 * version is the wall time in ms of its change (at least), so one further
 * ahead was made by a clock far off, or forged: taken, it would win over every
 * change made until the clocks caught up. It is refused from a peer and from
 * the state file (wire.ts decodeAdmin). Ten minutes is far more than NTP lets
 * clocks drift, and small beside how long a bad version would otherwise rule.
 */
export const ADMIN_VERSION_SKEW_MS = 10 * 60_000;

/** Whether an admin state's version is too far ahead of `wall` to be taken. */
export function adminFromFuture(version: number, wall: number): boolean {
  return version > wall + ADMIN_VERSION_SKEW_MS;
}

export interface AdminState {
  /**
   * Rises with every change, to at least the wall clock in ms: a node's first change after a restart is
   * newer than those it made before. The highest wins across nodes, then the greater `by`, then the greater
   * state as JSON (two states never tie, so every node takes the same).
   */
  version: number;
  by: string;
  standby: string[];
  moves: Move[];
  /** Per resource, how many cleanups were asked: each node forgets its failures and probes again once per count. */
  cleanups: Record<string, number>;
  /** Groups and resources disabled (Pacemaker's target-role=Stopped); missing: none (a state from before). */
  disabled?: string[];
  /** Where the manager acts on nothing; missing: nowhere. */
  maintenance?: Maintenance;
}

export interface Report {
  type: "report";
  seq: number;
  leaving: boolean;
  states: Record<string, ResourceState>;
  /** Resources with a start or stop in flight. */
  pending: string[];
  failures: Array<Omit<FailRecord, "node">>;
  admin: AdminState;
  /** The promotion scores its agents last reported, by resource (promotable clones' members); missing: none. */
  promotion?: Record<string, number>;
}

export interface WireAction {
  id: string;
  kind: "start" | "stop" | "promote" | "demote" | "monitor";
  resource: string;
  node: string;
  intervalMs: number;
  timeoutMs: number;
}

export interface Transition {
  type: "transition";
  seq: number;
  /** Per node, the report seq the actions were planned from. */
  basis: Record<string, number>;
  actions: WireAction[];
}

export type Message = Report | Transition;

export type AdminCommand =
  | { op: "standby" | "online"; node: string }
  | { op: "move"; group: string; node: string; until: number | null }
  | { op: "clear"; group: string }
  | { op: "cleanup"; resource: string }
  | { op: "disable" | "enable"; name: string }
  /** The whole cluster, or one node, or one resource or group. */
  | { op: "maintenance"; on: boolean; node?: string; resource?: string };

export interface ClusterView {
  peers: Array<{ name: string; status: MemberStatus; incarnation: number | null }>;
  quorate: boolean;
  /** See ClusterSnapshot.majority. */
  majority: boolean;
}

export type OpKind = "start" | "stop" | "promote" | "demote" | "monitor" | "probe";

export type Input =
  | { type: "start"; now: number; wall: number; cluster: ClusterView }
  | { type: "membership"; now: number; wall: number; cluster: ClusterView }
  | { type: "message"; now: number; wall: number; from: string; message: Message }
  /** `promotionScore`: what a promotable resource's agent reported with its answer (AgentResult.promotionScore). */
  | { type: "result"; now: number; wall: number; op: number; status: AgentStatus; message: string; promotionScore?: number }
  | { type: "fenced"; now: number; wall: number; node: string; ok: boolean; message: string }
  | { type: "admin"; now: number; wall: number; command: AdminCommand }
  | { type: "tick"; now: number; wall: number }
  /** A reloaded config; `changed`: the resources whose definition (agent, parameters, operations) differs from the running one. */
  | { type: "reload"; now: number; wall: number; p: CoordParams; changed: readonly string[] }
  | { type: "stop"; now: number; wall: number };

export type Effect =
  | { type: "send"; message: Message }
  | { type: "run"; op: number; resource: string; action: OpKind; timeoutMs: number; intervalMs: number }
  | { type: "cancel"; op: number }
  | { type: "fence"; node: string }
  | { type: "holds"; holds: boolean }
  | { type: "stopped" }
  /** The reload was refused, the running config stays: these changed or went away while they may run here. */
  | { type: "reload-refused"; busy: string[] }
  /** A peer's admin state was refused: its version is past wall time plus ADMIN_VERSION_SKEW_MS. */
  | { type: "admin-refused"; from: string; version: number }
  /** The DC's transition named a resource this node does not know (a rolling reload); the rest of it was done. */
  | { type: "unknown-resource"; from: string; resource: string; kind: WireAction["kind"] }
  | { type: "event"; event: string; data: Record<string, unknown> };

interface Op {
  op: number;
  resource: string;
  action: OpKind;
  since: number;
}

interface Peer {
  name: string;
  status: MemberStatus;
  incarnation: number | null;
  report: Report | null;
  /**
   * Its report may be older than what it did meanwhile; not planned from until it sends one again: back up after
   * being lost (same process), or not up while this node had no quorum (it may have had quorum without this node).
   */
  stale: boolean;
}

export interface State {
  p: CoordParams;
  phase: "idle" | "running" | "stopping" | "stopped";
  now: number;
  wall: number;
  quorate: boolean;
  peers: Record<string, Peer>;
  seq: number;
  states: Record<string, ResourceState>;
  failures: Array<Omit<FailRecord, "node">>;
  admin: AdminState;
  /** Promotion scores the agents here last reported, by resource. */
  promotion: Record<string, number>;
  applied: Record<string, number>;
  /** Operations in flight on this node, by resource (one at a time each). */
  ops: Record<string, Op>;
  nextOp: number;
  /** Recurring monitors on this node, by resource. */
  monitors: Record<string, { intervalMs: number; timeoutMs: number; due: number }>;
  /** Fencing done by this node as DC, by target. */
  fence: Record<string, { state: FenceState; at: number }>;
  fencingNow: string | null;
  /** The node being fenced was seen up since its fence began: the result says nothing of a death after that (the fence, or a watchdog fence's wait, began before it). */
  fenceOutrun: boolean;
  /** As DC: the transition last sent, and the last seq given (it only rises). As follower: the DC's last one and who sent it. */
  sent: Transition | null;
  tseq: number;
  /**
   * As DC, per peer: the starts and stops sent to it in transitions planned from its report `basis`, by its
   * process `incarnation`. Until it reports past that seq it may be performing any of them, so they count as
   * under way there (as its report's `pending`) and are sent again, unchanged; they are forgotten once it
   * reports past the basis, or is lost (then it has lost quorum, and with it the transition: see `received`).
   */
  unconfirmed: Record<string, { incarnation: number | null; basis: number; actions: WireAction[] }>;
  /**
   * `done`: the ids of its actions this node has run; a transition's action runs once. Kept only while this
   * node has quorum and takes its sender as DC: one taken in before is never performed after.
   */
  received: { from: string; incarnation: number | null; t: Transition; done: string[] } | null;
  lastReportAt: number;
  lastTransitionAt: number;
  dc: string | null;
  notes: string[];
  holds: boolean;
  /**
   * The maintenance of the last admin state every other member reported too. Without quorum (and leaving) this node
   * keeps to maintenance only where this and its own agree: a peer that never heard of it would take over what it keeps.
   */
  agreed: Maintenance;
  /**
   * Every maintenance this node held or a peer reported since all last agreed: what a gone peer may keep to, and so
   * may not have stopped (a change of this node's may have reached it while its report of it did not come back).
   */
  mayKeep: Maintenance;
}

/**
 * A node that starts. `admin`: the admin state it kept across a restart
 * (core/state.ts); its cleanups count as done here, since a node that starts
 * has no failures to forget and probes everything anyway.
 */
export function initialState(p: CoordParams, admin?: AdminState): State {
  return {
    p,
    phase: "idle",
    now: 0,
    wall: 0,
    quorate: false,
    peers: {},
    seq: 0,
    states: Object.fromEntries(p.config.resources.map((r) => [r.name, "unknown" as ResourceState])),
    failures: [],
    admin: admin ? structuredClone(admin) : { version: 0, by: p.self, standby: [], moves: [], cleanups: {} },
    promotion: {},
    applied: admin ? { ...admin.cleanups } : {},
    ops: {},
    nextOp: 1,
    monitors: {},
    fence: {},
    fencingNow: null,
    fenceOutrun: false,
    sent: null,
    tseq: 0,
    unconfirmed: {},
    received: null,
    lastReportAt: -Infinity,
    lastTransitionAt: -Infinity,
    dc: null,
    notes: [],
    holds: false,
    agreed: NO_MAINTENANCE,
    mayKeep: structuredClone(admin?.maintenance ?? NO_MAINTENANCE),
  };
}

const NO_MAINTENANCE: Maintenance = { cluster: false, nodes: [], resources: [] };

/** Where both keep to maintenance, or where either does. */
function maintenanceOf(a: Maintenance, b: Maintenance, both: boolean): Maintenance {
  const names = (x: string[], y: string[]) => (both ? x.filter((n) => y.includes(n)) : [...new Set([...x, ...y])]);
  return { cluster: both ? a.cluster && b.cluster : a.cluster || b.cluster, nodes: names(a.nodes, b.nodes), resources: names(a.resources, b.resources) };
}

/**
 * The agreed maintenance: this node's, once every other member has reported the same admin state (a peer gone,
 * or not heard from since it came back, agrees to nothing). Until then every maintenance held or reported adds to
 * what a gone peer may keep to.
 */
function agree(s: State): void {
  const mine = s.admin.maintenance ?? NO_MAINTENANCE;
  const reports = s.p.members.filter((m) => m !== s.p.self).map((m) => s.peers[m]);
  if (reports.every((p) => p?.report && !p.stale && p.report.admin.version === s.admin.version && p.report.admin.by === s.admin.by)) {
    s.agreed = structuredClone(mine);
    s.mayKeep = structuredClone(mine);
    return;
  }
  for (const m of [mine, ...reports.map((p) => p?.report?.admin.maintenance ?? NO_MAINTENANCE)]) s.mayKeep = maintenanceOf(s.mayKeep, m, false);
}

/** Whether a resource may run on this node: anything but known stopped, or an operation on it in flight (a reload may not change it then). */
export function mayRunHere(s: State, resource: string): boolean {
  return s.states[resource] !== "stopped" || s.ops[resource] !== undefined;
}

/**
 * What a reload may not change: a resource that may run on this node (see
 * mayRunHere) keeps its definition and stays in the config until it is
 * stopped here (standby, or out of its group and a reload). The others may.
 */
export function reloadRefusal(s: State, p: CoordParams, changed: readonly string[]): string[] {
  const kept = new Set(p.config.resources.map((r) => r.name));
  const touched = s.p.config.resources.map((r) => r.name).filter((r) => changed.includes(r) || !kept.has(r));
  return touched.filter((r) => mayRunHere(s, r));
}

/** The same node under a new config: new resources are unknown (probed), removed ones forgotten. */
function reconfigure(s: State, p: CoordParams): void {
  s.p = p;
  const names = new Set(p.config.resources.map((r) => r.name));
  for (const r of names) s.states[r] ??= "unknown";
  for (const r of Object.keys(s.states)) {
    if (names.has(r)) continue;
    delete s.states[r];
    delete s.monitors[r];
    delete s.promotion[r];
  }
  s.failures = s.failures.filter((f) => names.has(f.resource));
  s.seq++;
  s.lastReportAt = -Infinity;
}

const ACTIVE: ReadonlySet<ResourceState> = new Set(["started", "promoted", "failed-start", "failed-monitor", "failed-stop"]);

/**
 * Whether an exclusive resource runs here, is starting, or failed to stop: what the watchdog asks before it pets without quorum.
 * A clone that may run on every member is not exclusive (policy.ts exclusiveResources): no other node takes its instance over.
 */
export function holdsExclusive(s: State): boolean {
  const exclusive = exclusiveResources(s.p.config, s.p.members.length);
  if ([...promotableMembers(s.p.config)].some((r) => s.states[r] === "promoted" || s.states[r] === "failed-monitor" || s.ops[r]?.action === "promote")) return true;
  return [...exclusive].some((r) => ACTIVE.has(s.states[r]!) || s.ops[r]?.action === "start");
}

export function step(prev: State, input: Input): { state: State; effects: Effect[] } {
  const s: State = structuredClone(prev);
  const fx: Effect[] = [];
  const event = (e: string, data: Record<string, unknown>) => fx.push({ type: "event", event: e, data });
  s.now = input.now;
  s.wall = input.wall;
  if (s.phase === "stopped") return { state: s, effects: [] };
  // The report's seq rises at once with any change, so that what follows in this step (the basis check) sees it.
  let changed = false;
  /** A peer came up: it hears this node's report at once, not at the next resend. */
  let announce = false;
  // The seq rises at the first change of a step, before `decide` compares it with a transition's basis:
  // a transition planned from the report before this change is then already stale.
  const bump = () => {
    if (!changed) s.seq++;
    changed = true;
    s.seq++;
  };

  switch (input.type) {
    case "start":
      s.phase = "running";
      membership(s, input.cluster);
      bump();
      break;
    case "membership": {
      const wasQuorate = s.quorate;
      announce = membership(s, input.cluster);
      // Alone, this node dropped any transition the DC sent it (see decide); a new seq has the DC plan and send afresh
      // now, not at its next resend.
      if (!wasQuorate && s.quorate) bump();
      break;
    }
    case "message":
      if (receive(s, input.from, input.message, fx)) bump();
      break;
    case "result":
      if (result(s, input.op, input.status, input.message, input.promotionScore, event)) bump();
      break;
    case "fenced":
      if (s.fencingNow === input.node) s.fencingNow = null;
      // As membership() keeps it: a node up again, or up at some moment since the fence began, is not "fenced" by it (a fence
      // slower than its reboot, a watchdog fence's wait begun at an earlier death): a death now is fenced anew.
      if (input.ok && (s.fenceOutrun || s.peers[input.node]?.status === "up")) delete s.fence[input.node];
      else s.fence[input.node] = { state: input.ok ? "fenced" : "failed", at: input.now };
      event("resources.fence", { node: input.node, result: input.ok ? "fenced" : "failed", message: input.message });
      break;
    case "admin":
      if (adminCommand(s, input.command)) bump();
      break;
    case "tick":
      break;
    case "reload": {
      const busy = reloadRefusal(s, input.p, input.changed);
      if (busy.length) return { state: prev, effects: [{ type: "reload-refused", busy }] };
      reconfigure(s, input.p);
      break;
    }
    case "stop":
      if (s.phase === "running") {
        s.phase = "stopping";
        bump();
      }
      break;
  }

  if (expire(s)) bump();
  forgetConfirmed(s);
  forgetFailedFences(s);
  if (applyCleanups(s, event)) bump();
  agree(s);
  decide(s, fx, event, bump);
  // Compared as nextDeadline computes it: in floating point, now - last >= resend may fail at that very time.
  if (changed || announce || s.now >= s.lastReportAt + s.p.resendMs) {
    fx.push({ type: "send", message: report(s) });
    s.lastReportAt = s.now;
  }
  const holds = Object.entries(s.states).some(([r, st]) => ACTIVE.has(st) || s.ops[r]?.action === "start");
  if (holds !== s.holds) {
    s.holds = holds;
    fx.push({ type: "holds", holds });
  }
  const left = (r: string) => inMaintenance(adminInput(s), r, s.p.self);
  if (s.phase === "stopping" && Object.keys(s.ops).length === 0 && !Object.entries(s.states).some(([r, st]) => !left(r) && (running(st) || st === "failed-monitor" || st === "failed-start"))) {
    s.phase = "stopped";
    fx.push({ type: "stopped" });
  }
  return { state: s, effects: fx };
}

/**
 * When the engine wants a tick: the next monitor, resend, failure or move expiry, fence retry.
 * Each counts only while a tick would act on it, so that the deadline is never left in the past.
 */
export function nextDeadline(s: State): number {
  if (s.phase !== "running" && s.phase !== "stopping") return Infinity;
  let at = s.lastReportAt + s.p.resendMs;
  if (s.sent) at = Math.min(at, s.lastTransitionAt + s.p.resendMs);
  for (const r in s.monitors) if (!s.ops[r] && monitored(s, r)) at = Math.min(at, s.monitors[r]!.due);
  for (const n in s.fence) if (s.fence[n]!.state === "failed") at = Math.min(at, s.fence[n]!.at + s.p.fenceRetryMs);
  const toNow = (wall: number) => s.now + Math.max(0, wall - s.wall);
  for (const f of s.failures) {
    const d = s.p.config.resources.find((r) => r.name === f.resource);
    if (d?.failureTimeoutMs != null) at = Math.min(at, toNow(f.lastFailedAt + d.failureTimeoutMs));
  }
  if (s.dc === s.p.self) for (const m of s.admin.moves) if (m.until !== null) at = Math.min(at, toNow(m.until));
  return at;
}

/** Take the heartbeat's view; true when a peer came up (a new process, or back after being lost). */
function membership(s: State, view: ClusterView): boolean {
  s.quorate = view.quorate;
  let cameUp = false;
  for (const peer of view.peers) {
    const was = s.peers[peer.name];
    if (!was || was.incarnation !== peer.incarnation) {
      // A new process (or the first sight of one): what its predecessor reported no longer holds.
      s.peers[peer.name] = { name: peer.name, status: peer.status, incarnation: peer.incarnation, report: null, stale: false };
      if (was && was.incarnation !== null && peer.incarnation !== null) delete s.fence[peer.name];
      if (s.received?.from === peer.name) s.received = null;
      cameUp ||= peer.status === "up";
    } else {
      if (was.status !== "up" && peer.status === "up") {
        was.stale = true;
        cameUp = true;
      }
      was.status = peer.status;
    }
    if (peer.status === "up" && s.fence[peer.name]?.state === "fenced") delete s.fence[peer.name];
    if (peer.status === "up" && s.fencingNow === peer.name) s.fenceOutrun = true;
  }
  // Without quorum, or with quorum by a rule for a lone node (two-node, ping), this node cannot tell what a peer it
  // has lost does: that peer may hold quorum too and start anything. Its report says nothing of that, so it is
  // stale: unknown to the policy (fenced before a takeover, with fencing) until the peer reports again. A peer that
  // said goodbye stopped what it ran before, and starts nothing until it is back.
  for (const peer of Object.values(s.peers)) {
    if (peer.status === "up") continue;
    if (!view.quorate || (!view.majority && peer.status !== "leaving")) peer.stale = true;
  }
  return cameUp;
}

/** What a peer last reported, unless it is stale. */
function freshReport(p: Peer): Report | null {
  return p.stale ? null : p.report;
}

function receive(s: State, from: string, m: Message, fx: Effect[]): boolean {
  const peer = s.peers[from];
  if (!peer || peer.status !== "up") return false;
  if (m.type === "report") {
    // A stale report is replaced by the next one, even of the same seq: the peer has not changed since.
    if (peer.report && (m.seq < peer.report.seq || (m.seq === peer.report.seq && !peer.stale))) return false;
    peer.report = m;
    peer.stale = false;
    if (!adminFromFuture(m.admin.version, s.wall)) return adopt(s, m.admin);
    fx.push({ type: "admin-refused", from, version: m.admin.version });
    return false;
  }
  if (from !== s.dc) return false;
  if (s.received && s.received.from === from && s.received.incarnation === peer.incarnation && m.seq <= s.received.t.seq) return false;
  s.received = { from, incarnation: peer.incarnation, t: m, done: [] };
  return false;
}

/** Take a peer's admin state when it is newer than ours; true when ours changed. */
function adopt(s: State, a: AdminState): boolean {
  const ours = s.admin;
  if (a.version !== ours.version ? a.version < ours.version : a.by !== ours.by ? a.by < ours.by : JSON.stringify(a) <= JSON.stringify(ours)) return false;
  s.admin = structuredClone(a);
  reprobeAfterMaintenance(s, ours);
  return true;
}

/** A change of the admin state by this node. */
function changedAdmin(s: State): void {
  s.admin.version = Math.max(s.admin.version + 1, Math.floor(s.wall));
  s.admin.by = s.p.self;
}

function adminCommand(s: State, c: AdminCommand): boolean {
  const a = s.admin;
  switch (c.op) {
    case "standby":
      if (!a.standby.includes(c.node)) a.standby.push(c.node);
      break;
    case "online":
      a.standby = a.standby.filter((n) => n !== c.node);
      break;
    case "move":
      a.moves = [...a.moves.filter((m) => m.group !== c.group), { group: c.group, node: c.node, until: c.until }];
      break;
    case "clear":
      a.moves = a.moves.filter((m) => m.group !== c.group);
      break;
    case "cleanup":
      a.cleanups[c.resource] = (a.cleanups[c.resource] ?? 0) + 1;
      break;
    case "disable":
      a.disabled = [...(a.disabled ?? []).filter((n) => n !== c.name), c.name];
      break;
    case "enable":
      a.disabled = (a.disabled ?? []).filter((n) => n !== c.name);
      break;
    case "maintenance": {
      const before = structuredClone(s.admin);
      const m = (a.maintenance ??= structuredClone(NO_MAINTENANCE));
      const set = (list: string[], name: string) => [...list.filter((x) => x !== name), ...(c.on ? [name] : [])];
      if (c.node !== undefined) m.nodes = set(m.nodes, c.node);
      else if (c.resource !== undefined) m.resources = set(m.resources, c.resource);
      else m.cluster = c.on;
      reprobeAfterMaintenance(s, before);
      break;
    }
  }
  changedAdmin(s);
  return true;
}

/**
 * Resources of this node that left maintenance are probed again (their state
 * unknown, their failures kept): an admin may have started or stopped them
 * by hand meanwhile, as Pacemaker reprobes when maintenance ends.
 */
function reprobeAfterMaintenance(s: State, before: AdminState): void {
  const was = { config: s.p.config, maintenance: before.maintenance };
  for (const r of Object.keys(s.states)) {
    if (!inMaintenance(was, r, s.p.self) || inMaintenance(ownMaintenance(s), r, s.p.self) || s.ops[r]) continue;
    s.states[r] = "unknown";
    delete s.monitors[r];
  }
}

/** Forget failures past their failure_timeout; as DC, drop moves that expired. */
function expire(s: State): boolean {
  const before = s.failures.length;
  s.failures = s.failures.filter((f) => {
    const t = s.p.config.resources.find((r) => r.name === f.resource)?.failureTimeoutMs;
    return t == null || s.wall < f.lastFailedAt + t;
  });
  let changed = s.failures.length !== before;
  if (s.dc === s.p.self && s.admin.moves.some((m) => m.until !== null && m.until <= s.wall)) {
    s.admin.moves = s.admin.moves.filter((m) => m.until === null || m.until > s.wall);
    changedAdmin(s);
    changed = true;
  }
  return changed;
}

/** Unconfirmed actions of a peer that reported past their basis, is no longer up, or is a new process: it will not perform them. */
function forgetConfirmed(s: State): void {
  for (const [name, u] of Object.entries(s.unconfirmed)) {
    const peer = s.peers[name];
    if (!peer || peer.status !== "up" || peer.incarnation !== u.incarnation || (peer.report?.seq ?? 0) > u.basis) delete s.unconfirmed[name];
  }
}

/**
 * A failed fence is forgotten fenceRetryMs after it failed: the policy, which
 * does not repeat a fence that failed, then asks for it again.
 */
function forgetFailedFences(s: State): void {
  for (const [node, f] of Object.entries(s.fence)) if (f.state === "failed" && s.now >= f.at + s.p.fenceRetryMs) delete s.fence[node];
}

function applyCleanups(s: State, event: (e: string, d: Record<string, unknown>) => void): boolean {
  let changed = false;
  for (const [r, count] of Object.entries(s.admin.cleanups)) {
    if ((s.applied[r] ?? 0) >= count) continue;
    s.applied[r] = count;
    if (!(r in s.states)) continue;
    s.failures = s.failures.filter((f) => f.resource !== r);
    if (!s.ops[r]) s.states[r] = "unknown";
    delete s.monitors[r];
    event("resources.cleanup", { resource: r });
    changed = true;
  }
  return changed;
}

/**
 * An agent's answer. A monitor or probe answering promoted (OCF 8, 191) is the promoted role; failed-promoted
 * (9) a failed monitor. A failed promote leaves the instance started (unpromoted, as the agent left it) and
 * counts as a promote failure: that node is not promoted again until it expires; one that did not answer
 * (timeout, cancelled, error) leaves the role unknown: probed. A failed demote is a failed monitor: the
 * instance, which may still be promoted, is stopped (restart), and a failed stop is fenced.
 */
function result(s: State, id: number, status: AgentStatus, message: string, promotionScore: number | undefined, event: (e: string, d: Record<string, unknown>) => void): boolean {
  const op = Object.values(s.ops).find((o) => o.op === id);
  if (!op) return false;
  delete s.ops[op.resource];
  const r = op.resource;
  const before = s.states[r];
  const ok = status === "ok" || status === "degraded";
  // OCF 8 (and 191) from a resource that is not a promotable clone's is an error, as in Pacemaker.
  const promoted = (status === "promoted" || status === "degraded-promoted") && promotableMembers(s.p.config).has(r);
  let next: ResourceState;
  let failed = false;
  switch (op.action) {
    case "start":
      next = ok ? "started" : "failed-start";
      failed = !ok;
      break;
    case "stop":
      next = ok || status === "not-running" ? "stopped" : "failed-stop";
      failed = next === "failed-stop";
      break;
    case "promote":
      next = ok ? "promoted" : status === "timeout" || status === "cancelled" || status === "error" ? "unknown" : "started";
      failed = !ok;
      break;
    case "demote":
      next = ok ? "started" : "failed-monitor";
      failed = !ok;
      break;
    case "probe":
      next = ok ? "started" : promoted ? "promoted" : status === "not-running" || status === "not-installed" ? "stopped" : "failed-monitor";
      failed = next === "failed-monitor";
      break;
    case "monitor":
      if (!monitored(s, r)) return false;
      next = ok ? "started" : promoted ? "promoted" : "failed-monitor";
      failed = next === "failed-monitor";
      break;
  }
  let scored = false;
  if (promotionScore !== undefined && s.promotion[r] !== promotionScore) {
    s.promotion[r] = promotionScore;
    scored = true;
  }
  const monitor = s.monitors[r];
  if (monitor) monitor.due = s.now + monitor.intervalMs;
  const failedOp: FailedOp = op.action === "probe" ? "monitor" : op.action;
  const d = s.p.config.resources.find((x) => x.name === r);
  // on_fail=ignore: as if it had not failed. In maintenance the failure is shown (the state) and not counted: nothing acts on it.
  if (failed && d && onFailOf(d, failedOp) !== "ignore" && !inMaintenance(ownMaintenance(s), r, s.p.self)) {
    const error = errorClass(status);
    const f = s.failures.find((x) => x.resource === r);
    if (f) {
      f.count++;
      f.lastFailedAt = s.wall;
      f.startFailed ||= op.action === "start";
      if (op.action === "promote") f.promoteFailed = true;
      f.op = failedOp;
      if (error !== "soft" && f.error !== "fatal") f.error = error;
    } else s.failures.push({ resource: r, count: 1, lastFailedAt: s.wall, startFailed: op.action === "start", ...(op.action === "promote" ? { promoteFailed: true } : {}), op: failedOp, ...(error !== "soft" ? { error } : {}) });
  }
  event("resources.action", { resource: r, action: op.action, status, ms: Math.round(s.now - op.since), ...(message ? { message } : {}) });
  if (next !== before) {
    s.states[r] = next;
    event("resources.state", { resource: r, state: next, was: before });
  }
  // A start, stop, promote or demote leaves the pending list: the report changes even when the state does not.
  return next !== before || failed || scored || op.action !== "monitor" && op.action !== "probe";
}

/** Map a heartbeat status onto the policy's membership. */
function policyMembership(p: Peer): Membership {
  if (p.status === "up") return "up";
  if (p.status === "leaving") return "leaving";
  return "unclean";
}

/** The states, with each resource that has a start or stop in flight given as `as`. */
function withPending(states: Record<string, ResourceState>, pending: Iterable<string>, as: ResourceState): Record<string, ResourceState> {
  const out = { ...states };
  for (const r of pending) out[r] = as;
  return out;
}

/** Resources with a start or stop in flight on this node. */
function pendingHere(s: State): string[] {
  return Object.entries(s.ops)
    .filter(([, o]) => o.action !== "monitor" && o.action !== "probe")
    .map(([r]) => r);
}

/**
 * The policy's input from this node's view. A resource with a start or stop in
 * flight may be active. With quorum it is `unknown` to the policy, so that its
 * group, and the groups that depend on it, wait for the answer as for a probe
 * (as `started`, the next member would start before it has). Without quorum it
 * is `started`, so that it is stopped, in its turn, once the operation ends.
 */
export function clusterInput(s: State): ClusterInput {
  const self = s.p.self;
  const inFlight: ResourceState = s.quorate ? "unknown" : "started";
  const standby = new Set(s.admin.standby);
  const nodes: NodeState[] = [];
  const states: Record<string, Record<string, ResourceState>> = {};
  const put = (node: string, st: Record<string, ResourceState>) => {
    for (const [r, v] of Object.entries(st)) (states[r] ??= {})[node] = v;
  };
  const failures: FailRecord[] = s.failures.map((f) => ({ ...f, node: self }));
  const promotion: Record<string, Record<string, number>> = {};
  const scores = (node: string, by: Record<string, number> | undefined) => {
    for (const [r, v] of Object.entries(by ?? {})) (promotion[r] ??= {})[node] = v;
  };
  for (const name of s.p.members) {
    const traits = s.p.nodeTraits?.[name];
    if (name === self) {
      nodes.push({ name, membership: "up", standby: standby.has(name) || s.phase !== "running", fence: "none", ...traits });
      put(name, withPending(s.states, pendingHere(s), inFlight));
      scores(name, s.promotion);
      continue;
    }
    const peer = s.peers[name];
    const fence = s.fence[name]?.state ?? "none";
    if (!peer) {
      nodes.push({ name, membership: "unclean", standby: false, fence, ...traits });
      continue;
    }
    nodes.push({ name, membership: policyMembership(peer), standby: standby.has(name) || (peer.report?.leaving ?? false), fence, ...traits });
    const rep = freshReport(peer);
    if (rep) {
      put(name, withPending(rep.states, [...rep.pending, ...(s.unconfirmed[name]?.actions.map((a) => a.resource) ?? [])], inFlight));
      failures.push(...rep.failures.map((f) => ({ ...f, node: name })));
      scores(name, rep.promotion);
    }
  }
  return { self, nodes, quorum: s.quorate, states, failures, moves: s.admin.moves, now: s.wall, ...adminInput(s), promotion };
}

/**
 * Whether this node may start or stop a resource here now: not in maintenance as it applies here (see adminInput).
 * A DC's transition planned before this node heard of a maintenance is not performed for it.
 */
export function managedHere(s: State, resource: string): boolean {
  return !inMaintenance(adminInput(s), resource, s.p.self);
}

/** The maintenance this node holds now, agreed or not: what its executor goes by (failures counted, monitors kept). */
function ownMaintenance(s: State): Pick<ClusterInput, "config" | "maintenance"> {
  return { config: s.p.config, maintenance: s.admin.maintenance ?? NO_MAINTENANCE };
}

/**
 * The admin state's part of the policy's input: what is disabled, what is in maintenance. Without quorum (and
 * leaving) this node keeps to maintenance only where all agreed (see State.agreed); a gone peer may keep to either.
 */
function adminInput(s: State): Pick<ClusterInput, "config" | "disabled" | "maintenance" | "goneMaintenance"> {
  const mine = s.admin.maintenance ?? NO_MAINTENANCE;
  const alone = !s.quorate || s.phase !== "running";
  return { config: s.p.config, disabled: s.admin.disabled ?? [], maintenance: alone ? maintenanceOf(mine, s.agreed, true) : mine, goneMaintenance: maintenanceOf(mine, s.mayKeep, false) };
}

/**
 * Leaving, this node stops what it runs whatever the others do: it plans alone,
 * with quorum, itself in standby, the others gone, and what it never probed taken
 * as stopped (a held group would otherwise keep it from stopping the rest).
 */
function leavingInput(s: State): ClusterInput {
  const self = s.p.self;
  const states: Record<string, Record<string, ResourceState>> = {};
  for (const [r, v] of Object.entries(withPending(s.states, pendingHere(s), "started"))) states[r] = { [self]: v === "unknown" ? "stopped" : v };
  const nodes: NodeState[] = s.p.members.map((name) => ({ name, membership: name === self ? "up" : "down", standby: name === self, fence: "none" }));
  // The others are taken as down here only to plan this node's own stops: what one in maintenance may still run holds none of them.
  const goneMaintenance = { cluster: false, nodes: [], resources: [] };
  return { config: s.p.config, self, nodes, quorum: true, states, failures: [], moves: [], now: s.wall, maintenance: adminInput(s).maintenance, goneMaintenance };
}

/** The DC: the first member, in config order, up and not leaving in this node's view. */
function coordinator(s: State): string | null {
  for (const name of s.p.members) {
    if (name === s.p.self) {
      if (s.phase === "running") return name;
      continue;
    }
    const peer = s.peers[name];
    if (peer?.status === "up" && !peer.report?.leaving) return name;
  }
  return null;
}

function decide(s: State, fx: Effect[], event: (e: string, d: Record<string, unknown>) => void, bump: () => void): void {
  const dc = coordinator(s);
  if (dc !== s.dc) {
    event("resources.dc", { dc, was: s.dc });
    s.dc = dc;
    s.sent = null;
    s.received = null;
  }
  const self = s.p.self;
  // no_quorum_policy = "ignore": without quorum this node acts as the quorate do.
  const alone = (!s.quorate && s.p.config.noQuorumPolicy !== "ignore") || s.phase !== "running";
  // Alone, this node sends no transition, and forgets the DC's: with quorum back, each is sent afresh.
  if (alone) {
    s.sent = null;
    s.received = null;
  }
  let mine: WireAction[] | null = null;
  if (s.phase !== "running") {
    mine = plan(leavingInput(s)).actions.filter((a) => a.after.length === 0 && a.node === self && (a.kind === "stop" || a.kind === "demote")).map(wire);
  } else if (alone || dc === self) {
    const p = plan(clusterInput(s));
    if (p.notes.join("\n") !== s.notes.join("\n")) {
      s.notes = p.notes;
      if (p.notes.length) event("resources.notes", { notes: p.notes });
    }
    const ready = p.actions.filter((a) => a.after.length === 0);
    mine = ready.filter((a) => a.node === self && a.kind !== "fence" && (!alone || a.kind === "stop" || a.kind === "demote" || a.kind === "monitor")).map(wire);
    if (!alone) {
      for (const f of ready.filter((a) => a.kind === "fence")) fence(s, f, fx);
      const t: Transition = { type: "transition", seq: s.tseq + 1, basis: basis(s), actions: withUnconfirmed(s, ready.filter((a) => a.node !== self && a.kind !== "fence").map(wire)) };
      if (!s.sent || JSON.stringify([s.sent.basis, s.sent.actions]) !== JSON.stringify([t.basis, t.actions])) {
        unconfirm(s, t);
        s.sent = t;
        s.tseq = t.seq;
        fx.push({ type: "send", message: t });
        s.lastTransitionAt = s.now;
      } else if (s.now >= s.lastTransitionAt + s.p.resendMs) {
        fx.push({ type: "send", message: s.sent });
        s.lastTransitionAt = s.now;
      }
    }
  } else {
    s.notes = [];
    const r = s.received;
    if (r && r.from === dc && r.t.basis[self] === s.seq) {
      const todo = r.t.actions.filter((a) => a.node === self && !r.done.includes(a.id));
      const known = todo.filter((a) => a.resource in s.states);
      for (const a of todo.filter((a) => !known.includes(a))) {
        fx.push({ type: "unknown-resource", from: r.from, resource: a.resource, kind: a.kind });
        r.done.push(a.id);
      }
      r.done.push(...perform(s, known, fx, bump));
    }
  }
  if (mine) perform(s, mine, fx, bump);
  dueMonitors(s, fx);
}

function wire(a: Action): WireAction {
  return { id: a.id, kind: a.kind as WireAction["kind"], resource: a.resource!, node: a.node, intervalMs: a.intervalMs ?? 0, timeoutMs: a.timeoutMs ?? 0 };
}

/** The plan's actions for the peers, each peer's unconfirmed starts and stops instead of what the plan says of their resources there. */
function withUnconfirmed(s: State, actions: WireAction[]): WireAction[] {
  const held = (a: WireAction) => s.unconfirmed[a.node]?.actions.some((u) => u.resource === a.resource) ?? false;
  return [...actions.filter((a) => !held(a)), ...Object.values(s.unconfirmed).flatMap((u) => u.actions)];
}

/**
 * A transition sent: its starts and stops are unconfirmed on their nodes until those report past its basis.
 * Not on a node without a basis (0: no report since it came back), which performs nothing.
 */
function unconfirm(s: State, t: Transition): void {
  for (const a of t.actions) {
    const peer = s.peers[a.node];
    const from = t.basis[a.node];
    if (a.kind === "monitor" || !peer || !from) continue;
    const u = s.unconfirmed[a.node];
    if (!u || u.basis !== from || u.incarnation !== peer.incarnation) s.unconfirmed[a.node] = { incarnation: peer.incarnation, basis: from, actions: [a] };
    else if (!u.actions.some((x) => x.id === a.id)) u.actions.push(a);
  }
}

function basis(s: State): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name in s.peers) {
    const rep = freshReport(s.peers[name]!);
    if (rep) out[name] = rep.seq;
    else if (s.peers[name]!.status === "up") out[name] = 0;
  }
  return out;
}

function fence(s: State, a: Action, fx: Effect[]): void {
  if (s.fencingNow !== null || s.fence[a.node]) return;
  s.fencingNow = a.node;
  s.fenceOutrun = false;
  fx.push({ type: "fence", node: a.node });
  fx.push({ type: "event", event: "resources.fence", data: { node: a.node, result: "fencing", reason: a.reason } });
}

/** Do this node's part of an authoritative plan: starts, stops, probes now; recurring monitors as scheduled. Returns the ids run. */
function perform(s: State, actions: WireAction[], fx: Effect[], bump: () => void): string[] {
  const ran: string[] = [];
  const wanted = new Map<string, WireAction>();
  for (const a of actions) {
    if (a.kind === "monitor" && a.intervalMs > 0) {
      wanted.set(a.resource, a);
      continue;
    }
    const busy = s.ops[a.resource];
    if (busy && busy.action !== "monitor") continue;
    const kind: OpKind = a.kind === "monitor" ? "probe" : a.kind;
    if (kind === "probe" && s.states[a.resource] !== "unknown") continue;
    if (kind !== "probe" && !managedHere(s, a.resource)) continue;
    if (busy) fx.push({ type: "cancel", op: busy.op });
    const d = s.p.config.resources.find((r) => r.name === a.resource)!;
    // A promote takes the start's timeout and a demote the stop's (the config has no keys of their own).
    const timeoutMs = kind === "start" || kind === "promote" ? d.startTimeoutMs : kind === "stop" || kind === "demote" ? d.stopTimeoutMs : d.monitorTimeoutMs;
    run(s, a.resource, kind, timeoutMs, 0, fx);
    ran.push(a.id);
    if (kind !== "probe") bump();
  }
  for (const r of Object.keys(s.monitors)) if (!wanted.has(r)) delete s.monitors[r];
  for (const [r, a] of wanted) {
    const m = s.monitors[r];
    if (!m || m.intervalMs !== a.intervalMs) s.monitors[r] = { intervalMs: a.intervalMs, timeoutMs: a.timeoutMs, due: s.now + a.intervalMs };
  }
  return ran;
}

/**
 * A recurring monitor runs while its resource is started, or failed with on_fail=ignore (the policy takes it as
 * started), or failed in maintenance (nothing recovers it: the monitor shows when an admin has).
 */
function monitored(s: State, r: string): boolean {
  const st = s.states[r] ?? "unknown";
  if (st === "failed-monitor" && inMaintenance(ownMaintenance(s), r, s.p.self)) return true;
  return running(effectiveState(s.p.config.resources.find((d) => d.name === r), st));
}

function dueMonitors(s: State, fx: Effect[]): void {
  for (const [r, m] of Object.entries(s.monitors)) {
    if (s.ops[r] || m.due > s.now || !monitored(s, r)) continue;
    run(s, r, "monitor", m.timeoutMs, m.intervalMs, fx);
  }
}

function run(s: State, resource: string, action: OpKind, timeoutMs: number, intervalMs: number, fx: Effect[]): void {
  const op = s.nextOp++;
  s.ops[resource] = { op, resource, action, since: s.now };
  fx.push({ type: "run", op, resource, action, timeoutMs, intervalMs });
}

function report(s: State): Report {
  return {
    type: "report",
    seq: s.seq,
    leaving: s.phase !== "running",
    states: s.states,
    pending: pendingHere(s),
    failures: s.failures,
    admin: s.admin,
    ...(Object.keys(s.promotion).length > 0 ? { promotion: s.promotion } : {}),
  };
}
