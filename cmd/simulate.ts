/**
 * `tandem simulate`: what the resource manager would do, without doing it (as
 * crm_simulate): the config's resources and a cluster state in, the policy's
 * transition and notes out.
 */
import { readFileSync } from "node:fs";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { type Command, EXIT_OK, EXIT_USAGE, fail, parse } from "./cli.ts";
import { parseConfig } from "../core/config/load.ts";
import { formatProblem } from "../core/config/problems.ts";
import { clusterConfigOf, nodeTraitsOf } from "../modules/resources/config.ts";
import { plan } from "../modules/resources/policy.ts";
import type { ClusterInput, ErrorClass, FailedOp, ResourceState } from "../modules/resources/model.ts";
import { MODULES } from "../modules/index.ts";
import { NAME_PATTERN } from "../core/config/primitives.ts";
import { STATES } from "../modules/resources/wire.ts";

const Name = Type.String({ pattern: NAME_PATTERN });
const MEMBERSHIPS = ["up", "leaving", "down", "unclean"] as const;
const FENCE_STATES = ["none", "fenced", "failed"] as const;

/** The cluster part of `tandem status --json`; everything may be left out. */
const StateFile = Type.Object(
  {
    self: Type.Optional(Name),
    quorum: Type.Optional(Type.Boolean()),
    now: Type.Optional(Type.Number()),
    nodes: Type.Optional(
      Type.Record(
        Name,
        Type.Object(
          {
            membership: Type.Optional(Type.Union(MEMBERSHIPS.map((m) => Type.Literal(m)))),
            standby: Type.Optional(Type.Boolean()),
            fence: Type.Optional(Type.Union(FENCE_STATES.map((f) => Type.Literal(f)))),
          },
          { additionalProperties: false },
        ),
        { additionalProperties: false },
      ),
    ),
    states: Type.Optional(Type.Record(Name, Type.Record(Name, Type.Union(STATES.map((s) => Type.Literal(s))), { additionalProperties: false }), { additionalProperties: false })),
    failures: Type.Optional(
      Type.Array(
        Type.Object(
          {
            resource: Name,
            node: Name,
            count: Type.Integer({ minimum: 1 }),
            lastFailedAt: Type.Number(),
            startFailed: Type.Boolean(),
            promoteFailed: Type.Optional(Type.Boolean()),
            op: Type.Optional(Type.Union(["start", "stop", "monitor", "promote", "demote"].map((o) => Type.Literal(o as FailedOp)))),
            error: Type.Optional(Type.Union(["soft", "hard", "fatal"].map((e) => Type.Literal(e as ErrorClass)))),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    disabled: Type.Optional(Type.Array(Name)),
    maintenance: Type.Optional(Type.Object({ cluster: Type.Boolean(), nodes: Type.Array(Name), resources: Type.Array(Name) }, { additionalProperties: false })),
    moves: Type.Optional(Type.Array(Type.Object({ group: Name, node: Name, until: Type.Union([Type.Number(), Type.Null()]) }, { additionalProperties: false }))),
  },
  { additionalProperties: true },
);

type StateFileT = Static<typeof StateFile>;

export const simulate: Command = {
  name: "simulate",
  summary: "print what the resource manager would do in a given cluster state",
  help: `Usage: tandem simulate -c FILE [--state STATE.json] [--json]

Runs the resource manager's policy on the config's resources and a cluster
state, and prints the actions it would take (each with what it waits for), its
notes, and where each group is to run once they are done (a clone: the node of
each instance). Nothing is done. The state file is JSON, every field optional:
  self      the node planning (default: the first member)
  quorum    whether it has quorum (default true)
  now       wall-clock ms, for failure and move expiry (default: now)
  nodes     { NAME: { membership: up|leaving|down|unclean, standby, fence: none|fenced|failed } }
  states    { RESOURCE: { NODE: stopped|started|failed-start|failed-monitor|failed-stop|unknown } }
  failures  [ { resource, node, count, lastFailedAt, startFailed, promoteFailed, op: start|stop|monitor|promote|demote, error: soft|hard|fatal } ]
  moves     [ { group, node, until } ]
  disabled  [ GROUP or RESOURCE ]
  maintenance { cluster, nodes: [NODE], resources: [GROUP or RESOURCE] }
Members left out are up; states left out are stopped. The "cluster" field of
\`tandem status --json\` is such a file.

Options:
  -c, --config FILE    the cluster config (TOML)
      --state FILE     the cluster state (default: every member up, nothing running)
      --json           print { actions, notes, placement } as JSON
  -h, --help           this help`,
  async main(argv) {
    const { values } = parse(argv, { config: { type: "string", short: "c" }, state: { type: "string" }, json: { type: "boolean" } });
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (!values.config) fail("missing -c FILE");
    const file = values.config;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      fail(`cannot read ${file}: ${(e as Error).message}`);
    }
    const loaded = parseConfig(text, file, MODULES);
    if (!loaded.ok) {
      for (const p of loaded.problems) console.error(`error: ${formatProblem(file, p)}`);
      return EXIT_USAGE;
    }
    const rs = loaded.config.raw.resources;
    if (!rs) fail(`${file} has no [resources] section`);
    const state = values.state === undefined ? {} : readState(values.state);
    const members = loaded.config.nodes.filter((n) => n.roles.includes("member")).map((n) => n.name);
    const traits = nodeTraitsOf(loaded.config.raw);
    for (const n of Object.keys(state.nodes ?? {})) if (!members.includes(n)) fail(`${values.state}: nodes.${n}: no member node of that name in ${file}`);
    const config = clusterConfigOf(rs);
    const states: Record<string, Record<string, ResourceState>> = {};
    for (const r of config.resources) {
      states[r.name] = {};
      for (const n of members) states[r.name]![n] = state.states?.[r.name]?.[n] ?? "stopped";
    }
    const input: ClusterInput = {
      config,
      self: state.self ?? members[0]!,
      nodes: members.map((name) => ({ name, membership: "up", standby: false, fence: "none", ...traits[name], ...state.nodes?.[name] })),
      quorum: state.quorum ?? true,
      states,
      failures: state.failures ?? [],
      moves: state.moves ?? [],
      now: state.now ?? Date.now(),
      disabled: state.disabled ?? [],
      maintenance: state.maintenance ?? { cluster: false, nodes: [], resources: [] },
    };
    const out = plan(input);
    if (values.json) console.log(JSON.stringify(out, null, 2));
    else {
      if (!out.actions.length) console.log("nothing to do");
      for (const a of out.actions) console.log(`${a.id}${a.after.length ? `  after ${a.after.join(", ")}` : ""}  (${a.reason})`);
      for (const n of out.notes) console.log(`note: ${n}`);
      for (const g of config.groups) {
        const on = out.placement[g.name];
        const promoted = out.promoted?.[g.name];
        if (on) console.log(`${g.clone ? "clone" : "group"} ${g.name}: ${on.length ? `on ${on.join(", ")}` : "stopped"}${promoted ? `; promoted ${promoted.length ? `on ${promoted.join(", ")}` : "nowhere"}` : ""}`);
      }
    }
    return EXIT_OK;
  },
};

function readState(path: string): StateFileT {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    fail(`${path}: not a readable JSON file: ${(e as Error).message}`);
  }
  if (!Value.Check(StateFile, value)) {
    const first = Value.Errors(StateFile, value).First();
    fail(`${path}: ${first?.path || "(top level)"}: ${first?.message ?? "not a cluster state"}`);
  }
  return value;
}
