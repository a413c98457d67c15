/**
 * The lifecycle engine: which module to start, reload or stop next.
 * Pure: `step(state, input) -> { state, effects }`; the runtime shell performs
 * the effects and feeds each outcome back as a `done` input.
 *
 * Rules:
 * - one module operation at a time; starts follow dependency order, stops the
 *   reverse, and a module never runs while one it depends on is not running;
 * - a reload applies the difference only: removed modules stop, modules whose
 *   section changed get `reload`, new ones start; unchanged ones are untouched;
 * - a module's reload is atomic: if it fails, the module keeps its old section
 *   and the same section is not tried again while the plan keeps asking for
 *   it (a plan that asks for another section, or drops the module, clears it);
 * - a start that fails or times out is followed by a stop (cleanup); at boot it
 *   fails the whole node (stop everything, exit 1), on reload only that module
 *   and the modules that depend on it;
 * - a stop is bounded: past `stopTimeoutMs` the remaining modules are
 *   abandoned and the process exits 1.
 */

export interface ModulePlan {
  name: string;
  /** Modules that must be running before this one starts (ignored if not in the plan). */
  after: readonly string[];
  /** Hash of the config section the module reads. */
  hash: string;
}

export interface Plan {
  /** Hash of the whole config. */
  hash: string;
  modules: readonly ModulePlan[];
  moduleTimeoutMs: number;
  stopTimeoutMs: number;
}

export type ModuleState = "stopped" | "starting" | "running" | "reloading" | "stopping" | "failed";
export type OpKind = "start" | "reload" | "stop";

export interface ModuleStatus {
  name: string;
  state: ModuleState;
  /** Hash of the section the module runs with (or is being given). */
  hash: string;
  after: readonly string[];
  /** During a reload: the hash it ran with before, kept if the reload fails. */
  previous?: string;
  /** A section hash that failed to apply; not retried until the plan changes. */
  rejected?: string;
  error?: string;
}

export type Phase = "idle" | "starting" | "running" | "stopping" | "stopped";

export interface State {
  phase: Phase;
  plan: Plan | null;
  /** A reload that arrived while work was under way; the newest wins. */
  queued: Plan | null;
  /** The plan a reload adopted, until every module took it (then `runtime.reloaded`). */
  applying: string | null;
  modules: Readonly<Record<string, ModuleStatus>>;
  op: { id: number; name: string; kind: OpKind; deadline: number; cleanup: boolean } | null;
  nextOp: number;
  stopDeadline: number | null;
  exitCode: number;
}

export type Input =
  | { type: "start"; plan: Plan; now: number }
  | { type: "reload"; plan: Plan; now: number }
  | { type: "reload-rejected"; reason: string; now: number }
  | { type: "done"; op: number; ok: boolean; error?: string; now: number }
  | { type: "stop"; now: number }
  | { type: "tick"; now: number };

export type Effect =
  | { type: OpKind; op: number; name: string; hash: string }
  | { type: "event"; event: string; data: Record<string, unknown> }
  | { type: "exit"; code: number };

export const initialState: State = {
  phase: "idle",
  plan: null,
  queued: null,
  applying: null,
  modules: {},
  op: null,
  nextOp: 1,
  stopDeadline: null,
  exitCode: 0,
};

/** Dependency order (stable: ties keep the plan's order). Throws on a cycle. */
export function orderModules<T extends { name: string; after: readonly string[] }>(mods: readonly T[]): T[] {
  const names = new Set(mods.map((m) => m.name));
  const done = new Set<string>();
  const out: T[] = [];
  while (out.length < mods.length) {
    const next = mods.find((m) => !done.has(m.name) && m.after.every((d) => !names.has(d) || done.has(d)));
    if (!next) throw new Error(`module dependency cycle among ${mods.filter((m) => !done.has(m.name)).map((m) => m.name).join(", ")}`);
    done.add(next.name);
    out.push(next);
  }
  return out;
}

/** When the engine next needs a tick, if ever. */
export function nextDeadline(s: State): number | null {
  const ds = [s.op?.deadline, s.stopDeadline].filter((d): d is number => d != null);
  return ds.length ? Math.min(...ds) : null;
}

const DEPENDENCY_FAILED = "a module it depends on failed";

const isUp = (m: ModuleStatus | undefined) => m !== undefined && (m.state === "running" || m.state === "reloading");

export function step(state: State, input: Input): { state: State; effects: Effect[] } {
  const fx: Effect[] = [];
  let s: State = state;
  const setMod = (m: ModuleStatus) => {
    s = { ...s, modules: { ...s.modules, [m.name]: m } };
  };
  const event = (event: string, data: Record<string, unknown>) => fx.push({ type: "event", event, data });

  const beginStop = (now: number, code: number) => {
    if (s.phase === "stopping" || s.phase === "stopped") return;
    const timeout = s.plan?.stopTimeoutMs ?? 0;
    s = { ...s, phase: "stopping", queued: null, stopDeadline: now + timeout, exitCode: Math.max(s.exitCode, code) };
    event("runtime.stopping", { exitCode: s.exitCode });
  };

  const finishOp = (ok: boolean, error: string | undefined, now: number) => {
    const op = s.op!;
    s = { ...s, op: null };
    const m = s.modules[op.name]!;
    if (op.kind === "stop") {
      setMod({ ...m, state: op.cleanup ? "failed" : "stopped" });
      if (!ok) event("runtime.module", { module: op.name, state: "stopped", error: error ?? "stop failed" });
      else event("runtime.module", { module: op.name, state: op.cleanup ? "failed" : "stopped" });
      if (!ok && s.phase === "stopping") s = { ...s, exitCode: 1 };
      return;
    }
    if (op.kind === "reload") {
      if (ok) {
        setMod({ name: m.name, state: "running", hash: m.hash, after: m.after });
        event("runtime.module", { module: op.name, state: "running", reloaded: true });
      } else {
        const reason = error ?? "reload failed";
        setMod({ name: m.name, state: "running", hash: m.previous ?? m.hash, after: m.after, rejected: m.hash, error: reason });
        event("runtime.module", { module: op.name, state: "running", reloadFailed: reason });
      }
      return;
    }
    // start
    if (ok) {
      setMod({ name: m.name, state: "running", hash: m.hash, after: m.after });
      event("runtime.module", { module: op.name, state: "running" });
      return;
    }
    event("runtime.module", { module: op.name, state: "failed", error: error ?? "start failed" });
    setMod({ ...m, state: "failed", rejected: m.hash, error: error ?? "start failed" });
    if (s.phase === "starting") beginStop(now, 1);
    issue("stop", m.name, now, true);
  };

  const issue = (kind: OpKind, name: string, now: number, cleanup = false) => {
    const m = s.modules[name]!;
    const timeout = kind === "stop" && s.stopDeadline !== null ? Math.max(0, s.stopDeadline - now) : (s.plan?.moduleTimeoutMs ?? 0);
    s = { ...s, op: { id: s.nextOp, name, kind, deadline: now + timeout, cleanup }, nextOp: s.nextOp + 1 };
    const state: ModuleState = kind === "start" ? "starting" : kind === "reload" ? "reloading" : "stopping";
    setMod({ ...m, state });
    fx.push({ type: kind, op: s.op!.id, name, hash: m.hash });
  };

  const advance = (now: number) => {
    while (s.op === null) {
      if (s.phase === "stopping") {
        const up = orderModules(Object.values(s.modules)).filter((m) => isUp(m));
        const last = up[up.length - 1]?.name;
        if (last !== undefined) {
          issue("stop", last, now);
          return;
        }
        s = { ...s, phase: "stopped", stopDeadline: null };
        event("runtime.stopped", { exitCode: s.exitCode });
        fx.push({ type: "exit", code: s.exitCode });
        return;
      }
      if (s.phase === "stopped" || s.phase === "idle") return;
      if (s.queued) {
        s = adoptPlan(s, s.queued, event);
      }
      const plan = s.plan!;
      const order = orderModules(plan.modules);
      const wanted = new Set(order.map((p) => p.name));
      // 1. Stop what is no longer wanted, dependents first.
      const removed = Object.values(s.modules).filter((m) => !wanted.has(m.name) && isUp(m));
      if (removed.length) {
        const ordered = orderModules(Object.values(s.modules)).filter((m) => removed.includes(m));
        issue("stop", ordered[ordered.length - 1]!.name, now);
        continue;
      }
      let acted = false;
      for (const p of order) {
        const m = s.modules[p.name];
        if (isUp(m) && m!.hash !== p.hash && m!.rejected !== p.hash) {
          setMod({ ...m!, hash: p.hash, after: p.after, previous: m!.hash });
          issue("reload", p.name, now);
          acted = true;
          break;
        }
        const retry = m?.state === "failed" && (m.rejected !== p.hash || m.error === DEPENDENCY_FAILED);
        if ((m === undefined || m.state === "stopped" || retry) && p.after.every((d) => !wanted.has(d) || isUp(s.modules[d]))) {
          setMod({ name: p.name, state: "stopped", hash: p.hash, after: p.after });
          issue("start", p.name, now);
          acted = true;
          break;
        }
        if ((m === undefined || m.state === "stopped") && p.after.some((d) => s.modules[d]?.state === "failed")) {
          setMod({ name: p.name, state: "failed", hash: p.hash, after: p.after, rejected: p.hash, error: DEPENDENCY_FAILED });
          event("runtime.module", { module: p.name, state: "failed", error: DEPENDENCY_FAILED });
        }
      }
      if (acted) continue;
      if (s.phase === "starting") {
        s = { ...s, phase: "running", applying: null };
        event("runtime.running", { config: plan.hash });
      } else if (s.applying !== null) {
        s = { ...s, applying: null };
        event("runtime.reloaded", { config: plan.hash });
      }
      return;
    }
  };

  switch (input.type) {
    case "start":
      if (s.phase !== "idle") return { state, effects: [] };
      s = { ...s, phase: "starting", plan: input.plan };
      event("runtime.starting", { config: input.plan.hash, modules: orderModules(input.plan.modules).map((m) => m.name) });
      break;
    case "reload":
      if (s.phase === "stopping" || s.phase === "stopped" || s.phase === "idle") {
        event("config.reload", { result: "ignored", reason: `node is ${s.phase}` });
        return { state: s, effects: fx };
      }
      s = { ...s, queued: input.plan };
      break;
    case "reload-rejected":
      event("config.reload", { result: "rejected", reason: input.reason });
      return { state: s, effects: fx };
    case "done":
      if (!s.op || s.op.id !== input.op) return { state, effects: [] };
      finishOp(input.ok, input.error, input.now);
      break;
    case "stop":
      if (s.phase === "idle") {
        s = { ...s, phase: "stopped" };
        fx.push({ type: "exit", code: 0 });
        return { state: s, effects: fx };
      }
      beginStop(input.now, 0);
      break;
    case "tick":
      if (s.stopDeadline !== null && input.now >= s.stopDeadline && s.phase === "stopping") {
        const left = Object.values(s.modules).filter((m) => isUp(m) || m.state === "stopping" || m.state === "starting").map((m) => m.name);
        event("runtime.stop-timeout", { abandoned: left });
        const mods = { ...s.modules };
        for (const n of left) mods[n] = { ...mods[n]!, state: "stopped", error: "abandoned at stop timeout" };
        s = { ...s, modules: mods, op: null, exitCode: 1 };
        break;
      }
      if (s.op && input.now >= s.op.deadline) {
        const { kind, name } = s.op;
        event("runtime.module", { module: name, timeout: kind });
        finishOp(false, `${kind} timed out`, input.now);
      }
      break;
  }
  advance(input.now);
  return { state: s, effects: fx };
}

function adoptPlan(s: State, plan: Plan, event: (e: string, d: Record<string, unknown>) => void): State {
  event("config.reload", { result: "applying", from: s.plan?.hash, to: plan.hash });
  const wanted = new Map(plan.modules.map((m) => [m.name, m.hash]));
  const modules: Record<string, ModuleStatus> = {};
  for (const m of Object.values(s.modules)) {
    modules[m.name] = m.rejected !== undefined && wanted.get(m.name) !== m.rejected ? forgetRejected(m) : m;
  }
  return { ...s, plan, queued: null, applying: plan.hash, modules };
}

/**
 * The plan no longer asks for the section that failed (it went back to the
 * old one, moved on, or dropped the module): forget the failure, so that a
 * later plan asking for that section again gets a new attempt. A running
 * module also loses the error, which was about the section it never took.
 */
function forgetRejected(m: ModuleStatus): ModuleStatus {
  const kept: ModuleStatus = { name: m.name, state: m.state, hash: m.hash, after: m.after };
  return isUp(m) || m.error === undefined ? kept : { ...kept, error: m.error };
}
