/**
 * What the policy engine reads: the resource definitions from the config and
 * the cluster as it is now. Plain data, no behaviour, so that a scenario file
 * can hold it and the shell can build it from the config, the heartbeat's
 * membership and the executor's records.
 *
 * Placement is by scores, as Pacemaker's, because location preferences are
 * scores too: a group's `stickiness` is added on the node where it runs now.
 * Heartbeat's `auto_failback` maps onto it: `auto_failback = true` is
 * stickiness 0 (the preferred node's bonus wins, the group goes home) and
 * `auto_failback = false` is `INFINITY` (it stays until it fails or an admin
 * moves it). Values in between weigh against the location scores.
 */

/** Scores saturate at these; `-INFINITY` on a node means "never there". */
export const INFINITY = 1_000_000;
export const MINUS_INFINITY = -INFINITY;
/** What `preferred` adds on the group's preferred node. */
export const PREFERRED_SCORE = 100;

/**
 * What a failed operation leads to (Pacemaker's on-fail). restart: a monitor
 * failure restarts in place, a start failure bans the node (Pacemaker's
 * start-failure-is-fatal); move: the node is banned at once; ignore: taken as
 * if it succeeded, never counted; stop: stopped and started nowhere until
 * cleanup; block: the group is held; standby: the node runs nothing until
 * cleanup; fence: the node is fenced (held without fencing).
 */
export type OnFail = "restart" | "move" | "fence" | "block" | "ignore" | "stop" | "standby";
/** What a failed stop may lead to: the resource may still run, so only these make sense. */
export type OnFailStop = "fence" | "block" | "ignore";
/** The operations a failure is recorded for. A failed promote or demote is handled as a monitor's (on_fail). */
export type FailedOp = "start" | "stop" | "monitor" | "promote" | "demote";
/**
 * As Pacemaker grades an OCF exit code: soft (the operation's on_fail), hard
 * (2 invalid argument, 3 unimplemented, 4 insufficient privileges, 5 not
 * installed: the node is banned for the resource, which recovers elsewhere),
 * fatal (6 not configured: stopped everywhere until cleanup).
 */
export type ErrorClass = "soft" | "hard" | "fatal";
/** Without quorum: stop the groups with exclusive members, freeze (start nothing, stop nothing), or ignore (act as if quorate). */
export type NoQuorumPolicy = "stop" | "freeze" | "ignore";

export interface ResourceDef {
  name: string;
  /** Opaque to the policy: which agent the executor runs (e.g. "ocf:heartbeat:IPaddr2"). */
  agent: string;
  monitorIntervalMs: number;
  monitorTimeoutMs: number;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  /** What a failed monitor leads to. */
  onFail: OnFail;
  /** What a failed start leads to. */
  onFailStart: OnFail;
  /** What a failed stop leads to (fence without fencing is block). */
  onFailStop: OnFailStop;
  /** Failures on one node before the group leaves it; null: never for failures counted. */
  migrationThreshold: number | null;
  /** A node's failures are forgotten this long after the last one; null: kept until cleanup. */
  failureTimeoutMs: number | null;
  /** May run on one node at a time (an address, a file system). */
  exclusive: boolean;
  /** What it takes of a node's capacity, by name (Pacemaker's utilization); a group takes its members' sum. */
  utilization?: Record<string, number>;
  /**
   * false: in its group it starts after the members before it, but its stop is not ordered before theirs, and their
   * starts elsewhere do not wait for its stop (its own start there does): it holds nothing they must release (a
   * director whose dataplane every node keeps). Pacemaker's symmetrical=false order. Absent: true.
   */
  symmetrical?: boolean;
}

export interface GroupDef {
  name: string;
  /** Resource names: started left to right on one node, stopped right to left. */
  members: string[];
  preferredNode: string | null;
  stickiness: number;
  /**
   * Heartbeat's haresources semantics: the group runs whole or not at all. By
   * default (Pacemaker's), the members that can run do, in order, up to the
   * first that cannot.
   */
  allOrNothing?: boolean;
  /** Run on several nodes at once, one instance per node. */
  clone?: CloneDef;
}

/** A clone's instances: one per node, each the whole group (or its leading members that can run). */
export interface CloneDef {
  /** At most this many instances; null: one on every node that can run it. */
  max: number | null;
  /** An order after another clone waits for its instance on the same node only, not all of them. */
  interleave: boolean;
  /**
   * A promotable clone (Pacemaker's promotable=true, DRBD's primary/secondary): of its instances, up to
   * `promotedMax` are promoted. Its one member's agent has promote and demote actions, and its monitor answers
   * promoted (OCF 8) where it is.
   */
  promotable?: { promotedMax: number };
}

/** The role of a promotable clone a constraint names: its promoted instances only (Pacemaker's role Promoted). */
export type Role = "promoted";

/** A node attribute's value, as the config gives it (`rack = "a"`, `ssd = true`, `cores = 8`). */
export type AttributeValue = string | number | boolean;

/** One test on a node's attribute; `#uname` is the node's name. An attribute the node lacks passes `ne` only. */
export interface AttributeTest {
  attribute: string;
  op: "eq" | "ne" | "lt" | "lte" | "gt" | "gte";
  value: AttributeValue;
}

/** On one node (`node`), or on every node whose attributes pass every test of `rule`: exactly one of them. */
export interface LocationPref {
  group: string;
  node?: string;
  rule?: AttributeTest[];
  /** Added to the node's score; MINUS_INFINITY bans the node. */
  score: number;
}

/**
 * "group with withGroup" at a score: INFINITY, group runs only where withGroup
 * runs; MINUS_INFINITY, never there (anti-colocation); a finite score is added
 * to the node where withGroup runs. withGroup is placed first, weighing the
 * groups that must (or must not) run with it.
 */
export interface Colocation {
  group: string;
  withGroup: string;
  score: number;
  /** withGroup is a promotable clone and only its promoted instances count (Pacemaker's with-rsc-role=Promoted). */
  withRole?: Role;
}

/**
 * "first before then": then starts after first, stops before it; then runs only while first does. With
 * `firstAction = "promote"` (first a promotable clone): then starts after first's promotion, stops before its
 * demotion, and runs only while an instance of first is promoted (Pacemaker's first-action=promote).
 */
export interface Order {
  first: string;
  then: string;
  firstAction?: "promote";
}

export interface ClusterConfig {
  resources: ResourceDef[];
  groups: GroupDef[];
  locations: LocationPref[];
  colocations: Colocation[];
  orders: Order[];
  fencing: boolean;
  /**
   * Pacemaker's placement-strategy. default: ties go to the node running the
   * fewest resources; utilization: and a node without the free capacity a
   * group takes cannot run it; balanced: and ties go first to the node with
   * the most free capacity. Absent: default.
   */
  placement?: Placement;
  /** Default stop. */
  noQuorumPolicy?: NoQuorumPolicy;
}

export type Placement = "default" | "utilization" | "balanced";

/**
 * As the heartbeat reports it: `up`; `leaving` (said goodbye after stopping
 * its resources); `down` (gone after a goodbye); `unclean` (lost without one:
 * it may still run anything it ran).
 */
export type Membership = "up" | "leaving" | "down" | "unclean";

/**
 * Fencing since the node was last lost: not done, done (or confirmed down by
 * an admin), attempted and failed. Read only while the node is not up.
 */
export type FenceState = "none" | "fenced" | "failed";

export interface NodeState {
  name: string;
  membership: Membership;
  standby: boolean;
  fence: FenceState;
  /** From the config: what location rules test. */
  attributes?: Record<string, AttributeValue>;
  /** From the config: what the node offers, by utilization name; a name missing is 0. */
  capacity?: Record<string, number>;
}

/**
 * `failed-stop` means blocked: it may still run and cannot be stopped. `promoted`: started, and promoted (a
 * promotable clone's instance); `started` is then its unpromoted role.
 */
export type ResourceState = "stopped" | "started" | "promoted" | "failed-start" | "failed-monitor" | "failed-stop" | "unknown";

export interface FailRecord {
  resource: string;
  node: string;
  count: number;
  /** Time of the last failure (same clock as `now`). */
  lastFailedAt: number;
  /** One of them was a start failure: fatal on that node until they expire. */
  startFailed: boolean;
  /** One of them was a failed promote: not promoted on that node until they expire. */
  promoteFailed?: boolean;
  /** The operation that failed last; missing: start if startFailed, else monitor. */
  op?: FailedOp;
  /** The worst error among them; missing: soft. */
  error?: ErrorClass;
}

/**
 * Where the manager acts on nothing (Pacemaker's maintenance-mode and
 * is-managed=false): the whole cluster, nodes, resources or groups by name.
 * Monitors and probes still run and report.
 */
export interface Maintenance {
  cluster: boolean;
  nodes: string[];
  resources: string[];
}

export interface Move {
  group: string;
  node: string;
  /** The move no longer counts from this time; null: until cleared. */
  until: number | null;
}

export interface ClusterInput {
  config: ClusterConfig;
  /** The node computing the plan. */
  self: string;
  /** In config order: the order breaks ties. */
  nodes: NodeState[];
  /** The heartbeat's quorum for `self`. */
  quorum: boolean;
  /** By resource, then node; a missing entry is "unknown". */
  states: Record<string, Record<string, ResourceState>>;
  failures: FailRecord[];
  moves: Move[];
  now: number;
  /** Groups and resources an admin disabled (Pacemaker's target-role=Stopped). */
  disabled?: string[];
  maintenance?: Maintenance;
  /**
   * The maintenance a node gone (lost, leaving) may have kept to, so stopped
   * nothing there; default `maintenance`. The shell gives what this node holds
   * with what every member last agreed on (admin states travel in reports:
   * a peer may know a change this node does not, or not know one it does).
   */
  goneMaintenance?: Maintenance;
  /**
   * By resource, then node: the promotion score its agent last reported there (a promotable clone's member);
   * missing: no preference (0). MINUS_INFINITY: never promoted there (a volume not up to date).
   */
  promotion?: Record<string, Record<string, number>>;
}

export type ActionKind = "start" | "stop" | "promote" | "demote" | "monitor" | "fence";

export interface Action {
  id: string;
  kind: ActionKind;
  resource?: string;
  /** Where it runs; for a fence, the node fenced. */
  node: string;
  /** Monitors only: 0 is a one-off probe, otherwise the recurring interval. */
  intervalMs?: number;
  timeoutMs?: number;
  /** Ids of actions that must have succeeded first; all earlier in the list. */
  after: string[];
  reason: string;
}

export interface Plan {
  actions: Action[];
  notes: string[];
  /** By group, the nodes it is to run on once the actions are done (a clone: one per instance), in config order. */
  placement: Record<string, string[]>;
  /** By promotable clone, the nodes of its instances to be promoted once the actions are done. */
  promoted?: Record<string, string[]>;
}
