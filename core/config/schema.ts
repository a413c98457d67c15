/**
 * The config schema. It is JSON Schema (TypeBox builds it), so `tandem config
 * schema` prints exactly what `tandem check` enforces. Core defines the
 * cluster's own keys (cluster, nodes, api, log, runtime); each module brings
 * its sections, rules and agent kinds in its descriptor, and `configSchema`
 * composes the schema from the list of modules it is given. An unknown
 * section or key is an error.
 */
import type { KeyPath } from "./locate.ts";
import { PRIORITIES } from "../os/sched.ts";
import { Type, type Static, type TObject, type TSchema } from "@sinclair/typebox";
import { Duration, Name } from "./primitives.ts";
import type { Finding } from "./problems.ts";

export const ROLES = ["member", "arbiter"] as const;
export const Role = Type.Union(ROLES.map((r) => Type.Literal(r)), {
  description: "member: a full node that can run resources; arbiter: a small third node that only votes in a split",
});

/** A node attribute's or a utilization's name. */
export const ATTRIBUTE_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]{0,62}$";

export const NodeSchema = Type.Object(
  {
    name: Name("the node's name; a node finds itself by --node or its hostname"),
    address: Type.String({ format: "ipv4", description: "the node's cluster address (IPv4)" }),
    roles: Type.Array(Role, { minItems: 1, uniqueItems: true, default: ["member"] }),
    attributes: Type.Optional(
      Type.Record(Type.String({ pattern: ATTRIBUTE_PATTERN }), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
        description: 'what the node is, for location rules (e.g. { rack = "a", ssd = true })',
      }),
    ),
    capacity: Type.Optional(
      Type.Record(Type.String({ pattern: ATTRIBUTE_PATTERN }), Type.Integer({ minimum: 0 }), {
        description: "what the node offers to resources' utilization (e.g. { cpu = 8, memory = 16384 }), read when placement is utilization or balanced; a name left out is 0",
      }),
    ),
  },
  { additionalProperties: false },
);

export const ApiSchema = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 9480, description: "TCP port of the HTTP API and dashboard" }),
    bind: Type.Optional(Type.String({ format: "ipv4", examples: ["127.0.0.1"], description: "address to listen on; defaults to the node's own address" })),
    token_file: Type.Optional(Type.String({ minLength: 1, examples: ["api.token"], description: "file holding the bearer token that mutating endpoints require (mode 0600); without it they are refused" })),
    read_token_file: Type.Optional(
      Type.String({ minLength: 1, examples: ["read.token"], description: "file holding a bearer token that reading endpoints require (status, events, metrics, the modules' GETs; mode 0600); /healthz, the dashboard page and /v1/openapi.json stay open; unset: reading is open" }),
    ),
    cert_file: Type.Optional(Type.String({ minLength: 1, examples: ["api.crt"], description: "PEM certificate (chain) the API serves HTTPS with, with key_file; unset: plain HTTP" })),
    key_file: Type.Optional(Type.String({ minLength: 1, examples: ["api.key"], description: "PEM private key of cert_file (mode 0600)" })),
    ca_file: Type.Optional(Type.String({ minLength: 1, examples: ["ca.crt"], description: "PEM CA certificate the CLI verifies the API's certificate with (a self-signed certificate given here is pinned); unset: the system's CAs" })),
    insecure_http: Type.Boolean({
      default: false,
      description: "allow mutating calls (with the token) over plain HTTP off loopback: the CLI sends them and the API serves them (else 403); for an isolated network only (`tandem check` warns)",
    }),
    hosts: Type.Array(Type.String({ minLength: 1, pattern: "^[A-Za-z0-9.-]+$" }), {
      default: [],
      examples: [["tandem.example.com"]],
      description: "names (DNS) the API may be asked by, besides the nodes' addresses, the bind address and localhost; a Host header naming anything else is refused (DNS rebinding)",
    }),
    max_connections: Type.Integer({ minimum: 1, maximum: 8192, default: 128, description: "open API connections; past it a new one is closed at once (each costs 3 file descriptors)" }),
    max_sse_clients: Type.Integer({ minimum: 1, maximum: 1024, default: 32, description: "open /v1/events streams; past it 503" }),
  },
  { additionalProperties: false, default: {} },
);

export const LogSchema = Type.Object(
  {
    level: Type.Union(
      ["trace", "debug", "info", "warn", "error"].map((l) => Type.Literal(l)),
      { default: "info", description: "the least severe log line written (JSON lines on stdout); events are logged at info" },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const RuntimeSchema = Type.Object(
  {
    stop_timeout: Duration("bound on a clean stop of all modules; past it the process exits anyway", "10s"),
    module_timeout: Duration("bound on one module's start or reload", "30s"),
    priority: Type.Union(
      PRIORITIES.map((p) => Type.Literal(p)),
      {
        default: "high",
        description:
          "the control thread's scheduling (heartbeat, membership, quorum, the coordinator): high, nice -20 on that thread (and on its session's autogroup when the node leads its session, as a service does); realtime, SCHED_RR 10 (Heartbeat's `realtime on`; measured worse under an API flood, see core/os/sched.ts); normal, unchanged. The API and checks threads and every child process stay at normal priority. Needs root (CAP_SYS_NICE); without it the node logs a line and runs at normal priority. Read at start: a reload does not change it",
      },
    ),
  },
  { additionalProperties: false, default: {} },
);

const CORE_PROPERTIES = {
  cluster: Name("the cluster's name; frames and nodes of another cluster are refused"),
  key_file: Type.String({ minLength: 1, description: "the cluster key written by `tandem keygen` (mode 0600), relative to this file" }),
  state_dir: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "where this node keeps what must survive a restart (standby, moves, cleanups, the director's overrides), relative to this file; read at start (`tandem run --state-dir` overrides it); unset: kept in memory only",
    }),
  ),
  nodes: Type.Array(NodeSchema, { minItems: 1, description: "every node of the cluster, the same list on every node" }),
  api: ApiSchema,
  log: LogSchema,
  runtime: RuntimeSchema,
};

const CoreSchema = Type.Object(CORE_PROPERTIES);

/**
 * The sections of the modules, as their config.ts declares them by merging
 * into this interface (`declare module ".../core/config/schema.ts"`), so a
 * module's code reads `config.raw.<its key>` typed, and core names none.
 */
export interface ModuleSections {}

export type RawConfig = Static<typeof CoreSchema> & ModuleSections;
export type RawNode = Static<typeof NodeSchema>;
export type RoleName = (typeof ROLES)[number];

/** A resource agent kind a module runs: `agent = "<kind>"` in a resource sends its actions to that module. */
export interface AgentKind {
  kind: string;
  /** For the schema's description of a resource's `agent`. */
  description: string;
  /** The params a resource of this kind gives (strings, each required, e.g. `volume`); none when absent. */
  params?: readonly string[];
}

export interface ConfigSection {
  /** The top-level TOML key (a table or an array of tables); optional in the file. */
  key: string;
  /** Its schema; a function when it depends on the agent kinds of all the modules (as [resources] does). */
  schema: TSchema | ((agents: readonly AgentKind[]) => TSchema);
}

/**
 * A secret a section holds: in a file of its own (`file`, absolute or relative to the config file),
 * which loadConfig checks as it checks the key file (core/secret-file.ts), or
 * written in the config itself (no `file`), which loadConfig warns about when
 * the config file is readable by others. `path` is where the config names it.
 */
export interface ConfigSecret {
  path: KeyPath;
  file?: string;
}

/** What a module descriptor brings to the config (core/module.ts ModuleDef extends it). */
export interface ModuleConfigSpec {
  name: string;
  config?: {
    sections: readonly ConfigSection[];
    /** Cross-field rules on the whole document once it fits the schema (defaults filled in); `agents`: every module's agent kinds. */
    rules?(raw: RawConfig, context: { agents: readonly AgentKind[] }): Finding[];
    /** The secrets of its section, for loadConfig to check (see ConfigSecret). */
    secrets?(raw: RawConfig): ConfigSecret[];
  };
  /** The resource agent kinds this module registers. */
  agents?: readonly AgentKind[];
}

/** The agent kinds of all the modules, in module order; a kind registered twice is a programming error. */
export function agentKinds(modules: readonly ModuleConfigSpec[]): AgentKind[] {
  const kinds = modules.flatMap((m) => m.agents ?? []);
  const seen = new Set<string>();
  for (const k of kinds) {
    if (seen.has(k.kind)) throw new Error(`agent kind "${k.kind}" is registered by two modules`);
    seen.add(k.kind);
  }
  return kinds;
}

const composed = new WeakMap<readonly ModuleConfigSpec[], TObject>();

/** The schema of a config for these modules (built once per list); a key claimed twice is a programming error. */
export function configSchema(modules: readonly ModuleConfigSpec[]): TObject {
  const known = composed.get(modules);
  if (known) return known;
  const agents = agentKinds(modules);
  const properties: Record<string, TSchema> = { ...CORE_PROPERTIES };
  for (const m of modules)
    for (const s of m.config?.sections ?? []) {
      if (s.key in properties) throw new Error(`config key "${s.key}" is claimed twice (module ${m.name})`);
      properties[s.key] = Type.Optional(typeof s.schema === "function" ? s.schema(agents) : s.schema);
    }
  const schema = Type.Object(properties, { additionalProperties: false, $id: "https://tandem.invalid/config.schema.json", title: "Tandem cluster configuration" });
  composed.set(modules, schema);
  return schema;
}
