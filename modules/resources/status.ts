/**
 * What `tandem status` and GET /v1/resources/ show: every group with where it
 * runs whole (`runningOn`) and the members started (or promoted) on each node
 * (`instances`: a clone's instances, or a group running in part), every resource's state
 * on every node as this node knows it, what is
 * in flight, failures, moves (an expired one marked so), standby nodes, each
 * node's attributes and capacity (with what its resources take), what is
 * disabled and in maintenance (and each group's and resource's own `disabled`
 * and `maintenance`), the DC and the policy's notes. `cluster` is the
 * policy's input in the form `tandem simulate --state` reads, so a live
 * cluster can be replayed.
 */
import { clusterInput, type State } from "./engine.ts";
import type { NodeState, ResourceState } from "./model.ts";
import { inMaintenance, running as runs } from "./policy.ts";

export function statusOf(s: State, now: number): Record<string, unknown> {
  const input = clusterInput(s);
  const disabled = input.disabled ?? [];
  /** A node's attributes, and its capacity with what the resources started there take of it. */
  const traitsOf = (n: NodeState) => ({
    ...(n.attributes ? { attributes: n.attributes } : {}),
    ...(n.capacity ? { capacity: n.capacity, used: used(n.name) } : {}),
  });
  const used = (node: string): Record<string, number> => {
    const sum: Record<string, number> = {};
    for (const r of s.p.config.resources) if (isRunning(input.states[r.name]?.[node])) for (const [k, v] of Object.entries(r.utilization ?? {})) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  };
  const isRunning = (st: ResourceState | undefined) => st !== undefined && runs(st);
  const running = (group: string[]) =>
    input.nodes.filter((n) => group.every((r) => isRunning(input.states[r]?.[n.name]))).map((n) => n.name);
  /** Per node where any member runs, the members started there: a clone's instances, or a group running in part. */
  const instances = (group: string[]) =>
    input.nodes
      .map((n) => ({ node: n.name, started: group.filter((r) => isRunning(input.states[r]?.[n.name])) }))
      .filter((i) => i.started.length > 0);
  return {
    phase: s.phase,
    dc: s.dc,
    quorate: s.quorate,
    nodes: input.nodes.map((n) => ({ name: n.name, membership: n.membership, standby: n.standby, fence: n.fence, ...traitsOf(n) })),
    groups: s.p.config.groups.map((g) => ({
      name: g.name,
      members: g.members,
      preferred: g.preferredNode,
      clone: g.clone ?? null,
      allOrNothing: g.allOrNothing ?? false,
      runningOn: running(g.members),
      instances: instances(g.members),
      disabled: disabled.includes(g.name),
    })),
    resources: Object.fromEntries(
      s.p.config.resources.map((r) => [
        r.name,
        {
          agent: r.agent,
          states: Object.fromEntries(input.nodes.map((n) => [n.name, input.states[r.name]?.[n.name] ?? "unknown"])),
          disabled: disabled.includes(r.name),
          /** The nodes where the manager leaves it alone. */
          maintenance: input.nodes.filter((n) => inMaintenance(input, r.name, n.name)).map((n) => n.name),
        },
      ]),
    ),
    operations: Object.values(s.ops).map((o) => ({ resource: o.resource, action: o.action, forMs: Math.round(now - o.since) })),
    failures: input.failures,
    moves: s.admin.moves.map((m) => ({ ...m, expired: m.until !== null && m.until <= s.wall })),
    standby: s.admin.standby,
    disabled,
    maintenance: input.maintenance,
    noQuorumPolicy: s.p.config.noQuorumPolicy ?? "stop",
    notes: s.notes,
    cluster: {
      self: input.self,
      quorum: input.quorum,
      now: input.now,
      nodes: Object.fromEntries(input.nodes.map((n) => [n.name, { membership: n.membership, standby: n.standby, fence: n.fence }])),
      states: input.states,
      failures: input.failures,
      moves: input.moves,
      disabled,
      maintenance: input.maintenance,
    },
  };
}
