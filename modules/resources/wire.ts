/**
 * The coordinator's messages on the cluster bus: JSON, checked against a
 * schema on the way in. A message that is not valid JSON or does not match is
 * dropped and counted, never acted on.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { NAME_PATTERN } from "../../core/config/primitives.ts";
import { ADMIN_VERSION_SKEW_MS, adminFromFuture, type AdminState, type Message } from "./engine.ts";

/** The cluster bus channel of the coordinators' messages (the descriptor declares it). */
export const RESOURCES_CHANNEL = 1;

const Name = Type.String({ pattern: NAME_PATTERN });
const Count = Type.Integer({ minimum: 0 });
export const STATES = ["stopped", "started", "promoted", "failed-start", "failed-monitor", "failed-stop", "unknown"] as const;
const State = Type.Union(STATES.map((s) => Type.Literal(s)));

const Admin = Type.Object({
  version: Count,
  by: Name,
  standby: Type.Array(Name),
  moves: Type.Array(Type.Object({ group: Name, node: Name, until: Type.Union([Type.Number(), Type.Null()]) })),
  cleanups: Type.Record(Name, Count, { additionalProperties: false }),
  disabled: Type.Optional(Type.Array(Name)),
  maintenance: Type.Optional(Type.Object({ cluster: Type.Boolean(), nodes: Type.Array(Name), resources: Type.Array(Name) })),
});

const ReportSchema = Type.Object({
  type: Type.Literal("report"),
  seq: Count,
  leaving: Type.Boolean(),
  states: Type.Record(Name, State, { additionalProperties: false }),
  pending: Type.Array(Name),
  failures: Type.Array(
    Type.Object({
      resource: Name,
      count: Count,
      lastFailedAt: Type.Number(),
      startFailed: Type.Boolean(),
      promoteFailed: Type.Optional(Type.Boolean()),
      op: Type.Optional(Type.Union([Type.Literal("start"), Type.Literal("stop"), Type.Literal("monitor"), Type.Literal("promote"), Type.Literal("demote")])),
      error: Type.Optional(Type.Union([Type.Literal("soft"), Type.Literal("hard"), Type.Literal("fatal")])),
    }),
  ),
  admin: Admin,
  promotion: Type.Optional(Type.Record(Name, Type.Number(), { additionalProperties: false })),
});

const TransitionSchema = Type.Object({
  type: Type.Literal("transition"),
  seq: Count,
  basis: Type.Record(Name, Count, { additionalProperties: false }),
  actions: Type.Array(
    Type.Object({
      id: Type.String({ maxLength: 80 }),
      kind: Type.Union([Type.Literal("start"), Type.Literal("stop"), Type.Literal("promote"), Type.Literal("demote"), Type.Literal("monitor")]),
      resource: Name,
      node: Name,
      intervalMs: Count,
      timeoutMs: Count,
    }),
  ),
});

const MessageSchema = Type.Union([ReportSchema, TransitionSchema]);

// The engine's types and the schema describe the same thing: this fails to compile when they drift apart.
const sameShape: Static<typeof MessageSchema> extends Message ? (Message extends Static<typeof MessageSchema> ? true : never) : never = true;
void sameShape;

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });

export function encodeMessage(m: Message): Uint8Array {
  return ENCODER.encode(JSON.stringify(m));
}

/**
 * Admin state kept across a restart (core/state.ts), checked as a peer's is
 * (its version no more than ADMIN_VERSION_SKEW_MS past `wall`): the state, or
 * what is wrong with it.
 */
export function decodeAdmin(value: unknown, wall: number): { admin: AdminState } | { problem: string } {
  const error = Value.Errors(Admin, value).First();
  if (error) return { problem: `${error.path || "/"}: ${error.message}` };
  const admin = value as AdminState;
  if (adminFromFuture(admin.version, wall)) return { problem: `/version: ${admin.version} is more than ${ADMIN_VERSION_SKEW_MS / 60_000} minutes past this node's wall time (${wall})` };
  return { admin };
}

export function decodeMessage(bytes: Uint8Array): Message | undefined {
  try {
    const value: unknown = JSON.parse(DECODER.decode(bytes));
    return Value.Check(MessageSchema, value) ? (value as Message) : undefined;
  } catch {
    return undefined;
  }
}
