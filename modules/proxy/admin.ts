/**
 * The operator's runtime changes of servers (drain, maint, a weight), by
 * server key "SERVICE/ADDRESS:PORT", kept across restarts until `ready`
 * clears them, and the state of each backend's server the workers are told
 * (messages.ts ServerState): its active check, its passive observation and
 * these changes. Pure.
 */
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { MAX_WEIGHT } from "../../core/config/primitives.ts";
import type { ResolvedBackend, ServerState } from "./messages.ts";

const ChangeSchema = Type.Object(
  {
    admin: Type.Optional(Type.Union([Type.Literal("drain"), Type.Literal("maint")])),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WEIGHT })),
  },
  { additionalProperties: false },
);
const ChangesSchema = Type.Record(Type.String(), ChangeSchema);

/** One server's runtime change: its admin state (absent: ready) and its weight (absent: the checked one). */
export interface AdminChange {
  admin?: "drain" | "maint";
  weight?: number;
}

/** What the API asks of a server: `ready` clears its admin state and its weight. */
export type AdminVerb = { verb: "drain" } | { verb: "maint" } | { verb: "ready" } | { verb: "weight"; weight: number };

/** The changes after `v` on server `key`: a new record, the old untouched. */
export function applyAdmin(changes: Readonly<Record<string, AdminChange>>, key: string, v: AdminVerb): Record<string, AdminChange> {
  const { [key]: before, ...rest } = changes;
  if (v.verb === "ready") return rest;
  const after: AdminChange = v.verb === "weight" ? { ...before, weight: v.weight } : { ...before, admin: v.verb };
  return { ...rest, [key]: after };
}

/**
 * Changes kept before a restart, for the servers the config has now: the
 * changes and the keys dropped (their service or server is gone), or what is
 * wrong with the whole (nothing is taken then).
 */
export function restoreAdmin(kept: unknown, servers: ReadonlySet<string>): { changes: Record<string, AdminChange>; dropped: string[] } | { problem: string } {
  const error = Value.Errors(ChangesSchema, kept).First();
  if (error) return { problem: `${error.path || "/"}: ${error.message}` };
  const entries = Object.entries(kept as Record<string, AdminChange>);
  return { changes: Object.fromEntries(entries.filter(([key]) => servers.has(key))), dropped: entries.filter(([key]) => !servers.has(key)).map(([key]) => key) };
}

/** A server's newest health from its active check (absent before the first report: up, as HAProxy starts a server). */
export type HealthOf = (key: string) => { healthy: boolean; weight: number } | undefined;

/** Where a passive observation is kept: a server of one backend. */
export const observedKey = (backend: string, key: string): string => `${backend}\n${key}`;

/** The state of every server of every backend: up by its check and not marked down by live traffic; the operator's admin state and weight over the checked ones. */
export function serverStates(backends: readonly ResolvedBackend[], health: HealthOf, changes: Readonly<Record<string, AdminChange>>, observed: ReadonlySet<string>): ServerState[] {
  return backends.flatMap((b) =>
    b.servers.map((s) => {
      const h = health(s.key);
      const c = changes[s.key];
      return { backend: b.name, key: s.key, up: (h?.healthy ?? true) && !observed.has(observedKey(b.name, s.key)), admin: c?.admin ?? "ready", weight: c?.weight ?? h?.weight ?? s.weight };
    }),
  );
}
