/**
 * The policy engine: `plan(input)` turns the config and the cluster as it is
 * (membership, quorum, resource states, fail counts, admin moves, `now`) into
 * an ordered transition. Pure: same input, same plan; it reads no clock.
 * The coordinator's shell runs it after every change and hands each action to
 * the node named in it; a fence is performed by the coordinator against it.
 *
 * Rules, in the order they apply:
 *
 * 1. Quorum (no_quorum_policy). Without it, stop: nothing starts and nothing
 *    is fenced; this node stops every group with an exclusive member that it
 *    runs, right to left, and leaves the rest alone (Pacemaker's
 *    no-quorum-policy=stop). freeze: it monitors what runs and acts on
 *    nothing. Either way it plans nothing for other nodes. ignore: the rules
 *    below apply as if it were quorate.
 * 2. Fencing (when configured). A node is fenced first when it was lost
 *    uncleanly with any resource not known stopped there, when a stop failed
 *    there, or when a monitor failed there with on_fail=fence. A fence that
 *    already failed on a node still gone is not repeated here (the shell
 *    retries within its budget by resetting the node's fence state) and
 *    nothing that may run on that node is started elsewhere. A node fenced
 *    and still gone runs nothing; one back in the membership is judged by
 *    the states it reports.
 * 3. Where a resource may be active. On an up node: started, failed-start,
 *    failed-monitor (a stop makes it safe), failed-stop (blocked), unknown (a
 *    probe, a monitor with interval 0, runs on that node first). On a node that
 *    left cleanly: only failed-stop counts. On an unclean node: anything not
 *    stopped; without fencing, the quorum that this node holds is taken as the
 *    proof that the lost node lost its own and stopped its exclusive resources
 *    (rule 1 on that node), except failed-stop, which stays blocked. A
 *    non-exclusive resource counts only on up nodes: running it twice while
 *    a lost node is fenced does no harm, so its start waits for no fence.
 *    Nor is a member of a clone that may run on every node (no clone_max
 *    below the node count, see exclusiveResources): no node takes another's
 *    instance over, so it needs no fence, and a node without quorum keeps it.
 * 4. Held groups. A group does nothing but its monitors while one of its
 *    members is blocked (failed stop without fencing, with on_fail_stop=block
 *    or with a failed fence, on_fail=block, on_fail=fence without fencing,
 *    gone with a node in maintenance), is in an unknown state (a
 *    probe, or the coordinator's start or stop under way), or while a
 *    group it is colocated with or ordered after is held, or the constraints
 *    between groups loop through an order (each would wait for itself).
 * 5. Placement, groups taken so that each comes after the groups it is
 *    colocated with and ordered after; a loop of colocations alone is placed
 *    from its first group in config order, the others following it (planned
 *    again with that group held or stopped when they cannot keep its
 *    colocations). A node can run a group when it is up,
 *    not in standby, not fenced or being fenced, not banned by a location of
 *    -INFINITY, and no member's failures ban it: a start failure, or as many
 *    failures as migration_threshold (one, with on_fail=move), not yet expired
 *    (failure_timeout after the last one; all of a node's failures for a
 *    resource expire together); with placement utilization or balanced, when
 *    its capacity left holds the group's utilization. As in Pacemaker, a
 *    group runs its members in order up to the first that cannot run on its
 *    node, and goes to the nodes that run the most of them; all_or_nothing
 *    (Heartbeat's haresources) refuses a node that cannot run every member.
 *    "A with B" at INFINITY: only B's node (a clone's: a node with an
 *    instance); at -INFINITY: never B's node; at a finite score: that score
 *    on B's node. "A before B": B only while A runs somewhere. An unexpired
 *    move to a node that can run the most of the group wins; an expired one
 *    is ignored.
 *    Otherwise the highest score: locations (on a node, or on nodes whose
 *    attributes pass a rule), the preferred node's bonus, stickiness where it
 *    runs now, finite colocations; and the scores of the groups not yet placed
 *    that are colocated with it at INFINITY (added: a chain goes where all of
 *    it can run, unless none can) or at -INFINITY (taken away). Ties go to
 *    where it runs, then (balanced) to the most capacity left, then to the
 *    node running the fewest resources, then to the node listed first. A
 *    clone is placed on up to clone_max nodes, one instance each, ranked by
 *    the members each can run, a move's node, then as a group's node is
 *    (its own scores: the groups colocated with it do not weigh on where its
 *    instances go); an interleaved clone ordered after a clone only where
 *    that clone has an instance.
 * 6. Actions. Members start left to right on the chosen node, each after the
 *    previous one, and stop right to left on each node. A group already
 *    running there keeps its healthy leading members and restarts from the
 *    first member that is stopped, failed, or active on another node too (so a
 *    resource found active on two nodes is stopped on both and started on the
 *    chosen one). A start waits for every stop of its group, and for the
 *    fence of any node where its resource may be active. A member that is
 *    not symmetrical (Pacemaker's symmetrical=false) stops after those after
 *    it, but those before it stop without waiting for it, and of its stops
 *    only its own start waits for them (a director: the address goes first);
 *    its stop under way where nothing else of its group may be active holds
 *    only its own start (after its probe), not its group. "A before B": B's
 *    first start waits for A's last start, A's stops wait for B's, and B
 *    restarts whenever A stops a member, or when A starts while B was found
 *    running and A ran nowhere (a further instance of a clone A starting
 *    restarts nothing). Against a clone, each of these holds
 *    for every instance, or, B an interleaved clone after clone A, for the
 *    instances on the same node only. Every member planned to run gets a
 *    recurring monitor (after its start, if any); the executor schedules it.
 *
 * 7. Promotable clones (see roles below): once a clone's instances are
 *    placed, up to promoted_max are promoted, demoted before a stop, promoted
 *    after a start and after every demote, failed instance's stop and fence
 *    that may leave the role twice. "A with B" at role promoted, "B promote
 *    before A" (firstAction): A follows B's promoted instances, and waits (to
 *    start) for its promotes and (to stop B) stops before its demotes.
 *    A group's stops (or demotes) wait while a group ordered after it is held
 *    (what goes on running stays monitored);
 *    a group with it at INFINITY then waits to start where its start (or, with
 *    role promoted, its promote) waits, as Pacemaker blocks the starts of a
 *    mandatory colocation's dependents when the primary's cannot run.
 *
 * A failed monitor with on_fail=restart is a stop and start in place; the
 * executor counts the failure, so migration_threshold moves the group once
 * reached. Each operation has its on_fail (on_fail for the monitor,
 * on_fail_start, on_fail_stop): ignore takes the operation as done (a failed
 * monitor or start as started, a failed stop as stopped) and is never
 * counted; block holds the group; fence fences the node (held without
 * fencing); standby refuses the node to every group while the failure lasts;
 * stop, like a fatal OCF error (6) and like a disabled member, stops the
 * member everywhere, with those after it (those before it run, as in a
 * Pacemaker group, or in each instance of a clone; where the group goes is
 * weighed on those before it only; an all_or_nothing group stops whole); a
 * hard OCF error (2 to 5) bans the node for it.
 *
 * Maintenance (of the cluster, a node, a group or resource) is applied last:
 * every start, stop and fence in its scope, and every action waiting for one,
 * is left out and noted; monitors and probes stay. A node gone while in
 * maintenance (as goneMaintenance says) stopped nothing: what it may run is
 * blocked there (rule 3), not taken as stopped on quorum alone.
 */
import {
  INFINITY,
  MINUS_INFINITY,
  PREFERRED_SCORE,
  type Action,
  type AttributeTest,
  type AttributeValue,
  type ClusterConfig,
  type ClusterInput,
  type CloneDef,
  type FailedOp,
  type FailRecord,
  type GroupDef,
  type LocationPref,
  type NodeState,
  type OnFail,
  type Order,
  type Plan,
  type ResourceDef,
  type ResourceState,
  type Role,
} from "./model.ts";

/** The on_fail that applies to a failed operation, and the config key it is read from. */
export function onFailOf(d: ResourceDef, op: FailedOp): OnFail | ResourceDef["onFailStop"] {
  return op === "start" ? d.onFailStart : op === "stop" ? d.onFailStop : d.onFail;
}

export const ON_FAIL_KEY: Readonly<Record<FailedOp, string>> = { start: "on_fail_start", stop: "on_fail_stop", monitor: "on_fail", promote: "on_fail", demote: "on_fail" };

/** The operation whose failure left a resource in this state, or null. */
function failedOpOf(s: ResourceState): FailedOp | null {
  return s === "failed-start" ? "start" : s === "failed-stop" ? "stop" : s === "failed-monitor" ? "monitor" : null;
}

/** A failure record's last failed operation (records from before per-operation on_fail name none). */
function recordOp(f: FailRecord): FailedOp {
  return f.op ?? (f.startFailed ? "start" : "monitor");
}

/**
 * A failed operation taken as if it had succeeded (on_fail=ignore for it): a
 * failed monitor or start is running, a failed stop is stopped.
 */
export function effectiveState(d: ResourceDef | undefined, s: ResourceState): ResourceState {
  const op = failedOpOf(s);
  if (!d || !op || onFailOf(d, op) !== "ignore") return s;
  return op === "stop" ? "stopped" : "started";
}

/**
 * Whether the manager leaves a resource alone on a node (maintenance of the
 * cluster, the node, the resource or its group); a fence (no resource): of
 * the cluster or the node.
 */
export function inMaintenance(input: Pick<ClusterInput, "maintenance" | "config">, resource: string | undefined, node: string): boolean {
  const m = input.maintenance;
  if (!m) return false;
  if (m.cluster || m.nodes.includes(node)) return true;
  if (resource === undefined) return false;
  return m.resources.includes(resource) || input.config.groups.some((g) => m.resources.includes(g.name) && g.members.includes(resource));
}

type Risk = "none" | "stoppable" | "probe" | "fence" | "blocked";

interface GroupPlan {
  /** Where it runs or is to run: its node, or the nodes of a clone's instances (config order); empty when it stops. */
  nodes: string[];
  held: boolean;
  stops: string[];
  starts: string[];
  /** A promotable clone: the nodes of its instances promoted once done, and the promotes and demotes planned. */
  promoted?: string[];
  promotes?: string[];
  demotes?: string[];
}

/** A node that can run a group: how many of its members from the first, why the next cannot, its score. */
interface Candidate {
  node: string;
  count: number;
  why: string | null;
  score: number;
}

/** Where a group (or one instance of a clone) is to run, and how many of its members. */
type Placed = Pick<Candidate, "node" | "count">;

const ACTIVE: ReadonlySet<ResourceState> = new Set(["started", "promoted", "failed-start", "failed-monitor"]);

/** Running healthy, in either role of a promotable clone. */
export function running(s: ResourceState): boolean {
  return s === "started" || s === "promoted";
}

/** The member of each promotable clone (it has one), by name. */
export function promotableMembers(config: ClusterConfig): Set<string> {
  return new Set(config.groups.filter((g) => g.clone?.promotable).map((g) => g.members[0]!));
}

function addScore(a: number, b: number): number {
  if (a <= MINUS_INFINITY || b <= MINUS_INFINITY) return MINUS_INFINITY;
  return Math.min(INFINITY, a + b);
}

/**
 * The resources the policy treats as exclusive: those so declared, but for the
 * members of a clone whose instances cannot outnumber the nodes (no clone_max
 * below their count). Such a clone runs its own instance on each node, and no
 * node ever takes another's over: a lost node's instance needs no fence, and a
 * node without quorum keeps its own.
 */
export function exclusiveResources(config: ClusterConfig, nodeCount: number): Set<string> {
  const everywhere = new Set(config.groups.filter((g) => g.clone && (g.clone.max === null || g.clone.max >= nodeCount)).flatMap((g) => g.members));
  return new Set(config.resources.filter((r) => r.exclusive && !everywhere.has(r.name)).map((r) => r.name));
}

export function plan(input: ClusterInput): Plan {
  const verdicts = new Map<string, LoopVerdict>();
  for (;;) {
    const out = planWith(input, verdicts);
    if (!out.broken) return out.plan;
    verdicts.set(out.broken.group, out.broken.verdict);
  }
}

/**
 * A colocation loop's first group, planned again when the groups it is
 * colocated with in the loop are held (it is held too, as any group whose
 * target is held) or could not keep its colocations (it stops: the loop cannot
 * all run together, and the rest is placed without it).
 */
type LoopVerdict = "hold" | "stop";

function planWith(input: ClusterInput, verdicts: ReadonlyMap<string, LoopVerdict>): { plan: Plan; broken: { group: string; verdict: LoopVerdict } | null } {
  const { config } = input;
  const exclusive = exclusiveResources(config, input.nodes.length);
  const resources = new Map(config.resources.map((r) => [r.name, { ...r, exclusive: exclusive.has(r.name) }] as const));
  const groups = new Map(config.groups.map((g) => [g.name, g] as const));
  const nodes = input.nodes;
  const notes: string[] = [];
  const note = (text: string): void => {
    if (!notes.includes(text)) notes.push(text);
  };
  const actions = new Map<string, Action>();
  const add = (a: Action): string => {
    if (!actions.has(a.id)) actions.set(a.id, { ...a, after: [...a.after] });
    return a.id;
  };
  const depend = (id: string, on: readonly string[]): void => {
    const a = actions.get(id);
    if (a) for (const d of on) if (d !== id && !a.after.includes(d)) a.after.push(d);
  };
  const raw = (r: string, n: string): ResourceState => input.states[r]?.[n] ?? "unknown";
  const state = (r: string, n: string): ResourceState => effectiveState(resources.get(r), raw(r, n));
  const def = (r: string): ResourceDef => {
    const d = resources.get(r);
    if (!d) throw new Error(`group member ${r} has no resource definition`);
    return d;
  };
  const goneInMaintenance = (r: string, n: string): boolean => inMaintenance({ config, maintenance: input.goneMaintenance ?? input.maintenance }, r, n);
  const finish = (placement: Plan["placement"] = {}): { plan: Plan; broken: null } => ({ plan: { actions: managedOnly(input, ordered(actions), note), notes, placement }, broken: null });

  if (!input.quorum) {
    const policy = config.noQuorumPolicy ?? "stop";
    if (policy !== "ignore") {
      planWithoutQuorum(input, policy, def, state, add, depend, note);
      return finish();
    }
    note(`no quorum: acting as if quorate (no_quorum_policy=ignore): another partition may run the same resources`);
  }

  // Rule 2: fences.
  const fencing = new Set<string>();
  for (const n of nodes) {
    const gone = n.membership !== "up";
    if (gone && n.fence === "failed") {
      note(`fencing ${n.name} failed: nothing that may still run there is started elsewhere until it is fenced or confirmed down`);
      continue;
    }
    if (!config.fencing || (gone && n.fence === "fenced")) continue;
    const why = fenceReason(n, [...resources.values()], config.groups, state, (r) => !inMaintenance(input, r, n.name));
    if (why) {
      fencing.add(n.name);
      add({ id: `fence:${n.name}`, kind: "fence", node: n.name, after: [], reason: why });
    }
  }

  // Rule 3: where each resource may be active.
  const risk = (r: string, n: NodeState): Risk => {
    const s = state(r, n.name);
    if (!def(r).exclusive && (fencing.has(n.name) || n.membership !== "up")) return "none";
    if (fencing.has(n.name)) return s === "stopped" ? "none" : "fence";
    if (n.fence === "fenced" && n.membership !== "up") return "none";
    // A node gone while it was in maintenance for r stopped nothing of r, whatever it said or lost: only a fence proves it stopped.
    if (n.membership !== "up" && s !== "stopped" && goneInMaintenance(r, n.name)) return "blocked";
    switch (n.membership) {
      case "up":
        if (s === "stopped") return "none";
        if (s === "unknown") return "probe";
        if (s === "failed-stop") return "blocked";
        return "stoppable";
      case "leaving":
      case "down":
        return s === "failed-stop" ? "blocked" : "none";
      case "unclean":
        if (s === "stopped") return "none";
        return n.fence === "failed" || s === "failed-stop" ? "blocked" : "none";
    }
  };

  const groupPlans = new Map<string, GroupPlan>();
  const placement = config.placement ?? "default";
  const order = groupOrder(config);
  if (order.looped.length > 0) note(`the constraints between ${order.looped.map((g) => g.name).join(", ")} loop: those groups are held`);
  for (const g of order.sorted) {
    const loop = order.loops.get(g.name);
    if (loop) note(`the colocations between ${[...loop].join(", ")} loop: ${g.name} is placed first, weighing the others`);
    groupPlans.set(g.name, planGroup(g));
  }
  for (const g of order.looped) {
    groupPlans.set(g.name, hold(g, []));
  }
  for (const [root, loop] of order.loops) {
    const mine = groupPlans.get(root)!;
    if (mine.held || mine.nodes.length === 0) continue;
    for (const c of config.colocations) {
      if (c.group !== root || c.withGroup === root || !loop.has(c.withGroup)) continue;
      const theirs = groupPlans.get(c.withGroup)!;
      if (theirs.held) return { plan: { actions: [], notes: [], placement: {} }, broken: { group: root, verdict: "hold" } };
      const there = nodesOf(c.withGroup, c.withRole);
      const kept = c.score >= INFINITY ? mine.nodes.every((n) => there.includes(n)) : c.score <= MINUS_INFINITY ? !mine.nodes.some((n) => there.includes(n)) : true;
      if (!kept) return { plan: { actions: [], notes: [], placement: {} }, broken: { group: root, verdict: "stop" } };
    }
  }

  for (const o of config.orders) {
    const first = groupPlans.get(o.first);
    const then = groupPlans.get(o.then);
    if (!first || !then) continue;
    // Interleaved, an instance of `then` waits for the instance of `first` on its own node only.
    const local = interleaved(o.first, o.then);
    const sameNode = (a: string, b: string) => !local || nodeOf(a) === nodeOf(b);
    // After promote: then stops before a demote (a promoted instance's stop comes after its demote) and starts after a promote.
    const { stops: firstStops, starts: firstStarts } = orderedActions(first, o);
    for (const s of firstStops) depend(s, then.stops.filter((t) => sameNode(s, t)));
    // "then" found running while "first" was not: it stops before "first" starts (when "first" stops too, its starts already wait).
    if (firstStops.length === 0) for (const s of chainEnds(firstStarts, "first")) depend(s, then.stops.filter((t) => sameNode(s, t)));
    const lastStarts = chainEnds(firstStarts, "last");
    for (const firstStart of chainEnds(then.starts, "first")) depend(firstStart, lastStarts.filter((l) => sameNode(l, firstStart)));
  }
  // A held group may still run what it ran (a stop under way is unknown until it answers): the stops (or demotes) of
  // a group it is ordered after wait for it, as they would wait for its stops.
  /** The actions taken out of the plan below (`withdraw`), by id. */
  const withdrawn = new Map<string, Action>();
  for (const o of config.orders) {
    const first = groupPlans.get(o.first);
    if (!first || !groupPlans.get(o.then)?.held) continue;
    const waiting = orderedActions(first, o).stops.filter((id) => actions.has(id));
    if (waiting.length > 0) note(`${o.first} waits to stop: ${o.then}, ordered after it, is held`);
    // What goes on running meanwhile stays monitored, as a held group's members are.
    for (const a of withdraw(waiting)) if ((a.kind === "stop" || a.kind === "demote") && running(state(a.resource!, a.node))) monitor(a.resource!, a.node, []);
  }
  // "A with B" at INFINITY: where B's start (with role promoted, its promote) waits, so do A's starts there, or A
  // would run without B for as long as B waits (Pacemaker blocks the starts of a mandatory colocation's dependents
  // when the primary's start cannot run). A chain follows to its end.
  for (let more = true; more; ) {
    more = false;
    for (const c of config.colocations) {
      const primary = groupPlans.get(c.withGroup);
      const dependent = groupPlans.get(c.group);
      if (c.score < INFINITY || c.group === c.withGroup || !primary || !dependent) continue;
      const awaited = c.withRole === "promoted" ? [...primary.starts, ...(primary.promotes ?? [])] : primary.starts;
      for (const n of new Set(awaited.flatMap((id) => withdrawn.get(id)?.node ?? []))) {
        const waiting = dependent.starts.filter((id) => actions.has(id) && nodeOf(id) === n);
        if (waiting.length === 0) continue;
        note(`${c.group} waits to start on ${n}: ${c.withGroup}, which it runs with, cannot ${c.withRole === "promoted" ? "be promoted" : "start"} there yet`);
        withdraw(waiting);
        more = true;
      }
    }
  }
  const promoted = Object.fromEntries(config.groups.filter((g) => g.clone?.promotable).map((g) => [g.name, nodesOf(g.name, "promoted")]));
  const out = finish(Object.fromEntries(config.groups.map((g) => [g.name, nodesOf(g.name)])));
  if (Object.keys(promoted).length > 0) out.plan.promoted = promoted;
  return out;

  /** Takes actions out of the plan, with every action that waits for one of them; those taken out. */
  function withdraw(ids: readonly string[]): Action[] {
    const gone = new Set(ids);
    for (let more = true; more; ) {
      more = false;
      for (const a of actions.values()) if (!gone.has(a.id) && a.after.some((d) => gone.has(d))) gone.add(a.id), (more = true);
    }
    const taken = [...gone].map((id) => actions.get(id)!);
    for (const a of taken) withdrawn.set(a.id, a), actions.delete(a.id);
    return taken;
  }

  /**
   * What an order waits for of its first group: stops and starts, or (after promote) demotes and promotes, and
   * the stops of failed instances, which may be promoted still.
   */
  function orderedActions(first: GroupPlan, o: Order): { stops: string[]; starts: string[] } {
    if (o.firstAction !== "promote") return first;
    return { stops: [...(first.demotes ?? []), ...first.stops.filter(mayBePromoted)], starts: first.promotes ?? [] };
  }

  /** Whether a stop is of an instance that may be promoted and is not demoted first: failed (a promoted one is demoted before). */
  function mayBePromoted(stopId: string): boolean {
    const a = actions.get(stopId)!;
    const s = state(a.resource!, a.node);
    return s !== "started" && s !== "promoted";
  }

  /** Where a group runs or is to run, as planned so far: one node, a clone's several, or none; with a role, its promoted instances'. */
  function nodesOf(group: string, role?: Role): string[] {
    const p = groupPlans.get(group);
    return (role === "promoted" ? p?.promoted : p?.nodes) ?? [];
  }

  function nodeOf(actionId: string): string {
    return actions.get(actionId)!.node;
  }

  /** Of a group's starts (a chain per node, each start after the one before it), the first or last of each chain. */
  function chainEnds(starts: readonly string[], end: "first" | "last"): string[] {
    const byNode = new Map<string, string>();
    for (const id of starts) if (end === "last" || !byNode.has(nodeOf(id))) byNode.set(nodeOf(id), id);
    return [...byNode.values()];
  }

  /** "first before then" between two clones, `then` interleaved: each instance of `then` follows the one of `first` on its node. */
  function interleaved(first: string, then: string): boolean {
    return groups.get(first)?.clone !== undefined && groups.get(then)?.clone?.interleave === true;
  }

  /** A member's failure records not expired, and its failed states on nodes up: where and which operation failed, how badly. */
  function failuresOf(r: string): Array<{ node: string; op: FailedOp; error: string }> {
    const d = def(r);
    const out = input.failures
      .filter((f) => f.resource === r && (d.failureTimeoutMs === null || input.now < f.lastFailedAt + d.failureTimeoutMs))
      .map((f) => ({ node: f.node, op: recordOp(f), error: f.error ?? "soft" }));
    for (const n of nodes) {
      const op = failedOpOf(raw(r, n.name));
      if (op && n.membership === "up" && !out.some((f) => f.node === n.name && f.op === op)) out.push({ node: n.name, op, error: "soft" });
    }
    return out;
  }

  /** Why a member may run nowhere: disabled, a fatal error, on_fail=stop; null if it may run. */
  function stoppedEverywhere(r: string): string | null {
    if (input.disabled?.includes(r)) return `${r} is disabled`;
    for (const f of failuresOf(r)) {
      if (f.error === "fatal") return `${r} failed on ${f.node} with a fatal error (not configured): stopped everywhere until cleanup`;
      if (onFailOf(def(r), f.op) === "stop") return `the ${f.op} of ${r} failed on ${f.node} (${ON_FAIL_KEY[f.op]}=stop): stopped until cleanup`;
    }
    return null;
  }

  /**
   * The members of g from `at` on may run nowhere (why): g is disabled, or the
   * first of them is disabled or failed fatally or with on_fail=stop; with
   * all_or_nothing, then none of g runs. Null when every member may run.
   */
  function limitOf(g: GroupDef): { at: number; why: string } | null {
    if (input.disabled?.includes(g.name)) return { at: 0, why: `${g.name} is disabled` };
    const at = g.members.findIndex((r) => stoppedEverywhere(r) !== null);
    if (at < 0) return null;
    const why = stoppedEverywhere(g.members[at]!)!;
    return g.allOrNothing && at > 0 ? { at: 0, why: `${why}, and ${g.name} runs all or nothing` } : { at, why };
  }

  function hold(g: GroupDef, why: string[]): GroupPlan {
    for (const w of why) note(w);
    const where = new Set<string>();
    for (const r of g.members) {
      for (const n of nodes) {
        const s = state(r, n.name);
        if (n.membership !== "up" || fencing.has(n.name)) continue;
        if (running(s)) {
          where.add(n.name);
          monitor(r, n.name, []);
        }
      }
    }
    const runs = g.clone ? nodes.map((n) => n.name).filter((n) => where.has(n)) : [...where].slice(0, 1);
    const promoted = g.clone?.promotable ? nodes.filter((n) => n.membership === "up" && state(g.members[0]!, n.name) === "promoted").map((n) => n.name) : undefined;
    return { nodes: runs, held: true, stops: [], starts: [], ...(promoted ? { promoted, promotes: [], demotes: [] } : {}) };
  }

  function monitor(r: string, n: string, after: string[]): void {
    const d = def(r);
    if (d.monitorIntervalMs === 0) return;
    add({ id: `monitor:${r}@${n}`, kind: "monitor", resource: r, node: n, intervalMs: d.monitorIntervalMs, timeoutMs: d.monitorTimeoutMs, after, reason: `${r} runs on ${n}` });
  }

  function planGroup(g: GroupDef): GroupPlan {
    const why: string[] = [];
    let probing = false;
    const unfenced = new Map<string, string[]>();
    const unmanaged = new Map<string, string[]>();
    for (const r of g.members) {
      const d = def(r);
      for (const n of nodes) {
        const k = risk(r, n);
        if (k === "blocked" && n.membership !== "up" && goneInMaintenance(r, n.name) && n.fence !== "failed") {
          unmanaged.set(n.name, [...(unmanaged.get(n.name) ?? []), r]);
        } else if (k === "blocked" && n.fence === "failed") {
          unfenced.set(n.name, [...(unfenced.get(n.name) ?? []), r]);
        } else if (k === "blocked") {
          const by = d.onFailStop === "block" ? "on_fail_stop=block" : "fencing is not configured";
          why.push(`${g.name} is blocked: ${r} failed to stop on ${n.name} and ${by}; stop it by hand, then clean it up`);
        } else if (k === "probe") {
          // A member after the first that is not symmetrical, unknown (its stop under way) where nothing else of its group (not a clone) may be active, holds only its own start (act).
          const own = d.symmetrical === false && !g.clone && r !== g.members[0] && g.members.every((m) => m === r || risk(m, n) === "none");
          if (!own) probing = true;
          add({ id: `probe:${r}@${n.name}`, kind: "monitor", resource: r, node: n.name, intervalMs: 0, timeoutMs: d.monitorTimeoutMs, after: [], reason: `state of ${r} on ${n.name} is unknown` });
        }
        const op = n.membership === "up" ? failedOpOf(raw(r, n.name)) : null;
        if (op === null) continue;
        const onFail = onFailOf(d, op);
        const key = `${ON_FAIL_KEY[op]}=${onFail}`;
        if (onFail === "ignore") note(`the ${op} of ${r} failed on ${n.name}: ignored (${key})`);
        else if (op === "stop") continue;
        else if (onFail === "block") why.push(`${g.name} is blocked: the ${op} of ${r} failed on ${n.name} (${key}); clean it up when fixed`);
        else if (onFail === "fence" && !config.fencing) why.push(`${g.name} is blocked: the ${op} of ${r} failed on ${n.name} (${key}) and fencing is not configured`);
      }
    }
    for (const [n, rs] of unfenced) why.push(`${g.name} is blocked: ${rs.join(", ")} may still run on ${n}, whose fencing failed`);
    for (const [n, rs] of unmanaged) why.push(`${g.name} is held: ${rs.join(", ")} may still run on ${n}, gone while in maintenance; bring it back, or fence it once maintenance ends`);
    if (probing) why.push(`${g.name} waits for the state of its members (a probe, or a start or stop under way)`);
    const deps = [
      ...config.colocations.filter((c) => c.group === g.name && c.withGroup !== g.name).map((c) => c.withGroup),
      ...config.orders.filter((o) => o.then === g.name).map((o) => o.first),
    ];
    for (const dep of deps) if (groupPlans.get(dep)?.held) why.push(`${g.name} waits: ${dep}, which it depends on, is held`);
    if (verdicts.get(g.name) === "hold") why.push(`${g.name} waits: a group of its colocation loop is held`);
    if (why.length > 0) return hold(g, why);

    const limit = limitOf(g);
    if (limit?.at === 0) {
      note(`${g.name} is stopped: ${limit.why}`);
      return roles(g, act(g, [], limit));
    }
    if (limit) note(`${g.name} runs up to ${g.members[limit.at - 1]}: ${limit.why}`);
    if (g.clone) return roles(g, planClone(g, g.clone, limit));
    const target = place(g);
    return act(g, target ? [target] : [], limit);
  }

  function activeNodes(r: string): string[] {
    return nodes.filter((n) => risk(r, n) === "stoppable").map((n) => n.name);
  }

  /**
   * Whether g cannot run now wherever it goes, noted why: its colocation loop
   * cannot all be kept, or a group it runs with or starts after runs nowhere.
   */
  function targetsMissing(g: GroupDef): boolean {
    if (verdicts.get(g.name) === "stop") {
      note(`the colocations between ${[...order.loops.get(g.name)!].join(", ")} cannot all be kept: ${g.name} stops`);
      return true;
    }
    for (const c of config.colocations) {
      if (c.group !== g.name || c.score < INFINITY || !groupPlans.has(c.withGroup)) continue;
      if (nodesOf(c.withGroup, c.withRole).length === 0) {
        note(`${g.name} runs with ${c.withRole === "promoted" ? `the promoted instance of ${c.withGroup}, which is promoted nowhere` : `${c.withGroup}, which is not running`}: ${g.name} stops`);
        return true;
      }
    }
    for (const o of config.orders.filter((o) => o.then === g.name)) {
      if (nodesOf(o.first, roleOf(o)).length === 0) {
        note(`${g.name} starts after ${o.firstAction === "promote" ? `the promotion of ${o.first}, which is promoted nowhere` : `${o.first}, which is not running`}: ${g.name} stops`);
        return true;
      }
    }
    return false;
  }

  /** An unexpired move of g to one of the nodes given; moves expired, or to a node not given, are noted. */
  function movedTo(g: GroupDef, able: readonly string[]): string | null {
    for (const m of input.moves.filter((m) => m.group === g.name)) {
      if (m.until !== null && m.until <= input.now) {
        note(`the move of ${g.name} to ${m.node} expired: ignored`);
      } else if (able.includes(m.node)) {
        return m.node;
      } else {
        note(`${g.name} is moved to ${m.node}, which cannot run it now: placed by its scores`);
      }
    }
    return null;
  }

  function place(g: GroupDef): Placed | null {
    const running = new Set(g.members.flatMap(activeNodes));
    if (targetsMissing(g)) return null;
    const own = ownScores(g);
    const joined: GroupDef[] = [];
    let scores = withDependents(g, own.scores, order.loops.get(g.name) ?? new Set(), new Set([g.name]), joined);
    if (placement !== "default" && joined.length > 0) {
      // The chain must fit together where it goes (Pacemaker weighs colocated utilization), unless it fits nowhere.
      const chain = new Set([g.name, ...joined.map((x) => x.name)]);
      const members = [g, ...joined].flatMap((x) => x.members);
      const roomy = new Map([...scores].map(([n, v]) => [n, v > MINUS_INFINITY && shortage(members, n, chain) ? MINUS_INFINITY : v] as const));
      if ([...roomy.values()].some((v) => v > MINUS_INFINITY)) scores = roomy;
    }
    const refused = [...own.refused];
    const candidates: Candidate[] = [];
    for (const n of nodes) {
      const score = scores.get(n.name)!;
      if (score > MINUS_INFINITY) candidates.push({ node: n.name, score, ...own.counts.get(n.name)! });
      else if (own.scores.get(n.name)! > MINUS_INFINITY) refused.push(`${n.name}: a group colocated with ${g.name} cannot run there`);
    }
    // Where the most of its members can run (Pacemaker: a member's ban weighs on those before it, unless no node is left).
    const most = Math.max(0, ...candidates.map((c) => c.count));
    const whole = candidates.filter((c) => c.count === most);
    const moved = movedTo(g, whole.map((c) => c.node));
    let best: Candidate | null = whole.find((c) => c.node === moved) ?? null;
    if (!best) for (const c of whole) if (!best || better(g, c, best, running)) best = c;
    if (!best) note(`${g.name} cannot run anywhere (${refused.join("; ")})`);
    else notePartial(g, best);
    return best;
  }

  /**
   * A clone: an instance on each node that can run it, up to clone_max; the
   * nodes ranked by the members each can run, a move's node first, then as a
   * group's node is (better), on the clone's own scores.
   */
  function planClone(g: GroupDef, clone: CloneDef, limit: { at: number; why: string } | null): GroupPlan {
    if (targetsMissing(g)) return act(g, [], limit);
    const running = new Set(g.members.flatMap(activeNodes));
    const own = ownScores(g);
    const candidates = nodes.filter((n) => own.scores.get(n.name)! > MINUS_INFINITY).map((n): Candidate => ({ node: n.name, score: own.scores.get(n.name)!, ...own.counts.get(n.name)! }));
    const moved = movedTo(g, candidates.map((c) => c.node));
    const rank = (a: Candidate, b: Candidate): number => {
      if (a.count !== b.count) return b.count - a.count;
      if ((a.node === moved) !== (b.node === moved)) return a.node === moved ? -1 : 1;
      return better(g, a, b, running) ? -1 : better(g, b, a, running) ? 1 : 0;
    };
    const max = clone.max ?? nodes.length;
    const chosen = new Set(candidates.toSorted(rank).slice(0, max));
    if (chosen.size === 0) note(`${g.name} cannot run anywhere (${own.refused.join("; ")})`);
    else if (chosen.size < max && own.refused.length > 0) note(`${g.name} runs ${chosen.size} of ${max} instances (${own.refused.join("; ")})`);
    for (const c of chosen) notePartial(g, c);
    return act(g, candidates.filter((c) => chosen.has(c)), limit);
  }

  /**
   * A promotable clone's roles, once its instances are planned (gp): up to promoted_max of the nodes where an
   * instance is to run are promoted, ranked by an unexpired move (of the clone, or of a group with its promoted
   * instance), then by the agent's promotion score there, stickiness where it is promoted
   * now, and the scores of the groups colocated with its promoted instances (so that they can run there too); ties:
   * where it is promoted now, then config order. A node whose promote failed (until the failure expires) or whose
   * agent reports -INFINITY is never chosen. An instance promoted and not chosen, or to be stopped, is demoted
   * first (before its stop). A promotion waits for every demote and every stop elsewhere of an instance that may be
 * promoted (not known unpromoted), and for the
   * fence of a lost node that may hold it promoted; it is not planned at all while such a node cannot be fenced
   * (a failed fence, or gone in maintenance). Without fencing, quorum is the proof that a lost node demoted (rule 1).
   */
  function roles(g: GroupDef, gp: GroupPlan): GroupPlan {
    const max = g.clone?.promotable?.promotedMax;
    if (max === undefined) return gp;
    const r = g.members[0]!;
    const up = (n: NodeState) => n.membership === "up" && !fencing.has(n.name);
    const now = nodes.filter((n) => up(n) && state(r, n.name) === "promoted").map((n) => n.name);
    const stopping = new Set(gp.stops.map(nodeOf));
    const fences: string[] = [];
    let blocked: string | null = null;
    for (const n of nodes) {
      const s = state(r, n.name);
      if (up(n) || s === "stopped" || s === "started") continue;
      if (fencing.has(n.name)) fences.push(`fence:${n.name}`);
      else if (n.membership !== "up" && n.fence !== "fenced" && (n.fence === "failed" || s === "failed-stop" || goneInMaintenance(r, n.name))) blocked = n.name;
    }
    const scoreOf = promotionScores(g, r, gp.nodes, now);
    // An unexpired move of the clone (its promoted instance, as crm_resource --move --promoted), or of a group that runs with it, goes first.
    const movers = [g.name, ...config.colocations.filter((c) => c.withGroup === g.name && c.withRole === "promoted" && c.score >= INFINITY).map((c) => c.group)];
    const moved = new Set(input.moves.filter((m) => movers.includes(m.group) && (m.until === null || m.until > input.now)).map((m) => m.node));
    const chosen = gp.nodes
      .filter((n) => scoreOf.get(n)! > MINUS_INFINITY)
      .toSorted((a, b) => Number(moved.has(b)) - Number(moved.has(a)) || scoreOf.get(b)! - scoreOf.get(a)! || Number(now.includes(b)) - Number(now.includes(a)))
      .slice(0, max);
    const keep = now.filter((n) => chosen.includes(n) && !stopping.has(n));
    const demotes: string[] = [];
    for (const n of now) {
      if (keep.includes(n)) continue;
      const id = add({ id: `demote:${r}@${n}`, kind: "demote", resource: r, node: n, after: [], reason: stopping.has(n) ? `${r} stops on ${n}` : `${g.name} is promoted elsewhere` });
      demotes.push(id);
      if (stopping.has(n)) depend(`stop:${r}@${n}`, [id]);
    }
    if (blocked !== null) note(`${g.name} is promoted nowhere new: ${r} may still be promoted on ${blocked}, which cannot be fenced now`);
    const promotes: string[] = [];
    for (const n of blocked === null ? chosen : []) {
      if (keep.includes(n)) continue;
      const start = `start:${r}@${n}`;
      // A failed instance may be promoted still (a failed monitor of a promoted one): the promotion waits for its stop.
      const elsewhere = gp.stops.filter((id) => nodeOf(id) !== n && mayBePromoted(id));
      const id = add({ id: `promote:${r}@${n}`, kind: "promote", resource: r, node: n, after: [...(actions.has(start) ? [start] : []), ...fences, ...demotes, ...elsewhere], reason: `${g.name} is promoted on ${n}` });
      promotes.push(id);
    }
    if (chosen.length === 0 && gp.nodes.length > 0) note(`${g.name} is promoted nowhere: no instance may be promoted (${gp.nodes.map((n) => `${n}: ${promotionRefusal(r, n) ?? "a group colocated with its promoted instance cannot run there"}`).join("; ")})`);
    return { ...gp, promoted: blocked === null ? chosen : keep, promotes, demotes };
  }

  /** Why r's instance on n may not be promoted (a promote failed there, or its agent says never), or null. */
  function promotionRefusal(r: string, n: string): string | null {
    const d = def(r);
    const f = input.failures.find((x) => x.resource === r && x.node === n && x.promoteFailed);
    if (f && (d.failureTimeoutMs === null || input.now < f.lastFailedAt + d.failureTimeoutMs)) return `its promote failed there`;
    if ((input.promotion?.[r]?.[n] ?? 0) <= MINUS_INFINITY) return `its agent's promotion score is -INFINITY`;
    return null;
  }

  /** Each instance node's score for promotion (MINUS_INFINITY: never): see roles. */
  function promotionScores(g: GroupDef, r: string, where: readonly string[], now: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const n of where) {
      // A failed promote keeps a node from being promoted, not from staying so (an operator's promotion since).
      const refused = now.includes(n) ? (input.promotion?.[r]?.[n] ?? 0) <= MINUS_INFINITY : promotionRefusal(r, n) !== null;
      let score = refused ? MINUS_INFINITY : (input.promotion?.[r]?.[n] ?? 0);
      if (now.includes(n)) score = addScore(score, g.stickiness);
      out.set(n, score);
    }
    for (const c of config.colocations) {
      if (c.withGroup !== g.name || c.withRole !== "promoted" || c.group === g.name || (c.score > MINUS_INFINITY && c.score < INFINITY)) continue;
      const d = groups.get(c.group);
      if (!d) continue;
      const theirs = ownScores(d).scores;
      const sum = new Map([...out].map(([n, v]) => [n, c.score >= INFINITY ? addScore(v, theirs.get(n)!) : opposed(v, theirs.get(n)!)] as const));
      if ([...sum.values()].some((v) => v > MINUS_INFINITY)) for (const [n, v] of sum) out.set(n, v);
    }
    return out;
  }

  /** Notes where g runs fewer members than it may anywhere (the members it may run nowhere are noted by planGroup). */
  function notePartial(g: GroupDef, c: Candidate): void {
    if (c.count < (limitOf(g)?.at ?? g.members.length)) note(`${g.name} runs only ${g.members.slice(0, c.count).join(", ")} on ${c.node}: ${c.why}`);
  }

  /**
   * How many of g's members, from the first, can run on n, and why the next
   * cannot; all or nothing, none unless every one can. None runs from the
   * first member that may run nowhere (limitOf) on.
   */
  function runnable(g: GroupDef, n: NodeState): { count: number; why: string | null } {
    const limit = limitOf(g);
    const cut = limit?.at ?? g.members.length;
    for (let j = 0; j < cut; j++) {
      const why = refusal(n, g.members.slice(0, j + 1));
      if (why) return { count: g.allOrNothing ? 0 : j, why };
    }
    return { count: cut, why: limit?.why ?? null };
  }

  /**
   * Of two nodes, whether a is the better for g: the higher score; on a tie,
   * where g runs; then (balanced) the more free capacity; then the fewer
   * resources; then the one listed first (b, as candidates go in config order).
   */
  function better(g: GroupDef, a: { node: string; score: number }, b: { node: string; score: number }, running: ReadonlySet<string>): boolean {
    if (a.score !== b.score) return a.score > b.score;
    if (running.has(a.node) !== running.has(b.node)) return running.has(a.node);
    if (placement === "balanced") {
      const roomier = compareFree(freeCapacity(a.node, new Set([g.name])), freeCapacity(b.node, new Set([g.name])));
      if (roomier !== 0) return roomier > 0;
    }
    return load(a.node, g.name) < load(b.node, g.name);
  }

  /** Groups on node n but those named in except: placed there by this plan, or, not placed yet, running there. */
  function othersOn(n: string, except: ReadonlySet<string>): Array<{ group: GroupDef; members: string[] }> {
    const out: Array<{ group: GroupDef; members: string[] }> = [];
    for (const x of config.groups) {
      if (except.has(x.name)) continue;
      const p = groupPlans.get(x.name);
      const members = p ? (p.nodes.includes(n) ? x.members : []) : x.members.filter((r) => activeNodes(r).includes(n));
      if (members.length > 0) out.push({ group: x, members });
    }
    return out;
  }

  /** How many resources other groups run on n (Pacemaker spreads ties by it). */
  function load(n: string, g: string): number {
    return othersOn(n, new Set([g])).reduce((sum, o) => sum + o.members.length, 0);
  }

  /** What node n has left, by utilization name, once the groups on it but those in except take theirs. */
  function freeCapacity(n: string, except: ReadonlySet<string>): Map<string, number> {
    const free = new Map(Object.entries(nodes.find((x) => x.name === n)?.capacity ?? {}));
    for (const o of othersOn(n, except)) for (const [k, v] of utilizationOf(o.members)) free.set(k, (free.get(k) ?? 0) - v);
    return free;
  }

  /** What the members of the groups in except would lack together on n (a utilization name and the amounts), or null when they fit. */
  function shortage(members: readonly string[], n: string, except: ReadonlySet<string>): string | null {
    const free = freeCapacity(n, except);
    for (const [k, need] of utilizationOf(members)) {
      const has = free.get(k) ?? 0;
      if (has < need) return `${k}: needs ${need}, ${Math.max(0, has)} free`;
    }
    return null;
  }

  function utilizationOf(members: readonly string[]): Map<string, number> {
    const sum = new Map<string, number>();
    for (const r of members) for (const [k, v] of Object.entries(def(r).utilization ?? {})) sum.set(k, (sum.get(k) ?? 0) + v);
    return sum;
  }

  /**
   * g's score on each node by itself: MINUS_INFINITY where it cannot run (and
   * why, in refused); otherwise its locations, the preferred node's bonus,
   * stickiness where it runs, and its colocations with groups already placed.
   * With each node, how many of its members can run there (counts).
   */
  function ownScores(g: GroupDef): { scores: Map<string, number>; refused: string[]; counts: Map<string, Pick<Candidate, "count" | "why">> } {
    const running = new Set(g.members.flatMap(activeNodes));
    const scores = new Map<string, number>();
    const refused: string[] = [];
    const counts = new Map<string, Pick<Candidate, "count" | "why">>();
    for (const n of nodes) {
      const can = runnable(g, n);
      counts.set(n.name, can);
      const no =
        (can.count === 0 ? can.why : null) ??
        (placement === "default" ? null : shortage(g.members.slice(0, can.count), n.name, new Set([g.name]))) ??
        colocationRefusal(g, n.name) ??
        interleaveRefusal(g, n.name);
      let score = 0;
      for (const l of config.locations) if (l.group === g.name && locates(l, n)) score = addScore(score, l.score);
      if (no || score <= MINUS_INFINITY) {
        refused.push(`${n.name}: ${no ?? "location -INFINITY"}`);
        scores.set(n.name, MINUS_INFINITY);
        continue;
      }
      for (const c of config.colocations) if (c.group === g.name && c.score > MINUS_INFINITY && c.score < INFINITY && nodesOf(c.withGroup, c.withRole).includes(n.name)) score = addScore(score, c.score);
      if (g.preferredNode === n.name) score = addScore(score, PREFERRED_SCORE);
      if (running.has(n.name)) score = addScore(score, g.stickiness);
      scores.set(n.name, score);
    }
    return { scores, refused, counts };
  }

  /** An interleaved clone after a clone runs an instance only beside one of that clone's. */
  function interleaveRefusal(g: GroupDef, n: string): string | null {
    const alone = config.orders.find((o) => o.then === g.name && interleaved(o.first, g.name) && !nodesOf(o.first).includes(n));
    return alone ? `no instance of ${alone.first} there (interleave)` : null;
  }

  /**
   * Why g's colocations with groups already placed keep it off n, or null: its
   * own, and in a loop those of the group placed first with g (theirs bind g).
   */
  function colocationRefusal(g: GroupDef, n: string): string | null {
    for (const c of config.colocations) {
      if (c.group === g.name && groupPlans.has(c.withGroup)) {
        const there = nodesOf(c.withGroup, c.withRole).includes(n);
        if (c.score >= INFINITY && !there) return c.withRole === "promoted" ? `${c.withGroup} is promoted elsewhere` : `${c.withGroup} runs elsewhere`;
        if (c.score <= MINUS_INFINITY && there) return `${c.withGroup} runs there (colocation -INFINITY)`;
      } else if (c.withGroup === g.name && c.group !== g.name && order.loops.has(c.group) && nodesOf(c.group).length > 0) {
        const there = nodesOf(c.group).includes(n);
        if (c.score >= INFINITY && !there) return `${c.group}, which runs only with it, runs elsewhere`;
        if (c.score <= MINUS_INFINITY && there) return `${c.group}, which never runs with it, runs there`;
      }
    }
    return null;
  }

  /**
   * scores (g's, by node) weighed with the groups not yet placed that are
   * colocated with g at INFINITY (their scores added: g goes where they can
   * run too) or at -INFINITY (theirs taken away: g keeps off where they would
   * go), each with its own such groups. A group's weight is left out when it
   * would leave g no node, unless it is in g's colocation loop, which runs
   * together or not at all. Finite colocations weigh only on their group.
   * The groups weighed at INFINITY are added to joined.
   */
  function withDependents(g: GroupDef, scores: Map<string, number>, loop: ReadonlySet<string>, seen: Set<string>, joined: GroupDef[]): Map<string, number> {
    let out = scores;
    for (const c of config.colocations) {
      if (c.withGroup !== g.name || seen.has(c.group) || groupPlans.has(c.group) || (c.score > MINUS_INFINITY && c.score < INFINITY)) continue;
      const d = config.groups.find((x) => x.name === c.group);
      if (!d) continue;
      seen.add(d.name);
      const theirJoined: GroupDef[] = [];
      const theirs = withDependents(d, ownScores(d).scores, loop, seen, theirJoined);
      const sum = new Map([...out].map(([n, s]) => [n, c.score >= INFINITY ? addScore(s, theirs.get(n)!) : opposed(s, theirs.get(n)!)] as const));
      if (!loop.has(d.name) && ![...sum.values()].some((v) => v > MINUS_INFINITY)) continue;
      out = sum;
      if (c.score >= INFINITY) joined.push(d, ...theirJoined);
    }
    return out;
  }

  /** Why n cannot run the members given (runnable gives none past those that may run nowhere), or null. */
  function refusal(n: NodeState, members: readonly string[]): string | null {
    if (n.membership !== "up") return n.membership;
    if (fencing.has(n.name)) return "being fenced";
    if (n.standby) return "standby";
    const standbyBy = config.resources.flatMap((d) => failuresOf(d.name).filter((f) => f.node === n.name && onFailOf(d, f.op) === "standby").map((f) => `the ${f.op} of ${d.name} failed there (${ON_FAIL_KEY[f.op]}=standby)`));
    if (standbyBy.length > 0) {
      note(`${n.name} is in standby until cleanup: ${standbyBy[0]}`);
      return `standby: ${standbyBy[0]}`;
    }
    for (const r of members) {
      const d = def(r);
      const s = state(r, n.name);
      if (s === "failed-start") return `${r} failed to start there`;
      if (s === "failed-monitor" && d.onFail === "move") return `the monitor of ${r} failed there (on_fail=move)`;
      const f = input.failures.find((x) => x.resource === r && x.node === n.name);
      if (!f) continue;
      const onFail = onFailOf(d, recordOp(f));
      if (onFail === "ignore") continue;
      const threshold = onFail === "move" ? 1 : d.migrationThreshold;
      const hard = f.error === "hard" || f.error === "fatal";
      const bans = f.startFailed || hard || (threshold !== null && f.count >= threshold);
      if (!bans) continue;
      if (d.failureTimeoutMs !== null && input.now >= f.lastFailedAt + d.failureTimeoutMs) {
        note(`the failures of ${r} on ${n.name} expired: ${n.name} can run it again`);
        continue;
      }
      if (hard) return `${r} failed there with a hard error (ban on that node)`;
      return f.startFailed ? `${r} failed to start there` : `${r} failed ${f.count} times there (migration_threshold ${threshold})`;
    }
    return null;
  }

  /**
   * Why "first before then" restarts `then` on target, or null: first stops a
   * member, or starts while its first member ran nowhere (then was found
   * running without it); on any node, or on target's only when then is an
   * interleaved clone after a clone.
   */
  function restartFor(o: Order, target: string): string | null {
    const { first, then } = o;
    const p = groupPlans.get(first);
    const lead = groups.get(first)?.members[0];
    if (!p || lead === undefined) return null;
    const here = (n: string) => !interleaved(first, then) || n === target;
    const { stops, starts } = orderedActions(p, o);
    const promote = o.firstAction === "promote";
    if (stops.some((id) => here(nodeOf(id)))) return `${first}, which it starts after, ${promote ? "is demoted" : "stops"}`;
    const before = promote ? nodes.filter((n) => n.membership === "up" && state(lead, n.name) === "promoted").map((n) => n.name) : activeNodes(lead);
    if (starts.some((id) => here(nodeOf(id))) && !before.some(here)) return `${first}, which it starts after, ${promote ? "is promoted" : "starts"} (${then} was found running before it)`;
    return null;
  }

  /**
   * The actions that run g where it is placed: on each target node its first
   * `count` members (one node for a group, one per instance for a clone), and
   * nothing anywhere else. `limit`: the members from `at` on may run nowhere
   * (why), and stop with that reason.
   */
  function act(g: GroupDef, targets: readonly Placed[], limit: { at: number; why: string } | null = null): GroupPlan {
    const members = g.members;
    const runnable = limit?.at ?? members.length;
    const firstBad = new Map<string, number>();
    const cause = new Map<string, string>();
    for (const { node: target, count } of targets) {
      const forced = config.orders.filter((o) => o.then === g.name).map((o) => restartFor(o, target)).find((why) => why !== null);
      firstBad.set(target, forced ? 0 : count);
      cause.set(target, forced ?? "");
      if (forced) continue;
      for (let j = 0; j < count; j++) {
        const r = members[j]!;
        const s = state(r, target);
        // A clone's instances run on several nodes by design; a group's, never.
        const elsewhere = g.clone ? [] : activeNodes(r).filter((n) => n !== target);
        const healthy = running(s);
        if (!healthy || elsewhere.length > 0) {
          firstBad.set(target, j);
          if (s === "failed-monitor") cause.set(target, `the monitor of ${r} failed`);
          else if (!healthy) cause.set(target, `${r} is ${s === "failed-start" ? "failed to start" : s} there`);
          else {
            cause.set(target, `${r} is active on ${[target, ...elsewhere].join(" and ")}`);
            note(`${r} was found active on ${[target, ...elsewhere].join(" and ")}: stopped on all, started on ${target}`);
          }
          break;
        }
      }
    }
    const countOn = new Map(targets.map((t) => [t.node, t.count]));
    const stops: string[] = [];
    for (const n of nodes) {
      let previous: string | null = null;
      const bad = firstBad.get(n.name);
      for (let j = members.length - 1; j >= 0; j--) {
        const r = members[j]!;
        if (risk(r, n) !== "stoppable" || (bad !== undefined && j < bad)) continue;
        const reason =
          j >= runnable
            ? limit!.why
            : targets.length === 0
              ? `${g.name} cannot run`
              : bad === undefined
                ? g.clone
                  ? `${g.name} has no instance on ${n.name}`
                  : `${g.name} moves to ${targets[0]!.node}`
                : j >= countOn.get(n.name)!
                  ? `${r} cannot run on ${n.name}`
                  : `restart of ${g.name} on ${n.name}: ${cause.get(n.name)}`;
        const id = add({ id: `stop:${r}@${n.name}`, kind: "stop", resource: r, node: n.name, after: previous ? [previous] : [], reason });
        stops.push(id);
        // A member that is not symmetrical stops after those after it, but those before it do not wait for it.
        if (def(r).symmetrical !== false) previous = id;
      }
    }
    // The group's first start waits for its stops, but for those of members that are not symmetrical: only their own starts do.
    const ordered = stops.filter((id) => def(actions.get(id)!.resource!).symmetrical !== false);
    const starts: string[] = [];
    const placed = targets.map((t) => t.node);
    if (targets.length === 0) return { nodes: placed, held: false, stops, starts };
    for (const n of nodes) {
      if (n.membership === "unclean" && n.fence === "none" && !config.fencing && members.some((r) => def(r).exclusive && state(r, n.name) !== "stopped")) {
        note(`${n.name} was lost uncleanly and fencing is not configured: ${g.name} is taken over on quorum alone (${n.name} stops its exclusive resources when it loses quorum)`);
      }
    }
    const fences = nodes.filter((n) => members.some((r) => risk(r, n) === "fence")).map((n) => `fence:${n.name}`);
    for (const { node: target, count } of targets) {
      let previous: string | null = null;
      for (let j = 0; j < count; j++) {
        const r = members[j]!;
        if (j < firstBad.get(target)!) {
          monitor(r, target, []);
          continue;
        }
        // Not symmetrical and unknown here (its stop under way): neither it nor those after it start here until it is known.
        if (def(r).symmetrical === false && risk(r, nodes.find((n) => n.name === target)!) === "probe") break;
        const own =
          def(r).symmetrical === false ? [...stops.filter((id) => actions.get(id)!.resource === r), ...nodes.filter((n) => risk(r, n) === "probe").map((n) => `probe:${r}@${n.name}`)] : [];
        const after = [...(previous ? [previous] : [...fences, ...ordered]), ...own];
        previous = add({ id: `start:${r}@${target}`, kind: "start", resource: r, node: target, after, reason: `${g.name} runs on ${target}` });
        starts.push(previous);
        monitor(r, target, [previous]);
      }
    }
    return { nodes: placed, held: false, stops, starts };
  }
}

/**
 * Rule 2: why node n must be fenced, or null. A failure of a resource in
 * maintenance there (not `managed`) is no reason; a loss is, since what else
 * ran there may be started elsewhere only after the fence (maintenance then
 * drops the fence itself when the node or the cluster is in it).
 */
function fenceReason(
  n: NodeState,
  resources: readonly ResourceDef[],
  groups: readonly GroupDef[],
  state: (r: string, n: string) => ResourceState,
  managed: (r: string) => boolean,
): string | null {
  const inGroups = new Set(groups.flatMap((g) => g.members));
  const promotable = new Set(groups.filter((g) => g.clone?.promotable).map((g) => g.members[0]!));
  for (const r of resources) {
    if (!inGroups.has(r.name)) continue;
    const s = state(r.name, n.name);
    if (n.membership === "unclean" && r.exclusive && s !== "stopped") return `${n.name} was lost uncleanly and may still run ${r.name}`;
    // The promoted role is exclusive whatever the instances are: only a report that it ran unpromoted (or not at all) clears it.
    if (n.membership === "unclean" && promotable.has(r.name) && s !== "stopped" && s !== "started") return `${n.name} was lost uncleanly and may still hold ${r.name} promoted`;
    if (!managed(r.name)) continue;
    if (s === "failed-stop" && r.onFailStop === "fence") return `${r.name} failed to stop on ${n.name}`;
    const op = failedOpOf(s);
    if (n.membership === "up" && op && op !== "stop" && onFailOf(r, op) === "fence") return `the ${op} of ${r.name} failed on ${n.name} (${ON_FAIL_KEY[op]}=fence)`;
  }
  return null;
}

/** The role of its first group an order waits for: after promote, the promoted instances. */
function roleOf(o: Order): Role | undefined {
  return o.firstAction === "promote" ? "promoted" : undefined;
}

/** A score less a dependent's: where the dependent cannot run it takes nothing away. */
function opposed(score: number, theirs: number): number {
  return theirs <= MINUS_INFINITY ? score : addScore(score, -theirs);
}

/** Whether location l applies to node n: its node, or every test of its rule passes on n's attributes. */
function locates(l: LocationPref, n: NodeState): boolean {
  if (l.node !== undefined) return l.node === n.name;
  return (l.rule ?? []).every((t) => passes(t, t.attribute === "#uname" ? n.name : n.attributes?.[t.attribute]));
}

function passes(t: AttributeTest, have: AttributeValue | undefined): boolean {
  if (have === undefined) return t.op === "ne";
  switch (t.op) {
    case "eq":
      return have === t.value;
    case "ne":
      return have !== t.value;
    default:
      if (typeof have !== "number" || typeof t.value !== "number") return false;
      return t.op === "lt" ? have < t.value : t.op === "lte" ? have <= t.value : t.op === "gt" ? have > t.value : have >= t.value;
  }
}

/** Which of two free capacities is the larger: the one larger in more of the utilization names (Pacemaker's comparison). */
function compareFree(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): number {
  let more = 0;
  for (const k of new Set([...a.keys(), ...b.keys()])) more += Math.sign((a.get(k) ?? 0) - (b.get(k) ?? 0));
  return more;
}

interface GroupOrder {
  sorted: GroupDef[];
  /** Held: their constraints loop through an order (each would wait for itself), or they depend on such a loop. */
  looped: GroupDef[];
  /** A colocation loop's group placed first (its colocations in the loop left to the others), and the loop. */
  loops: Map<string, ReadonlySet<string>>;
}

/**
 * Groups so that each follows those it is colocated with or ordered after.
 * Colocations alone that loop are placed: the loop's first group in config
 * order goes first, the others follow it. A loop through an order is held.
 */
function groupOrder(config: ClusterConfig): GroupOrder {
  const { groups, colocations, orders } = config;
  const withOf = new Map<string, Set<string>>(groups.map((g) => [g.name, new Set<string>()]));
  const afterOf = new Map<string, Set<string>>(groups.map((g) => [g.name, new Set<string>()]));
  for (const c of colocations) if (c.group !== c.withGroup) withOf.get(c.group)?.add(c.withGroup);
  for (const o of orders) afterOf.get(o.then)?.add(o.first);
  const sorted: GroupDef[] = [];
  const done = new Set<string>();
  const loops = new Map<string, ReadonlySet<string>>();
  const unmet = (g: string): string[] => [...withOf.get(g)!, ...afterOf.get(g)!].filter((d) => !done.has(d) && withOf.has(d));
  for (;;) {
    let progress = true;
    while (progress) {
      progress = false;
      for (const g of groups) {
        if (done.has(g.name) || unmet(g.name).length > 0) continue;
        sorted.push(g);
        done.add(g.name);
        progress = true;
      }
    }
    const reach = (from: string, next: (g: string) => Iterable<string>): Set<string> => {
      const seen = new Set<string>();
      const todo = [from];
      while (todo.length > 0) for (const d of next(todo.pop()!)) if (!done.has(d) && withOf.has(d) && !seen.has(d)) seen.add(d), todo.push(d);
      return seen;
    };
    const loopOf = (g: string): Set<string> => {
      const ahead = reach(g, (x) => withOf.get(x)!);
      const behind = reach(g, (x) => colocations.filter((c) => c.withGroup === x).map((c) => c.group));
      return new Set([g, ...[...ahead].filter((x) => behind.has(x))]);
    };
    const root = groups.find((g) => {
      if (done.has(g.name)) return false;
      const loop = loopOf(g.name);
      return loop.size > 1 && unmet(g.name).every((d) => loop.has(d) && !afterOf.get(g.name)!.has(d));
    });
    if (!root) break;
    loops.set(root.name, loopOf(root.name));
    sorted.push(root);
    done.add(root.name);
  }
  return { sorted, looped: groups.filter((g) => !done.has(g.name)), loops };
}

/**
 * A loop of constraints the policy holds (one through an order: each group in
 * it would wait for itself), as the groups around it, the first repeated at
 * the end, and the order that closes it; null when there is none.
 */
export function heldLoop(config: ClusterConfig): { groups: string[]; order: number } | null {
  const looped = new Set(groupOrder(config).looped.map((g) => g.name));
  const deps = (g: string): string[] => [
    ...config.colocations.filter((c) => c.group === g && c.withGroup !== g).map((c) => c.withGroup),
    ...config.orders.filter((o) => o.then === g).map((o) => o.first),
  ].filter((d) => looped.has(d));
  for (const [i, o] of config.orders.entries()) {
    if (!looped.has(o.first) || !looped.has(o.then)) continue;
    const parent = new Map<string, string>([[o.first, o.first]]);
    const todo = [o.first];
    while (todo.length > 0 && !parent.has(o.then)) {
      const x = todo.shift()!;
      for (const d of deps(x)) if (!parent.has(d)) parent.set(d, x), todo.push(d);
    }
    if (!parent.has(o.then)) continue;
    const path = [o.then];
    while (path[path.length - 1] !== o.first) path.push(parent.get(path[path.length - 1]!)!);
    return { groups: [...path.reverse(), o.first], order: i };
  }
  return null;
}

/** Rule 1: stop this node's groups that have an exclusive member (freeze: none), monitor what runs. */
function planWithoutQuorum(
  input: ClusterInput,
  policy: "stop" | "freeze",
  def: (r: string) => ResourceDef,
  state: (r: string, n: string) => ResourceState,
  add: (a: Action) => string,
  depend: (id: string, on: readonly string[]) => void,
  note: (t: string) => void,
): void {
  const self = input.self;
  note(
    policy === "stop"
      ? `no quorum: nothing starts; ${self} stops its groups with exclusive resources (no-quorum-policy=stop)`
      : `no quorum: nothing starts or stops; ${self} keeps running what it runs (no_quorum_policy=freeze)`,
  );
  const stopsOf = new Map<string, string[]>();
  const demotesOf = new Map<string, string[]>();
  for (const g of input.config.groups) {
    const exclusive = policy === "stop" && g.members.some((r) => def(r).exclusive);
    const stops: string[] = [];
    let previous: string | null = null;
    // The promoted role is exclusive: without quorum (stop) it is demoted, before its stop if the instance stops too.
    const lead = g.members[0]!;
    if (policy === "stop" && g.clone?.promotable && state(lead, self) === "promoted") {
      demotesOf.set(g.name, [add({ id: `demote:${lead}@${self}`, kind: "demote", resource: lead, node: self, after: [], reason: `no quorum` })]);
    }
    for (let j = g.members.length - 1; j >= 0; j--) {
      const r = g.members[j]!;
      const s = state(r, self);
      if (s === "failed-stop") note(`${r} failed to stop on ${self}: blocked`);
      // A promotable instance that failed, or whose state is unknown, may be promoted: stopped (probed first) as an exclusive resource is.
      const role = policy === "stop" && !!g.clone?.promotable && !running(s);
      if ((exclusive || role) && ACTIVE.has(s)) {
        const id = add({ id: `stop:${r}@${self}`, kind: "stop", resource: r, node: self, after: [...(previous ? [previous] : []), ...(demotesOf.get(g.name)?.filter(() => r === lead) ?? [])], reason: `no quorum` });
        stops.push(id);
        if (def(r).symmetrical !== false) previous = id;
        if (role && !exclusive) demotesOf.set(g.name, [id]);
      } else if ((exclusive || role) && s === "unknown") {
        // It may run here (a cleanup forgot its state, or no probe has answered yet): probed, and stopped by the next plan if it does.
        const d = def(r);
        add({ id: `probe:${r}@${self}`, kind: "monitor", resource: r, node: self, intervalMs: 0, timeoutMs: d.monitorTimeoutMs, after: [], reason: `no quorum, and the state of ${r} on ${self} is unknown` });
      } else if (!exclusive && running(s) && def(r).monitorIntervalMs > 0) {
        const d = def(r);
        add({ id: `monitor:${r}@${self}`, kind: "monitor", resource: r, node: self, intervalMs: d.monitorIntervalMs, timeoutMs: d.monitorTimeoutMs, after: [], reason: `${r} runs on ${self}` });
      }
    }
    stopsOf.set(g.name, stops);
  }
  const looped = new Set(groupOrder(input.config).looped.map((g) => g.name));
  for (const o of input.config.orders) {
    if (looped.has(o.first) || looped.has(o.then)) continue;
    const firstStops = (o.firstAction === "promote" ? demotesOf : stopsOf).get(o.first) ?? [];
    const thenStops = stopsOf.get(o.then) ?? [];
    for (const s of firstStops) depend(s, thenStops);
  }
}

/**
 * The plan without what maintenance forbids: no start, stop or fence in its
 * scope (monitors and probes still run), nor any action that waits for one of
 * those. Each left out is noted. A resource in maintenance active where its
 * restart is left out keeps its monitor there, so that status shows it.
 */
function managedOnly(input: ClusterInput, actions: Action[], note: (t: string) => void): Action[] {
  const out: Action[] = [];
  const dropped = new Set<string>();
  for (const a of actions) {
    const direct = a.kind !== "monitor" && inMaintenance(input, a.resource, a.node);
    if (!direct && !a.after.some((d) => dropped.has(d))) {
      out.push(a);
      continue;
    }
    const s = input.states[a.resource ?? ""]?.[a.node];
    if (a.kind === "monitor" && inMaintenance(input, a.resource, a.node) && (s === "started" || s === "promoted" || s === "failed-monitor")) {
      out.push({ ...a, after: [] });
      continue;
    }
    dropped.add(a.id);
    const what = a.kind === "fence" ? `fence ${a.node}` : `${a.kind} ${a.resource} on ${a.node}`;
    note(`maintenance: ${what} is not done (${direct ? a.reason : "it waits for an action not done"})`);
  }
  return out;
}

/** Actions so that each comes after its dependencies, otherwise in the order they were planned. */
function ordered(actions: Map<string, Action>): Action[] {
  const out: Action[] = [];
  const emitted = new Set<string>();
  const pending = [...actions.values()];
  while (pending.length > 0) {
    const i = pending.findIndex((a) => a.after.every((d) => emitted.has(d)));
    if (i < 0) throw new Error(`policy: dependency loop among ${pending.map((a) => a.id).join(", ")}`);
    const [a] = pending.splice(i, 1);
    out.push(a!);
    emitted.add(a!.id);
  }
  return out;
}
