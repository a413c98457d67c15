/**
 * A hand-driven cluster of coordinator engines for the unit tests: each node's
 * state, the effects it produced, the agent operations it has running, and a
 * membership table the test sets (who sees whom, incarnations, quorum). Sent
 * messages wait in an outbox until `deliver()`; operations wait until the test
 * completes them. Nothing happens unless the test says so.
 */
import type { MemberStatus } from "../../../core/cluster.ts";
import type { AgentStatus } from "../../../core/agent.ts";
import { initialState, step, type AdminState, type ClusterView, type Effect, type Input, type Message, type State } from "../../../modules/resources/engine.ts";
import type { ClusterConfig, GroupDef, ResourceDef } from "../../../modules/resources/model.ts";
import { RESOURCE_DEFAULTS } from "./scenario.ts";

export const RESEND_MS = 1_000;
export const FENCE_RETRY_MS = 5_000;
/** Wall time at `now` 0. */
export const WALL0 = 1_700_000_000_000;

export type Run = Extract<Effect, { type: "run" }>;

export function resource(name: string, over: Partial<ResourceDef> = {}): ResourceDef {
  return { ...RESOURCE_DEFAULTS, ...over, name };
}

export function group(name: string, members: string[], over: Partial<GroupDef> = {}): GroupDef {
  return { name, members, preferredNode: null, stickiness: 0, ...over };
}

export function config(resources: ResourceDef[], groups: GroupDef[], fencing = false): ClusterConfig {
  return { resources, groups, locations: [], colocations: [], orders: [], fencing };
}

type Bare<T> = T extends unknown ? Omit<T, "now" | "wall"> : never;

export class TestNode {
  state: State;
  /** Every effect, in order. */
  readonly effects: Effect[] = [];
  /** Operations started and not completed or cancelled, by op id. */
  readonly running = new Map<number, Run>();

  constructor(
    readonly name: string,
    members: readonly string[],
    config: ClusterConfig,
    admin?: AdminState,
  ) {
    this.state = initialState({ self: name, members, config, resendMs: RESEND_MS, fenceRetryMs: FENCE_RETRY_MS }, admin);
  }

  /** Effects of a type, in order. */
  of<T extends Effect["type"]>(type: T): Array<Extract<Effect, { type: T }>> {
    return this.effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);
  }

  /** Runs started so far, as "action resource". */
  ran(action?: Run["action"]): string[] {
    return this.of("run")
      .filter((r) => action === undefined || r.action === action)
      .map((r) => `${r.action} ${r.resource}`);
  }

  runningOf(resource: string, action?: Run["action"]): Run | undefined {
    return [...this.running.values()].find((r) => r.resource === resource && (action === undefined || r.action === action));
  }
}

export class Harness {
  now = 0;
  readonly nodes = new Map<string, TestNode>();
  /** Messages sent and not yet delivered. */
  outbox: Array<{ from: string; message: Message }> = [];
  private readonly statuses = new Map<string, MemberStatus>();
  private readonly incarnations = new Map<string, number>();
  private readonly quorum = new Map<string, boolean>();
  private readonly lone = new Set<string>();
  /** Pairs "a>b" whose messages are lost. */
  private readonly cuts = new Set<string>();

  constructor(
    readonly members: readonly string[],
    readonly config: ClusterConfig,
  ) {
    for (const m of members) {
      this.nodes.set(m, new TestNode(m, members, config));
      this.incarnations.set(m, 1);
      this.quorum.set(m, true);
      for (const o of members) if (o !== m) this.statuses.set(`${m}>${o}`, "up");
    }
  }

  node(name: string): TestNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  feed(name: string, input: Bare<Input>): Effect[] {
    const n = this.node(name);
    const out = step(n.state, { ...input, now: this.now, wall: WALL0 + this.now } as Input);
    n.state = out.state;
    n.effects.push(...out.effects);
    for (const e of out.effects) {
      if (e.type === "send") this.outbox.push({ from: name, message: e.message });
      if (e.type === "run") n.running.set(e.op, e);
      if (e.type === "cancel") n.running.delete(e.op);
    }
    return out.effects;
  }

  view(name: string): ClusterView {
    return {
      peers: this.members.filter((m) => m !== name).map((m) => ({ name: m, status: this.statuses.get(`${name}>${m}`)!, incarnation: this.incarnations.get(m)! })),
      quorate: this.quorum.get(name)!,
      majority: this.quorum.get(name)! && !this.lone.has(name),
    };
  }

  start(...names: string[]): void {
    for (const n of names.length > 0 ? names : this.members) this.feed(n, { type: "start", cluster: this.view(n) });
  }

  /** Set how `observer` sees `peer`; feeds the observer the new membership. */
  see(observer: string, peer: string, status: MemberStatus): void {
    this.statuses.set(`${observer}>${peer}`, status);
    this.feed(observer, { type: "membership", cluster: this.view(observer) });
  }

  /** lone: quorate by a rule for a lone node (two-node, ping), not by a majority. */
  setQuorum(name: string, quorate: boolean, lone = false): void {
    this.quorum.set(name, quorate);
    if (lone) this.lone.add(name);
    else this.lone.delete(name);
    this.feed(name, { type: "membership", cluster: this.view(name) });
  }

  /** A new process of `name`: a fresh engine (with the admin state it kept, if any) and the next incarnation; the others learn it through `see`. */
  restart(name: string, admin?: AdminState): void {
    this.nodes.set(name, new TestNode(name, this.members, this.config, admin));
    this.incarnations.set(name, this.incarnations.get(name)! + 1);
  }

  cut(a: string, b: string): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  restore(a: string, b: string): void {
    this.cuts.delete(`${a}>${b}`);
    this.cuts.delete(`${b}>${a}`);
  }

  /** Hand every message sent (and every message those cause) to every other node not cut off. */
  deliver(): void {
    for (let i = 0; this.outbox.length > 0; i++) {
      if (i > 10_000) throw new Error("messages never stop: a loop between the engines");
      const { from, message } = this.outbox.shift()!;
      for (const to of this.members) {
        if (to === from || this.cuts.has(`${from}>${to}`)) continue;
        this.feed(to, { type: "message", from, message });
      }
    }
  }

  /** Drop every message not yet delivered. */
  lose(): void {
    this.outbox = [];
  }

  /** Complete `name`'s operation on `resource` (the only one running, or of `action`); a promotable agent may report its promotion score. */
  complete(name: string, resource: string, status: AgentStatus = "ok", action?: Run["action"], promotionScore?: number): Run {
    const n = this.node(name);
    const run = n.runningOf(resource, action);
    if (!run) throw new Error(`${name} runs nothing on ${resource}${action ? ` (${action})` : ""}: ${JSON.stringify([...n.running.values()])}`);
    n.running.delete(run.op);
    this.feed(name, { type: "result", op: run.op, status, message: "", ...(promotionScore !== undefined ? { promotionScore } : {}) });
    return run;
  }

  /** Move time on and tick every node still running. */
  advance(ms: number): void {
    this.now += ms;
    for (const [name, n] of this.nodes) if (n.state.phase === "running" || n.state.phase === "stopping") this.feed(name, { type: "tick" });
  }

  /**
   * Deliver messages and complete every start, stop, promote, demote and probe
   * as a node where `active` holds what runs (probes answer from it, starts
   * add, stops remove; `promoted` holds "node resource" promoted, which
   * probes answer), until nothing is left to do. Recurring monitors are left running.
   */
  settle(active: Map<string, Set<string>>, promoted = new Set<string>()): void {
    for (let i = 0; ; i++) {
      if (i > 1_000) throw new Error("the cluster never settles");
      this.deliver();
      const next = [...this.nodes.values()].flatMap((n) => [...n.running.values()].filter((r) => r.action !== "monitor").map((r) => [n.name, r] as const))[0];
      if (!next) return;
      const [name, run] = next;
      const here = active.get(name) ?? new Set<string>();
      active.set(name, here);
      if (run.action === "start") here.add(run.resource);
      if (run.action === "stop") here.delete(run.resource);
      if (run.action === "stop" || run.action === "demote") promoted.delete(`${name} ${run.resource}`);
      if (run.action === "promote") promoted.add(`${name} ${run.resource}`);
      const probed = !here.has(run.resource) ? "not-running" : promoted.has(`${name} ${run.resource}`) ? "promoted" : "ok";
      this.complete(name, run.resource, run.action === "probe" ? probed : "ok", run.action);
    }
  }
}
