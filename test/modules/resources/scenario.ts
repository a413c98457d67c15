/**
 * Reads a scenario file: a short form of the policy's input (defaults filled
 * in as scenarios/README.md says) and the expected transition, each action
 * written as "ID" or "ID after DEP, DEP".
 */
import {
  INFINITY,
  MINUS_INFINITY,
  type Action,
  type AttributeTest,
  type ClusterInput,
  type FailRecord,
  type Maintenance,
  type Move,
  type NoQuorumPolicy,
  type NodeState,
  type Placement,
  type ResourceDef,
  type ResourceState,
  type Role,
} from "../../../modules/resources/model.ts";

type Score = number | "INFINITY" | "-INFINITY";

export interface ScenarioFile {
  description: string;
  config: {
    fencing?: boolean;
    noQuorumPolicy?: NoQuorumPolicy;
    resources?: Record<string, Partial<Omit<ResourceDef, "name">>>;
    groups: Array<{
      name: string;
      members: string[];
      preferred?: string;
      stickiness?: Score;
      allOrNothing?: boolean;
      clone?: { max?: number; interleave?: boolean; promotedMax?: number };
    }>;
    locations?: Array<{ group: string; node?: string; rule?: AttributeTest[]; score: Score }>;
    colocations?: Array<{ group: string; withGroup: string; score?: Score; withRole?: Role }>;
    placement?: Placement;
    orders?: Array<{ first: string; then: string; firstAction?: "promote" }>;
  };
  cluster: {
    self?: string;
    quorum?: boolean;
    now?: number;
    nodes: Record<string, Partial<Omit<NodeState, "name">>>;
    states?: Record<string, Record<string, ResourceState>>;
    failures?: FailRecord[];
    moves?: Move[];
    disabled?: string[];
    maintenance?: Partial<Maintenance>;
    promotion?: Record<string, Record<string, Score>>;
  };
  expect: { actions: string[]; notes: string[]; promoted?: Record<string, string[]> };
}

/** What a resource is when a scenario (or a test) says nothing more: the config's defaults. */
export const RESOURCE_DEFAULTS: Omit<ResourceDef, "name"> = {
  agent: "ocf:heartbeat:Dummy",
  monitorIntervalMs: 10_000,
  monitorTimeoutMs: 20_000,
  startTimeoutMs: 20_000,
  stopTimeoutMs: 20_000,
  onFail: "restart",
  onFailStart: "restart",
  onFailStop: "fence",
  migrationThreshold: null,
  failureTimeoutMs: null,
  exclusive: true,
};

function score(s: Score): number {
  if (s === "INFINITY") return INFINITY;
  if (s === "-INFINITY") return MINUS_INFINITY;
  return s;
}

export function toInput(f: ScenarioFile): ClusterInput {
  const c = f.config;
  const names = [...new Set([...Object.keys(c.resources ?? {}), ...c.groups.flatMap((g) => g.members)])];
  const nodeNames = Object.keys(f.cluster.nodes);
  const states: Record<string, Record<string, ResourceState>> = {};
  for (const r of names) {
    states[r] = {};
    for (const n of nodeNames) states[r][n] = f.cluster.states?.[r]?.[n] ?? "stopped";
  }
  return {
    config: {
      resources: names.map((name) => ({ ...RESOURCE_DEFAULTS, ...c.resources?.[name], name })),
      groups: c.groups.map((g) => ({
        name: g.name,
        members: g.members,
        preferredNode: g.preferred ?? null,
        stickiness: score(g.stickiness ?? 0),
        ...(g.allOrNothing ? { allOrNothing: true } : {}),
        ...(g.clone
          ? { clone: { max: g.clone.max ?? null, interleave: g.clone.interleave ?? false, ...(g.clone.promotedMax ? { promotable: { promotedMax: g.clone.promotedMax } } : {}) } }
          : {}),
      })),
      locations: (c.locations ?? []).map((l) => ({ ...l, score: score(l.score) })),
      colocations: (c.colocations ?? []).map((x) => ({ ...x, score: score(x.score ?? "INFINITY") })),
      orders: c.orders ?? [],
      fencing: c.fencing ?? false,
      ...(c.placement ? { placement: c.placement } : {}),
      ...(c.noQuorumPolicy ? { noQuorumPolicy: c.noQuorumPolicy } : {}),
    },
    self: f.cluster.self ?? nodeNames[0]!,
    nodes: nodeNames.map((name) => ({ membership: "up", standby: false, fence: "none", ...f.cluster.nodes[name], name })),
    quorum: f.cluster.quorum ?? true,
    states,
    failures: f.cluster.failures ?? [],
    moves: f.cluster.moves ?? [],
    now: f.cluster.now ?? 0,
    disabled: f.cluster.disabled ?? [],
    maintenance: { cluster: false, nodes: [], resources: [], ...f.cluster.maintenance },
    ...(f.cluster.promotion
      ? { promotion: Object.fromEntries(Object.entries(f.cluster.promotion).map(([r, by]) => [r, Object.fromEntries(Object.entries(by).map(([n, v]) => [n, score(v)]))])) }
      : {}),
  };
}

export function render(a: Action): string {
  return a.after.length === 0 ? a.id : `${a.id} after ${a.after.join(", ")}`;
}
