/** Schema pieces every section uses: durations, names, a real server's weight. */
import { FormatRegistry, Type } from "@sinclair/typebox";
import { DURATION_PATTERN, MAX_DURATION_TEXT, parseDuration } from "../duration.ts";

/** The schema's `format: "duration"`: the pattern says the shape, this the bound (no timer past MAX_DURATION_MS). */
if (!FormatRegistry.Has("duration")) FormatRegistry.Set("duration", (v) => parseDuration(v) !== undefined);

export const Duration = (description: string, def?: string) =>
  Type.String({
    pattern: DURATION_PATTERN,
    format: "duration",
    description: `${description} (a duration: 150ms, 2s, 1m; at most ${MAX_DURATION_TEXT})`,
    ...(def ? { default: def } : {}),
  });

/** A name in the config: a node, resource, group, service; also how peers' names are checked on the wire. */
export const NAME_PATTERN = "^[a-z][a-z0-9-]{0,30}$";

export const Name = (description: string) =>
  Type.String({ pattern: NAME_PATTERN, description: `${description} (lower case letters, digits and '-', starting with a letter, at most 31)` });

/** The heaviest weight a real server takes (IPVS's bound, a u16 in practice), wherever a weight is read. */
export const MAX_WEIGHT = 65_535;
