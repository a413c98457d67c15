/**
 * The admin's overrides of real servers' weights (drain is 0), by server key
 * "SERVICE/ADDRESS:PORT": their bound, and how those kept across a restart
 * (core/state.ts) are taken back.
 */
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { MAX_WEIGHT } from "../../core/config/primitives.ts";

const Overrides = Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: MAX_WEIGHT }));

/**
 * Overrides kept before a restart, for the servers the config has now: the
 * overrides and the keys dropped (their service or server is gone), or what
 * is wrong with the whole (nothing is taken then).
 */
export function restoreOverrides(kept: unknown, servers: ReadonlySet<string>): { overrides: Record<string, number>; dropped: string[] } | { problem: string } {
  const error = Value.Errors(Overrides, kept).First();
  if (error) return { problem: `${error.path || "/"}: ${error.message}` };
  const entries = Object.entries(kept as Record<string, number>);
  return {
    overrides: Object.fromEntries(entries.filter(([key]) => servers.has(key))),
    dropped: entries.filter(([key]) => !servers.has(key)).map(([key]) => key),
  };
}
