/**
 * The config schema. It is JSON Schema (TypeBox builds it), so `tandem config
 * schema` prints exactly what `tandem check` enforces. Each module defines its
 * section in its own folder; this file is where they are composed (one line
 * each). An unknown section or key is an error.
 */
import { PRIORITIES } from "../os/sched.ts";
import { Type, type Static } from "@sinclair/typebox";
import { Duration, Name } from "./primitives.ts";
import { HeartbeatSchema } from "../../modules/heartbeat/config.ts";
import { ResourcesSchema } from "../../modules/resources/config.ts";
import { ServicesSchema } from "../../modules/checks/config.ts";
import { DirectorSchema } from "../../modules/director/config.ts";

export const ROLES = ["member", "arbiter"] as const;
export const Role = Type.Union(ROLES.map((r) => Type.Literal(r)), {
  description: "member: a full node that can run resources; arbiter: a small third node that only votes in a split",
});

export const NodeSchema = Type.Object(
  {
    name: Name("the node's name; a node finds itself by --node or its hostname"),
    address: Type.String({ format: "ipv4", description: "the node's cluster address (IPv4)" }),
    roles: Type.Array(Role, { minItems: 1, uniqueItems: true, default: ["member"] }),
  },
  { additionalProperties: false },
);

export const ApiSchema = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 9480, description: "TCP port of the HTTP API and dashboard" }),
    bind: Type.Optional(Type.String({ format: "ipv4", description: "address to listen on; defaults to the node's own address" })),
    token_file: Type.Optional(Type.String({ minLength: 1, description: "file holding the bearer token that mutating endpoints require (mode 0600); without it they are refused" })),
  },
  { additionalProperties: false, default: {} },
);

export const LogSchema = Type.Object(
  {
    level: Type.Union(["trace", "debug", "info", "warn", "error"].map((l) => Type.Literal(l)), { default: "info" }),
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

export const ConfigSchema = Type.Object(
  {
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
    heartbeat: Type.Optional(HeartbeatSchema),
    resources: Type.Optional(ResourcesSchema),
    services: Type.Optional(ServicesSchema),
    director: Type.Optional(DirectorSchema),
  },
  { additionalProperties: false, $id: "https://tandem.invalid/config.schema.json", title: "Tandem cluster configuration" },
);

export type RawConfig = Static<typeof ConfigSchema>;
export type RawNode = Static<typeof NodeSchema>;
export type RoleName = (typeof ROLES)[number];
