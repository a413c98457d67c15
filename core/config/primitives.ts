/** Schema pieces every section uses: durations, names. */
import { Type } from "@sinclair/typebox";
import { DURATION_PATTERN } from "../duration.ts";

export const Duration = (description: string, def?: string) =>
  Type.String({ pattern: DURATION_PATTERN, description: `${description} (a duration: 150ms, 2s, 1m)`, ...(def ? { default: def } : {}) });

export const NAME_PATTERN = "^[a-z][a-z0-9-]{0,30}$";

export const Name = (description: string) =>
  Type.String({ pattern: NAME_PATTERN, description: `${description} (lower case letters, digits and '-', starting with a letter, at most 31)` });
