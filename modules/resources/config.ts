/**
 * The [resources] section: resources (an agent and its parameters, monitor,
 * timeouts, failure policy), groups (haresources' lines: members started left
 * to right on one node), location scores, "with" and "before" constraints
 * between groups, and fence devices. `resourcesProblems` holds the rules that
 * cross fields; `clusterConfigOf` turns the section into the policy's model.
 *
 * A resource that no group names is a group of its own, of the same name, as a
 * Pacemaker primitive is: constraints and admin commands name groups. Either
 * may be a clone (`clone = true`, `clone_max`, `interleave`), and a clone of
 * one resource promotable (`promotable = true`, `promoted_max`: Pacemaker's
 * promotable and promoted-max), which colocations (`with_role = "promoted"`)
 * and orders (`first_action = "promote"`) may name by its promoted instances.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Duration, Name, NAME_PATTERN } from "../../core/config/primitives.ts";
import { STOP_MARGIN } from "../../core/cluster.ts";
import { formatDuration, parseDuration } from "../../core/duration.ts";
import { didYouMean, type Finding } from "../../core/config/problems.ts";
import type { AgentKind, ConfigSecret, RawConfig } from "../../core/config/schema.ts";
import { createAgent } from "./agents/index.ts";
import { createFenceDevice } from "./fencing/config.ts";
import { ATTRIBUTE_PATTERN } from "../../core/config/schema.ts";
import { heldLoop } from "./policy.ts";
import { INFINITY, MINUS_INFINITY, type AttributeTest, type ClusterConfig, type GroupDef, type NodeState, type OnFail, type Placement, type ResourceDef } from "./model.ts";

/** Resources a cluster may define: a node's report of them all fits the cluster bus's longest message. */
export const MAX_RESOURCES = 128;

export const ON_FAIL = ["restart", "move", "fence", "block", "ignore", "stop", "standby"] as const;
export const ON_FAIL_STOP = ["fence", "block", "ignore"] as const;
export const NO_QUORUM_POLICY = ["stop", "freeze", "ignore"] as const;

const ON_FAIL_HELP = "restart (in place; a failed start bans the node), move (ban the node at once), ignore (taken as success, never counted), stop (stopped, started nowhere until cleanup), block (the group is held), standby (the node runs nothing until cleanup), fence (the node is fenced; held without fencing)";

export const PLACEMENTS = ["default", "utilization", "balanced"] as const satisfies readonly Placement[];

/**
 * How an agent string reads: `address`, `exec`, a kind another module
 * registers (its descriptor's `agents`), `ocf:PROVIDER:TYPE`, `lsb:SCRIPT`,
 * `systemd:UNIT`. A script or unit never begins with '-': on systemctl's
 * command line it would be an option.
 */
export function agentPattern(moduleKinds: readonly AgentKind[]): string {
  const words = ["address", "exec", ...moduleKinds.map((k) => k.kind)].join("|");
  return `^(${words}|ocf:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+|lsb:[A-Za-z0-9_.@][A-Za-z0-9_.@-]*|systemd:[A-Za-z0-9:_.@][A-Za-z0-9:_.@-]*)$`;
}

function agentDescription(moduleKinds: readonly AgentKind[]): string {
  const modules = moduleKinds.map((k) => `${k.kind} (${k.description}), `).join("");
  return `address, exec, ${modules}ocf:PROVIDER:TYPE (e.g. ocf:heartbeat:IPaddr2), lsb:SCRIPT or systemd:UNIT`;
}

const ParamValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.String())]);
const Params = Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), ParamValue, {
  default: {},
  description: "the agent's parameters (OCF: OCF_RESKEY_<name>; exec: start, stop, monitor as argv arrays)",
});

/**
 * What makes a group a clone (Pacemaker's clone-max, clone-node-max,
 * interleave): given on a group, or on a resource in no group for its own.
 */
const CloneFields = {
  clone: Type.Optional(Type.Boolean({ description: "run on several nodes at once, one instance per node (a Pacemaker clone)" })),
  clone_max: Type.Optional(Type.Integer({ minimum: 1, description: "clones: at most this many instances; default one on every member that can run it" })),
  clone_node_max: Type.Optional(Type.Integer({ minimum: 1, description: "clones: instances on one node; only 1 is supported (a resource has one state per node)" })),
  interleave: Type.Optional(Type.Boolean({ description: "clones: ordered after another clone, an instance waits for that clone's instance on its own node only, not for all of them" })),
  promotable: Type.Optional(
    Type.Boolean({ description: "clones of one resource: its instances run unpromoted and up to promoted_max of them are promoted (Pacemaker's promotable clone, DRBD's primary and secondary); the agent has promote and demote" }),
  ),
  promoted_max: Type.Optional(Type.Integer({ minimum: 1, description: "promotable clones: at most this many instances promoted at once; default 1" })),
};

/** A resource, whose agent may be of the module kinds given. */
export const resourceSchema = (moduleKinds: readonly AgentKind[]) =>
  Type.Object(
  {
    name: Name("the resource's name"),
    agent: Type.String({ pattern: agentPattern(moduleKinds), description: agentDescription(moduleKinds) }),
    params: Params,
    exclusive: Type.Boolean({ default: true, description: "may run on one node at a time (an address, a file system); false for a resource harmless twice" }),
    monitor_interval: Duration("time between monitors while it runs; 0s for none", "10s"),
    monitor_timeout: Duration("bound on one monitor", "20s"),
    start_timeout: Duration("bound on a start", "20s"),
    stop_timeout: Duration("bound on a stop; a stop that fails or times out is fenced, or blocks the group", "20s"),
    on_fail: Type.Union(ON_FAIL.map((v) => Type.Literal(v)), { default: "restart", description: `what a failed monitor leads to: ${ON_FAIL_HELP}` }),
    on_fail_start: Type.Union(ON_FAIL.map((v) => Type.Literal(v)), { default: "restart", description: `what a failed start leads to (Pacemaker's op start on-fail): ${ON_FAIL_HELP}` }),
    on_fail_stop: Type.Optional(
      Type.Union(ON_FAIL_STOP.map((v) => Type.Literal(v)), {
        description: "what a failed stop leads to: fence (default with a fence device), block (default without: the group is held until stopped by hand and cleaned up), ignore (taken as stopped: it may then run twice)",
      }),
    ),
    migration_threshold: Type.Optional(Type.Integer({ minimum: 1, description: "failures on one node before the group leaves it; default: never for counted failures" })),
    failure_timeout: Type.Optional(Duration("failures on a node are forgotten this long after the last one; default: kept until `tandem cleanup`")),
    utilization: Type.Optional(
      Type.Record(Type.String({ pattern: ATTRIBUTE_PATTERN }), Type.Integer({ minimum: 0 }), {
        description: "what it takes of a node's capacity (e.g. { cpu = 2, memory = 2048 }), read when placement is utilization or balanced; its group takes its members' sum",
      }),
    ),
    symmetrical: Type.Optional(
      Type.Boolean({
        description:
          "false: in its group it starts after the members before it, but they stop without waiting for its stop, and start on another node without waiting for it (Pacemaker's symmetrical=false order); for a resource that holds nothing they must release, as a director, whose dataplane every node keeps: a move or a clean stop releases the address first. Absent: true",
      }),
    ),
    ...CloneFields,
  },
  { additionalProperties: false },
);

/** A resource of the built-in kinds only: its type and its defaults. */
export const ResourceSchema = resourceSchema([]);

export const GroupSchema = Type.Object(
  {
    name: Name("the group's name"),
    members: Type.Array(Type.String({ pattern: NAME_PATTERN }), { minItems: 1, uniqueItems: true, description: "resources, started left to right on one node and stopped right to left" }),
    preferred: Type.Optional(Type.String({ pattern: NAME_PATTERN, description: "the node it runs on when it can (haresources' first column)" })),
    stickiness: Type.Optional(Type.Integer({ minimum: 0, maximum: INFINITY, description: "score for staying where it runs; default [resources] stickiness" })),
    auto_failback: Type.Optional(Type.Boolean({ description: "true: return to the preferred node when it is back (stickiness 0); false: stay (stickiness INFINITY)" })),
    all_or_nothing: Type.Optional(
      Type.Boolean({ description: "true: the group runs whole or not at all (Heartbeat's haresources); default false: its members that can run do, in order, up to the first that cannot (Pacemaker's)" }),
    ),
    ...CloneFields,
  },
  { additionalProperties: false },
);

const scoreSchema = (description: string, options: { default?: string } = {}) =>
  Type.Union([Type.Integer({ minimum: MINUS_INFINITY, maximum: INFINITY }), Type.Literal("INFINITY"), Type.Literal("-INFINITY")], { description, ...options });

export const LocationSchema = Type.Object(
  {
    group: Type.String({ pattern: NAME_PATTERN }),
    node: Type.Optional(Type.String({ pattern: NAME_PATTERN, description: "the node it scores; or give rule" })),
    rule: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'the nodes it scores, by their attributes: tests joined by "and", each ATTRIBUTE OP VALUE with OP one of = != < <= > >= (e.g. `ssd = true and rack != "b"`, `cores >= 8`); #uname is the node\'s name; a node without the attribute passes != only',
      }),
    ),
    score: scoreSchema("added to the score of each node it names; INFINITY: only there if it can; -INFINITY: never there"),
  },
  { additionalProperties: false },
);

export const ColocationSchema = Type.Object(
  {
    group: Type.String({ pattern: NAME_PATTERN, description: "placed with regard to where `with` runs" }),
    with: Type.String({ pattern: NAME_PATTERN, description: "placed first, weighing the groups at INFINITY or -INFINITY with it" }),
    score: scoreSchema("INFINITY: group runs only where `with` runs; -INFINITY: never there (anti-colocation); a number: added to the score of the node where `with` runs", {
      default: "INFINITY",
    }),
    with_role: Type.Optional(Type.Literal("promoted", { description: "`with` is a promotable clone: only where its instance is promoted (Pacemaker's with-rsc-role=Promoted)" })),
  },
  { additionalProperties: false },
);

export const OrderSchema = Type.Object(
  {
    first: Type.String({ pattern: NAME_PATTERN }),
    then: Type.String({ pattern: NAME_PATTERN, description: "starts after `first`, stops before it, runs only while it does" }),
    first_action: Type.Optional(
      Type.Literal("promote", { description: "`first` is a promotable clone: `then` starts after its promotion, stops before its demotion, runs only while an instance is promoted (Pacemaker's first-action=promote)" }),
    ),
  },
  { additionalProperties: false },
);

export const FenceDeviceSchema = Type.Object(
  {
    name: Name("the fence device's name"),
    agent: Type.String({ minLength: 1, description: "exec (a command given the node's name), lab (a `tandem lab` power fault), watchdog (a silent peer counts as fenced after twice the [watchdog] timeout), or a fence-agents program such as fence_ipmilan" }),
    params: Params,
    nodes: Type.Optional(Type.Array(Type.String({ pattern: NAME_PATTERN }), { uniqueItems: true, description: "the nodes it can fence; default: every member" })),
    host_map: Type.Optional(Type.Record(Type.String({ pattern: NAME_PATTERN }), Type.String({ minLength: 1 }), { description: "node name -> the device's name for it (its plug or port)" })),
    action: Type.Union([Type.Literal("off"), Type.Literal("reboot")], { default: "off" }),
    timeout: Duration("bound on one fence", "60s"),
    password_file: Type.Optional(
      Type.String({ pattern: "^/", description: "fence_* agents: a file holding the password, mode 0600, instead of params.password (an absolute path)" }),
    ),
  },
  { additionalProperties: false },
);

/** The [resources] section, its resources' agents of the built-in kinds and those the modules given register. */
export const resourcesSchema = (moduleKinds: readonly AgentKind[]) =>
  Type.Object(
  {
    stickiness: Type.Integer({ minimum: 0, maximum: INFINITY, default: 0, description: "default score for a group to stay where it runs" }),
    placement: Type.Union(PLACEMENTS.map((p) => Type.Literal(p)), {
      default: "default",
      description:
        "Pacemaker's placement-strategy. default: tied scores go to the node running the fewest resources; utilization: and a node whose capacity left (the nodes' capacity) is short of a group's utilization cannot run it; balanced: and tied scores go first to the node with the most capacity left",
    }),
    no_quorum_policy: Type.Union(NO_QUORUM_POLICY.map((v) => Type.Literal(v)), {
      default: "stop",
      description: "without quorum: stop (a node stops its groups with exclusive members), freeze (it keeps what runs and starts nothing), ignore (it acts as if quorate: without fencing, two partitions may run the same resources)",
    }),
    resource: Type.Array(resourceSchema(moduleKinds), { default: [], maxItems: MAX_RESOURCES }),
    group: Type.Array(GroupSchema, { default: [] }),
    location: Type.Array(LocationSchema, { default: [] }),
    colocation: Type.Array(ColocationSchema, { default: [] }),
    order: Type.Array(OrderSchema, { default: [] }),
    fence_device: Type.Array(FenceDeviceSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type ResourcesRaw = Static<ReturnType<typeof resourcesSchema>>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    resources?: ResourcesRaw;
  }
}
export type ResourceRaw = Static<typeof ResourceSchema>;
export type FenceDeviceRaw = Static<typeof FenceDeviceSchema>;

interface NodeLike {
  name: string;
  roles: readonly string[];
  attributes?: Record<string, string | number | boolean>;
  capacity?: Record<string, number>;
}

/** Utilization that placement would ignore (default), or that no member could ever hold. */
function utilizationProblems(rs: ResourcesRaw, nodes: readonly NodeLike[]): Finding[] {
  const members = nodes.filter((n) => n.roles.includes("member"));
  const used = rs.resource.some((r) => r.utilization && Object.keys(r.utilization).length > 0);
  if (rs.placement === "default") {
    return used ? [{ severity: "warning", path: ["resources", "placement"], message: 'resources give a utilization but placement is "default": it is not read', hint: 'placement = "utilization" or "balanced"' }] : [];
  }
  const utilization = new Map(rs.resource.map((r) => [r.name, r.utilization ?? {}] as const));
  const out: Finding[] = [];
  for (const g of groupsOf(rs)) {
    const need = new Map<string, number>();
    for (const m of g.members) for (const [k, v] of Object.entries(utilization.get(m) ?? {})) need.set(k, (need.get(k) ?? 0) + v);
    if (members.some((n) => [...need].every(([k, v]) => (n.capacity?.[k] ?? 0) >= v))) continue;
    const explicit = rs.group.findIndex((x) => x.name === g.name);
    out.push({
      severity: "error",
      path: ["resources", ...(explicit >= 0 ? ["group", explicit] : ["resource", rs.resource.findIndex((r) => r.name === g.name), "utilization"])],
      message: `group "${g.name}" takes ${[...need].map(([k, v]) => `${k} ${v}`).join(", ")}, more than any member node's capacity: it could never run`,
      expected: "a utilization some node's capacity holds",
    });
  }
  return out;
}

const ms = (d: string) => parseDuration(d)!;

function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const near = didYouMean(word, [...candidates]);
  return near === undefined ? undefined : `did you mean "${near}"?`;
}

/** Every group, explicit or implied (an ungrouped resource), in config order. */
export function groupsOf(rs: ResourcesRaw): GroupDef[] {
  const grouped = new Set(rs.group.flatMap((g) => g.members));
  const stickinessOf = (g: Static<typeof GroupSchema>): number => {
    if (g.stickiness !== undefined) return g.stickiness;
    if (g.auto_failback !== undefined) return g.auto_failback ? 0 : INFINITY;
    return rs.stickiness;
  };
  return [
    ...rs.group.map((g) => ({
      name: g.name,
      members: [...g.members],
      preferredNode: g.preferred ?? null,
      stickiness: stickinessOf(g),
      ...(g.all_or_nothing ? { allOrNothing: true } : {}),
      ...cloneOf(g),
    })),
    ...rs.resource.filter((r) => !grouped.has(r.name)).map((r) => ({ name: r.name, members: [r.name], preferredNode: null, stickiness: rs.stickiness, ...cloneOf(r) })),
  ];
}

type CloneRaw = { clone?: boolean; clone_max?: number; interleave?: boolean; promotable?: boolean; promoted_max?: number };

function cloneOf(c: CloneRaw): Pick<GroupDef, "clone"> {
  if (!c.clone) return {};
  return { clone: { max: c.clone_max ?? null, interleave: c.interleave ?? false, ...(c.promotable ? { promotable: { promotedMax: c.promoted_max ?? 1 } } : {}) } };
}

export function resourceDefOf(r: ResourceRaw): ResourceDef {
  return {
    name: r.name,
    agent: r.agent,
    monitorIntervalMs: ms(r.monitor_interval),
    monitorTimeoutMs: ms(r.monitor_timeout),
    startTimeoutMs: ms(r.start_timeout),
    stopTimeoutMs: ms(r.stop_timeout),
    onFail: r.on_fail as OnFail,
    onFailStart: r.on_fail_start as OnFail,
    onFailStop: r.on_fail_stop ?? "fence",
    migrationThreshold: r.migration_threshold ?? null,
    failureTimeoutMs: r.failure_timeout === undefined ? null : ms(r.failure_timeout),
    exclusive: r.exclusive,
    ...(r.utilization ? { utilization: { ...r.utilization } } : {}),
    ...(r.symmetrical === false ? { symmetrical: false } : {}),
  };
}

const scoreOf = (s: number | string): number => (s === "INFINITY" ? INFINITY : s === "-INFINITY" ? MINUS_INFINITY : (s as number));

export function clusterConfigOf(rs: ResourcesRaw): ClusterConfig {
  return {
    resources: rs.resource.map(resourceDefOf),
    groups: groupsOf(rs),
    locations: rs.location.map((l) => ({ group: l.group, ...(l.node !== undefined ? { node: l.node } : { rule: parseRule(l.rule ?? "") as AttributeTest[] }), score: scoreOf(l.score) })),
    colocations: rs.colocation.map((c) => ({ group: c.group, withGroup: c.with, score: scoreOf(c.score), ...(c.with_role ? { withRole: c.with_role } : {}) })),
    orders: rs.order.map((o) => ({ first: o.first, then: o.then, ...(o.first_action ? { firstAction: o.first_action } : {}) })),
    fencing: rs.fence_device.length > 0,
    placement: rs.placement as Placement,
    noQuorumPolicy: rs.no_quorum_policy,
  };
}

/** What the policy reads of each node from the config: its attributes and capacity, by node name. */
export function nodeTraitsOf(c: RawConfig): Record<string, Pick<NodeState, "attributes" | "capacity">> {
  return Object.fromEntries(c.nodes.map((n) => [n.name, { ...(n.attributes ? { attributes: { ...n.attributes } } : {}), ...(n.capacity ? { capacity: { ...n.capacity } } : {}) }]));
}

const RULE_TEST = /^\s*(#uname|[A-Za-z_][A-Za-z0-9_-]*)\s*(==|=|!=|<=|>=|<|>)\s*(.*?)\s*$/;
const RULE_OPS: Record<string, AttributeTest["op"]> = { "=": "eq", "==": "eq", "!=": "ne", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte" };

/** A location rule's tests, or why it does not read (a string). */
export function parseRule(text: string): AttributeTest[] | string {
  const tests: AttributeTest[] = [];
  for (const part of text.split(/\s+and\s+/)) {
    const m = RULE_TEST.exec(part);
    if (!m) return `"${part.trim()}" is not ATTRIBUTE OP VALUE (OP one of = != < <= > >=)`;
    const [, attribute, word, raw] = m as unknown as [string, string, string, string];
    const op = RULE_OPS[word]!;
    let value: AttributeTest["value"];
    if (/^"[^"]*"$/.test(raw)) value = raw.slice(1, -1);
    else if (raw === "true" || raw === "false") value = raw === "true";
    else if (/^-?\d+(\.\d+)?$/.test(raw)) value = Number(raw);
    else if (/^[A-Za-z0-9_.-]+$/.test(raw)) value = raw;
    else return `"${raw}" is not a value (a number, true, false, a word or a "quoted string")`;
    if (op !== "eq" && op !== "ne" && typeof value !== "number") return `${attribute} ${word} ${raw}: < <= > >= compare numbers`;
    tests.push({ attribute, op, value });
  }
  return tests;
}

const CLONE_KEYS = ["clone", "clone_max", "clone_node_max", "interleave", "promotable", "promoted_max"] as const;

/** Cross-field rules: names unique and known, members in one group, constraints between known groups and members, clones. */
export function resourcesProblems(rs: ResourcesRaw, nodes: readonly NodeLike[], kinds: readonly AgentKind[] = []): Finding[] {
  const out: Finding[] = [];
  const err = (path: (string | number)[], message: string, expected?: string, hint?: string): void => {
    out.push({ severity: "error", path: ["resources", ...path], message, ...(expected ? { expected } : {}), ...(hint ? { hint } : {}) });
  };
  const members = nodes.filter((n) => n.roles.includes("member")).map((n) => n.name);
  /** A clone's settings, on a group or a resource in no group. */
  const cloneProblems = (path: (string | number)[], c: CloneRaw & { clone_node_max?: number }, size: number): void => {
    for (const k of CLONE_KEYS.slice(1)) if (c[k] !== undefined && !c.clone) err([...path, k], `${k} applies to clones only`, "clone = true beside it");
    if (c.clone && c.promoted_max !== undefined && !c.promotable) err([...path, "promoted_max"], "promoted_max applies to promotable clones only", "promotable = true beside it");
    if (c.clone && c.promotable && size !== 1)
      err([...path, "promotable"], `a promotable clone has one member, the resource promoted (this group has ${size})`, "promotable = true on the resource alone, and a group colocated with its promoted instance (with_role = \"promoted\")");
    if (c.clone_node_max !== undefined && c.clone_node_max > 1)
      err([...path, "clone_node_max"], "a node runs at most one instance of a clone: a resource has one state per node, so two instances there could not be told apart", "1, or leave it out");
    if (c.clone && c.clone_max !== undefined && c.clone_max > members.length)
      out.push({ severity: "warning", path: ["resources", ...path, "clone_max"], message: `clone_max ${c.clone_max} is more than the ${members.length} member nodes: at most ${members.length} instances run, one per node` });
  };
  const resourceNames = new Set<string>();
  rs.resource.forEach((r, i) => {
    if (resourceNames.has(r.name)) err(["resource", i, "name"], `resource name "${r.name}" is used twice`, "a unique name");
    resourceNames.add(r.name);
    if (r.agent === "exec") {
      for (const verb of ["start", "stop", "monitor"]) {
        const v = r.params[verb];
        if (!Array.isArray(v) || v.length === 0 || !v[0]) err(["resource", i, "params", verb], `an exec resource needs its ${verb} command`, "an argv array like [\"/usr/local/bin/svc\", \"start\"]");
      }
    }
    if (r.agent === "address") {
      for (const key of ["address", "interface"]) if (typeof r.params[key] !== "string") err(["resource", i, "params", key], `an address resource needs ${key}`, key === "address" ? "a CIDR like \"198.18.4.10/24\"" : "an interface name like \"eth0\"");
    }
    if (!out.some((p) => p.path[1] === "resource" && p.path[2] === i)) {
      try {
        createAgent(r, undefined, kinds);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        err(["resource", i, "params"], e.message);
      }
    }
    for (const key of ["on_fail", "on_fail_start", "on_fail_stop"] as const) {
      if (r[key] === "fence" && rs.fence_device.length === 0) out.push({ severity: "warning", path: ["resources", "resource", i, key], message: `${key} = "fence" without a fence device blocks the group instead` });
    }
    if (r.on_fail_stop === "ignore" && r.exclusive)
      out.push({ severity: "warning", path: ["resources", "resource", i, "on_fail_stop"], message: `on_fail_stop = "ignore" takes a failed stop as done: the exclusive resource "${r.name}" may then run on two nodes at once`, hint: "leave it unset (fence, or block without fencing)" });
    if (r.on_fail_start === "ignore")
      out.push({ severity: "warning", path: ["resources", "resource", i, "on_fail_start"], message: `on_fail_start = "ignore" takes a failed start of "${r.name}" as running: the group is never recovered elsewhere` });
  });
  const groupOfMember = new Map<string, string>();
  const groupNames = new Set<string>();
  rs.group.forEach((g, i) => {
    if (groupNames.has(g.name)) err(["group", i, "name"], `group name "${g.name}" is used twice`, "a unique name");
    if (resourceNames.has(g.name)) err(["group", i, "name"], `"${g.name}" is already a resource's name; groups and resources share names`, "a name no resource has");
    groupNames.add(g.name);
    g.members.forEach((m, j) => {
      if (!resourceNames.has(m)) err(["group", i, "members", j], `no resource named "${m}"`, "a resource of [[resources.resource]]", suggest(m, resourceNames));
      const other = groupOfMember.get(m);
      if (other) err(["group", i, "members", j], `resource "${m}" is already a member of group "${other}"`, "each resource in at most one group");
      groupOfMember.set(m, g.name);
    });
    if (g.preferred !== undefined && !members.includes(g.preferred)) err(["group", i, "preferred"], `no member node named "${g.preferred}"`, `one of ${members.join(", ")}`);
    if (g.stickiness !== undefined && g.auto_failback !== undefined) err(["group", i], "stickiness and auto_failback both given; auto_failback is stickiness 0 (true) or INFINITY (false)", "one of them");
    cloneProblems(["group", i], g, g.members.length);
  });
  rs.resource.forEach((r, i) => {
    const group = groupOfMember.get(r.name);
    const given = CLONE_KEYS.find((k) => r[k] !== undefined);
    if (group && given) err(["resource", i, given], `resource "${r.name}" is a member of group "${group}": a group is cloned whole`, `${given} on [[resources.group]] "${group}"`);
    else cloneProblems(["resource", i], r, 1);
  });
  const groups = new Set(groupsOf(rs).map((g) => g.name));
  const knownGroup = (path: (string | number)[], name: string): void => {
    if (!groups.has(name)) err(path, `no group named "${name}"`, "a group, or a resource in no group", suggest(name, groups));
  };
  const knownNode = (path: (string | number)[], name: string): void => {
    if (!members.includes(name)) err(path, `no member node named "${name}"`, `one of ${members.join(", ")}`);
  };
  const attributes = new Set(nodes.flatMap((n) => Object.keys(n.attributes ?? {})));
  rs.location.forEach((l, i) => {
    knownGroup(["location", i, "group"], l.group);
    if (l.node !== undefined) knownNode(["location", i, "node"], l.node);
    if ((l.node === undefined) === (l.rule === undefined)) err(["location", i], "a location names a node or gives a rule", "one of node or rule");
    if (l.rule === undefined) return;
    const tests = parseRule(l.rule);
    if (typeof tests === "string") return err(["location", i, "rule"], tests, 'tests like `ssd = true and rack != "b"`');
    for (const t of tests) {
      if (t.attribute !== "#uname" && !attributes.has(t.attribute))
        out.push({ severity: "warning", path: ["resources", "location", i, "rule"], message: `no node has the attribute "${t.attribute}": the rule ${t.op === "ne" ? "passes on every node" : "passes on none"}`, ...(suggest(t.attribute, attributes) ? { hint: suggest(t.attribute, attributes) } : {}) });
    }
  });
  const colocated = new Map<string, number>();
  const promotable = new Set(groupsOf(rs).filter((g) => g.clone?.promotable).map((g) => g.name));
  const promotableOnly = (path: (string | number)[], name: string, key: string): void => {
    if (groups.has(name) && !promotable.has(name)) err(path, `"${name}" is not a promotable clone: ${key} names a promotable clone's promoted instances`, "promotable = true on it, or no " + key);
  };
  rs.colocation.forEach((c, i) => {
    knownGroup(["colocation", i, "group"], c.group);
    knownGroup(["colocation", i, "with"], c.with);
    if (c.with_role) promotableOnly(["colocation", i, "with_role"], c.with, "with_role");
    if (c.group === c.with) err(["colocation", i], `group "${c.group}" is colocated with itself`);
    const before = colocated.get(`${c.group} ${c.with}`);
    if (before !== undefined) err(["colocation", i], `"${c.group}" is colocated with "${c.with}" already (colocation ${before})`, "one colocation a pair");
    else colocated.set(`${c.group} ${c.with}`, i);
    const back = colocated.get(`${c.with} ${c.group}`);
    const mandatory = (score: number | string): number => (scoreOf(score) >= INFINITY ? 1 : scoreOf(score) <= MINUS_INFINITY ? -1 : 0);
    if (back !== undefined && mandatory(c.score) * mandatory(rs.colocation[back]!.score) < 0) err(["colocation", i], `"${c.group}" and "${c.with}" must run together (INFINITY) and apart (-INFINITY) by colocation ${back} and this one`, "scores that agree");
  });
  rs.order.forEach((o, i) => {
    knownGroup(["order", i, "first"], o.first);
    knownGroup(["order", i, "then"], o.then);
    if (o.first_action) promotableOnly(["order", i, "first_action"], o.first, "first_action");
    if (o.first === o.then) err(["order", i], `group "${o.first}" is ordered after itself`);
  });
  if (!out.some((p) => p.severity === "error")) {
    const loop = heldLoop(clusterConfigOf(rs));
    if (loop) {
      const waits = loop.groups.slice(1).map((g, j) => (j === 0 ? `${loop.groups[0]} waits for ${g}` : `${loop.groups[j]} for ${g}`));
      err(["order", loop.order], `the constraints loop through this order (${waits.join(", ")}): none of them would ever start`, "no loop through an order (colocations alone may loop)");
    }
  }
  utilizationProblems(rs, nodes).forEach((p) => out.push(p));
  const clones = new Set(groupsOf(rs).filter((g) => g.clone).map((g) => g.name));
  const interleaveUnused = (path: (string | number)[], name: string, c: CloneRaw): void => {
    if (c.clone && c.interleave && !rs.order.some((o) => o.then === name && clones.has(o.first)))
      out.push({ severity: "warning", path: ["resources", ...path, "interleave"], message: `interleave has no effect: "${name}" is ordered after no clone` });
  };
  rs.group.forEach((g, i) => interleaveUnused(["group", i], g.name, g));
  rs.resource.forEach((r, i) => interleaveUnused(["resource", i], r.name, r));
  if (rs.no_quorum_policy !== "stop" && rs.fence_device.length === 0)
    out.push({
      severity: "warning",
      path: ["resources", "no_quorum_policy"],
      message:
        rs.no_quorum_policy === "ignore"
          ? `no_quorum_policy = "ignore" without a fence device: after a split each side acts as if quorate and starts the other's groups, so exclusive resources run twice`
          : `no_quorum_policy = "freeze" without a fence device: a node cut off keeps its groups while the quorate side starts them too`,
      hint: "add a fence_device, or keep no_quorum_policy = \"stop\"",
    });
  else if (rs.no_quorum_policy === "ignore")
    out.push({ severity: "warning", path: ["resources", "no_quorum_policy"], message: `no_quorum_policy = "ignore": each partition acts as if quorate and fences the other; with two nodes, a cut link ends in a fence race` });
  const devices = new Set<string>();
  rs.fence_device.forEach((d, i) => {
    if (devices.has(d.name)) err(["fence_device", i, "name"], `fence device name "${d.name}" is used twice`, "a unique name");
    devices.add(d.name);
    (d.nodes ?? []).forEach((n, j) => knownNode(["fence_device", i, "nodes", j], n));
    try {
      createFenceDevice(d);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      err(["fence_device", i], e.message);
    }
    for (const n of Object.keys(d.host_map ?? {})) knownNode(["fence_device", i, "host_map", n], n);
  });
  return out;
}

/** A fence device's param that holds a secret: fence-agents' password, passwd, snmp_priv_passwd, community and the like. */
const SECRET_PARAM = /pass|secret|token|community/i;

/** The secrets of [resources]: each fence device's password_file, and each secret written in its params. */
export function resourcesSecrets(c: RawConfig): ConfigSecret[] {
  return (c.resources?.fence_device ?? []).flatMap((d, i) => [
    ...(d.password_file !== undefined ? [{ path: ["resources", "fence_device", i, "password_file"], file: d.password_file }] : []),
    ...Object.keys(d.params ?? {})
      .filter((k) => SECRET_PARAM.test(k))
      .map((k) => ({ path: ["resources", "fence_device", i, "params", k] })),
  ]);
}

/**
 * The module's rules on the whole config: its section's, and a warning for a
 * pair that can neither fence nor ask an arbiter (with or without [resources]).
 */
export function resourcesRules(c: RawConfig, context: { agents: readonly AgentKind[] } = { agents: [] }): Finding[] {
  const out = c.resources ? resourcesProblems(c.resources, c.nodes, context.agents) : [];
  const members = c.nodes.filter((n) => n.roles.includes("member"));
  const arbiters = c.nodes.filter((n) => n.roles.includes("arbiter"));
  if (members.length === 2 && arbiters.length === 0 && !c.resources?.fence_device.length)
    out.push({
      severity: "warning",
      path: ["nodes"],
      message: "two members with no arbiter and no fencing: after a split neither side can tell a dead peer from a cut link",
      hint: "add a node with roles = [\"arbiter\"]",
    });
  if (c.resources && c.resources.no_quorum_policy !== "stop" && c.watchdog)
    out.push({
      severity: "warning",
      path: ["resources", "no_quorum_policy"],
      message: `no_quorum_policy = "${c.resources.no_quorum_policy}" with a [watchdog]: a node without quorum that keeps an exclusive resource stops petting its watchdog and is reset`,
      hint: 'keep no_quorum_policy = "stop" with a watchdog',
    });
  out.push(...unfencedStopProblems(c));
  return out;
}

/**
 * Without a fence device, a node cut off from quorum is the only one that can
 * stop its groups, and it has STOP_MARGIN of a deadtime to do so before the
 * others may start them (core/cluster.ts). A group whose stops may take longer
 * (the sum of its members' stop timeouts) could run on two nodes for that
 * long: one warning names the slowest such group.
 */
function unfencedStopProblems(c: RawConfig): Finding[] {
  if (!c.resources || c.resources.fence_device.length > 0 || !c.heartbeat) return [];
  const deadtime = parseDuration(c.heartbeat.deadtime);
  if (deadtime === undefined) return [];
  const margin = STOP_MARGIN * deadtime;
  const stopTimeout = new Map(c.resources.resource.map((r) => [r.name, ms(r.stop_timeout)]));
  const slowest = groupsOf(c.resources)
    .map((g) => ({ name: g.name, stopMs: g.members.reduce((sum, m) => sum + (stopTimeout.get(m) ?? 0), 0) }))
    .sort((a, b) => b.stopMs - a.stopMs)[0];
  if (!slowest || slowest.stopMs <= margin) return [];
  return [
    {
      severity: "warning",
      path: ["resources", "fence_device"],
      message: `without fencing, group "${slowest.name}" may take up to ${formatDuration(slowest.stopMs)} to stop (its members' stop_timeout), but a node cut off from quorum has ${formatDuration(margin)} (the stop margin, ${STOP_MARGIN} × deadtime ${c.heartbeat.deadtime}) before another may start it: a slower stop runs it on two nodes at once`,
      hint: 'add a fence_device (agent = "watchdog" needs no hardware), or lower the stop timeouts',
    },
  ];
}
